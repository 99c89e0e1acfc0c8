/* ui_main.c — `iris` with no command: the full-screen interface.  Options,
 * terminal set-up (locale, graphics probe, ncurses, bracketed paste), the
 * loop (poll on the keyboard and the workers' wake-up pipe with a timeout
 * for following files), panel switching, the help screen and resizing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <curses.h>

#include "commands.h"
#include "ui.h"

static volatile sig_atomic_t resized;
static int wake_fd_for_signal = -1;

static void on_sigwinch(int sig)
{
    (void)sig;
    resized = 1;
    if (wake_fd_for_signal >= 0) {
        int saved = errno;
        (void)!write(wake_fd_for_signal, "r", 1);
        errno = saved;
    }
}

void ui_wake(ui_app *app)
{
    (void)!write(app->wake_wr, "w", 1);   /* a full pipe already means "wake up" */
}

void ui_flash(ui_app *app, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(app->flash, sizeof app->flash, fmt, ap);
    va_end(ap);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: iris [-m MODEL] [--graphics sixel|blocks|none] [--runs DIR] [--plot RUN]... [options]\n");
    fputs(cli_model_options_help, f);
    fprintf(f,
        "      --graphics MODE     how images are drawn (default: sixel when the terminal\n"
        "                          answers DA1 with 4, else Unicode half-blocks)\n"
        "      --runs DIR          training runs to list and plot (default: $IRIS_RUNS or ./runs)\n"
        "      --plot RUN          a run folder or metrics.jsonl to plot (repeatable)\n"
        "      --panel NAME        start in chat, compare, train, plots or models\n"
        "      --compare MODEL     the second model of the Compare panel (the first is -m)\n"
        "Keys: F1-F5 or Alt-1..5 switch panels, ? lists every key, Ctrl-Q quits.\n");
}

static const char *const help_lines[] = {
    "Everywhere",
    "  F1..F5, Alt-1..5   Chat, Compare, Train, Plots, Models",
    "  ?                  this help (in Chat: when the input is empty)",
    "  Ctrl-Q, F10        quit (a training run keeps going)",
    "  Ctrl-L             redraw the screen",
    "Chat",
    "  Enter              send        Alt-Enter, Ctrl-J   new line",
    "  Esc, Ctrl-C        stop the answer being written",
    "  Up/Down            history (or move between lines)",
    "  PgUp/PgDn          scroll the transcript   Tab  complete a path",
    "  Ctrl-A/E/U/K/W     line start/end, kill to start/end, delete word",
    "  /image PATH  /model NAME  /system TEXT  /set temp=0.7 top_p=0.9 top_k=40 n=256",
    "  /clear  /save FILE  /quit",
    "Compare",
    "  Enter              ask both models (several lines: one question each)",
    "  /a MODEL  /b MODEL  /image PATH   Esc stops",
    "Train",
    "  Up/Down            select a run    n  new run form   s  stop   r  resume",
    "  In the form: Tab/Up/Down move, type to edit, Enter starts, Esc cancels",
    "Plots",
    "  Up/Down, Space     select / show a run     a  all runs",
    "  1..5               loss, lr, grad norm, memory, tokens/s",
    "  + -                more / less smoothing   r  raw line on/off",
    "  x                  x axis: step or wall time   l  log y",
    "Models",
    "  Up/Down            select   Enter  use in Chat   p  pull   d  delete   i  details",
    NULL,
};

static void draw_help(ui_app *app)
{
    int n = 0, w = 0;
    for (; help_lines[n]; n++) {
        int l = (int)strlen(help_lines[n]);
        if (l > w) w = l;
    }
    int bw = w + 4 < app->cols ? w + 4 : app->cols;
    int bh = n + 2 < app->rows ? n + 2 : app->rows;
    int y0 = (app->rows - bh) / 2, x0 = (app->cols - bw) / 2;
    attrset(A_NORMAL);
    ui_blank(y0, x0, bh, bw);
    if (bw >= 2 && bh >= 2) {
        ui_hline(y0, x0, bw);
        ui_hline(y0 + bh - 1, x0, bw);
        attron(A_BOLD);
        ui_text(y0, x0 + 2, bw - 4, " keys (any key closes) ", 23);   /* Up/Down scroll */
        attroff(A_BOLD);
    }
    /* on a small terminal the list scrolls (Up/Down/PgUp/PgDn) */
    int max_top = n - (bh - 2) > 0 ? n - (bh - 2) : 0;
    if (app->help_top > max_top) app->help_top = max_top;
    if (app->help_top < 0) app->help_top = 0;
    for (int i = 0; i + app->help_top < n && i < bh - 2; i++) {
        const char *l = help_lines[i + app->help_top];
        int head = l[0] != ' ';
        if (head) attron(A_BOLD);
        ui_text(y0 + 1 + i, x0 + 2, bw - 3, l, strlen(l));
        if (head) attroff(A_BOLD);
    }
    if (max_top && bw > 12) {
        char more[32];
        snprintf(more, sizeof more, " %d/%d ", app->help_top + 1, max_top + 1);
        ui_text(y0 + bh - 1, x0 + bw - 2 - (int)strlen(more), (int)strlen(more), more, strlen(more));
    }
}

