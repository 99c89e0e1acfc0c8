"""`iris tokenize` against the Hugging Face `tokenizers` library.

Tokenizers are built on the spot with `tokenizers` (BPE trained on a random
corpus: SentencePiece-style with byte fallback via Prepend/Replace or
Metaspace, GPT-2 byte-level, Qwen2-style Split regex + NFC, Falcon-style
Punctuation/Digits, a Gemma-style one without prefix space, and one with
Lowercase/NFKC/Strip normalizers and other split behaviours), and the shared
llama.cpp vocabularies are exported to tokenizer.json with transformers' GGUF
converter.  iris must give the library's ids on many texts: unicode,
whitespace runs, newlines, digits, emoji, code, very long words, the empty
string, and special tokens with --special.  Chat templates are rendered with
transformers' apply_chat_template from the published Jinja templates."""
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

IRIS = os.environ.get("IRIS_BIN", "bin/iris")
SHARED = Path(os.environ.get("IRIS_SHARED", "../shared")) / "testdata" / "tokenizers"
SEED = int(os.environ.get("IRIS_TEST_SEED", random.randrange(1 << 30)))
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
            r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

WORDS = ["hello", "world", "The", "quick", "brown", "fox", "jumps", "über", "naïve", "café",
         "Привет", "мир", "日本語", "テキスト", "한국어", "مرحبا", "שלום", "ελληνικά", "Cửa", "Việt",
         "ﬁne", "ℝ⁴", "e\u0301", "Å", "A\u030a", "🦙", "🚀", "👨‍👩‍👧", "🏳️‍🌈", "😶‍🌫️",
         "ក្រុម", "I'm", "you'll", "WE'VE", "don't", "it's", "x**2", "def", "return", "{\"a\": [1, 2]}",
         "<html>", "a_b_c", "CamelCase", "snake_case", "3.14159", "1,000,000", "2024-01-31",
         "12345678901", "$100", "50%", "#hash", "@user", "http://example.com/a?b=c", "¿Qué?", "¡Sí!",
         "--", "...", "!!!", "???", "'''", "```", "\"\"\""]
SEPS = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", " \n ", "\r\n", "", ",", ". ", " - ", "\u3000", "\u00a0"]


def random_text(rng, n_words):
    out = []
    for _ in range(n_words):
        out.append(rng.choice(WORDS))
        out.append(rng.choice(SEPS))
    return "".join(out)


def fixed_texts():
    return ["", " ", "  ", "\t", "\n", "\n\n\n", " \t \n ", "Hello world", " Hello world",
            "Hello World!", "hello   world  ", "   leading", "trailing   ", "a", "ab", "7", "123456789",
            "il1 I1 0O", "🦙.cpp", "😀😃😄", "\u200b\u200d", "ﬁ ﬂ ﬃ", "ÅÅ A\u030a e\u0301",
            "def f(x):\n    return x**2  # square\n", "if (a && b) { c[i] = d->e; }\n\treturn;",
            "x" * 3000, "ab" * 1500, "9" * 1000, "é" * 800, "🦙" * 300,
            "w048 7tuijk dsdfhu", "нещо на Български", "កាន់តែពិសេសអាចខលចេញ",
            "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
            "3333333 33333333 3.3 3..3 ------======= ''''''```````\"\"\"\"......!!!!!!??????"]


def texts(n_random=40):
    rng = random.Random(SEED)
    return fixed_texts() + [random_text(rng, rng.randrange(1, 40)) for _ in range(n_random)]


def corpus(rng):
    lines = [random_text(rng, rng.randrange(3, 30)) for _ in range(600)]
    return lines + fixed_texts()


def iris_ids(model, text, special=False, bos=False, argv=False):
    cmd = [IRIS, "tokenize", "-m", str(model), "--ids"]
    if special:
        cmd.append("--special")
    if not bos:
        cmd.append("--no-bos")
    if argv:
        r = subprocess.run(cmd + ["--", text], capture_output=True)
    else:
        r = subprocess.run(cmd + ["-"], input=text.encode(), capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    return [int(x) for x in r.stdout.split()]


def add_byte_tokens(tok):
    """Byte fallback needs <0x00>..<0xFF> in the model vocab (as in LLaMA)."""
    d = json.loads(tok.to_str())
    vocab = d["model"]["vocab"]
    nxt = max(vocab.values()) + 1
    for b in range(256):
        name = f"<0x{b:02X}>"
        if name not in vocab:
            vocab[name] = nxt
            nxt += 1
    return Tokenizer.from_str(json.dumps(d))


def train(tok, rng, vocab_size, special, **kw):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False, **kw)
    tok.train_from_iterator(corpus(rng), trainer)
    return tok


