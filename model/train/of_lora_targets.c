/* of_lora_targets.c — see of_lora_targets.h. */
#include "of_lora_targets.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

static const char *const group_names[IRIS_OFG_COUNT] = {"self_attn", "ff", "xattn", "xattn_ff", "perceiver"};

#define G(x) (1u << (x))
static const struct {
    const char *name;
    unsigned groups;
} aliases[] = {
    {"self_attn", G(IRIS_OFG_SELF_ATTN)},
    {"ff", G(IRIS_OFG_FF)},
    {"mlp", G(IRIS_OFG_FF)},
    {"xattn", G(IRIS_OFG_XATTN)},
    {"xattn_ff", G(IRIS_OFG_XATTN_FF)},
    {"perceiver", G(IRIS_OFG_PERCEIVER)},
    {"attn", G(IRIS_OFG_SELF_ATTN) | G(IRIS_OFG_XATTN)},
    {"ffn", G(IRIS_OFG_FF) | G(IRIS_OFG_XATTN_FF)},
    {"lm", G(IRIS_OFG_SELF_ATTN) | G(IRIS_OFG_FF)},
    {"all", (1u << IRIS_OFG_COUNT) - 1},
    {"all-linear", (1u << IRIS_OFG_COUNT) - 1},
};

const char *iris_of_lora_group_name(int g) { return g >= 0 && g < IRIS_OFG_COUNT ? group_names[g] : "?"; }

static unsigned alias_groups(const char *tok)
{
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (!strcmp(tok, aliases[i].name)) return aliases[i].groups;
    return 0;
}

int iris_of_lora_token_known(const char *tok)
{
    static const char *const leaves[] = {"to_q", "to_kv", "to_out", "decoder_layer", "gated_cross_attn_layer"};
    if (alias_groups(tok)) return 1;
    for (size_t i = 0; i < sizeof leaves / sizeof *leaves; i++)
        if (strstr(tok, leaves[i])) return 1;
    /* a dotted path ("ff.1", "decoder_layer.attn.Wqkv"): checked against the model later */
    return strchr(tok, '.') != NULL;
}

/* PEFT's list matching: name == tok or name ends with "." + tok. */
static int name_matches(const char *name, const char *tok)
{
    size_t ln = strlen(name), lt = strlen(tok);
    if (ln == lt) return !strcmp(name, tok);
    return ln > lt && name[ln - lt - 1] == '.' && !strcmp(name + ln - lt, tok);
}

/* Next token of s (separators: comma, space, tab) into tok; returns the
 * position after it, NULL at the end or when the token is too long (tok
 * then holds its start). */
static const char *next_token(const char *s, char *tok, size_t cap, int *too_long)
{
    *too_long = 0;
    while (*s == ' ' || *s == ',' || *s == '\t') s++;
    if (!*s) return NULL;
    size_t len = strcspn(s, ", \t");
    if (len >= cap) {
        snprintf(tok, cap, "%.*s", (int)(cap - 1), s);
        *too_long = 1;
        return NULL;
    }
    memcpy(tok, s, len);
    tok[len] = 0;
    return s + len;
}

int iris_of_lora_select(const char *spec, const char *const *names, const int *groups, int n, unsigned char *sel)
{
    memset(sel, 0, (size_t)(n > 0 ? n : 0));
    char tok[256];
    int too_long, any = 0;
    const char *s = spec;
    while ((s = next_token(s, tok, sizeof tok, &too_long))) {
        unsigned g = alias_groups(tok);
        int hits = 0;
        for (int i = 0; i < n; i++) {
            int on = g ? (int)((g >> groups[i]) & 1u) : name_matches(names[i], tok);
            if (on) {
                sel[i] = 1;
                hits++;
            }
        }
        if (!hits) {
            if (g)
                iris_set_error("LoRA target '%s': this OpenFlamingo model has no such modules", tok);
            else
                iris_set_error("LoRA target '%s' matches no module of this OpenFlamingo model (groups: self_attn, "
                               "ff, xattn, xattn_ff, perceiver, attn, ffn, lm, all; or a module name as on "
                               "open_flamingo's Flamingo, e.g. %s)", tok, n > 0 ? names[0] : "to_q");
            return -1;
        }
        any = 1;
    }
    if (too_long) {
        iris_set_error("LoRA target '%s...' is too long", tok);
        return -1;
    }
    if (!any) {
        iris_set_error("no LoRA target modules given");
        return -1;
    }
    return 0;
}

int iris_of_lora_parse_save(const char *spec, unsigned *mask)
{
    *mask = 0;
    char tok[64];
    int too_long;
    const char *s = spec;
    while ((s = next_token(s, tok, sizeof tok, &too_long))) {
        if (!strcmp(tok, "none")) continue;
        if (!strcmp(tok, "perceiver")) *mask |= IRIS_OFS_PERCEIVER;
        else if (!strcmp(tok, "xattn") || !strcmp(tok, "gated_cross_attn_layer")) *mask |= IRIS_OFS_XATTN;
        else {
            iris_set_error("lora.modules_to_save: unknown module '%s' (none, perceiver, xattn)", tok);
            return -1;
        }
    }
    if (too_long) {
        iris_set_error("lora.modules_to_save: unknown module '%s...' (none, perceiver, xattn)", tok);
        return -1;
    }
    return 0;
}
