/* flamingo_lora.c — see flamingo_lora.h. */
#include "flamingo_lora.h"

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
#include "nets/llama_internal.h"
#include "train/flamingo_train.h"
#include "train/of_lora_targets.h"
#include "train/peft_io.h"

#define PEFT_PREFIX "base_model.model."

static const char *const xa_leaf[IRIS_XA_COUNT] = {[IRIS_XA_TO_Q] = "attn.to_q", [IRIS_XA_TO_KV] = "attn.to_kv",
                                                   [IRIS_XA_TO_OUT] = "attn.to_out", [IRIS_XA_FF_W1] = "ff.1",
                                                   [IRIS_XA_FF_W2] = "ff.3"};
static const char *const pv_leaf[IRIS_PV_LAYER_COUNT] = {[IRIS_PV_TO_Q] = "0.to_q", [IRIS_PV_TO_KV] = "0.to_kv",
                                                         [IRIS_PV_TO_OUT] = "0.to_out", [IRIS_PV_FF_W1] = "1.1",
                                                         [IRIS_PV_FF_W2] = "1.3"};

/* The decoder layer's own path ("transformer.blocks.3."). */
static void layer_prefix(const iris_llama_train *m, int l, char *out, size_t cap)
{
    const iris_decoder_names *N = IRIS_ARCH_IS_GENERIC(m->cfg.arch) ? iris_decoder_names_of(m->cfg.arch) : NULL;
    char layer[32];
    snprintf(layer, sizeof layer, N ? N->layer : "layers.%d.", l);
    snprintf(out, cap, "%.63s%s", m->prefix, layer);
}

static void lin_dims(const iris_llama_config *c, int mod, int *in, int *out)
{
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    switch (mod) {
    case IRIS_LM_Q: *in = c->dim; *out = qd; break;
    case IRIS_LM_K: case IRIS_LM_V: *in = c->dim; *out = kvd; break;
    case IRIS_LM_O: *in = qd; *out = c->dim; break;
    case IRIS_LM_GATE: case IRIS_LM_UP: *in = c->dim; *out = c->ffn_dim; break;
    case IRIS_LM_QKV: *in = c->dim; *out = qd + 2 * kvd; break;
    default: *in = c->ffn_dim; *out = c->dim; break;
    }
}

