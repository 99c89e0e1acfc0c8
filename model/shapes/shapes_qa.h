/* shapes_qa.h — questions and answers about a shapes-world scene.
 *
 * Types: caption ("What can be seen in the image?", objects left to right),
 * color, letter, shape, count, spatial (left of / right of), yesno.
 * Every question generated has exactly one correct short answer (questions
 * whose referent would be ambiguous are never asked).
 */
#ifndef IRIS_SHAPES_QA_H
#define IRIS_SHAPES_QA_H

#include <stddef.h>

#include "shapes_scene.h"

typedef enum {
    QA_CAPTION, QA_COLOR, QA_LETTER, QA_SHAPE, QA_COUNT, QA_SPATIAL, QA_YESNO, QA_TYPE_COUNT
} shape_qa_type;

extern const char *const shape_qa_type_names[QA_TYPE_COUNT];

typedef struct {
    shape_qa_type type;
    char question[96];
    char answer[160];
} shape_qa;

/* The caption: "a red circle, a blue letter A and a green star" (left to right). */
void shapes_caption(const shape_scene *s, char *out, int cap);
/* The caption by kind: "the circle is red, the letters K are blue and green
 * and the star is yellow": kinds in shape_kind order (letters last, in
 * shape_letters order), each kind's colours left to right.  Saying it means
 * finding each kind in the image and reading its colour, the lookup that the
 * left-to-right caption never asks for. */
void shapes_caption_by_kind(const shape_scene *s, char *out, int cap);
/* All questions of type t about s (at most cap); returns how many. */
int shapes_questions_of_type(const shape_scene *s, shape_qa_type t, shape_rng *r, shape_qa *out, int cap);
/* One question of a type drawn uniformly among the types (other than caption)
 * that have a question for this scene; 0 on success, -1 if none. */
int shapes_random_question(const shape_scene *s, shape_rng *r, shape_qa *out);
/* The same with weights[type] (0 or more, indexed by shape_qa_type; caption's
 * ignored): a type with a question for s is drawn with probability weight /
 * the sum of such weights; weight 0 never.  NULL weights, or all 1, give
 * exactly shapes_random_question's draws.  -1 if no type of weight > 0 has
 * a question. */
int shapes_random_question_weighted(const shape_scene *s, shape_rng *r, const int *weights, shape_qa *out);
/* Whether told (the earlier turns of a conversation, questions and answers)
 * gives q's answer away: "What color is the cross?" after "purple cross" was
 * said, a count of circles after a circle was named, "Is there a red star?"
 * after red things or stars came up, a neighbour after both objects were
 * named.  Such a turn teaches copying from the text instead of looking, and
 * the held-out questions are asked alone. */
int shapes_qa_told(const shape_qa *q, const char *told);
/* Appends q, its answer and what they tell together ("purple cross" for
 * "What color is the cross?" / "purple") to told, which holds cap bytes. */
void shapes_qa_tell(const shape_qa *q, char *told, size_t cap);

#endif
