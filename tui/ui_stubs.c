/* ui_stubs.c — panels not written yet: a line saying so. */
#include <curses.h>
#include <string.h>

#include "ui.h"

static void stub_draw(ui_panel *p, ui_app *app, int y, int x, int h, int w)
{
    (void)app; (void)h;
    const char *msg = p->st;
    ui_text(y + 1, x + 2, w - 4, msg, strlen(msg));
}

static void stub(ui_panel *p, const char *title, const char *msg)
{
    memset(p, 0, sizeof *p);
    p->title = title;
    p->st = (void *)msg;
    p->draw = stub_draw;
}

void __attribute__((weak)) ui_compare_create(ui_panel *p, ui_app *app) { (void)app; stub(p, "Compare", "Compare: not built in yet."); }
void __attribute__((weak)) ui_train_create(ui_panel *p, ui_app *app) { (void)app; stub(p, "Train", "Train: not built in yet."); }
void __attribute__((weak)) ui_plot_create(ui_panel *p, ui_app *app) { (void)app; stub(p, "Plots", "Plots: not built in yet."); }
void __attribute__((weak)) ui_models_create(ui_panel *p, ui_app *app) { (void)app; stub(p, "Models", "Models: not built in yet."); }
