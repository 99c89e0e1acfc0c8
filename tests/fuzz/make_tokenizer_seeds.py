"""Seed corpus for the tokenizer fuzzer (stdlib only): a leading 0 byte and
a small tokenizer.json (SentencePiece-style with byte fallback, byte-level,
Split regex + Metaspace), or a leading 1 byte and a GGUF vocabulary
(tokenizer.ggml.model "llama" with scores and token types, "gpt2" with
merges and a pre-tokenizer name)."""
import json
import os
import struct
import sys


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(kvs):
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    for key, typ, payload in kvs:
        out += gstr(key) + struct.pack("<I", typ) + payload
    return out + b"\0" * (-len(out) % 32)


def str_array(items):
    return struct.pack("<IQ", 8, len(items)) + b"".join(gstr(s) for s in items)


def num_array(typ, fmt, items):
    return struct.pack("<IQ", typ, len(items)) + b"".join(struct.pack(fmt, v) for v in items)


def seeds():
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    words = ["\u2581", "h", "e", "l", "o", "he", "ll", "hell", "hello", "\u2581hello"]
    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>"] + bytes_ + words)}
    spm = {"added_tokens": [{"id": 1, "content": "<s>", "special": True},
                            {"id": 2, "content": "</s>", "special": True}],
           "normalizer": {"type": "Sequence", "normalizers": [
               {"type": "Prepend", "prepend": "\u2581"},
               {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
           "post_processor": {"type": "TemplateProcessing", "single": [
               {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
           "model": {"type": "BPE", "byte_fallback": True, "unk_token": "<unk>", "vocab": vocab,
                     "merges": ["h e", "l l", "he ll", "hell o", "\u2581 hello"]}}
    yield "spm.json", b"\0" + json.dumps(spm).encode()
    bl_vocab = {chr(c): i for i, c in enumerate(list(range(0x21, 0x7f)) + [0x120])}
    bl_vocab["he"] = len(bl_vocab)
    bl = {"added_tokens": [{"id": len(bl_vocab), "content": "<|endoftext|>", "special": True}],
          "normalizer": {"type": "NFC"},
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}| ?\\p{L}+|\\s+(?!\\S)"},
               "behavior": "Isolated", "invert": False},
              {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]},
          "decoder": {"type": "ByteLevel"},
          "model": {"type": "BPE", "vocab": dict(bl_vocab, **{"<|endoftext|>": len(bl_vocab)}),
                    "merges": [["h", "e"]]}}
    yield "bytelevel.json", b"\0" + json.dumps(bl).encode()
    ms = dict(spm, normalizer=None, pre_tokenizer={"type": "Metaspace", "replacement": "\u2581",
                                                    "prepend_scheme": "first", "split": True})
    yield "metaspace.json", b"\0" + json.dumps(ms).encode()
    tokens = ["<unk>", "<s>", "</s>"] + bytes_ + words
    types = [2, 3, 3] + [6] * 256 + [1] * len(words)
    scores = [0.0] * 259 + [-float(i) for i in range(len(words))]
    yield "llama.gguf", b"\1" + gguf([
        ("tokenizer.ggml.model", 8, gstr("llama")), ("tokenizer.ggml.tokens", 9, str_array(tokens)),
        ("tokenizer.ggml.scores", 9, num_array(6, "<f", scores)),
        ("tokenizer.ggml.token_type", 9, num_array(5, "<i", types)),
        ("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1))])
    gtoks = [chr(c) for c in range(0x21, 0x7f)] + ["\u0120", "he", "\u0120he", "<|endoftext|>"]
    yield "gpt2.gguf", b"\1" + gguf([
        ("tokenizer.ggml.model", 8, gstr("gpt2")), ("tokenizer.ggml.pre", 8, gstr("qwen2")),
        ("tokenizer.ggml.tokens", 9, str_array(gtoks)),
        ("tokenizer.ggml.token_type", 9, num_array(5, "<i", [1] * (len(gtoks) - 1) + [3])),
        ("tokenizer.ggml.merges", 9, str_array(["h e", "\u0120 he"]))])


def main(out):
    os.makedirs(os.path.join(out, "tokenizer"), exist_ok=True)
    for name, blob in seeds():
        with open(os.path.join(out, "tokenizer", name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main(sys.argv[1])