def build_spm_prepend(rng):
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    train(tok, rng, 900, ["<unk>", "<s>", "</s>"], limit_alphabet=60)
    tok = add_byte_tokens(tok)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.add_tokens([AddedToken("<image>", special=False, normalized=False)])
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True)])
    return tok


def build_spm_metaspace(rng):
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    train(tok, rng, 900, ["<unk>", "<s>", "</s>"], limit_alphabet=80)
    tok = add_byte_tokens(tok)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens(["<start_of_turn>", "<end_of_turn>"])
    return tok


def build_gemma_like(rng):
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split("▁", "merged_with_next")
    train(tok, rng, 900, ["<pad>", "<eos>", "<bos>", "<unk>"], limit_alphabet=70)
    tok = add_byte_tokens(tok)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    tok.add_special_tokens(["<start_of_turn>", "<end_of_turn>", "<image>"])
    return tok


def build_gpt2(rng, prefix=False):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=prefix)
    tok.decoder = decoders.ByteLevel()
    train(tok, rng, 1200, ["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return tok


def build_qwen2(rng):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_RE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    train(tok, rng, 1200, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
          initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return tok


def build_falcon_like(rng):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Punctuation("contiguous"), pre_tokenizers.ByteLevel(add_prefix_space=False),
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.Split(Regex("[0-9][0-9][0-9]"), behavior="isolated")])
    tok.decoder = decoders.ByteLevel()
    train(tok, rng, 1200, [">>TITLE<<", "<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return tok


def build_misc(rng):
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(" ", "merged_with_previous"), pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Split(Regex(r"[.,!?]"), "removed"), pre_tokenizers.Punctuation("isolated")])
    train(tok, rng, 700, ["[UNK]", "[SEP]"])
    return tok


def build_unk(rng, fuse):
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=fuse))
    tok.pre_tokenizer = pre_tokenizers.Whitespace() if fuse else pre_tokenizers.WhitespaceSplit()
    train(tok, rng, 600, ["<unk>"], limit_alphabet=40)
    return tok