int iris_flamingo_lora_list(iris_flamingo_lora *fl, const iris_flamingo_train *t)
{
    const iris_llama_train *m = &t->m;
    const iris_perceiver_config *pc = &t->pv.net.cfg;
    int cap = t->n_layers * (IRIS_LM_COUNT + 5) + pc->depth * 5;
    memset(fl, 0, sizeof *fl);
    fl->mods = calloc((size_t)cap, sizeof *fl->mods);
    fl->sel = calloc((size_t)cap, 1);
    fl->sites = calloc((size_t)cap, sizeof *fl->sites);
    if (!fl->mods || !fl->sel || !fl->sites) {
        iris_set_error("out of memory");
        return -1;
    }
    for (int l = 0; l < t->n_layers; l++) {
        char lp[96];
        layer_prefix(m, l, lp, sizeof lp);
        for (int mod = 0; mod < IRIS_LM_COUNT; mod++) {
            const char *path = iris_lora_module_path(m->cfg.arch, mod);
            if (!path) continue;
            iris_of_module *x = &fl->mods[fl->n++];
            snprintf(x->name, sizeof x->name, "lang_encoder.%sdecoder_layer.%s", lp, path);
            snprintf(x->alias, sizeof x->alias, "lang_encoder.old_decoder_blocks.%d.%s", l, path);
            x->group = mod <= IRIS_LM_O || mod == IRIS_LM_QKV ? IRIS_OFG_SELF_ATTN : IRIS_OFG_FF;
            x->kind = IRIS_OFM_DECODER;
            x->layer = l;
            x->slot = mod;
            lin_dims(&m->cfg, mod, &x->in, &x->out);
            x->rows = t->max_len;
        }
    }
    for (int l = 0; l < t->n_layers; l++) {
        if (!t->has_block[l]) continue;
        char lp[96];
        layer_prefix(m, l, lp, sizeof lp);
        const iris_xattn_config *c = &t->xa[l].net.cfg;
        int inner = c->heads * c->dim_head;
        const int slots[5] = {IRIS_XA_TO_Q, IRIS_XA_TO_KV, IRIS_XA_TO_OUT, IRIS_XA_FF_W1, IRIS_XA_FF_W2};
        const int ins[5] = {c->dim, c->dim_visual, inner, c->dim, c->dim * c->ff_mult};
        const int outs[5] = {inner, 2 * inner, c->dim, c->dim * c->ff_mult, c->dim};
        for (int k = 0; k < 5; k++) {
            iris_of_module *x = &fl->mods[fl->n++];
            snprintf(x->name, sizeof x->name, "lang_encoder.%sgated_cross_attn_layer.%s", lp, xa_leaf[slots[k]]);
            snprintf(x->alias, sizeof x->alias, "lang_encoder.gated_cross_attn_layers.%d.%s", l, xa_leaf[slots[k]]);
            x->group = k < 3 ? IRIS_OFG_XATTN : IRIS_OFG_XATTN_FF;
            x->kind = IRIS_OFM_BLOCK;
            x->layer = l;
            x->slot = slots[k];
            x->in = ins[k];
            x->out = outs[k];
            x->rows = slots[k] == IRIS_XA_TO_KV ? t->max_media * t->n_latents : t->max_len;
        }
    }
    int inner = pc->heads * pc->dim_head, TL = t->max_media * pc->n_latents;
    const int slots[5] = {IRIS_PV_TO_Q, IRIS_PV_TO_KV, IRIS_PV_TO_OUT, IRIS_PV_FF_W1, IRIS_PV_FF_W2};
    const int ins[5] = {pc->dim, pc->dim, inner, pc->dim, pc->dim * pc->ff_mult};
    const int outs[5] = {inner, 2 * inner, pc->dim, pc->dim * pc->ff_mult, pc->dim};
    for (int l = 0; l < pc->depth; l++)
        for (int k = 0; k < 5; k++) {
            iris_of_module *x = &fl->mods[fl->n++];
            snprintf(x->name, sizeof x->name, "perceiver.layers.%d.%s", l, pv_leaf[slots[k]]);
            x->group = IRIS_OFG_PERCEIVER;
            x->kind = IRIS_OFM_PERCEIVER;
            x->layer = l;
            x->slot = IRIS_PV_SLOT(l, slots[k]);
            x->in = ins[k];
            x->out = outs[k];
            x->rows = slots[k] == IRIS_PV_TO_KV ? t->max_media * (t->n_patches + pc->n_latents) : TL;
        }
    return 0;
}

int iris_flamingo_lora_select(iris_flamingo_lora *fl, const iris_lora_config *lc)
{
    const char **names = calloc((size_t)fl->n + 1, sizeof *names);
    int *groups = calloc((size_t)fl->n + 1, sizeof *groups);
    if (!names || !groups) {
        free(names);
        free(groups);
        iris_set_error("out of memory");
        return -1;
    }
    for (int i = 0; i < fl->n; i++) {
        names[i] = fl->mods[i].name;
        groups[i] = fl->mods[i].group;
    }
    int rc = iris_of_lora_select(lc->spec, names, groups, fl->n, fl->sel);
    free(names);
    free(groups);
    if (rc) return -1;
    int any = 0;
    for (int i = 0; i < fl->n; i++) {
        if (fl->mods[i].kind != IRIS_OFM_PERCEIVER && !iris_lora_targets_layer(lc, fl->mods[i].layer))
            fl->sel[i] = 0;
        any |= fl->sel[i];
    }
    if (!any) {
        iris_set_error("lora.targets '%s' with lora.layers selects no module of this OpenFlamingo model", lc->spec);
        return -1;
    }
    fl->lc = *lc;
    return 0;
}

