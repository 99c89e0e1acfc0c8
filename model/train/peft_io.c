#include "peft_io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/file_util.h"
#include "formats/safetensors.h"

#define PEFT_PREFIX "base_model.model."

static int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0755) && errno != EEXIST) {
        iris_set_error("%s: cannot create the directory: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* What an adapter holds: the LoRA matrices and, as PEFT's modules_to_save,
 * a projector trained beside them (LLaVA's stage 2). */
static int in_adapter(const iris_param *p)
{
    return p->group == IRIS_PG_LORA || (p->group == IRIS_PG_PROJECTOR && p->g);
}

/* The projector's module path: its parameter name without the sub-layer and
 * the tensor ("multi_modal_projector.linear_1.weight" -> "multi_modal_projector"). */
static void projector_module(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s", name);
    for (int cut = 0; cut < 2; cut++) {
        char *dot = strrchr(out, '.');
        if (dot) *dot = 0;
    }
}

cJSON *iris_peft_config_common(const iris_lora_config *lc, const char *base_name, const char *task_type)
{
    cJSON *cfg = cJSON_CreateObject();
    if (!cfg) return NULL;
    cJSON_AddStringToObject(cfg, "peft_type", "LORA");
    if (task_type) cJSON_AddStringToObject(cfg, "task_type", task_type);
    else cJSON_AddNullToObject(cfg, "task_type");
    cJSON_AddStringToObject(cfg, "base_model_name_or_path", base_name ? base_name : "");
    cJSON_AddNumberToObject(cfg, "r", lc->r);
    cJSON_AddNumberToObject(cfg, "lora_alpha", lc->alpha);
    cJSON_AddNumberToObject(cfg, "lora_dropout", lc->dropout);
    cJSON_AddBoolToObject(cfg, "use_rslora", lc->rslora);
    cJSON_AddStringToObject(cfg, "bias", "none");
    cJSON_AddBoolToObject(cfg, "fan_in_fan_out", 0);
    cJSON_AddBoolToObject(cfg, "inference_mode", 1);
    cJSON_AddBoolToObject(cfg, "init_lora_weights", 1);
    return cfg;
}

int iris_peft_save(const iris_llama_train *m, const char *dir, const char *base_name)
{
    if (!m->has_lora) {
        iris_set_error("this run has no LoRA adapter to export");
        return -1;
    }
    if (ensure_dir(dir)) return -1;
    const iris_param_set *s = &m->params;
    int n = 0;
    for (int i = 0; i < s->n; i++) n += in_adapter(&s->p[i]);
    char **names = calloc((size_t)n + 1, sizeof *names);
    iris_tensor *ts = calloc((size_t)n + 1, sizeof *ts);
    int k = 0, rc = -1;
    cJSON *cfg = NULL;
    if (!names || !ts) goto oom;
    for (int i = 0; i < s->n; i++) {
        const iris_param *p = &s->p[i];
        if (!in_adapter(p)) continue;
        size_t len = strlen(PEFT_PREFIX) + strlen(p->name) + 1;
        if (!(names[k] = malloc(len))) goto oom;
        snprintf(names[k], len, PEFT_PREFIX "%s", p->name);
        ts[k] = p->t;
        ts[k].owns_data = 0;
        k++;
    }
    char path[2048];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (iris_st_write(path, k, (const char *const *)names, ts, "{\"format\":\"pt\"}")) goto done;

    if (!(cfg = iris_peft_config_common(&m->lora, base_name, "CAUSAL_LM"))) goto oom;
    cJSON *tm = cJSON_AddArrayToObject(cfg, "target_modules");
    /* The module's last name component ("Wqkv", "q_proj"): PEFT matches a
     * target against the end of each module path. */
    for (int mod = 0; tm && mod < IRIS_LM_COUNT; mod++) {
        const char *path = iris_lora_module_path(m->cfg.arch, mod);
        if (!path || !(m->lora.targets & (1u << mod))) continue;
        const char *dot = strrchr(path, '.');
        cJSON_AddItemToArray(tm, cJSON_CreateString(dot ? dot + 1 : path));
    }
    if (m->lora.layer_first >= 0 || m->lora.layer_last >= 0) {
        cJSON *lt = cJSON_AddArrayToObject(cfg, "layers_to_transform");
        int a = m->lora.layer_first >= 0 ? m->lora.layer_first : 0;
        int b = m->lora.layer_last >= 0 ? m->lora.layer_last : m->cfg.n_layers - 1;
        for (int l = a; lt && l <= b && l < m->cfg.n_layers; l++) cJSON_AddItemToArray(lt, cJSON_CreateNumber(l));
        /* the module list holding the layers (MPT: transformer.blocks) */
        cJSON_AddStringToObject(cfg, "layers_pattern", (m->cfg.arch == IRIS_ARCH_MPT || m->cfg.arch == IRIS_ARCH_MOSAIC_GPT) ? "blocks" : "layers");
    } else {
        cJSON_AddNullToObject(cfg, "layers_to_transform");
        cJSON_AddNullToObject(cfg, "layers_pattern");
    }
    char module[160] = "";
    for (int i = 0; i < s->n && !module[0]; i++)
        if (s->p[i].group == IRIS_PG_PROJECTOR && s->p[i].g) projector_module(s->p[i].name, module, sizeof module);
    if (module[0]) {
        cJSON *ms = cJSON_AddArrayToObject(cfg, "modules_to_save");
        if (ms) cJSON_AddItemToArray(ms, cJSON_CreateString(module));
    } else {
        cJSON_AddNullToObject(cfg, "modules_to_save");
    }
    rc = iris_write_json_file(dir, "adapter_config.json", cfg);
    cfg = NULL;
    goto done;
oom:
    iris_set_error("out of memory writing the adapter to %s", dir);
done:
    for (int i = 0; names && i < k; i++) free(names[i]);
    free(names);
    free(ts);
    cJSON_Delete(cfg);
    return rc;
}

int iris_peft_read_lora_numbers(const char *dir, iris_lora_config *lc)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    size_t len;
    char *text = iris_read_file(path, &len, 1 << 20);
    if (!text) return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) {
        iris_set_error("%s: malformed JSON", path);
        return -1;
    }
    memset(lc, 0, sizeof *lc);
    lc->layer_first = lc->layer_last = -1;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "peft_type");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "r");
    const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(j, "lora_alpha");
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(j, "lora_dropout");
    int rc = -1;
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "LORA")) {
        iris_set_error("%s: peft_type is not \"LORA\"", path);
    } else if (!cJSON_IsNumber(r) || r->valuedouble < 1 || r->valuedouble > 65536 || !cJSON_IsNumber(alpha)) {
        iris_set_error("%s: r and lora_alpha must be numbers (r >= 1)", path);
    } else {
        lc->r = (int)r->valuedouble;
        lc->alpha = (float)alpha->valuedouble;
        lc->rslora = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "use_rslora"));
        lc->dropout = cJSON_IsNumber(drop) ? (float)drop->valuedouble : 0.0f;
        rc = 0;
    }
    cJSON_Delete(j);
    return rc;
}

