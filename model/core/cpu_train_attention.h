/* cpu_train_attention.h — CPU attention backward (the train table's
 * attention_backward; see backend_train.h).  q [n, n_heads*head_dim],
 * k, v [n, n_kv_heads*head_dim], dout like q; dq, dk, dv are written (=).
 * Query i sits at position i (a full sequence, no cache offset). */
#ifndef IRIS_CPU_TRAIN_ATTENTION_H
#define IRIS_CPU_TRAIN_ATTENTION_H

void cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                            const float *k, const float *v, int n, int n_heads, int n_kv_heads,
                            int head_dim, float scale, int causal);
/* Non-causal attention of n_q queries over n_kv keys (the train table's
 * cross_attention_backward); k, v, dk, dv rows are kv_stride apart. */
void cpu_cross_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                  const float *q, const float *k, const float *v, int n_q,
                                  int n_kv, int kv_stride, int n_heads, int n_kv_heads,
                                  int head_dim, float scale);
/* The same with ALiBi (MPT): score(i, j) += slope_h * (j - i), slopes as the
 * forward attention draws them from alibi_max_bias (0: none). */
void cpu_attention_alibi_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                                  const float *k, const float *v, int n, int n_heads, int n_kv_heads,
                                  int head_dim, float scale, int causal, float alibi_max_bias);

#endif