int iris_flamingo_lora_build(iris_flamingo_lora *fl, iris_flamingo_train *t, uint64_t seed)
{
    const iris_lora_config *lc = &fl->lc;
    if (lc->r <= 0) {
        iris_set_error("LoRA rank must be positive (got %d)", lc->r);
        return -1;
    }
    unsigned lm_bits = 0;
    for (int i = 0; i < fl->n; i++) {
        const iris_of_module *x = &fl->mods[i];
        if (!fl->sel[i]) continue;
        if (x->kind == IRIS_OFM_DECODER) lm_bits |= 1u << x->slot;
        if ((x->kind == IRIS_OFM_PERCEIVER && (fl->save_mask & IRIS_OFS_PERCEIVER)) ||
            (x->kind == IRIS_OFM_BLOCK && (fl->save_mask & IRIS_OFS_XATTN))) {
            iris_set_error("lora.modules_to_save = %s trains that module whole; it cannot also take a LoRA "
                           "adapter (%s): drop it from lora.targets",
                           x->kind == IRIS_OFM_PERCEIVER ? "perceiver" : "xattn", x->name);
            return -1;
        }
    }
    if (lm_bits) {
        iris_lora_config lm = *lc;
        lm.targets = lm_bits;
        if (iris_llama_train_begin_lora(&t->m, &lm)) return -1;
    }
    if (iris_params_init(&fl->set, t->m.be, 2 * fl->n + 2)) return -1;
    size_t scratch = 0;
    for (int i = 0; lc->dropout > 0 && i < fl->n; i++)
        if (fl->sel[i] && fl->mods[i].kind != IRIS_OFM_DECODER &&
            (size_t)fl->mods[i].rows * fl->mods[i].in > scratch)
            scratch = (size_t)fl->mods[i].rows * fl->mods[i].in;
    if (scratch && !(fl->scratch = t->m.be->alloc(scratch * sizeof(float)))) {
        iris_set_error("out of memory for the LoRA dropout buffer");
        return -1;
    }
    for (int i = 0; i < fl->n; i++) {
        const iris_of_module *x = &fl->mods[i];
        if (!fl->sel[i]) continue;
        if (x->kind == IRIS_OFM_DECODER) {
            char path[256];
            if (iris_llama_train_module_path(&t->m, x->layer, x->slot, path, sizeof path) ||
                iris_llama_train_add_lora_site(&t->m, x->layer, x->slot, path, seed))
                return -1;
            continue;
        }
        if (iris_lora_site_init(&fl->sites[i], &fl->set, x->name, lc, x->in, x->out, x->rows, seed,
                                (1ull << 20) + (uint64_t)i, &t->m.dropout_key, &t->m.training, fl->scratch))
            return -1;
        if (x->kind == IRIS_OFM_BLOCK) iris_xattn_train_set_lora(&t->xa[x->layer], x->slot, &fl->sites[i]);
        else iris_perceiver_train_set_lora(&t->pv, x->slot, &fl->sites[i]);
    }
    if ((fl->save_mask & IRIS_OFS_PERCEIVER) && iris_perceiver_train_set_trainable(&t->pv)) return -1;
    for (int l = 0; (fl->save_mask & IRIS_OFS_XATTN) && l < t->n_layers; l++)
        if (t->has_block[l] && iris_xattn_train_set_trainable(&t->xa[l])) return -1;
    return 0;
}

void iris_flamingo_lora_free(iris_flamingo_lora *fl)
{
    for (int i = 0; fl->sites && i < fl->n; i++)
        if (fl->sites[i].s) iris_lora_site_free(&fl->sites[i]);
    if (fl->scratch && fl->set.be) fl->set.be->free(fl->scratch);
    if (fl->set.p) iris_params_free(&fl->set);
    free(fl->mods);
    free(fl->sel);
    free(fl->sites);
    memset(fl, 0, sizeof *fl);
}

/* ---- PEFT's format ---- */

