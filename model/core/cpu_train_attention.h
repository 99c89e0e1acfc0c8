/* cpu_train_attention.h — CPU attention backward (the train table's
 * attention_backward; see backend_train.h).  q [n, n_heads*head_dim],
 * k, v [n, n_kv_heads*head_dim], dout like q; dq, dk, dv are written (=).
 * Query i sits at position i (a full sequence, no cache offset). */
#ifndef IRIS_CPU_TRAIN_ATTENTION_H
#define IRIS_CPU_TRAIN_ATTENTION_H

void cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                            const float *k, const float *v, int n, int n_heads, int n_kv_heads,
                            int head_dim, float scale, int causal);
/* The same with ALiBi (MPT): score(i, j) += slope_h * (j - i), slopes as the
 * forward attention draws them from alibi_max_bias (0: none). */
void cpu_attention_alibi_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                  const float *k, const float *v, int n, int n_heads, int n_kv_heads,
                                  int head_dim, float scale, int causal, float alibi_max_bias);

#endif