int iris_peft_read_config(const char *dir, iris_lora_config *lc)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    size_t len;
    char *text = iris_read_file(path, &len, 1 << 20);
    if (!text) return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) {
        iris_set_error("%s: malformed JSON", path);
        return -1;
    }
    int rc = -1;
    memset(lc, 0, sizeof *lc);
    lc->layer_first = lc->layer_last = -1;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "peft_type");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "r");
    const cJSON *alpha = cJSON_GetObjectItemCaseSensitive(j, "lora_alpha");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "use_rslora");
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(j, "lora_dropout");
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "target_modules");
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(j, "layers_to_transform");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "LORA")) {
        iris_set_error("%s: peft_type is not \"LORA\"", path);
        goto done;
    }
    if (!cJSON_IsNumber(r) || r->valuedouble < 1 || !cJSON_IsNumber(alpha)) {
        iris_set_error("%s: r and lora_alpha must be numbers (r >= 1)", path);
        goto done;
    }
    lc->r = (int)r->valuedouble;
    lc->alpha = (float)alpha->valuedouble;
    lc->rslora = cJSON_IsTrue(rs);
    lc->dropout = cJSON_IsNumber(drop) ? (float)drop->valuedouble : 0.0f;
    char list[512] = "";
    if (cJSON_IsString(tm)) {
        snprintf(list, sizeof list, "%s", tm->valuestring);
    } else if (cJSON_IsArray(tm)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, tm) {
            if (!cJSON_IsString(e)) continue;
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", l ? "," : "", e->valuestring);
        }
    }
    if (iris_lora_parse_targets(lc, list)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", iris_last_error());
        iris_set_error("%s: target_modules: %s", path, msg);
        goto done;
    }
    if (cJSON_IsNumber(lt)) {
        lc->layer_first = lc->layer_last = (int)lt->valuedouble;
    } else if (cJSON_IsArray(lt) && cJSON_GetArraySize(lt) > 0) {
        /* iris adapts a contiguous range: accept a list that is one. */
        int n = cJSON_GetArraySize(lt), a = (int)cJSON_GetArrayItem(lt, 0)->valuedouble;
        for (int i = 0; i < n; i++)
            if ((int)cJSON_GetArrayItem(lt, i)->valuedouble != a + i) {
                iris_set_error("%s: layers_to_transform must be a contiguous range of layers", path);
                goto done;
            }
        lc->layer_first = a;
        lc->layer_last = a + n - 1;
    }
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