/* A and B parameters of selected module i. */
static void ab_params(const iris_flamingo_lora *fl, const iris_flamingo_train *t, int i, const iris_param **a,
                      const iris_param **b)
{
    const iris_of_module *x = &fl->mods[i];
    if (x->kind == IRIS_OFM_DECODER) {
        *a = &t->m.params.p[t->m.layers[x->layer].lora_a[x->slot]];
        *b = &t->m.params.p[t->m.layers[x->layer].lora_b[x->slot]];
    } else {
        *a = &fl->set.p[fl->sites[i].a];
        *b = &fl->set.p[fl->sites[i].b];
    }
}

/* The Flamingo name of perceiver / block parameter p (t->p), or 0 when it
 * belongs to no module modules_to_save covers. */
static int saved_name(const iris_flamingo_lora *fl, const iris_flamingo_train *t, const iris_param *p, char *out,
                      size_t cap, int alias)
{
    if ((fl->save_mask & IRIS_OFS_PERCEIVER) && !strncmp(p->name, "perceiver.", 10)) {
        if (alias) return 0;
        snprintf(out, cap, "%s", p->name);
        return 1;
    }
    for (int l = 0; (fl->save_mask & IRIS_OFS_XATTN) && l < t->n_layers; l++) {
        if (!t->has_block[l]) continue;
        const char *pfx = t->f->block_prefix[l];
        size_t pl = strlen(pfx);
        if (strncmp(p->name, pfx, pl)) continue;
        char lp[96];
        layer_prefix(&t->m, l, lp, sizeof lp);
        if (alias) snprintf(out, cap, "lang_encoder.gated_cross_attn_layers.%d.%s", l, p->name + pl);
        else snprintf(out, cap, "lang_encoder.%sgated_cross_attn_layer.%s", lp, p->name + pl);
        return 1;
    }
    return 0;
}

