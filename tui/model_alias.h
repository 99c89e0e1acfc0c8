/* model_alias.h — short model names (config/models.ini) for pull, rm and the UI.
 *
 * Contract: model_ref_parse turns "ORG/NAME[@REV]" or "ALIAS[@REV]" into a
 * repository, a revision (NULL: the alias's or "main") and default include /
 * exclude globs.  The INI file is $IRIS_MODELS_INI, else config/models.ini
 * beside the binary (../config), else ./config/models.ini.  Returns -1 with
 * iris_set_error() for a name that is neither.
 */
#ifndef IRIS_MODEL_ALIAS_H
#define IRIS_MODEL_ALIAS_H

#define MODEL_ALIAS_MAX_GLOBS 16

typedef struct {
    char repo[300];
    char revision[260];            /* empty: none given */
    char *include[MODEL_ALIAS_MAX_GLOBS];
    int n_include;
    char *exclude[MODEL_ALIAS_MAX_GLOBS];
    int n_exclude;
    char alias[300];              /* the alias used, empty when ORG/NAME was given */
} model_ref;

int model_ref_parse(const char *arg, model_ref *out);
void model_ref_free(model_ref *r);
/* The alias file found, or NULL. */
const char *model_alias_file(void);

#endif