/* Copies tensor t (any float dtype, p's shape) into parameter p. */
static int load_param(iris_llama_train *m, iris_param *p, const iris_tensor *t, const char *path, const char *name)
{
    int same = t->ndim == p->t.ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == p->t.shape[d];
    if (!same || (int)t->dtype < 0 || t->dtype == IRIS_I32 || t->dtype == IRIS_Q8_0) {
        iris_set_error("%s: tensor '%s' has shape or dtype unlike the model's (%lld x %lld, float)", path, name,
                       (long long)p->t.shape[0], (long long)(p->t.ndim > 1 ? p->t.shape[1] : 1));
        return -1;
    }
    float *host = malloc((size_t)p->n * sizeof(float));
    if (!host) {
        iris_set_error("out of memory");
        return -1;
    }
    iris_to_f32(t->dtype, t->data, host, p->n);
    int up = m->be->upload(p->w, host, (size_t)p->n * sizeof(float));
    free(host);
    return up;
}

int iris_peft_load(iris_llama_train *m, const char *dir)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    iris_safetensors f;
    if (iris_st_open(&f, path)) return -1;
    int rc = -1, used = 0;
    for (int i = 0; i < m->params.n; i++) {
        iris_param *p = &m->params.p[i];
        if (p->group != IRIS_PG_LORA) continue;
        char name[256];
        snprintf(name, sizeof name, PEFT_PREFIX "%s", p->name);
        const iris_tensor *t = iris_st_find(&f, name);
        if (!t) {
            /* Adapters saved with the adapter name kept in. */
            char alt[256];
            const char *dot = strstr(name, ".lora_");
            if (dot) {
                snprintf(alt, sizeof alt, "%.*s.%.6s.default.weight", (int)(dot - name), name, dot + 1);
                t = iris_st_find(&f, alt);
            }
        }
        if (!t) {
            iris_set_error("%s: tensor '%s' is missing", path, name);
            goto done;
        }
        if (load_param(m, p, t, path, name)) goto done;
        used++;
    }
    /* A projector saved as modules_to_save (PEFT strips the wrapper's
     * "modules_to_save.<adapter>" from the names it writes). */
    for (int i = 0; i < m->params.n; i++) {
        iris_param *p = &m->params.p[i];
        if (p->group != IRIS_PG_PROJECTOR) continue;
        char name[256];
        snprintf(name, sizeof name, PEFT_PREFIX "%s", p->name);
        const iris_tensor *t = iris_st_find(&f, name);
        if (!t) continue;
        if (load_param(m, p, t, path, name)) goto done;
    }
    int lora_in_file = 0;
    for (int i = 0; i < f.n_tensors; i++) lora_in_file += strstr(f.tensors[i].name, ".lora_") != NULL;
    if (lora_in_file != used) {
        iris_set_error("%s: holds %d LoRA tensors but the model (with its adapter_config.json) has %d", path,
                       lora_in_file, used);
        goto done;
    }
    rc = 0;
