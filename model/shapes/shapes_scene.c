#include "shapes_scene.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shapes_font.h"

const char *const shape_kind_names[SHAPE_KIND_COUNT] = {
    "circle", "square", "triangle", "star", "diamond", "cross", "letter",
};
const char shape_letters[SHAPE_N_LETTERS + 1] = "CEHKLSTZ";
const char *const shape_color_names[SHAPE_N_COLORS] = {
    "red", "green", "blue", "yellow", "purple", "orange",
};
static const uint8_t palette[SHAPE_N_COLORS][3] = {
    {220, 30, 30}, {30, 170, 50}, {30, 70, 230}, {240, 215, 20}, {140, 40, 190}, {250, 130, 10},
};

void shape_rng_seed(shape_rng *r, uint64_t seed)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    r->s = (z ^ (z >> 31)) | 1;
}

uint32_t shape_rng_next(shape_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 0x2545F4914F6CDD1DULL) >> 32);
}

int shape_rng_int(shape_rng *r, int lo, int hi)
{
    return lo + (int)(shape_rng_next(r) % (uint32_t)(hi - lo + 1));
}

void shape_scene_random(shape_scene *s, shape_rng *r, int max_objects)
{
    if (max_objects < 1 || max_objects > SHAPE_MAX_OBJECTS) max_objects = SHAPE_MAX_OBJECTS;
    memset(s, 0, sizeof *s);
    s->width = s->height = SHAPE_GRID * shape_rng_int(r, 64 / SHAPE_GRID, 128 / SHAPE_GRID);
    s->noisy = shape_rng_int(r, 0, 1);
    s->bg = (uint8_t)shape_rng_int(r, 170, 235);
    int want = shape_rng_int(r, 1, SHAPE_MAX_OBJECTS);
    if (want > max_objects) want = max_objects;
    /* distinct cells: the first `want` of a shuffled list of all of them */
    int cells[SHAPE_GRID * SHAPE_GRID];
    for (int i = 0; i < SHAPE_GRID * SHAPE_GRID; i++) cells[i] = i;
    for (int i = SHAPE_GRID * SHAPE_GRID - 1; i > 0; i--) {
        int j = shape_rng_int(r, 0, i), t = cells[i];
        cells[i] = cells[j];
        cells[j] = t;
    }
    int cell = s->width / SHAPE_GRID, jitter = cell / 16;
    for (int k = 0; k < want; k++) {
        shape_object o;
        o.kind = (shape_kind)shape_rng_int(r, 0, SHAPE_KIND_COUNT - 1);
        o.letter = o.kind == SHAPE_LETTER ? shape_random_letter(r) : 0;
        o.color = shape_rng_int(r, 0, SHAPE_N_COLORS - 1);
        o.large = shape_rng_int(r, 0, 1);
        o.r = cell * (o.large ? 44 : 32) / 100;
        o.cx = cells[k] % SHAPE_GRID * cell + cell / 2 + shape_rng_int(r, -jitter, jitter);
        o.cy = cells[k] / SHAPE_GRID * cell + cell / 2 + shape_rng_int(r, -jitter, jitter);
        s->obj[s->n++] = o;
    }
}

int shape_object_column(const shape_scene *s, const shape_object *o)
{
    return o->cx * SHAPE_GRID / s->width;
}

char shape_random_letter(shape_rng *r)
{
    return shape_letters[shape_rng_int(r, 0, SHAPE_N_LETTERS - 1)];
}

/* Is (x, y), relative to the centre and scaled so the object spans [-1, 1], ink? */
static int inside(const shape_object *o, double x, double y)
{
    switch (o->kind) {
    case SHAPE_CIRCLE: return x * x + y * y <= 1.0;
    case SHAPE_SQUARE: return fabs(x) <= 0.85 && fabs(y) <= 0.85;
    case SHAPE_DIAMOND: return fabs(x) + fabs(y) <= 1.0;
    case SHAPE_CROSS: return (fabs(x) <= 0.3 && fabs(y) <= 1.0) || (fabs(y) <= 0.3 && fabs(x) <= 1.0);
    case SHAPE_TRIANGLE: /* apex up, base at y = 0.8 */
        return y <= 0.8 && y >= -1.0 && fabs(x) <= (y + 1.0) / 1.8 * 1.0;
    case SHAPE_STAR: {
        /* five points: inside when the radius is below the star's outline at that angle */
        double a = atan2(x, -y), rr = sqrt(x * x + y * y);
        double k = fmod(a + 2 * M_PI, 2 * M_PI / 5) / (2 * M_PI / 5); /* 0..1 within a sector */
        double t = fabs(k - 0.5) * 2;                                   /* 1 at a point, 0 between */
        return rr <= 0.42 + 0.58 * t * t;
    }
    case SHAPE_LETTER: {
        int gx = (int)floor((x + 1.0) / 2.0 * IRIS_GLYPH_W * 1.0);
        int gy = (int)floor((y + 1.0) / 2.0 * IRIS_GLYPH_H);
        return iris_glyph_pixel(o->letter, gx, gy);
    }
    default: return 0;
    }
}

/* Is pixel (x, y) of the image ink of o? */
static int ink(const shape_object *o, int x, int y)
{
    return inside(o, (x + 0.5 - o->cx) / o->r, (y + 0.5 - o->cy) / o->r);
}

void shape_scene_render(const shape_scene *s, uint8_t *rgb, uint64_t noise_seed)
{
    shape_rng nr;
    shape_rng_seed(&nr, noise_seed);
    for (int i = 0; i < s->width * s->height; i++) {
        int v = s->bg;
        if (s->noisy) v += shape_rng_int(&nr, -25, 25);
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = (uint8_t)v;
    }
    /* Each object is filled and edged in near-black: the edge is the same
     * whatever the fill, so a patch carries its object's outline apart from
     * its colour.  Without it a shape reached the model only as a pattern of
     * its colour, and "What color is the square?" (find by shape) stayed far
     * below "What shape is red?" (find by colour). */
    static const uint8_t edge[3] = {40, 40, 40};
    for (int k = 0; k < s->n; k++) {
        const shape_object *o = &s->obj[k];
        for (int y = o->cy - o->r - 1; y <= o->cy + o->r + 1; y++)
            for (int x = o->cx - o->r - 1; x <= o->cx + o->r + 1; x++) {
                if (x < 0 || y < 0 || x >= s->width || y >= s->height) continue;
                uint8_t *px = rgb + 3 * ((size_t)y * s->width + x);
                if (ink(o, x, y)) {
                    memcpy(px, palette[o->color], 3);
                    continue;
                }
                if (ink(o, x - 1, y) || ink(o, x + 1, y) || ink(o, x, y - 1) || ink(o, x, y + 1))
                    memcpy(px, edge, 3);
            }
    }
}

void shape_object_name(const shape_object *o, char *out, int cap)
{
    if (o->kind == SHAPE_LETTER) snprintf(out, (size_t)cap, "%s letter %c", shape_color_names[o->color], o->letter);
    else snprintf(out, (size_t)cap, "%s %s", shape_color_names[o->color], shape_kind_names[o->kind]);
}
