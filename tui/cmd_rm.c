/* cmd_rm.c — `iris rm`: remove a model's snapshot from the shared cache, and
 * the blobs no other snapshot uses. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/error.h"
#include "hub/hub.h"
#include "model_alias.h"

int cmd_rm(int argc, char **argv)
{
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: iris rm ORG/NAME[@REVISION] | ALIAS[@REVISION]\n"
                   "Removes the snapshot (every snapshot when no revision is given) and the blobs\n"
                   "that no remaining snapshot of the model links to.\n");
            return 0;
        }
        if (argv[i][0] == '-' || name) {
            fprintf(stderr, "iris rm: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
        name = argv[i];
    }
    if (!name) {
        fprintf(stderr, "usage: iris rm ORG/NAME[@REVISION] | ALIAS[@REVISION]\n");
        return 2;
    }
    model_ref ref;
    if (model_ref_parse(name, &ref) != 0) {
        fprintf(stderr, "iris rm: %s\n", iris_last_error());
        return 2;
    }
    hub_config cfg;
    if (hub_config_from_env(&cfg) != 0) {
        fprintf(stderr, "iris rm: %s\n", iris_last_error());
        model_ref_free(&ref);
        return 1;
    }
    /* An alias's own revision is not a reason to keep other snapshots: only an explicit @REV narrows. */
    const char *rev = strchr(name, '@') ? ref.revision : NULL;
    hub_rm_stats st;
    int rc = hub_remove_model(cfg.cache_dir, ref.repo, rev, &st);
    if (rc != 0) {
        fprintf(stderr, "iris rm: %s\n", iris_last_error());
    } else {
        char b[32];
        hub_format_bytes(st.bytes, b, sizeof b);
        printf("removed %s%s%s: %zu snapshot%s, %zu blob%s, %s freed\n", ref.repo, rev ? "@" : "", rev ? rev : "",
               st.snapshots, st.snapshots == 1 ? "" : "s", st.blobs, st.blobs == 1 ? "" : "s", b);
    }
    hub_config_free(&cfg);
    model_ref_free(&ref);
    return rc == 0 ? 0 : 1;
}