static void draw_tabs(ui_app *app)
{
    static const char *const short_names[UI_N_PANELS] = {"Chat", "Cmp", "Train", "Plot", "Mdl"};
    attrset(app->has_color ? COLOR_PAIR(UI_C_TAB) : A_REVERSE);
    ui_blank(0, 0, 1, app->cols);
    int x = 0;
    int narrow = app->cols < 60;
    for (int i = 0; i < UI_N_PANELS && x < app->cols; i++) {
        char label[32];
        snprintf(label, sizeof label, narrow ? "%d%s " : " F%d %s ", i + 1,
                 narrow ? short_names[i] : app->panels[i].title);
        if (i == app->current) attrset(app->has_color ? COLOR_PAIR(UI_C_TAB_ACTIVE) | A_BOLD : A_BOLD);
        else attrset(app->has_color ? COLOR_PAIR(UI_C_TAB) : A_REVERSE);
        x += ui_text(0, x, app->cols - x, label, strlen(label));
    }
    attrset(app->has_color ? COLOR_PAIR(UI_C_TAB) : A_REVERSE);
    if (app->cols - x > 8) {
        const char *hint = "? keys";
        ui_text(0, app->cols - 7, 7, hint, strlen(hint));
    }
    attrset(A_NORMAL);
}

static void draw_status(ui_app *app)
{
    char buf[512] = "";
    ui_panel *p = &app->panels[app->current];
    if (app->flash[0]) snprintf(buf, sizeof buf, "%s", app->flash);
    else if (p->status) p->status(p, app, buf, sizeof buf);
    attrset(app->has_color ? COLOR_PAIR(UI_C_STATUS) : A_REVERSE);
    ui_blank(app->rows - 1, 0, 1, app->cols);
    ui_text(app->rows - 1, 0, app->cols, buf, strlen(buf));
    attrset(A_NORMAL);
}

static void draw_all(ui_app *app)
{
    erase();
    if (app->rows < 3 || app->cols < 10) {
        ui_text(0, 0, app->cols, "terminal too small", 18);
        return;
    }
    draw_tabs(app);
    ui_panel *p = &app->panels[app->current];
    if (p->draw) p->draw(p, app, 1, 0, app->rows - 2, app->cols);
    draw_status(app);
    if (app->show_help) draw_help(app);
}

static void handle_resize(ui_app *app)
{
    struct winsize ws;
    if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row > 0 && ws.ws_col > 0) {
        resize_term(ws.ws_row, ws.ws_col);
        if (ws.ws_xpixel && ws.ws_ypixel) {
            app->caps.cell_w = ws.ws_xpixel / ws.ws_col;
            app->caps.cell_h = ws.ws_ypixel / ws.ws_row;
        }
    }
    app->rows = LINES;
    app->cols = COLS;
    clearok(curscr, TRUE);   /* repaint every cell: pictures included */
    app->overlay_dirty = 1;
}

static void switch_panel(ui_app *app, int i)
{
    if (i < 0 || i >= UI_N_PANELS || i == app->current) return;
    app->current = i;
    app->overlay_dirty = 1;
    clearok(curscr, TRUE);   /* sixel pixels of the old panel must go */
}

static void handle_key(ui_app *app, wint_t ch, int is_key)
{
    ui_panel *p = &app->panels[app->current];
    if (app->show_help) {
        if (is_key && (ch == KEY_UP || ch == KEY_DOWN || ch == KEY_PPAGE || ch == KEY_NPAGE)) {
            app->help_top += ch == KEY_UP ? -1 : ch == KEY_DOWN ? 1 : ch == KEY_PPAGE ? -8 : 8;
            return;
        }
        if (is_key && ch == KEY_RESIZE) {
            handle_resize(app);
            return;
        }
        app->show_help = 0;
        app->help_top = 0;
        app->overlay_dirty = 1;
        clearok(curscr, TRUE);
        return;
    }
    app->flash[0] = 0;
    if (is_key) {
        if (ch == KEY_RESIZE) {
            handle_resize(app);
            return;
        }
        if (ch >= KEY_F(1) && ch <= KEY_F(5)) {
            switch_panel(app, (int)(ch - KEY_F(1)));
            return;
        }
        if (ch >= UI_KEY_ALT_1 && ch <= UI_KEY_ALT_5) {
            switch_panel(app, (int)(ch - UI_KEY_ALT_1));
            return;
        }
        if (ch == KEY_F(10)) {
            app->quit = 1;
            return;
        }
        if (ch == UI_KEY_PASTE_BEGIN) {
            app->in_paste = 1;
            return;
        }
        if (ch == UI_KEY_PASTE_END) {
            app->in_paste = 0;
            return;
        }
    } else {
        if (ch == 17) {   /* Ctrl-Q */
            app->quit = 1;
            return;
        }
        if (ch == 12) {   /* Ctrl-L */
            clearok(curscr, TRUE);
            app->overlay_dirty = 1;
            return;
        }
        if (ch == '?' && !app->in_paste && !(p->typing && p->typing(p))) {
            app->show_help = 1;
            return;
        }
    }
    if (p->key) p->key(p, app, ch, is_key);
}

