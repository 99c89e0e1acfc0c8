/* ui_draw.c — drawing helpers shared by the panels: width-aware UTF-8 text,
 * word wrapping, blanking, 256-colour pairs, raw terminal writes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "ui.h"
#include "ui_input.h"

int ui_text(int y, int x, int w, const char *s, size_t n)
{
    if (w <= 0 || y < 0 || y >= LINES || x < 0 || x >= COLS) return 0;
    if (x + w > COLS) w = COLS - x;
    move(y, x);
    int col = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        int cw = cp_width(cp);
        if (col + cw > w) break;
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            addch('?');
        } else if (cw == 0 && col == 0) {
            /* a combining mark with nothing to combine with */
        } else {
            char tmp[4];
            int len = utf8_encode(cp, tmp);
            addnstr(tmp, len);
        }
        col += cw;
        i += (size_t)k;
    }
    return col;
}

void ui_wrap(const char *s, size_t n, int width, ui_line_fn fn, void *ud)
{
    if (width < 1) width = 1;
    size_t start = 0;
    while (start <= n) {
        size_t i = start, last_space = (size_t)-1;
        int col = 0;
        while (i < n && s[i] != '\n') {
            uint32_t cp;
            int k = utf8_decode(s + i, n - i, &cp);
            int cw = cp_width(cp);
            if (col + cw > width) break;
            if (cp == ' ') last_space = i;
            col += cw;
            i += (size_t)k;
        }
        if (i >= n || s[i] == '\n') {
            fn(s + start, i - start, ud);
            if (i >= n) break;
            start = i + 1;
            continue;
        }
        /* too long: break at the last space when there is one */
        if (last_space != (size_t)-1 && last_space > start) {
            fn(s + start, last_space - start, ud);
            start = last_space + 1;
        } else {
            if (i == start) {   /* a character wider than the line */
                uint32_t cp;
                i += (size_t)utf8_decode(s + i, n - i, &cp);
            }
            fn(s + start, i - start, ud);
            start = i;
        }
    }
}

void ui_blank(int y, int x, int h, int w)
{
    for (int r = y; r < y + h && r < LINES; r++) {
        if (r < 0) continue;
        for (int c = x; c < x + w && c < COLS; c++) mvaddch(r, c, ' ');
    }
}

int ui_pair256(int fg, int bg)
{
    if (!has_colors() || COLORS < 256) return 0;   /* 256 colours, or direct RGB values */
    int p = alloc_pair(fg, bg);
    return p < 0 ? 0 : p;
}

void ui_raw_at(int y, int x, const char *bytes, size_t n)
{
    char pos[32];
    int k = snprintf(pos, sizeof pos, "\0337\033[%d;%dH", y + 1, x + 1);
    (void)!write(STDOUT_FILENO, pos, (size_t)k);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(STDOUT_FILENO, bytes + off, n - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    (void)!write(STDOUT_FILENO, "\0338", 2);
}

void ui_hline(int y, int x, int w)
{
    for (int c = 0; c < w && x + c < COLS; c++) mvaddstr(y, x + c, "\xe2\x94\x80");
}
