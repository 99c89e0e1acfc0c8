#include "generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/timer.h"

int iris_write_f32_file(const char *path, const float *x, long n)
{
    iris_atomic_file af;
    if (iris_atomic_open(&af, path, "wb")) return -1;
    /* x86-64 and aarch64 are little-endian: the floats are written as they are */
    fwrite(x, sizeof(float), (size_t)n, af.f);
    return iris_atomic_commit(&af);
}

int iris_generate(iris_lm *lm, const int32_t *prompt, int n_prompt, const iris_gen_params *gp,
                  iris_text_cb on_text, void *ud, volatile sig_atomic_t *stop, iris_gen_stats *st)
{
    memset(st, 0, sizeof *st);
    int n_vocab = lm->net.cfg.vocab_size;
    float *logits = malloc((size_t)n_vocab * sizeof(float));
    int cap = n_prompt + (gp->n_predict > 0 ? gp->n_predict : 0) + 1;
    int32_t *hist = malloc((size_t)cap * sizeof(int32_t));
    iris_sampler smp;
    int smp_ok = 0, rc = -1;
    if (!logits || !hist) {
        iris_set_error("out of memory");
        goto done;
    }
    if (iris_sampler_init(&smp, &gp->sampling, n_vocab)) goto done;
    smp_ok = 1;
    memcpy(hist, prompt, (size_t)n_prompt * sizeof(int32_t));
    int n_hist = n_prompt;

    double t0 = iris_now();
    if (iris_lm_forward_seq(lm, prompt, n_prompt, logits)) goto done;
    st->n_prompt = n_prompt;
    st->prompt_s = iris_now() - t0;
    if (gp->dump_logits_path && iris_write_f32_file(gp->dump_logits_path, logits, n_vocab)) goto done;

    iris_detok dt;
    iris_detok_init(&dt, lm->tok, gp->show_special);
    char text[512];
    double t1 = iris_now();
    for (int i = 0; i < gp->n_predict; i++) {
        if (stop && *stop) {
            st->interrupted = 1;
            break;
        }
        int32_t t = iris_sample(&smp, logits, hist, n_hist);
        hist[n_hist++] = t;
        if (gp->out_tokens) gp->out_tokens[st->n_generated] = t;
        st->n_generated++;
        int end = iris_lm_is_end(lm, t);
        if (!end) {
            int len = iris_detok_push(&dt, t, text, sizeof text);
            if (len > 0 && on_text) on_text(text, len, ud);
        }
        /* The cache always ends with every token sampled (the end token too), so a
         * chat's next turn continues exactly the transcript. */
        if (lm->net.n_past >= lm->net.n_ctx) {
            if (end || i + 1 == gp->n_predict) break;
            iris_set_error("context full (%d tokens)", lm->net.n_ctx);
            goto done;
        }
        if (iris_llama_forward(&lm->net, &t, 1, logits, 0)) goto done;
        if (end) {
            st->stopped_by_eos = 1;
            break;
        }
    }
    /* long pieces may still be queued: flush until nothing is left */
    for (int len; (len = iris_detok_flush(&dt, text, sizeof text)) > 0;)
        if (on_text) on_text(text, len, ud);
    st->gen_s = iris_now() - t1;
    rc = 0;
done:
    if (smp_ok) iris_sampler_free(&smp);
    free(logits);
    free(hist);
    return rc;
}
