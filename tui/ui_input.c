/* ui_input.c — see ui_input.h. */
#include "ui_input.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

void ui_input_init(ui_input *e) { memset(e, 0, sizeof *e); }

void ui_input_free(ui_input *e)
{
    free(e->buf);
    for (int i = 0; i < e->n_hist; i++) free(e->hist[i]);
    free(e->hist);
    free(e->draft);
    memset(e, 0, sizeof *e);
}

void ui_input_clear(ui_input *e)
{
    e->len = e->cur = 0;
    if (e->buf) e->buf[0] = 0;
    e->truncated = 0;
}

int utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (!n) {
        *cp = 0xFFFD;
        return 1;
    }
    unsigned c = u[0];
    int len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2; v = c & 0x1F; min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3; v = c & 0x0F; min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4; v = c & 0x07; min = 0x10000;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if ((size_t)len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return len;
}

int utf8_encode(uint32_t cp, char out[4])
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int cp_width(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return 1;
    int w = wcwidth((wchar_t)cp);
    return w < 0 ? 1 : w > 2 ? 2 : w;
}

static int reserve(ui_input *e, size_t extra)
{
    if (e->len + extra + 1 <= e->cap) return 0;
    size_t cap = e->cap ? e->cap : 256;
    while (cap < e->len + extra + 1) cap *= 2;
    char *p = realloc(e->buf, cap);
    if (!p) return -1;
    e->buf = p;
    e->cap = cap;
    return 0;
}

/* Inserts already-valid UTF-8 at the cursor. */
static int insert_raw(ui_input *e, const char *s, size_t n)
{
    if (e->len + n > UI_INPUT_MAX) {
        e->truncated = 1;
        return 0;
    }
    if (reserve(e, n)) return -1;
    memmove(e->buf + e->cur + n, e->buf + e->cur, e->len - e->cur);
    memcpy(e->buf + e->cur, s, n);
    e->len += n;
    e->cur += n;
    e->buf[e->len] = 0;
    return 0;
}

int ui_input_insert_cp(ui_input *e, uint32_t cp)
{
    if (cp == '\r') cp = '\n';
    if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) return 0;
    char tmp[4];
    int n = utf8_encode(cp, tmp);
    return insert_raw(e, tmp, (size_t)n);
}

int ui_input_insert_bytes(ui_input *e, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (ui_input_insert_cp(e, cp)) return -1;
        i += (size_t)k;
    }
    return 0;
}

static size_t prev_cp(const ui_input *e, size_t pos)
{
    if (!pos) return 0;
    pos--;
    while (pos > 0 && ((unsigned char)e->buf[pos] & 0xC0) == 0x80) pos--;
    return pos;
}

static size_t next_cp(const ui_input *e, size_t pos)
{
    if (pos >= e->len) return e->len;
    uint32_t cp;
    return pos + (size_t)utf8_decode(e->buf + pos, e->len - pos, &cp);
}

static void erase_range(ui_input *e, size_t a, size_t b)
{
    if (b <= a) return;
    memmove(e->buf + a, e->buf + b, e->len - b);
    e->len -= b - a;
    e->buf[e->len] = 0;
    e->cur = a;
}

void ui_input_backspace(ui_input *e) { erase_range(e, prev_cp(e, e->cur), e->cur); }
void ui_input_delete(ui_input *e) { erase_range(e, e->cur, next_cp(e, e->cur)); }
void ui_input_left(ui_input *e) { e->cur = prev_cp(e, e->cur); }
void ui_input_right(ui_input *e) { e->cur = next_cp(e, e->cur); }

static size_t line_start(const ui_input *e, size_t pos)
{
    while (pos > 0 && e->buf[pos - 1] != '\n') pos--;
    return pos;
}

static size_t line_end(const ui_input *e, size_t pos)
{
    while (pos < e->len && e->buf[pos] != '\n') pos++;
    return pos;
}

void ui_input_home(ui_input *e) { e->cur = line_start(e, e->cur); }
void ui_input_end(ui_input *e) { e->cur = line_end(e, e->cur); }
void ui_input_kill_to_start(ui_input *e) { erase_range(e, line_start(e, e->cur), e->cur); }
void ui_input_kill_to_end(ui_input *e) { erase_range(e, e->cur, line_end(e, e->cur)); }