/* Reads every key that is waiting (nodelay). */
static void read_keys(ui_app *app)
{
    for (int budget = 0; budget < 1 << 22; budget++) {
        wint_t ch;
        int r = get_wch(&ch);
        if (r == ERR) break;
        if (r == KEY_CODE_YES) handle_key(app, ch, 1);
        else handle_key(app, ch, 0);
        if (app->quit) break;
    }
}

static void setup_colors(ui_app *app)
{
    app->has_color = has_colors();
    if (!app->has_color) return;
    start_color();
    use_default_colors();
    app->colors256 = COLORS >= 256;
    init_pair(UI_C_TAB, COLOR_BLACK, COLOR_CYAN);
    init_pair(UI_C_TAB_ACTIVE, COLOR_WHITE, COLOR_BLUE);
    init_pair(UI_C_USER, COLOR_CYAN, -1);
    init_pair(UI_C_ASSISTANT, -1, -1);
    /* direct-colour terminals (TERM=*-direct): colour numbers are RGB there */
    int direct = COLORS >= 0x1000000;
    init_pair(UI_C_INFO, direct ? 0x808080 : app->colors256 ? 244 : COLOR_YELLOW, -1);
    init_pair(UI_C_ERROR, COLOR_RED, -1);
    init_pair(UI_C_STATUS, COLOR_BLACK, COLOR_WHITE);
    static const short series[UI_N_SERIES_COLORS] = {COLOR_YELLOW, COLOR_CYAN, COLOR_MAGENTA, COLOR_GREEN,
                                                     COLOR_RED, COLOR_BLUE, COLOR_WHITE, COLOR_YELLOW};
    static const short faint[UI_N_SERIES_COLORS] = {136, 30, 96, 28, 88, 18, 242, 100};
    static const int faint_rgb[UI_N_SERIES_COLORS] = {0xaf8700, 0x008787, 0x875f87, 0x008700,
                                                      0x870000, 0x000087, 0x6c6c6c, 0x878700};
    for (int i = 0; i < UI_N_SERIES_COLORS; i++) {
        init_pair((short)(UI_C_SERIES0 + i), series[i], -1);
        if (direct) init_extended_pair(UI_C_SERIES0 + UI_N_SERIES_COLORS + i, faint_rgb[i], -1);
        else init_pair((short)(UI_C_SERIES0 + UI_N_SERIES_COLORS + i), app->colors256 ? faint[i] : series[i], -1);
    }
}

static void define_keys(void)
{
    define_key("\033[200~", UI_KEY_PASTE_BEGIN);
    define_key("\033[201~", UI_KEY_PASTE_END);
    define_key("\033\r", UI_KEY_ALT_ENTER);
    define_key("\033\n", UI_KEY_ALT_ENTER);
    char seq[3] = "\033?";
    for (int i = 0; i < 5; i++) {
        seq[1] = (char)('1' + i);
        define_key(seq, UI_KEY_ALT_1 + i);
    }
}

