/* tokenizer_build.h — writes a small byte-level BPE tokenizer (tokenizer.json
 * in the Hugging Face `tokenizers` format) whose merges spell out the words of
 * a given corpus, so a closed world's vocabulary ("circle", " purple", ...)
 * costs one token a word while any other text still encodes byte by byte.
 *
 * Layout of the ids: the special tokens first (in the order given; the first
 * is BOS, added before every sequence by a TemplateProcessing post-processor,
 * the second EOS), then the 256 byte symbols of byte-level BPE in byte order,
 * then one token per merge.  Words are cut as the GPT-2 pre-tokenizer cuts
 * them (an optional leading space plus a run of letters, of digits or of other
 * symbols); each distinct word gets the chain of merges that builds it left
 * to right (w[0]+w[1], then that + w[2], ...), words taken by falling
 * frequency, ties alphabetically.  The result is a function of the corpus
 * alone, so the same corpus always gives the same file.
 *
 * Contract: returns a malloc'd JSON text, or NULL with the error set.
 */
#ifndef IRIS_TOKENIZER_BUILD_H
#define IRIS_TOKENIZER_BUILD_H

typedef struct {
    const char *const *texts;     /* corpus; NUL-terminated strings */
    int n_texts;
    const char *const *specials;  /* e.g. {"<s>", "</s>", "<pad>", "<image>"}; at least BOS and EOS */
    int n_specials;
    int max_vocab;                /* 0: no limit; else words stop once the vocabulary is full */
} iris_bpe_build_opts;

char *iris_bpe_build_json(const iris_bpe_build_opts *o, int *n_vocab);

#endif
