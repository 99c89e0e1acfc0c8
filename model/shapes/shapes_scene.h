/* shapes_scene.h — the synthetic visual world the built-in tiny VLM learns:
 * square images of 64-128 px with 1-5 objects (shapes and capital letters)
 * in six colours and two sizes, each in its own cell of a 4x4 grid (a little
 * off the cell's centre), on a plain or noisy grey background.  The grid is
 * what lets a vision tower trained from scratch in minutes see shapes: one
 * cell is one patch of the tiny model's ViT, so an object is whole in one
 * patch instead of cut anywhere (measured: with free positions, a linear
 * probe on the trained tower's features told the shapes apart no better than
 * on random features, about 25%).
 *
 * Contract: the same seed always gives the same scene and the same pixels
 * (a private generator; no global state).
 */
#ifndef IRIS_SHAPES_SCENE_H
#define IRIS_SHAPES_SCENE_H

#include <stdint.h>

typedef enum {
    SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE, SHAPE_STAR, SHAPE_DIAMOND, SHAPE_CROSS,
    SHAPE_LETTER, SHAPE_KIND_COUNT
} shape_kind;

#define SHAPE_N_COLORS 6
#define SHAPE_MAX_OBJECTS 5
#define SHAPE_GRID 4        /* cells per side */

typedef struct {
    shape_kind kind;
    char letter;       /* one of shape_letters for SHAPE_LETTER */
    int color;         /* index into shape_color_names */
    int large;         /* size class */
    int cx, cy, r;     /* centre and half-size in pixels */
} shape_object;

typedef struct {
    int width, height;
    int noisy;
    uint8_t bg;        /* background grey level */
    int n;
    shape_object obj[SHAPE_MAX_OBJECTS];
} shape_scene;

extern const char *const shape_kind_names[SHAPE_KIND_COUNT];
/* The world's capital letters: eight that look unlike each other and unlike
 * the shapes (no O, no X) in a 5x7 font at 10-28 px, and no A, which the
 * VQAv2 metric drops as an article.  With all 26 a letter was seen about
 * 1/180 as often as a colour. */
extern const char shape_letters[];
#define SHAPE_N_LETTERS 8
extern const char *const shape_color_names[SHAPE_N_COLORS];

/* xorshift64* generator shared by the world's modules. */
typedef struct { uint64_t s; } shape_rng;
void shape_rng_seed(shape_rng *r, uint64_t seed);
uint32_t shape_rng_next(shape_rng *r);
int shape_rng_int(shape_rng *r, int lo, int hi);   /* inclusive */

/* A scene of 1..max_objects objects (max_objects outside 1..SHAPE_MAX_OBJECTS
 * means SHAPE_MAX_OBJECTS). */
void shape_scene_random(shape_scene *s, shape_rng *r, int max_objects);
/* The grid column (0 = left) an object sits in. */
int shape_object_column(const shape_scene *s, const shape_object *o);
/* A letter drawn from shape_letters. */
char shape_random_letter(shape_rng *r);
/* Renders into rgb (width*height*3 bytes). noise_seed drives background noise. */
void shape_scene_render(const shape_scene *s, uint8_t *rgb, uint64_t noise_seed);
/* "red circle", "blue letter A" */
void shape_object_name(const shape_object *o, char *out, int cap);

#endif