static int parse_args(ui_app *app, int argc, char **argv, int *panel)
{
    enum { O_GFX = 300, O_RUNS, O_PLOT, O_PANEL, O_CMP };
    static const struct option lo[] = {
        CLI_MODEL_LONG_OPTIONS, {"graphics", 1, 0, O_GFX}, {"runs", 1, 0, O_RUNS},
        {"plot", 1, 0, O_PLOT}, {"panel", 1, 0, O_PANEL}, {"compare", 1, 0, O_CMP}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    static const char *const names[UI_N_PANELS] = {"chat", "compare", "train", "plots", "models"};
    optind = 1;
    int c;
    app->gfx = -1;
    while ((c = getopt_long(argc, argv, CLI_MODEL_SHORT_OPTIONS "h", lo, NULL)) != -1) {
        int r = cli_model_option(&app->mo, c, optarg);
        if (r < 0) return 2;
        if (r) continue;
        switch (c) {
        case O_GFX:
            if ((app->gfx = gfx_mode_from_name(optarg)) < 0) {
                fprintf(stderr, "iris: --graphics must be sixel, blocks or none\n");
                return 2;
            }
            break;
        case O_RUNS: app->runs_dir = optarg; break;
        case O_CMP: app->compare_b = optarg; break;
        case O_PLOT: {
            char **p = realloc(app->plot_paths, (size_t)(app->n_plot_paths + 1) * sizeof *p);
            if (!p) return 1;
            app->plot_paths = p;
            p[app->n_plot_paths++] = optarg;
            break;
        }
        case O_PANEL:
            *panel = -1;
            for (int i = 0; i < UI_N_PANELS; i++)
                if (!strcmp(optarg, names[i])) *panel = i;
            if (*panel < 0) {
                fprintf(stderr, "iris: --panel must be chat, compare, train, plots or models\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "iris: unexpected argument '%s' (see 'iris --help')\n", argv[optind]);
        return 2;
    }
    return -1;
}

int cmd_tui(int argc, char **argv)
{
    static ui_app app;   /* static: workers may still hold it while the process exits */
    memset(&app, 0, sizeof app);
    cli_model_opts_init(&app.mo, "");
    app.mo.gen.n_predict = 256;
    int panel = 0;
    int rc = parse_args(&app, argc, argv, &panel);
    if (rc >= 0) return rc;
    if (!app.runs_dir) app.runs_dir = getenv("IRIS_RUNS") && *getenv("IRIS_RUNS") ? getenv("IRIS_RUNS") : "runs";
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "iris: the full-screen interface needs a terminal ('iris --help' lists the commands)\n");
        return 2;
    }
    setlocale(LC_ALL, "");
    if ((int)app.gfx < 0 || app.gfx == GFX_SIXEL) {
        gfx_probe(STDIN_FILENO, 400, &app.caps);
        if ((int)app.gfx < 0) app.gfx = app.caps.sixel ? GFX_SIXEL : GFX_BLOCKS;
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK)) {
        perror("iris: pipe");
        return 1;
    }
    app.wake_rd = pfd[0];
    app.wake_wr = pfd[1];
    wake_fd_for_signal = pfd[1];
    signal(SIGPIPE, SIG_IGN);

    if (!getenv("ESCDELAY")) set_escdelay(40);
    if (!initscr()) {
        fprintf(stderr, "iris: cannot initialise the terminal\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigwinch;
    sigaction(SIGWINCH, &sa, NULL);   /* ours: it also wakes poll() */
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    /* every refresh runs to the end: with typeahead checks ncurses may cut an
     * update short while keys arrive and the screen can stay stale */
    typeahead(-1);
    curs_set(0);
    setup_colors(&app);
    define_keys();
    /* keys typed while the terminal was probed go back in, in order */
    for (int i = app.caps.n_typed - 1; i >= 0; i--) ungetch((unsigned char)app.caps.typed[i]);
    printf("\033[?2004h");   /* bracketed paste */
    fflush(stdout);
    app.rows = LINES;
    app.cols = COLS;
    app.overlay_dirty = 1;

    ui_chat_create(&app.panels[0], &app);
    ui_compare_create(&app.panels[1], &app);
    ui_train_create(&app.panels[2], &app);
    ui_plot_create(&app.panels[3], &app);
    ui_models_create(&app.panels[4], &app);
    app.current = panel;

    while (!app.quit) {
        /* a SIGWINCH can come before our handler is in place (during the
         * probe or initscr): the size is compared on every turn as well */
        struct winsize ws;
        if (resized || (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && (ws.ws_row != LINES || ws.ws_col != COLS))) {
            resized = 0;
            handle_resize(&app);
        }
        for (int i = 0; i < UI_N_PANELS; i++)
            if (app.panels[i].tick) app.panels[i].tick(&app.panels[i], &app);
        draw_all(&app);
        refresh();
        ui_panel *p = &app.panels[app.current];
        if (p->overlay && !app.show_help) p->overlay(p, &app);
        app.overlay_dirty = 0;

        struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {app.wake_rd, POLLIN, 0}};
        int r = poll(fds, 2, 500);   /* the timeout paces file following, not a spin */
        if (r < 0 && errno != EINTR) break;
        if (r > 0 && (fds[1].revents & POLLIN)) {
            char buf[256];
            while (read(app.wake_rd, buf, sizeof buf) > 0) {}
        }
        if (r > 0 && (fds[0].revents & (POLLHUP | POLLERR)) && !(fds[0].revents & POLLIN)) break;
        read_keys(&app);
    }
    printf("\033[?2004l");
    fflush(stdout);
    endwin();
    for (int i = 0; i < UI_N_PANELS; i++)
        if (app.panels[i].destroy) app.panels[i].destroy(&app.panels[i]);
    free(app.plot_paths);
    return 0;
}
