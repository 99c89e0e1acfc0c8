/* cmd_ls.c — `iris ls`: the models in the shared Hugging Face cache. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/error.h"
#include "hub/hub.h"

int cmd_ls(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: iris ls\nLists the models in the cache ($HF_HUB_CACHE or $HF_HOME/hub):\n"
                   "name, revision, size, file count and architecture (from config.json).\n");
            return 0;
        }
        fprintf(stderr, "iris ls: unexpected argument '%s'\n", argv[i]);
        return 2;
    }
    hub_config cfg;
    if (hub_config_from_env(&cfg) != 0) {
        fprintf(stderr, "iris ls: %s\n", iris_last_error());
        return 1;
    }
    hub_local_model *m = NULL;
    size_t n = 0;
    if (hub_list_models(cfg.cache_dir, &m, &n) != 0) {
        fprintf(stderr, "iris ls: %s\n", iris_last_error());
        hub_config_free(&cfg);
        return 1;
    }
    if (n == 0) {
        printf("no models in %s\n", cfg.cache_dir);
    } else {
        int w = 4;
        for (size_t i = 0; i < n; i++) if ((int)strlen(m[i].repo) > w) w = (int)strlen(m[i].repo);
        printf("%-*s  %-12s  %10s  %5s  %s\n", w, "NAME", "REVISION", "SIZE", "FILES", "ARCHITECTURE");
        for (size_t i = 0; i < n; i++) {
            char size[32];
            hub_format_bytes(m[i].size, size, sizeof size);
            printf("%-*s  %-12s  %10s  %5zu  %s\n", w, m[i].repo, m[i].revision, size, m[i].nfiles,
                   m[i].architecture ? m[i].architecture : "-");
        }
    }
    hub_local_models_free(m, n);
    hub_config_free(&cfg);
    return 0;
}
