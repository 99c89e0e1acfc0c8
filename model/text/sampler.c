#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

iris_sampler_params iris_sampler_defaults(void)
{
    iris_sampler_params p = {
        .temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0x1234abcdULL,
    };
    return p;
}

int iris_sampler_init(iris_sampler *s, const iris_sampler_params *p, int n_vocab)
{
    memset(s, 0, sizeof *s);
    s->p = *p;
    s->n_vocab = n_vocab;
    /* splitmix64 of the seed, so nearby seeds give unrelated streams */
    uint64_t z = p->seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    s->rng = (z ^ (z >> 31)) | 1;
    s->scratch_logit = malloc((size_t)n_vocab * sizeof(float));
    s->scratch_id = malloc((size_t)n_vocab * sizeof(int32_t));
    if (!s->scratch_logit || !s->scratch_id) {
        iris_sampler_free(s);
        iris_set_error("out of memory for the sampler");
        return -1;
    }
    return 0;
}

void iris_sampler_free(iris_sampler *s)
{
    free(s->scratch_logit);
    free(s->scratch_id);
    s->scratch_logit = NULL;
    s->scratch_id = NULL;
}

double iris_sampler_uniform(iris_sampler *s)
{
    /* xorshift64* */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    uint64_t r = s->rng * 0x2545F4914F6CDD1DULL;
    return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void apply_penalty(const iris_sampler *s, float *logits, const int32_t *hist, int n_hist)
{
    float pen = s->p.repeat_penalty;
    if (pen == 1.0f || !hist || n_hist <= 0) return;
    int from = s->p.repeat_last_n > 0 && n_hist > s->p.repeat_last_n ? n_hist - s->p.repeat_last_n : 0;
    /* each distinct token once: mark by making the value exactly re-penalisable */
    for (int i = from; i < n_hist; i++) {
        int32_t t = hist[i];
        if (t < 0 || t >= s->n_vocab) continue;
        int seen = 0;
        for (int j = from; j < i && !seen; j++) seen = hist[j] == t;
        if (seen) continue;
        logits[t] = logits[t] > 0 ? logits[t] / pen : logits[t] * pen;
    }
}

/* Selection of the k largest (by logit) to the front, sorted; O(n k), used for small k. */
static void top_k_sort(float *val, int32_t *id, int n, int k)
{
    if (k <= 0 || k > n) k = n;
    for (int i = 0; i < k; i++) {
        int best = i;
        for (int j = i + 1; j < n; j++)
            if (val[j] > val[best]) best = j;
        float tv = val[i]; val[i] = val[best]; val[best] = tv;
        int32_t ti = id[i]; id[i] = id[best]; id[best] = ti;
    }
}

typedef struct { float v; int32_t id; } pair;
static int cmp_pair_desc(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    return (x->v < y->v) - (x->v > y->v);
}

int32_t iris_sample(iris_sampler *s, float *logits, const int32_t *history, int n_history)
{
    int n = s->n_vocab;
    apply_penalty(s, logits, history, n_history);
    if (s->p.temperature <= 0.0f) return argmax(logits, n);

    int k = s->p.top_k > 0 && s->p.top_k < n ? s->p.top_k : n;
    float *val = s->scratch_logit;
    int32_t *id = s->scratch_id;
    int m; /* candidates kept, sorted by logit descending */
    if (k <= 64) {
        for (int i = 0; i < n; i++) { val[i] = logits[i]; id[i] = i; }
        top_k_sort(val, id, n, k);
        m = k;
    } else {
        pair *pr = malloc((size_t)n * sizeof *pr);
        if (!pr) return argmax(logits, n);
        for (int i = 0; i < n; i++) { pr[i].v = logits[i]; pr[i].id = i; }
        qsort(pr, (size_t)n, sizeof *pr, cmp_pair_desc);
        for (int i = 0; i < k; i++) { val[i] = pr[i].v; id[i] = pr[i].id; }
        free(pr);
        m = k;
    }
    /* probabilities at temperature 1 for the filters (as llama.cpp's order) */
    double sum = 0;
    for (int i = 0; i < m; i++) sum += exp((double)val[i] - val[0]);
    if (s->p.top_p < 1.0f) {
        double cum = 0;
        int keep = m;
        for (int i = 0; i < m; i++) {
            cum += exp((double)val[i] - val[0]) / sum;
            if (cum >= s->p.top_p) { keep = i + 1; break; }
        }
        m = keep;
    }
    if (s->p.min_p > 0.0f) {
        /* relative to the most likely token: p_i / p_0 = exp(v_i - v_0) */
        int keep = 1;
        while (keep < m && exp((double)val[keep] - val[0]) >= s->p.min_p) keep++;
        m = keep;
    }
    double t = s->p.temperature, total = 0;
    for (int i = 0; i < m; i++) total += exp(((double)val[i] - val[0]) / t);
    double r = iris_sampler_uniform(s) * total, acc = 0;
    for (int i = 0; i < m; i++) {
        acc += exp(((double)val[i] - val[0]) / t);
        if (r < acc) return id[i];
    }
    return id[m - 1];
}
