/* of_lora_targets.h — which linears of an OpenFlamingo model get LoRA
 * adapters ([lora] targets of an OpenFlamingo run), and what else trains
 * ([lora] modules_to_save).  Pure string logic: the caller lists the
 * model's candidate modules.
 *
 * A target list is comma- or space-separated tokens, each either a group
 *   self_attn   the language model's self-attention projections
 *               (MPT attn.Wqkv, attn.out_proj; LLaMA q/k/v/o_proj)
 *   ff          the language model's feed-forward (MPT ffn.up_proj,
 *               ffn.down_proj; LLaMA mlp.gate/up/down_proj); alias mlp
 *   xattn       the gated cross-attention blocks' attn.to_q, attn.to_kv,
 *               attn.to_out
 *   xattn_ff    their feed-forward ff.1, ff.3
 *   perceiver   the perceiver's to_q, to_kv, to_out and feed-forward (1.1, 1.3)
 * or a combination: attn = self_attn + xattn, ffn = ff + xattn_ff,
 * lm = self_attn + ff, all (or all-linear) = every group;
 * or else a PEFT module-name pattern, matched as PEFT matches a
 * target_modules list: a module is selected when its full name in
 * open_flamingo's Flamingo module tree equals the token or ends with
 * "." + token ("to_q", "gated_cross_attn_layer.attn.to_kv", "Wqkv",
 * "lang_encoder.transformer.blocks.1.decoder_layer.ffn.up_proj").
 * A token that is neither a group nor matches any module is an error.
 *
 * modules_to_save: "none" (or empty), or a list of
 *   perceiver   every perceiver weight trains (and is saved in the adapter)
 *   xattn       every weight of the gated cross-attention blocks, gates
 *               included (alias gated_cross_attn_layer)
 */
#ifndef IRIS_TRAIN_OF_LORA_TARGETS_H
#define IRIS_TRAIN_OF_LORA_TARGETS_H

enum { IRIS_OFG_SELF_ATTN = 0, IRIS_OFG_FF, IRIS_OFG_XATTN, IRIS_OFG_XATTN_FF, IRIS_OFG_PERCEIVER,
       IRIS_OFG_COUNT };
enum { IRIS_OFS_PERCEIVER = 1, IRIS_OFS_XATTN = 2 };

const char *iris_of_lora_group_name(int g);
/* Tokens a config check without the model accepts: the group names, the
 * projections' leaf names (to_q, to_kv, to_out) and any dotted path. */
int iris_of_lora_token_known(const char *tok);
/* sel[i] = 1 for each of the n candidates (names[i] in group groups[i]) that
 * spec selects, 0 otherwise; -1 with the error set for an unknown token, a
 * token matching no candidate, or a list selecting nothing. */
int iris_of_lora_select(const char *spec, const char *const *names, const int *groups, int n, unsigned char *sel);
/* modules_to_save -> IRIS_OFS_* bits; -1 with the error set. */
int iris_of_lora_parse_save(const char *spec, unsigned *mask);

#endif