static int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0755) && errno != EEXIST) {
        iris_set_error("%s: cannot create the directory: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int iris_flamingo_lora_save(const iris_flamingo_lora *fl, const iris_flamingo_train *t, const char *dir,
                            const char *base_name)
{
    if (ensure_dir(dir)) return -1;
    int cap = 2 * fl->n + t->p.n + 1, k = 0, rc = -1;
    char **names = calloc((size_t)cap, sizeof *names);
    iris_tensor *ts = calloc((size_t)cap, sizeof *ts);
    cJSON *cfg = NULL;
    if (!names || !ts) goto oom;
    for (int i = 0; i < fl->n; i++) {
        if (!fl->sel[i]) continue;
        const iris_param *pa, *pb;
        ab_params(fl, t, i, &pa, &pb);
        for (int h = 0; h < 2; h++) {
            if (!(names[k] = malloc(256))) goto oom;
            snprintf(names[k], 256, PEFT_PREFIX "%s.lora_%c.weight", fl->mods[i].name, h ? 'B' : 'A');
            ts[k] = (h ? pb : pa)->t;
            ts[k++].owns_data = 0;
        }
    }
    for (int i = 0; i < t->p.n; i++) {
        char nm[200];
        if (!saved_name(fl, t, &t->p.p[i], nm, sizeof nm, 0)) continue;
        if (!(names[k] = malloc(256))) goto oom;
        snprintf(names[k], 256, PEFT_PREFIX "%s", nm);
        ts[k] = t->p.p[i].t;
        ts[k++].owns_data = 0;
    }
    char path[2048];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (iris_st_write(path, k, (const char *const *)names, ts, "{\"format\":\"pt\"}")) goto done;
    /* task_type null: an OpenFlamingo is not a PEFT task model */
    if (!(cfg = iris_peft_config_common(&fl->lc, base_name, NULL))) goto oom;
    cJSON_AddNullToObject(cfg, "layers_to_transform");
    cJSON_AddNullToObject(cfg, "layers_pattern");
    /* full module names: PEFT selects exactly these */
    cJSON *tm = cJSON_AddArrayToObject(cfg, "target_modules");
    for (int i = 0; tm && i < fl->n; i++)
        if (fl->sel[i]) cJSON_AddItemToArray(tm, cJSON_CreateString(fl->mods[i].name));
    if (fl->save_mask) {
        cJSON *ms = cJSON_AddArrayToObject(cfg, "modules_to_save");
        if (ms && (fl->save_mask & IRIS_OFS_PERCEIVER)) cJSON_AddItemToArray(ms, cJSON_CreateString("perceiver"));
        if (ms && (fl->save_mask & IRIS_OFS_XATTN))
            cJSON_AddItemToArray(ms, cJSON_CreateString("gated_cross_attn_layer"));
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

/* The adapter tensor of module x (A or B) under any of the names PEFT
 * writes: the module's name or its alias, with or without the adapter name. */
static const iris_tensor *find_ab(const iris_safetensors *f, const iris_of_module *x, char which)
{
    const char *bases[2] = {x->name, x->alias};
    for (int b = 0; b < 2; b++) {
        if (!bases[b][0]) continue;
        char name[300];
        snprintf(name, sizeof name, PEFT_PREFIX "%s.lora_%c.weight", bases[b], which);
        const iris_tensor *t = iris_st_find(f, name);
        if (t) return t;
        snprintf(name, sizeof name, PEFT_PREFIX "%s.lora_%c.default.weight", bases[b], which);
        if ((t = iris_st_find(f, name))) return t;
    }
    return NULL;
}

int iris_flamingo_lora_read_config(iris_flamingo_lora *fl, const char *dir)
{
    if (iris_peft_read_lora_numbers(dir, &fl->lc)) return -1;
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
    fl->save_mask = 0;
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "modules_to_save"), *e;
    if (!cJSON_IsArray(ms)) ms = NULL;
    cJSON_ArrayForEach(e, ms) {
        if (!cJSON_IsString(e)) continue;
        const char *s = e->valuestring;
        size_t n = strlen(s);
        if (n >= 9 && !strcmp(s + n - 9, "perceiver")) fl->save_mask |= IRIS_OFS_PERCEIVER;
        else if (strstr(s, "gated_cross_attn_layer")) fl->save_mask |= IRIS_OFS_XATTN;
        else {
            iris_set_error("%s: modules_to_save '%s' is not one iris trains (perceiver, gated_cross_attn_layer)",
                           path, s);
            cJSON_Delete(j);
            return -1;
        }
    }
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    iris_safetensors f;
    if (iris_st_open(&f, path)) return -1;
    int any = 0, rc = -1;
    for (int i = 0; i < fl->n; i++) any |= fl->sel[i] = find_ab(&f, &fl->mods[i], 'A') != NULL;
    /* every LoRA tensor of the file must belong to a module of this model */
    for (int k = 0; k < f.n_tensors; k++) {
        const char *nm = f.tensors[k].name, *cut = strstr(nm, ".lora_");
        if (!cut) continue;
        int ok = 0;
        for (int i = 0; !ok && i < fl->n; i++) {
            const char *bases[2] = {fl->mods[i].name, fl->mods[i].alias};
            for (int b = 0; !ok && b < 2; b++) {
                size_t bl = strlen(bases[b]), pl = strlen(PEFT_PREFIX);
                ok = bases[b][0] && (size_t)(cut - nm) == pl + bl && !strncmp(nm + pl, bases[b], bl);
            }
        }
        if (!ok) {
            iris_set_error("%s: tensor '%s' adapts a module this OpenFlamingo model does not have", path, nm);
            goto done;
        }
    }
    if (!any) {
        iris_set_error("%s: no LoRA tensors for this OpenFlamingo model", path);
        goto done;
    }
    rc = 0;
done:
    iris_st_close(&f);
    return rc;
}

/* Copies t (any float dtype, p's shape) into p. */
static int load_param(const iris_backend *be, iris_param *p, const iris_tensor *t, const char *path, const char *name)
{
    int same = t->ndim == p->t.ndim || (p->t.ndim == 1 && iris_tensor_numel(t) == p->n);
    for (int d = 0; same && d < t->ndim && t->ndim == p->t.ndim; d++) same = t->shape[d] == p->t.shape[d];
    if (!same || iris_tensor_numel(t) != p->n || (int)t->dtype < 0 || t->dtype == IRIS_I32 ||
        t->dtype == IRIS_Q8_0) {
        iris_set_error("%s: tensor '%s' has a shape or dtype unlike the model's", path, name);
        return -1;
    }
    float *host = malloc((size_t)p->n * sizeof(float));
    if (!host) {
        iris_set_error("out of memory");
        return -1;
    }
    iris_to_f32(t->dtype, t->data, host, p->n);
    int rc = be->upload(p->w, host, (size_t)p->n * sizeof(float));
    free(host);
    if (rc) iris_set_error("cannot upload %s", name);
    return rc;
}

int iris_flamingo_lora_load(iris_flamingo_lora *fl, iris_flamingo_train *t, const char *dir)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    iris_safetensors f;
    if (iris_st_open(&f, path)) return -1;
    int rc = -1;
    const iris_backend *be = t->m.be;
    for (int i = 0; i < fl->n; i++) {
        if (!fl->sel[i]) continue;
        const iris_param *pa, *pb;
        ab_params(fl, t, i, &pa, &pb);
        const iris_tensor *ta = find_ab(&f, &fl->mods[i], 'A'), *tb = find_ab(&f, &fl->mods[i], 'B');
        if (!ta || !tb) {
            iris_set_error("%s: no lora_A / lora_B for %s", path, fl->mods[i].name);
            goto done;
        }
        if (load_param(be, (iris_param *)pa, ta, path, fl->mods[i].name) ||
            load_param(be, (iris_param *)pb, tb, path, fl->mods[i].name))
            goto done;
    }
    /* modules_to_save: under the module's name, or (blocks) its alias */
    for (int i = 0; i < t->p.n; i++) {
        char nm[200], full[256];
        const iris_tensor *x = NULL;
        if (!saved_name(fl, t, &t->p.p[i], nm, sizeof nm, 0)) continue;
        snprintf(full, sizeof full, PEFT_PREFIX "%s", nm);
        if (!(x = iris_st_find(&f, full)) && saved_name(fl, t, &t->p.p[i], nm, sizeof nm, 1)) {
            char alt[256];
            snprintf(alt, sizeof alt, PEFT_PREFIX "%s", nm);
            x = iris_st_find(&f, alt);
        }
        if (!x) {
            iris_set_error("%s: modules_to_save lists its module, but '%s' is missing", path, full);
            goto done;
        }
        if (load_param(be, &t->p.p[i], x, path, full)) goto done;
    }
    rc = 0;
done:
    iris_st_close(&f);
    return rc;
}

int iris_flamingo_lora_merge_into(const iris_flamingo_lora *fl, const iris_flamingo_train *t, int param, float *w)
{
    for (int i = 0; i < fl->n; i++) {
        const iris_of_module *x = &fl->mods[i];
        if (!fl->sel[i] || x->kind == IRIS_OFM_DECODER) continue;
        int pi = x->kind == IRIS_OFM_BLOCK ? t->xa[x->layer].param[x->slot] : t->pv.param[x->slot];
        if (pi != param) continue;
        const iris_lora_site *ls = &fl->sites[i];
        const iris_param *A = &fl->set.p[ls->a], *B = &fl->set.p[ls->b];
        float *a = malloc((size_t)A->n * sizeof(float)), *b = malloc((size_t)B->n * sizeof(float));
        int rc = -1;
        if (!a || !b) iris_set_error("out of memory");
        else if (t->m.be->download(a, A->w, (size_t)A->n * sizeof(float)) ||
                 t->m.be->download(b, B->w, (size_t)B->n * sizeof(float)))
            iris_set_error("cannot read the adapter of %s", x->name);
        else {
            for (int o = 0; o < x->out; o++)
                for (int k = 0; k < ls->r; k++) {
                    float s = ls->scale * b[(size_t)o * ls->r + k];
                    const float *ar = a + (size_t)k * x->in;
                    float *wr = w + (size_t)o * x->in;
                    for (int c = 0; c < x->in; c++) wr[c] += s * ar[c];
                }
            rc = 0;
        }
        free(a);
        free(b);
        return rc;
    }
    return 0;
}