BUILDERS = {
    "unk_fused": lambda rng: build_unk(rng, True), "unk_plain": lambda rng: build_unk(rng, False),
    "spm_prepend": build_spm_prepend, "spm_metaspace": build_spm_metaspace, "gemma_like": build_gemma_like,
    "gpt2": build_gpt2, "gpt2_prefix": lambda rng: build_gpt2(rng, prefix=True), "qwen2": build_qwen2,
    "falcon_like": build_falcon_like, "misc": build_misc,
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def built(request, tmp_path_factory):
    rng = random.Random(SEED ^ hash(request.param) & 0xffff)
    tok = BUILDERS[request.param](rng)
    path = tmp_path_factory.mktemp(request.param) / "tokenizer.json"
    tok.save(str(path))
    return request.param, Tokenizer.from_file(str(path)), path


def test_trained_tokenizers_match(built):
    name, tok, path = built
    print(f"seed {SEED}")
    bad = []
    for text in texts():
        tok.encode_special_tokens = True
        want = tok.encode(text, add_special_tokens=False).ids
        got = iris_ids(path, text)
        if got != want:
            bad.append((text[:60], want[:20], got[:20]))
    assert not bad, f"{name}: {len(bad)} mismatches, first: {bad[:3]}"


def special_texts(tok):
    specials = [t.content for t in tok.get_added_tokens_decoder().values()]
    rng = random.Random(SEED + 1)
    out = []
    for _ in range(25):
        parts = []
        for _ in range(rng.randrange(1, 6)):
            parts.append(rng.choice(specials) if rng.random() < 0.4 else random_text(rng, rng.randrange(0, 5)))
            parts.append(rng.choice(["", " ", "  ", "\n"]))
        out.append("".join(parts))
    return out + specials


def test_special_tokens_and_bos(built):
    name, tok, path = built
    bad = []
    for text in special_texts(tok):
        tok.encode_special_tokens = False
        want = tok.encode(text, add_special_tokens=True).ids
        got = iris_ids(path, text, special=True, bos=True)
        if got != want:
            bad.append(("--special", text[:60], want[:20], got[:20]))
        tok.encode_special_tokens = True
        want = tok.encode(text, add_special_tokens=False).ids
        got = iris_ids(path, text)
        if got != want:
            bad.append(("plain", text[:60], want[:20], got[:20]))
    assert not bad, f"{name}: {len(bad)} mismatches, first: {bad[:3]}"


def iris_decode(model, ids, special=False):
    cmd = [IRIS, "tokenize", "-m", str(model), "--decode"] + (["--special"] if special else []) + ["-"]
    r = subprocess.run(cmd, input=" ".join(map(str, ids)).encode(), capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def test_decode_matches(built):
    """The streaming detokeniser gives the library's decode() of the same ids."""
    name, tok, path = built
    if tok.decoder is None:
        pytest.skip(f"{name} has no decoder (the library joins tokens with spaces)")
    bad = []
    tok.encode_special_tokens = False
    for text in texts(15) + special_texts(tok):
        ids = tok.encode(text, add_special_tokens=True).ids
        want = tok.decode(ids, skip_special_tokens=True)
        got = iris_decode(path, ids)
        if got != want:
            bad.append((ids[:12], want[:40], got[:40]))
    assert not bad, f"{name}: {len(bad)} mismatches, first: {bad[:3]}"


def test_text_on_the_command_line(built):
    name, tok, path = built
    tok.encode_special_tokens = True
    for text in ["Hello world", "naïve café 🦙", "-starts with a dash", "tab\there\nnewline"]:
        assert iris_ids(path, text, argv=True) == tok.encode(text, add_special_tokens=False).ids


def test_model_directory_and_pieces(tmp_path):
    tok = build_gpt2(random.Random(SEED))
    tok.save(str(tmp_path / "tokenizer.json"))
    text = "Hello wörld 123"
    r = subprocess.run([IRIS, "tokenize", "-m", str(tmp_path), "--no-bos", text], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    enc = tok.encode(text, add_special_tokens=False)
    lines = r.stdout.splitlines()
    assert [int(l.split()[0]) for l in lines] == enc.ids
    assert [l.split("'", 1)[1][:-1] for l in lines] == enc.tokens


# ---- the shared llama.cpp vocabularies through transformers' GGUF converter

@pytest.fixture(scope="module", params=["llama-spm", "gpt-2"])
def exported(request, tmp_path_factory):
    gguf_path = SHARED / f"ggml-vocab-{request.param}.gguf"
    if not gguf_path.exists():
        pytest.skip(f"{gguf_path} absent (shared tokenizer vectors not available)")
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        from transformers.integrations.ggml import convert_gguf_tokenizer
        from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
        ck = load_gguf_checkpoint(str(gguf_path), return_tensors=False)
        tok, _ = convert_gguf_tokenizer(ck["config"]["model_type"], ck["tokenizer"])
    except Exception as e:  # converter missing or unable to run offline
        pytest.skip(f"transformers could not convert {gguf_path.name}: {e}")
    path = tmp_path_factory.mktemp(request.param) / "tokenizer.json"
    tok.save(str(path))
    return gguf_path, Tokenizer.from_file(str(path)), path


def test_gguf_vocab_exports_match(exported):
    gguf_path, tok, path = exported
    tok.encode_special_tokens = True
    bad = []
    for text in texts(12):
        want = tok.encode(text, add_special_tokens=False).ids
        for src in (path, gguf_path):
            got = iris_ids(src, text)
            if got != want:
                bad.append((src.name, text[:60], want[:16], got[:16]))
    assert not bad, f"{len(bad)} mismatches, first: {bad[:3]}"


# ---- errors

def run_iris(*args):
    return subprocess.run([IRIS, "tokenize", *args], capture_output=True, text=True)


def test_errors(tmp_path):
    r = run_iris("-m", str(tmp_path / "missing.json"), "hi")
    assert r.returncode == 1 and r.stderr.startswith("iris tokenize: ") and r.stderr.count("\n") == 1
    assert "missing.json" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}')
    r = run_iris("-m", str(bad), "hi")
    assert r.returncode == 1 and "unknown token" in r.stderr and r.stderr.count("\n") == 1
    bad.write_text('{"model": ')
    r = run_iris("-m", str(bad), "hi")
    assert r.returncode == 1 and "not valid JSON" in r.stderr
    trunc = tmp_path / "trunc.gguf"
    trunc.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x01" * 5)
    r = run_iris("-m", str(trunc), "hi")
    assert r.returncode == 1 and "trunc.gguf" in r.stderr and r.stderr.count("\n") == 1
    assert run_iris("hi").returncode == 2
    assert run_iris("-m", str(bad)).returncode == 2
    assert run_iris("-m", str(bad), "--bogus", "hi").returncode == 2
    assert run_iris("--template", "nope", "--print-prompt", "[]").returncode == 2


# ---- chat templates against transformers' Jinja rendering

GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAVA_HF_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")


def conversations(rng, system):
    out = []
    for _ in range(12):
        msgs = [{"role": "system", "content": random_text(rng, 4).strip() or "Be brief."}] if system else []
        for turn in range(rng.randrange(1, 4) * 2 - 1):
            role = "user" if turn % 2 == 0 else "assistant"
            content = rng.choice(["", " ", "\n"]) + random_text(rng, rng.randrange(1, 12))
            msgs.append({"role": role, "content": content})
        out.append(msgs)
    return out


def iris_prompt(name, msgs, gen):
    args = ["--template", name, "--print-prompt"] + ([] if gen else ["--no-gen"]) + ["-"]
    r = subprocess.run([IRIS, "tokenize", *args], input=json.dumps(msgs).encode(), capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


@pytest.fixture(scope="module")
def hf_tokenizer():
    transformers = pytest.importorskip("transformers")
    tok = build_qwen2(random.Random(SEED))
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok)


@pytest.mark.parametrize("name,template,system", [
    ("gemma", GEMMA_TEMPLATE, False), ("chatml", CHATML_TEMPLATE, False), ("chatml", CHATML_TEMPLATE, True),
    ("chatml", QWEN2_TEMPLATE, True), ("llava-hf", LLAVA_HF_TEMPLATE, False), ("llava-hf", LLAVA_HF_TEMPLATE, True)])
def test_chat_templates_match_transformers(hf_tokenizer, name, template, system):
    rng = random.Random(SEED + len(template) + system)
    for msgs in conversations(rng, system):
        for gen in (True, False):
            if name == "llava-hf":
                # the processor template takes typed content; the image goes to the first user turn
                hf_msgs, first = [], True
                for m in msgs:
                    parts = [{"type": "text", "text": m["content"]}]
                    if m["role"] == "user" and first:
                        parts.insert(0, {"type": "image"})
                        first = False
                    hf_msgs.append({"role": m["role"], "content": parts})
                iris_msgs = [dict(m) for m in msgs]
                for m in iris_msgs:
                    if m["role"] == "user":
                        m["content"] = "<image>\n" + m["content"]
                        break
            else:
                hf_msgs, iris_msgs = msgs, msgs
            want = hf_tokenizer.apply_chat_template(hf_msgs, chat_template=template, tokenize=False,
                                                    add_generation_prompt=gen, bos_token="")
            assert iris_prompt(name, iris_msgs, gen) == want


# ---- GGUF vocabularies written with the gguf package (llama.cpp's writer)

def write_vocab_gguf(path, model, tokens, merges=None, types=None, scores=None, pre=None, **ids):
    gguf = pytest.importorskip("gguf")
    w = gguf.GGUFWriter(str(path), "gpt2")
    if model is not None:
        w.add_tokenizer_model(model)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    if types is not None:
        w.add_token_types(types)
    if scores is not None:
        w.add_token_scores(scores)
    if merges is not None:
        w.add_token_merges(merges)
    for key, value in ids.items():
        w.add_uint32(f"tokenizer.ggml.{key}", value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_byte_level_from_trained(tmp_path):
    """A trained GPT-2 style tokenizer written to GGUF must tokenize as the
    tokenizer.json it came from."""
    tok = build_gpt2(random.Random(SEED + 7))
    d = json.loads(tok.to_str())
    vocab = d["model"]["vocab"]
    tokens = [None] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    merges = [m if isinstance(m, str) else " ".join(m) for m in d["model"]["merges"]]
    special = {a["id"] for a in d["added_tokens"] if a["special"]}
    types = [3 if i in special else 1 for i in range(len(tokens))]
    path = tmp_path / "vocab.gguf"
    write_vocab_gguf(path, "gpt2", tokens, merges=merges, types=types, pre="gpt-2",
                     bos_token_id=0, eos_token_id=0)
    tok.encode_special_tokens = True
    bad = []
    for text in texts(20):
        want = tok.encode(text, add_special_tokens=False).ids
        got = iris_ids(path, text)
        if got != want:
            bad.append((text[:60], want[:16], got[:16]))
    assert not bad, f"{len(bad)} mismatches, first: {bad[:3]}"
    tok.encode_special_tokens = False
    text = "a<|endoftext|>b"
    assert iris_ids(path, text, special=True) == tok.encode(text, add_special_tokens=False).ids


@pytest.mark.parametrize("case,phrase", [
    ("no_model", "no tokenizer.ggml.model"), ("bert", "not supported"), ("bad_merge", "unknown token"),
    ("short_types", "token_type"), ("bad_pre", "tokenizer.ggml.pre"), ("merge_not_pair", "left right")])
def test_gguf_vocab_errors(tmp_path, case, phrase):
    tokens = ["a", "b", "ab", "c"]
    kw = dict(model="gpt2", merges=["a b"], pre="gpt-2")
    if case == "no_model":
        kw["model"] = None
    elif case == "bert":
        kw["model"] = "bert"
    elif case == "bad_merge":
        kw["merges"] = ["a z"]
    elif case == "short_types":
        kw["types"] = [1, 1]
    elif case == "bad_pre":
        kw["pre"] = "no-such-pre"
    elif case == "merge_not_pair":
        kw["merges"] = ["ab"]
    path = tmp_path / f"{case}.gguf"
    write_vocab_gguf(path, tokens=tokens, **kw)
    r = run_iris("-m", str(path), "abc")
    assert r.returncode == 1, r.stdout
    assert r.stderr.startswith("iris tokenize: ") and r.stderr.count("\n") == 1
    assert phrase in r.stderr and path.name in r.stderr


def test_template_tokens_match_transformers(hf_tokenizer, tmp_path):
    """--template without --print-prompt tokenizes the prompt, markers as special tokens."""
    path = tmp_path / "tokenizer.json"
    hf_tokenizer.backend_tokenizer.save(str(path))
    rng = random.Random(SEED + 3)
    for msgs in conversations(rng, True)[:6]:
        want = hf_tokenizer.apply_chat_template(msgs, chat_template=CHATML_TEMPLATE, tokenize=True,
                                                add_generation_prompt=True)
        r = subprocess.run([IRIS, "tokenize", "-m", str(path), "--ids", "--template", "chatml", "-"],
                           input=json.dumps(msgs).encode(), capture_output=True)
        assert r.returncode == 0, r.stderr.decode()
        assert [int(x) for x in r.stdout.split()] == want


def test_lstrip_rstrip_strip_unicode_whitespace(tmp_path):
    """Added tokens with lstrip/rstrip take Unicode whitespace (NBSP, ideographic
    and em spaces) as the tokenizers library does, not only ASCII."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, trainers
    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.train_from_iterator(["hello world http://example.com/a?b=c here"] * 20,
                            trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", "<s>"], show_progress=False))
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True, special=True)])
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    for text in ["a?b=c\xa0<mask>\n", "x\u3000<mask>\u2003y", "\xe9\xa0\xa0<mask>", "<mask>\u0085\u2028z"]:
        want = tok.encode(text, add_special_tokens=False).ids
        p = subprocess.run([os.environ.get("IRIS_BIN", "bin/iris"), "tokenize", "-m", str(path), "--ids", "--no-bos",
                            "--special", text], capture_output=True, text=True)
        assert [int(x) for x in p.stdout.split()] == want, text
