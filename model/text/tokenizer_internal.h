/* tokenizer_internal.h — the in-memory tokenizer shared by the loaders
 * (tokenizer_json.c, tokenizer_gguf.c), the encoder (tokenizer.c), the
 * pre-tokenizer pipeline (pretokenize.c) and the detokeniser (detok.c).
 *
 * Both algorithms (SentencePiece-style BPE and byte-level BPE) are one merge
 * engine: symbols carry vocabulary ids, and a pair table maps two adjacent ids
 * to the id they merge into plus a priority (merge rank, or minus the piece
 * score for GGUF SentencePiece vocabularies).  Lower priority merges first,
 * ties go to the leftmost pair.
 */
#ifndef IRIS_TOKENIZER_INTERNAL_H
#define IRIS_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* ---- string -> id and (id, id) -> merge hash tables (tok_hash.c) */
typedef struct {
    const char **keys;     /* borrowed; NULL = empty slot */
    uint32_t *key_len;
    int32_t *vals;
    size_t cap;            /* power of two */
    size_t n;
} tok_str_map;

int tok_str_map_init(tok_str_map *m, size_t expected);
void tok_str_map_free(tok_str_map *m);
/* Returns 0, or -1 on OOM.  An existing key keeps its first value. */
int tok_str_map_put(tok_str_map *m, const char *key, size_t len, int32_t val);
int32_t tok_str_map_get(const tok_str_map *m, const char *key, size_t len);

typedef struct {
    uint64_t *keys;        /* (a << 32 | b) + 1; 0 = empty */
    int32_t *result;
    float *prio;
    size_t cap, n;
} tok_pair_map;

int tok_pair_map_init(tok_pair_map *m, size_t expected);
void tok_pair_map_free(tok_pair_map *m);
/* Keeps the lower priority when a pair is added twice. */
int tok_pair_map_put(tok_pair_map *m, int32_t a, int32_t b, int32_t result, float prio);
/* Returns 1 and fills result/prio when the pair merges. */
int tok_pair_map_get(const tok_pair_map *m, int32_t a, int32_t b, int32_t *result, float *prio);

/* ---- pipeline descriptions */
enum tok_kind { TOK_SPM = 0, TOK_BYTE_LEVEL = 1, TOK_WORD_BPE = 2 /* BioGPT: Moses + BPE with </w> */ };

enum tok_norm_kind { NORM_PREPEND, NORM_REPLACE, NORM_NFC, NORM_NFKC, NORM_NFD,
                     NORM_NFKD, NORM_LOWERCASE, NORM_STRIP };
typedef struct {
    enum tok_norm_kind kind;
    char *a, *b;              /* prepend text / replace pattern and content */
    void *re;                 /* pcre2_code * for a Regex replace pattern */
    int left, right;          /* strip */
} tok_norm_step;

enum tok_split_behavior { SPLIT_ISOLATED, SPLIT_REMOVED, SPLIT_MERGED_PREV,
                          SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };
enum tok_pre_kind { PRE_SPLIT, PRE_METASPACE, PRE_BYTE_LEVEL_PREFIX };
enum tok_prepend { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };
typedef struct {
    enum tok_pre_kind kind;
    void *re;                 /* pcre2_code *: PRE_SPLIT */
    enum tok_split_behavior behavior;
    int invert;
    char *replacement;        /* PRE_METASPACE */
    enum tok_prepend prepend;
    int split;
} tok_pre_step;

/* Added tokens (tokenizer.json added_tokens; GGUF control / user-defined). */
typedef struct {
    int32_t id;
    const char *text;         /* the piece (borrowed from the vocabulary) */
    uint32_t len;
    uint8_t special;          /* matched only with parse_special */
    uint8_t lstrip, rstrip;
} tok_added;

/* token attributes */
enum { TOKA_SPECIAL = 1, TOKA_ADDED = 2, TOKA_BYTE = 4, TOKA_UNUSED = 8, TOKA_UNKNOWN = 16 };

struct iris_tokenizer {
    char *source;             /* file name for messages */
    enum tok_kind kind;
    int n_vocab;
    char **piece;             /* NUL-terminated copies */
    uint32_t *piece_len;
    char **dec;               /* decoded bytes of each id (may hold NUL) */
    uint32_t *dec_len;
    uint8_t *attr;
    tok_str_map vocab;
    tok_pair_map merges;
    int32_t byte_tok[256];    /* <0xNN> ids, -1 when absent */
    int32_t byte_char_tok[256]; /* byte-level: id of the byte's code point */
    int byte_fallback;
    int fuse_unk;             /* consecutive unknown symbols give one unk id */
    int ignore_merges;        /* a whole pre-token found in the vocab is kept */
    int32_t unk;

    tok_norm_step *norm;
    int n_norm;
    tok_pre_step *pre;
    int n_pre;

    tok_added *added;         /* sorted by first byte, longest first */
    int n_added;
    int added_start[257];     /* added[added_start[c] .. added_start[c+1]) start with c */

    int32_t bos, eos;
    int add_bos;
    int32_t eog[8];
    int n_eog;
    int strip_leading_space;  /* detok drops the first token's leading space */

    /* TOK_WORD_BPE (word_bpe.h): the compiled Moses rules and the merge
     * ranks keyed "first second" (keys live in bpe_keys). */
    struct tok_moses *moses;
    tok_str_map bpe_ranks;
    char *bpe_keys;
};

/* ---- helpers implemented across the module */
/* tokenizer.json already in memory (path names it in messages; a
 * tokenizer_config.json beside that path is still read). */
iris_tokenizer *tok_from_json_text(const char *path, const char *text, size_t len);
iris_tokenizer *tok_alloc(const char *source, int n_vocab);
/* Sets piece id (copies), fills the vocab map.  0 or -1. */
int tok_set_piece(iris_tokenizer *t, int id, const char *s, size_t len);
/* After pieces and attributes are set: byte tables, decoded pieces, eog guess. */
int tok_finish(iris_tokenizer *t);
int tok_add_added(iris_tokenizer *t, int32_t id, int special, int lstrip, int rstrip);
void tok_add_eog(iris_tokenizer *t, int32_t id);

/* Compiles a regex for splitting (UTF-8, Unicode properties, invalid UTF-8
 * tolerated).  NULL with iris_last_error() set. */
void *tok_regex_compile(const char *source, const char *pattern, size_t len, int literal);
void tok_regex_free(void *re);
/* The pre-tokenizer regexes llama.cpp names in tokenizer.ggml.pre. */
extern const char *const TOK_RE_GPT2;

/* byte-level mapping (byte_level.c) */
int tok_byte_to_cp(unsigned char b);
int tok_cp_to_byte(uint32_t cp);   /* -1 when not a mapped code point */
int tok_utf8_encode(uint32_t cp, char *out);
/* Decodes one code point; returns its length (1 for an invalid byte, cp = -1). */
int tok_utf8_decode(const unsigned char *s, size_t len, int32_t *cp);

/* Normalises one segment and splits it into pre-tokens (pretokenize.c).
 * Calls fn(ctx, bytes, len) per pre-token; returns 0, or -1 on OOM. */
typedef int (*tok_piece_fn)(void *ctx, const char *s, size_t len);
int tok_pretokenize(const iris_tokenizer *t, const char *text, size_t len,
                    int first_segment, tok_piece_fn fn, void *ctx);

#endif
