/* shapes_dataset.h — writes a split of the shapes world to disk:
 *   DIR/images/SPLIT_NNNNNN.png
 *   DIR/SPLIT_captions.json   LLaVA format, one caption per image (stage 1),
 *                             left to right or by kind (captions)
 *   DIR/SPLIT_qa.json         LLaVA format, 1-max_turns question turns per image
 *                             (stage 2), none given away by the turns before
 *                             it (shapes_qa_told); a caption_turns share of
 *                             them then asks for the caption as well
 *   DIR/SPLIT_questions.jsonl one question per image for `iris eval`:
 *                             {question_id, image, question, answer, answers,
 *                              question_type}
 * Image paths are relative to DIR.  The same seed, split and count always
 * give byte-identical files; the split name is mixed into the seed, so train
 * and test drawn with one seed differ.  Each image's turns come from a
 * stream seeded by the scene stream, its held-out question and its caption
 * style (then whether the caption turn is added) from two more, so the turn
 * policy and max_turns change no image, caption or held-out question, the
 * caption style no image or question, and caption_turns only adds last turns;
 * type_weights changes only SPLIT_qa.json.
 */
#ifndef IRIS_SHAPES_DATASET_H
#define IRIS_SHAPES_DATASET_H

#include <stdint.h>

/* Which caption each image gets in SPLIT_captions.json. */
typedef enum {
    SHAPES_CAPTIONS_BOTH,          /* each image one of the two, at random (default) */
    SHAPES_CAPTIONS_LEFT_TO_RIGHT, /* "a red circle and a blue star" */
    SHAPES_CAPTIONS_BY_KIND,       /* "the circle is red and the star is blue" */
} shapes_caption_style;

typedef struct {
    const char *out_dir;
    const char *split;      /* "train", "val", "test" */
    uint64_t seed;
    int count;              /* images */
    int max_objects;        /* objects per image at most (default 5) */
    int max_turns;          /* question turns per image in SPLIT_qa.json (default 3) */
    shapes_caption_style captions;
    double caption_turns;   /* share of SPLIT_qa.json's conversations that end by
                               asking for the caption (0-1, default 0) */
    const int *type_weights; /* SPLIT_qa.json's turns: each question type's
                               weight, indexed by shape_qa_type (NULL: all 1;
                               shapes_random_question_weighted); the held-out
                               questions are always drawn unweighted */
    void (*progress)(int done, int total, void *ud);
    void *ud;
} shapes_dataset_opts;

int shapes_write_dataset(const shapes_dataset_opts *o);

#endif
