/* Images in a language model's input: encoding, splicing into the token
 * sequence, and running mixed sequences (see lm.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "flamingo.h"
#include "llava_vision.h"
#include "lm.h"
#include "vision/image_load.h"

static int add_flamingo_image(iris_lm *lm, const char *path)
{
    iris_image img;
    if (iris_image_load(&img, path)) return -1;
    int rc = iris_flamingo_add_image(lm->flamingo, &img);
    iris_image_free(&img);
    if (rc >= 0) lm->n_images = lm->flamingo->n_media;
    return rc;
}

int iris_lm_add_image(iris_lm *lm, const char *path)
{
    if (lm->flamingo) return add_flamingo_image(lm, path);
    if (!lm->vision) {
        iris_set_error("%s: this model has no vision tower (a text-only model cannot take images)", lm->path);
        return -1;
    }
    iris_image img;
    if (iris_image_load(&img, path)) return -1;
    if (lm->n_images == lm->cap_images) {
        int cap = lm->cap_images ? lm->cap_images * 2 : 4;
        float **f = realloc(lm->image_feats, (size_t)cap * sizeof *f);
        if (!f) {
            iris_image_free(&img);
            iris_set_error("out of memory");
            return -1;
        }
        lm->image_feats = f;
        lm->cap_images = cap;
    }
    const iris_backend *be = lm->net.be;
    size_t n = (size_t)lm->n_img_rows * lm->net.cfg.dim;
    float *dev = be->alloc(n * sizeof(float));
    float *host = malloc(n * sizeof(float));
    int rc = -1;
    if (!dev || !host) {
        iris_set_error("out of memory for image features");
    } else if (iris_llava_vision_encode_image(lm->vision, &img, dev) == 0) {
        if (be->download(host, dev, n * sizeof(float)) == 0) rc = 0;
        else iris_set_error("%s backend: cannot read image features back", be->name);
    }
    if (dev) be->free(dev);
    iris_image_free(&img);
    if (rc) {
        free(host);
        return -1;
    }
    lm->image_feats[lm->n_images] = host;
    return lm->n_images++;
}

void iris_lm_clear_images(iris_lm *lm)
{
    if (lm->flamingo) {
        iris_flamingo_clear_images(lm->flamingo);
        lm->n_images = 0;
        return;
    }
    for (int i = 0; i < lm->n_images; i++) free(lm->image_feats[i]);
    lm->n_images = 0;
}

int iris_lm_count_image_tokens(const iris_lm *lm, const int32_t *ids, int n)
{
    int k = 0;
    if (lm->image_token_id < 0) return 0;
    for (int i = 0; i < n; i++) k += ids[i] == lm->image_token_id;
    return k;
}

int iris_lm_expand_images(const iris_lm *lm, const int32_t *ids, int n, int first_image, int n_images,
                          int32_t **out, int *n_out)
{
    int k = iris_lm_count_image_tokens(lm, ids, n);
    if (k != n_images) {
        if (k > n_images)
            iris_set_error("the prompt has %d <image> placeholder%s but %d image%s given", k, k == 1 ? "" : "s",
                           n_images, n_images == 1 ? " was" : "s were");
        else
            iris_set_error("%d image%s given but the prompt has %d <image> placeholder%s", n_images,
                           n_images == 1 ? "" : "s", k, k == 1 ? "" : "s");
        return -1;
    }
    if (k && first_image + k > lm->n_images) {
        iris_set_error("image %d has not been encoded", first_image + k - 1);
        return -1;
    }
    if (lm->flamingo) {   /* <image> stays a token: the blocks read the media */
        int32_t *s = malloc((n ? (size_t)n : 1) * sizeof *s);
        if (!s) {
            iris_set_error("out of memory");
            return -1;
        }
        memcpy(s, ids, (size_t)n * sizeof *s);
        *out = s;
        *n_out = n;
        return 0;
    }
    size_t total = (size_t)n - k + (size_t)k * lm->n_img_rows;
    int32_t *s = malloc((total ? total : 1) * sizeof *s);
    if (!s) {
        iris_set_error("out of memory");
        return -1;
    }
    size_t o = 0;
    int img = first_image;
    for (int i = 0; i < n; i++) {
        if (k && ids[i] == lm->image_token_id) {
            for (int r = 0; r < lm->n_img_rows; r++) s[o++] = -(1 + img * lm->n_img_rows + r);
            img++;
        } else {
            s[o++] = ids[i];
        }
    }
    *out = s;
    *n_out = (int)o;
    return 0;
}

int iris_lm_forward_seq(iris_lm *lm, const int32_t *seq, int n, float *logits_out)
{
    if (lm->flamingo) return iris_flamingo_forward(lm, seq, n, logits_out, 0);
    int has_image = 0;
    for (int i = 0; i < n && !has_image; i++) has_image = seq[i] < 0;
    if (!has_image) return iris_llama_forward(&lm->net, seq, n, logits_out, 0);
    int dim = lm->net.cfg.dim, chunk = lm->net.n_batch;
    float *buf = malloc((size_t)chunk * dim * sizeof(float));
    if (!buf) {
        iris_set_error("out of memory");
        return -1;
    }
    int rc = 0;
    for (int done = 0; done < n && !rc; done += chunk) {
        int k = n - done < chunk ? n - done : chunk;
        for (int i = 0; i < k && !rc; i++) {
            int32_t v = seq[done + i];
            float *row = buf + (size_t)i * dim;
            if (v >= 0) {
                rc = iris_llama_embed(&lm->net, &v, 1, row);
            } else {
                int idx = -v - 1, img = idx / lm->n_img_rows, r = idx % lm->n_img_rows;
                if (img >= lm->n_images) {
                    iris_set_error("image %d has not been encoded", img);
                    rc = -1;
                } else {
                    memcpy(row, lm->image_feats[img] + (size_t)r * dim, (size_t)dim * sizeof(float));
                }
            }
        }
        if (!rc) rc = iris_llama_forward_embeds(&lm->net, buf, k, done + k == n ? logits_out : NULL, 0);
    }
    free(buf);
    return rc;
}

int iris_lm_tokenize(const iris_lm *lm, const char *text, size_t len, int add_bos, int32_t *ids, int cap)
{
    if (!lm->image_marker_text) return iris_tokenize(lm->tok, text, len, add_bos, 1, ids, cap);
    /* llava-cli's way: each piece between "<image>" markers is tokenized on
     * its own, so the pieces start fresh exactly as llama.cpp starts them */
    static const char marker[] = "<image>";
    const size_t mlen = sizeof marker - 1;
    long total = 0;
    size_t pos = 0;
    for (int first = 1;; first = 0) {
        const char *hit = pos <= len ? memmem(text + pos, len - pos, marker, mlen) : NULL;
        size_t end = hit ? (size_t)(hit - text) : len;
        int bos = first && add_bos;
        if (end > pos || bos) {
            long room = cap - total;
            int n = iris_tokenize(lm->tok, text + pos, end - pos, bos, 1, room > 0 ? ids + total : NULL,
                                  room > 0 ? (int)room : 0);
            if (n < 0) return -1;
            total += n;
        }
        if (!hit) break;
        if (total < cap) ids[total] = lm->image_token_id;
        total++;
        pos = end + mlen;
        if (total > INT32_MAX / 2) return -1;
    }
    return (int)total;
}