void ui_input_delete_word(ui_input *e)
{
    size_t p = e->cur;
    while (p > 0 && (e->buf[p - 1] == ' ' || e->buf[p - 1] == '\t')) p--;
    while (p > 0 && e->buf[p - 1] != ' ' && e->buf[p - 1] != '\t' && e->buf[p - 1] != '\n') p--;
    erase_range(e, p, e->cur);
}

/* Column (in code points) of pos within its line, and moving to a column. */
static size_t col_of(const ui_input *e, size_t pos)
{
    size_t n = 0;
    for (size_t p = line_start(e, pos); p < pos; p = next_cp(e, p)) n++;
    return n;
}

static size_t at_col(const ui_input *e, size_t start, size_t col)
{
    size_t p = start;
    while (col-- && p < e->len && e->buf[p] != '\n') p = next_cp(e, p);
    return p;
}

int ui_input_line_up(ui_input *e)
{
    size_t s = line_start(e, e->cur);
    if (s == 0) return 0;
    size_t col = col_of(e, e->cur);
    e->cur = at_col(e, line_start(e, s - 1), col);
    return 1;
}

int ui_input_line_down(ui_input *e)
{
    size_t end = line_end(e, e->cur);
    if (end >= e->len) return 0;
    size_t col = col_of(e, e->cur);
    e->cur = at_col(e, end + 1, col);
    return 1;
}

int ui_input_set(ui_input *e, const char *text)
{
    ui_input_clear(e);
    return ui_input_insert_bytes(e, text, strlen(text));
}

void ui_input_history_prev(ui_input *e)
{
    if (e->hist_pos <= 0) return;
    if (e->hist_pos == e->n_hist) {
        free(e->draft);
        e->draft = strdup(e->buf ? e->buf : "");
    }
    e->hist_pos--;
    ui_input_set(e, e->hist[e->hist_pos]);
}

void ui_input_history_next(ui_input *e)
{
    if (e->hist_pos >= e->n_hist) return;
    e->hist_pos++;
    ui_input_set(e, e->hist_pos == e->n_hist ? (e->draft ? e->draft : "") : e->hist[e->hist_pos]);
}

char *ui_input_take(ui_input *e)
{
    char *s = strdup(e->buf ? e->buf : "");
    if (!s) return NULL;
    if (s[0] && (!e->n_hist || strcmp(e->hist[e->n_hist - 1], s))) {
        if (e->n_hist == e->cap_hist) {
            int cap = e->cap_hist ? e->cap_hist * 2 : 32;
            char **h = realloc(e->hist, (size_t)cap * sizeof *h);
            if (h) {
                e->hist = h;
                e->cap_hist = cap;
            }
        }
        char *copy = e->n_hist < e->cap_hist ? strdup(s) : NULL;
        if (copy) e->hist[e->n_hist++] = copy;
    }
    e->hist_pos = e->n_hist;
    free(e->draft);
    e->draft = NULL;
    ui_input_clear(e);
    return s;
}

void ui_input_layout_compute(const ui_input *e, int width, ui_input_layout *l)
{
    if (width < 1) width = 1;
    int row = 0, col = 0;
    l->cur_row = l->cur_col = 0;
    size_t p = 0;
    for (;;) {
        if (p == e->cur) {
            if (col >= width) {   /* cursor past the last column wraps */
                l->cur_row = row + 1;
                l->cur_col = 0;
            } else {
                l->cur_row = row;
                l->cur_col = col;
            }
        }
        if (p >= e->len) break;
        uint32_t cp;
        int k = utf8_decode(e->buf + p, e->len - p, &cp);
        p += (size_t)k;
        if (cp == '\n') {
            row++;
            col = 0;
            continue;
        }
        int w = cp == '\t' ? 1 : cp_width(cp);
        if (col + w > width) {
            row++;
            col = 0;
        }
        col += w;
    }
    l->rows = (l->cur_row > row ? l->cur_row : row) + 1;
}
