/* model_info.c — see model_info.h. */
#include "model_info.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/file_util.h"
#include "formats/weights.h"
#include "inspect.h"

int64_t model_info_disk_size(const char *path)
{
    struct stat st;
    if (stat(path, &st)) return 0;
    if (!S_ISDIR(st.st_mode)) return st.st_size;
    DIR *d = opendir(path);
    if (!d) return 0;
    int64_t total = 0;
    struct dirent *de;
    char p[4096];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        if (stat(p, &st)) continue;
        if (S_ISREG(st.st_mode)) total += st.st_size;
    }
    closedir(d);
    return total;
}

static void read_config(const char *path, model_info *info)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", path);
    FILE *f = fopen(p, "rb");
    if (!f) return;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf) return;
    cJSON *j = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!j) return;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    if (cJSON_IsArray(a) && cJSON_IsString(cJSON_GetArrayItem(a, 0)))
        snprintf(info->arch, sizeof info->arch, "%s", cJSON_GetArrayItem(a, 0)->valuestring);
    else if (cJSON_IsString(mt))
        snprintf(info->arch, sizeof info->arch, "%s", mt->valuestring);
    info->has_vision = cJSON_GetObjectItemCaseSensitive(j, "vision_config") != NULL;
    cJSON_Delete(j);
}

void model_info_get(const char *path, model_info *info)
{
    memset(info, 0, sizeof *info);
    info->params = -1;
    info->bytes = model_info_disk_size(path);
    read_config(path, info);
    iris_weights w;
    if (iris_weights_open(&w, path)) {
        snprintf(info->error, sizeof info->error, "%s", iris_last_error());
        return;
    }
    inspect_tensor *t = NULL;
    size_t n = 0;
    if (inspect_collect(&w, &t, &n)) {
        snprintf(info->error, sizeof info->error, "out of memory");
        iris_weights_close(&w);
        return;
    }
    /* parameters per dtype name: the largest share names the model's dtype */
    typedef struct { const char *name; int64_t count; } dtype_share;
    dtype_share by[16];
    int nby = 0;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t e = 1;
        for (int d = 0; d < t[i].t->ndim; d++) e *= t[i].t->shape[d];
        total += e;
        int k = 0;
        while (k < nby && strcmp(by[k].name, t[i].dtype)) k++;
        if (k == nby && nby < 16) by[nby++] = (dtype_share){t[i].dtype, 0};
        if (k < nby) by[k].count += e;
        if (strstr(t[i].name, "vision")) info->has_vision = 1;
    }
    int best = -1;
    for (int k = 0; k < nby; k++)
        if (best < 0 || by[k].count > by[best].count) best = k;
    if (best >= 0) snprintf(info->dtype, sizeof info->dtype, "%s", by[best].name);
    info->params = total;
    info->n_tensors = (int)n;
    free(t);
    iris_weights_close(&w);
}
