/* chat_template.h — turns a conversation into the prompt text a model was
 * trained on.
 *
 * Templates (DESIGN.md, "Prompt templates"):
 *  llava-hf   "USER: {q} ASSISTANT: {a} USER: ..." then "ASSISTANT:"
 *             (transformers' llava-1.5-hf processor template: answers end
 *             with a space, no "</s>")
 *  vicuna_v1  system line + " ", then "USER: {q} ASSISTANT: {a}</s>" ...
 *  plain      "<image>{caption}\n" (LLaVA stage 1: user text replaced by <image>)
 *  gemma      "<start_of_turn>user\n{q}<end_of_turn>\n<start_of_turn>model\n"
 *             (contents trimmed; a system message opens the first user turn)
 *  chatml     "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"
 *  openflamingo  "<image>Question:{q} Short answer:{a}<|endofchunk|>" (the
 *             prompt OpenFlamingo's VQA evaluation and iris's openflamingo
 *             training template use: a user message's "<image>" markers, with
 *             a newline after each, go in front, the question trimmed; system
 *             messages are dropped)
 *
 * Message contents are inserted verbatim: the caller puts "<image>\n" at the
 * start of the user message that carries the image (as LLaVA does).
 *
 * Contract: render returns a malloc'd string (NULL on OOM) that ends with the
 * assistant prefix when add_generation_prompt is set, so generation continues
 * the assistant turn.  The BOS token is not included (the tokenizer adds it).
 */
#ifndef IRIS_CHAT_TEMPLATE_H
#define IRIS_CHAT_TEMPLATE_H

typedef enum {
    IRIS_TPL_LLAVA_HF = 0,
    IRIS_TPL_VICUNA_V1,
    IRIS_TPL_PLAIN,
    IRIS_TPL_GEMMA,
    IRIS_TPL_CHATML,
    IRIS_TPL_RAW,          /* the user text as is, no decoration */
    IRIS_TPL_OPENFLAMINGO,
    IRIS_TPL_COUNT
} iris_chat_template;

typedef struct {
    const char *role;      /* "system", "user" or "assistant" */
    const char *content;
} iris_chat_msg;

/* -1 when unknown. */
int iris_chat_template_from_name(const char *name);
const char *iris_chat_template_name(iris_chat_template t);
char *iris_chat_render(iris_chat_template t, const iris_chat_msg *msgs, int n,
                       int add_generation_prompt);

#endif
