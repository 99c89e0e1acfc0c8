/* eval_data.h — question sets for `iris eval`, read from the formats people
 * have:
 *  - VQAv2: the questions JSON ({"questions": [...], "data_subtype"}) plus the
 *    annotations JSON (answers, question_type); images COCO_<subtype>_<id>.jpg;
 *  - A-OKVQA: a JSON list with question, choices, correct_choice_idx,
 *    direct_answers and image_id; images <id:012>.jpg (COCO 2017);
 *  - JSONL question files (LLaVA-style and the shapes world): one object per
 *    line with question (or text), image, answers (strings or {answer}) or
 *    answer, question_type (or category), question_id;
 *  - LLaVA conversation JSON: each human/gpt pair is a question;
 *  - PubMedQA (text only): ori_pqal.json ({PMID: {QUESTION, CONTEXTS,
 *    final_decision}}), or the test questions plus --annotations with
 *    {PMID: label}; the prompt is the abstract then the question, the answer
 *    yes / no / maybe, and the question type is the gold label.
 * Image paths are resolved against the images directory when given, else
 * against the data file's directory.
 *
 * Contract: iris_eval_load fails with a one-line message naming the file and
 * the record; nothing is kept from a failed load.
 */
#ifndef IRIS_EVAL_DATA_H
#define IRIS_EVAL_DATA_H

typedef struct {
    char *id;
    char *image;          /* path, or NULL for text-only questions */
    char *question;
    char **answers;
    int n_answers;
    char *type;           /* question type for the per-type breakdown */
    char **choices;       /* A-OKVQA multiple choice */
    int n_choices;
    int correct_choice;   /* -1 when none */
} iris_eval_item;

typedef struct {
    iris_eval_item *items;
    int n, cap;
    char *format;         /* "vqav2", "aokvqa", "jsonl", "llava", "pubmedqa" */
} iris_eval_set;

int iris_eval_load(iris_eval_set *s, const char *data_path, const char *annotations_path,
                   const char *images_dir);
void iris_eval_free(iris_eval_set *s);

#endif
