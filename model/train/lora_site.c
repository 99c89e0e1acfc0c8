/* lora_site.c — see lora_site.h.  The arithmetic mirrors iris_tl_lin_fwd /
 * iris_tl_lin_bwd (llama_train.c) for weights that live outside the decoder. */
#include "lora_site.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int iris_lora_site_init(iris_lora_site *ls, iris_param_set *s, const char *module, const iris_lora_config *lc,
                        int in, int out, int max_rows, uint64_t seed, uint64_t site, const uint64_t *key,
                        const int *training, float *scratch)
{
    memset(ls, 0, sizeof *ls);
    ls->s = s;
    ls->r = lc->r;
    ls->in = in;
    ls->out = out;
    ls->max_rows = max_rows;
    ls->scale = iris_lora_scale(lc);
    ls->dropout = lc->dropout;
    ls->site = site;
    ls->key = key;
    ls->training = training;
    ls->scratch = scratch;
    if (lc->dropout > 0 && !scratch) {
        iris_set_error("LoRA dropout on %s needs a scratch buffer", module);
        return -1;
    }
    char name[256];
    if ((size_t)snprintf(name, sizeof name, "%s.lora_A.weight", module) >= sizeof name) {
        iris_set_error("LoRA module name too long: %s", module);
        return -1;
    }
    if ((ls->a = iris_params_add(s, name, lc->r, in, IRIS_PG_LORA)) < 0) return -1;
    snprintf(name, sizeof name, "%s.lora_B.weight", module);
    if ((ls->b = iris_params_add(s, name, out, lc->r, IRIS_PG_LORA)) < 0 || iris_params_set_trainable(s, ls->a) ||
        iris_params_set_trainable(s, ls->b))
        return -1;
    const iris_backend *be = s->be;
    float *host = malloc((size_t)lc->r * in * sizeof(float));
    if (!host) {
        iris_set_error("out of memory");
        return -1;
    }
    iris_kaiming_uniform(host, lc->r, in, iris_rng_mix(seed, site));
    int rc = be->upload(s->p[ls->a].w, host, (size_t)lc->r * in * sizeof(float));
    free(host);
    size_t rows = (size_t)(max_rows > 0 ? max_rows : 1);
    ls->h = be->alloc(rows * lc->r * sizeof(float));
    ls->dh = be->alloc(rows * lc->r * sizeof(float));
    if (rc || !ls->h || !ls->dh) {
        iris_set_error("out of memory for the LoRA adapter of %s", module);
        return -1;
    }
    return 0;
}

void iris_lora_site_free(iris_lora_site *ls)
{
    if (ls->s && ls->s->be) {
        const iris_backend *be = ls->s->be;
        be->free(ls->h);
        be->free(ls->dh);
    }
    memset(ls, 0, sizeof *ls);
}

static int dropping(const iris_lora_site *ls)
{
    return ls->dropout > 0 && ls->training && *ls->training && ls->scratch;
}

static uint64_t mask_key(const iris_lora_site *ls)
{
    return iris_rng_mix(ls->key ? *ls->key : 0, ls->site);
}

void iris_lora_site_forward(iris_lora_site *ls, float *y, const float *x, int n)
{
    if (n <= 0) return;
    const iris_backend *be = ls->s->be;
    const iris_param *A = &ls->s->p[ls->a], *B = &ls->s->p[ls->b];
    const float *xd = x;
    if (dropping(ls)) {
        iris_dropout(ls->scratch, x, (long)n * ls->in, ls->dropout, mask_key(ls));
        xd = ls->scratch;
    }
    int r = ls->r;
    be->linear(ls->h, xd, &A->t, NULL, n, ls->in, r);
    be->gemm(0, 1, n, ls->out, r, ls->scale, ls->h, r, 0, B->w, r, 0, 1.0f, y, ls->out, 0, 1);
}

void iris_lora_site_backward(iris_lora_site *ls, const float *dy, const float *x, int n, float *dx)
{
    if (n <= 0) return;
    const iris_backend *be = ls->s->be;
    const iris_param *A = &ls->s->p[ls->a], *B = &ls->s->p[ls->b];
    int r = ls->r, in = ls->in, out = ls->out, drop = dropping(ls);
    const float *xd = x;
    if (drop) {   /* the forward's masks again */
        iris_dropout(ls->scratch, x, (long)n * in, ls->dropout, mask_key(ls));
        xd = ls->scratch;
    }
    be->gemm(1, 0, out, r, n, ls->scale, dy, out, 0, ls->h, r, 0, 1.0f, B->g, r, 0, 1);
    be->gemm(0, 0, n, r, out, ls->scale, dy, out, 0, B->w, r, 0, 0.0f, ls->dh, r, 0, 1);
    be->gemm(1, 0, r, in, n, 1.0f, ls->dh, r, 0, xd, in, 0, 1.0f, A->g, in, 0, 1);
    if (!dx) return;
    if (drop) {
        be->gemm(0, 0, n, in, r, 1.0f, ls->dh, r, 0, A->w, in, 0, 0.0f, ls->scratch, in, 0, 1);
        iris_dropout_backward_add(dx, ls->scratch, (long)n * in, ls->dropout, mask_key(ls));
    } else {
        be->gemm(0, 0, n, in, r, 1.0f, ls->dh, r, 0, A->w, in, 0, 1.0f, dx, in, 0, 1);
    }
}