done:
    iris_st_close(&f);
    return rc;
}

/* The merged f32 value of parameter idx (host buffer of p->n floats). */
static int merged_value(const iris_llama_train *m, int idx, float *out)
{
    const iris_param *p = &m->params.p[idx];
    if (m->be->download(out, p->w, (size_t)p->n * sizeof(float))) return -1;
    if (!m->has_lora || p->t.ndim != 2) return 0;
    /* Find an adapter whose name is this weight's module path + .lora_A.weight */
    char a_name[200], b_name[200];
    size_t len = strlen(p->name);
    if (len < 7 || strcmp(p->name + len - 7, ".weight")) return 0;
    snprintf(a_name, sizeof a_name, "%.*s.lora_A.weight", (int)(len - 7), p->name);
    snprintf(b_name, sizeof b_name, "%.*s.lora_B.weight", (int)(len - 7), p->name);
    int ai = iris_params_find(&m->params, a_name), bi = iris_params_find(&m->params, b_name);
    if (ai < 0 || bi < 0) return 0;
    const iris_param *A = &m->params.p[ai], *B = &m->params.p[bi];
    int out_dim = (int)p->t.shape[0], in_dim = (int)p->t.shape[1], r = (int)A->t.shape[0];
    m->be->gemm(0, 0, out_dim, in_dim, r, m->lora_scale, B->w, r, 0, A->w, in_dim, 0, 1.0f, out, in_dim, 0, 1);
    return m->be->sync ? m->be->sync() : 0;
}

int iris_merge_save(const iris_llama_train *m, const iris_weights *base, const char *dir)
{
    if (!base->st) {
        iris_set_error("%s: merging writes the base's safetensors layout; a .gguf base cannot be merged",
                       base->path);
        return -1;
    }
    if (ensure_dir(dir)) return -1;
    int total = 0;
    for (int f = 0; f < base->n_files; f++) total += base->st[f].n_tensors;
    const char **names = calloc((size_t)total + 1, sizeof *names);
    iris_tensor *ts = calloc((size_t)total + 1, sizeof *ts);
    int k = 0, rc = -1, skipped = 0;
    if (!names || !ts) goto oom;
    for (int f = 0; f < base->n_files; f++)
        for (int i = 0; i < base->st[f].n_tensors; i++) {
            const iris_st_tensor *src = &base->st[f].tensors[i];
            if ((int)src->t.dtype < 0) {
                skipped++;   /* e.g. an I64 position_ids buffer: nothing reads it */
                continue;
            }
            names[k] = src->name;
            int idx = iris_params_find(&m->params, src->name);
            if (idx < 0 || src->t.dtype == IRIS_I32) {
                ts[k] = src->t;
                ts[k].owns_data = 0;
                k++;
                continue;
            }
            const iris_param *p = &m->params.p[idx];
            float *val = malloc((size_t)p->n * sizeof(float));
            if (!val) goto oom;
            if (merged_value(m, idx, val)) {
                free(val);
                iris_set_error("cannot read %s back from the backend", p->name);
                goto done;
            }
            iris_tensor t = src->t;
            if (iris_tensor_alloc(&t, src->t.dtype == IRIS_Q8_0 ? IRIS_F32 : src->t.dtype, src->t.ndim,
                                  src->t.shape)) {
                free(val);
                goto oom;
            }
            for (long e = 0; e < p->n; e++) {
                if (t.dtype == IRIS_F32) ((float *)t.data)[e] = val[e];
                else if (t.dtype == IRIS_F16) ((uint16_t *)t.data)[e] = iris_f32_to_f16(val[e]);
                else ((uint16_t *)t.data)[e] = iris_f32_to_bf16(val[e]);
            }
            free(val);
            ts[k++] = t;
        }
    char path[2048];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = iris_st_write(path, k, names, ts, "{\"format\":\"pt\"}");
    (void)skipped;
    goto done;
oom:
    iris_set_error("out of memory merging into %s", dir);
done:
    for (int i = 0; ts && i < k; i++)
        if (ts[i].owns_data) iris_tensor_free(&ts[i]);
    free(names);
    free(ts);
    return rc;
}
