/* tokenizer.h — text <-> token ids for the model families iris runs.
 *
 * Two algorithms behind one interface:
 *  - SentencePiece-style BPE with byte fallback (LLaMA / Vicuna, Gemma, Phi-3):
 *    spaces become U+2581, a dummy prefix space where the model wants one,
 *    merges by score (GGUF) or by merge rank (tokenizer.json), unknown bytes as
 *    <0xNN> tokens.
 *  - Byte-level BPE (GPT-2, GPT-NeoX / MPT, Falcon, Qwen2): bytes mapped to
 *    printable code points, the model's pre-tokenizer regex split, ranked merges.
 *  - Word BPE after Moses tokenisation (BioGPT: vocab.json + merges.txt, no
 *    tokenizer.json): each Moses token split into characters, the last one
 *    marked "</w>", ranked merges; decoding joins the words again and runs the
 *    Moses detokeniser.
 * Added / special tokens (e.g. "<image>", "<s>", "<start_of_turn>") are matched
 * before the algorithm runs when parse_special is set.
 *
 * Sources: a Hugging Face tokenizer.json, or the tokenizer.ggml.* metadata of a
 * GGUF file.  Contract: loaders fail with a one-line iris_last_error() naming
 * the file and what is wrong; encode never fails on any byte string (invalid
 * UTF-8 included) once a tokenizer is loaded.
 */
#ifndef IRIS_TOKENIZER_H
#define IRIS_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

struct iris_gguf;
typedef struct iris_tokenizer iris_tokenizer;

iris_tokenizer *iris_tokenizer_from_json(const char *path);
iris_tokenizer *iris_tokenizer_from_gguf(const struct iris_gguf *g);
/* BioGPT's tokenizer from a directory holding vocab.json and merges.txt. */
iris_tokenizer *iris_tokenizer_from_word_bpe(const char *dir);
/* Loads tokenizer.json from a model directory (vocab.json + merges.txt of a
 * Moses + BPE tokenizer when there is none), or the vocabulary of a .gguf. */
iris_tokenizer *iris_tokenizer_load(const char *model_path);
void iris_tokenizer_free(iris_tokenizer *t);

/* Encodes text (len bytes).  Writes up to cap ids and returns the number the
 * full encoding has (call again with a larger buffer when it exceeds cap);
 * -1 on allocation failure. add_bos prepends BOS when the model has one. */
int iris_tokenize(const iris_tokenizer *t, const char *text, size_t len,
                  int add_bos, int parse_special, int32_t *ids, int cap);

int iris_tokenizer_n_vocab(const iris_tokenizer *t);
int iris_tokenizer_bos(const iris_tokenizer *t);   /* -1 when none */
int iris_tokenizer_eos(const iris_tokenizer *t);   /* -1 when none */
/* Extra ids that also end a turn (e.g. Gemma's <end_of_turn>); n written. */
int iris_tokenizer_eog_ids(const iris_tokenizer *t, int32_t *ids, int cap);
/* Id of an exact vocabulary entry (added tokens included), -1 when absent. */
int iris_tokenizer_find(const iris_tokenizer *t, const char *piece);
/* Adds `piece` as a special token at the next id (n_vocab), as Hugging Face's
 * add_special_tokens does (OpenFlamingo's "<|endofchunk|>", "<image>");
 * an existing entry is made special and keeps its id.  Returns the id, or -1
 * (out of memory, empty piece). */
int iris_tokenizer_add_special(iris_tokenizer *t, const char *piece);
/* The vocabulary entry as stored (e.g. "\xe2\x96\x81the", "<0x0A>"). */
const char *iris_tokenizer_piece(const iris_tokenizer *t, int id);
int iris_tokenizer_is_special(const iris_tokenizer *t, int id);

/* State of the Moses detokeniser between the words of a word-BPE tokenizer
 * (BioGPT): the word being assembled from its pieces, and what the rules
 * need of the tokens before (quote parity, the previous token's end). */
typedef struct {
    char word[200];            /* pieces of a word not yet ended by "</w>" */
    uint32_t word_len;
    uint8_t started;           /* a token was written (the first gets no space) */
    uint8_t no_space;          /* the next token attaches to the previous one */
    uint8_t glue;              /* the last token was "@-@" (a hyphen in a word) */
    uint8_t prev_s, prev_cjk;  /* the previous token ends with 's' / a CJK character */
    uint8_t n_quotes;
    char quote_key[6][8];      /* quote tokens seen, with their counts */
    uint32_t quote_count[6];
} iris_moses_detok;

/* Streaming detokeniser: feed ids one at a time, get back only complete UTF-8.
 * The leading space SentencePiece adds is dropped for the first token. */
typedef struct {
    const iris_tokenizer *tok;
    unsigned char pending[8];
    int n_pending;
    int n_tokens;
    int show_special;
    /* Tokens whose text did not fit in the caller's buffer yet (some
     * vocabularies have pieces of 500+ bytes); written first by the next
     * push or flush.  queue_off[i]: next byte of queue[i] to write. */
    int32_t queue[8];
    uint32_t queue_off[8];
    int n_queue;
    iris_moses_detok moses;    /* word-BPE (BioGPT) tokenizers only */
} iris_detok;

void iris_detok_init(iris_detok *d, const iris_tokenizer *t, int show_special);
/* Writes the text of id to out (NUL-terminated); returns bytes written.
 * out must hold at least 256 bytes.  Text that does not fit is kept and
 * written by the next call, so no byte is lost while callers keep pushing. */
int iris_detok_push(iris_detok *d, int32_t id, char *out, size_t cap);
/* Writes what is left at the end (bytes of an unfinished character as
 * U+FFFD); when more is queued than fits, returns cap - 1: call again until
 * it returns 0. */
int iris_detok_flush(iris_detok *d, char *out, size_t cap);
/* For text kept as a C string (eval's answers): a NUL byte a model emits
 * would end it early, so each becomes '?', as the chat panels show it. */
void iris_text_mask_nul(char *s, size_t n);

#endif
