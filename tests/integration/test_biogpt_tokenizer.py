"""BioGPT's own tokenizer (Moses tokenization + BPE with "</w>" from
vocab.json and merges.txt, no tokenizer.json) against transformers'
BioGptTokenizer (with sacremoses) on a vocabulary and merges learned for the
test from a fixed corpus of biomedical-style sentences plus random words:
`iris tokenize` gives the same ids, `iris tokenize --decode` the same text as
tokenizer.decode.  A few symbols are left out of the vocabulary so that
<unk> is exercised; bad files give one-line errors.  (No BioGPT vectors are
in ../shared/testdata.)"""
import collections
import json
import os
import random

import pytest

from llm_fixtures import run_iris

pytest.importorskip("sacremoses")
SEED = int(os.environ.get("IRIS_TEST_SEED", random.randrange(1 << 30)))

SENTENCES = [
    "Dr. Smith et al. reported a 12.5% decrease (p < 0.05) in IL-6 levels.",
    "The patient's BMI was 31.2 kg/m2, i.e. obese; e.g. see Fig. 3B.",
    "Cells were incubated at 37 °C with 5 µg/mL α-tubulin antibody for 2-3 h.",
    "TNF-α and IFN-γ [1, 2] increased 1,000-fold... Was it significant?",
    "We didn't observe \"any\" effect of the drug & placebo | control groups.",
    "Mr. Jones (aged 65) received 10 mg/kg/day of drug-X vs. placebo No. 5.",
    "The BRCA1/BRCA2 mutations were found in 23 of 104 (22.1%) women's samples.",
    "Prof. Lee's lab used CRISPR-Cas9; results: 3.14 ± 0.02 μM, n = 12.",
    "Is COVID-19 associated with ACE2 expression? Yes--in some tissues.",
    "Mean age was 54.3 years; 'low' vs 'high' risk groups differed (P=.001).",
    "The 5'-UTR and 3' end of the mRNA were sequenced at St. Jude's hospital.",
    "Serum levels >200 mg/dL and <50 mg/dL were excluded [see Table 2].",
    "These results suggest that... well, the ß-cells' response isn't clear!",
    # single capital letters are non-breaking prefixes, at the end too (seed 63988641 found it)
    "J. Smith took vitamin B. The dose was given by Dr. K. O.",
]


def moses_words(sentences):
    from sacremoses import MosesTokenizer
    mt = MosesTokenizer(lang="en")
    out = []
    for s in sentences:
        out += mt.tokenize(s, aggressive_dash_splits=True, return_str=False, escape=True)
    return out


def learn_bpe(words, n_merges, rng):
    """A plain BPE learner over the words (chars, the last with </w>)."""
    vocab = collections.Counter(tuple(w[:-1]) + (w[-1] + "</w>",) for w in words)
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in vocab.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        top = max(pairs.values())
        best = sorted(p for p, c in pairs.items() if c == top)
        a, b = rng.choice(best)
        merges.append((a, b))
        new = collections.Counter()
        for w, c in vocab.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        vocab = new
    return merges


def random_words(rng, n):
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIKLMNOPRST0123456789-'.,()/%µαβγ"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(n)]


def make_biogpt_dir(path, seed):
    """vocab.json, merges.txt, tokenizer_config.json; returns the HF tokenizer."""
    from transformers import BioGptTokenizer
    rng = random.Random(seed)
    words = moses_words(SENTENCES + [" ".join(random_words(rng, 30))])
    merges = learn_bpe(words, 150 + rng.randint(0, 100), rng)
    merges += [(rng.choice("abcdefgh"), rng.choice("ijklmnop") + "</w>") for _ in range(10)]   # some unused
    merges.append(merges[rng.randrange(len(merges))])    # a duplicate line: the later rank wins
    symbols = set()
    for w in words:
        symbols.update(w[:-1])
        symbols.add(w[-1] + "</w>")
        symbols.update(w)
    for a, b in merges:
        symbols.update([a, b, a + b])
    symbols = sorted(symbols)
    drop = set(rng.sample(symbols, 6))                     # unknown pieces -> <unk>
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for s in symbols:
        if s not in drop and s not in vocab:
            vocab[s] = len(vocab)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (path / "merges.txt").write_text("".join(f"{a} {b} {rng.randint(1, 999)}\n" for a, b in merges),
                                     encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BioGptTokenizer"}))
    return BioGptTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))


def iris_ids(path, text, extra=()):
    p = run_iris(["tokenize", "-m", str(path), "--ids", *extra, text])
    return [int(x) for x in p.stdout.split()]


def iris_decode(path, ids, extra=()):
    return run_iris(["tokenize", "-m", str(path), "--decode", *extra, *map(str, ids)]).stdout


def test_ids_and_decode_match_biogpt_tokenizer(tmp_path):
    tok = make_biogpt_dir(tmp_path, SEED)
    rng = random.Random(SEED)
    texts = SENTENCES + ["Sample " + " ".join(random_words(rng, 12)) for _ in range(4)] + \
        ["  leading and trailing  spaces\tand\ttabs  ", "a", "...", "x-ray--like 5,300 U.S.A. a.m. 'tis"]
    unk = 0
    for text in texts:
        want = tok.encode(text)
        assert iris_ids(tmp_path, text) == want, (text, tok.tokenize(text), f"seed {SEED}")
        assert iris_ids(tmp_path, text, ["--no-bos"]) == want[1:]
        unk += want.count(tok.unk_token_id)
        assert iris_decode(tmp_path, want[1:], ["--special"]) == tok.decode(want[1:]), (text, f"seed {SEED}")
        assert iris_decode(tmp_path, want, ["--special"]) == tok.decode(want), (text, f"seed {SEED}")
        assert iris_decode(tmp_path, want) == tok.decode(want, skip_special_tokens=True), text
    assert unk > 0 or SEED % 7, "the dropped pieces should show up as <unk> now and then"


def test_special_tokens_parsed(tmp_path):
    tok = make_biogpt_dir(tmp_path, SEED + 1)
    text = "The result</s>was <unk> clear"
    assert iris_ids(tmp_path, text, ["--special"]) == tok.encode(text)


def test_decode_of_random_ids(tmp_path):
    tok = make_biogpt_dir(tmp_path, SEED + 2)
    rng = random.Random(SEED)
    n = len(tok.get_vocab())
    for _ in range(5):
        ids = [rng.randrange(4, n) for _ in range(rng.randint(1, 30))]
        assert iris_decode(tmp_path, ids, ["--special"]) == tok.decode(ids), (ids, f"seed {SEED}")
        assert iris_decode(tmp_path, ids) == tok.decode(ids, skip_special_tokens=True), (ids, f"seed {SEED}")


def fails(path, text="hello"):
    p = run_iris(["tokenize", "-m", str(path), text], check=False)
    assert p.returncode == 1, p.stdout
    msg = p.stderr.strip()
    assert len(msg.splitlines()) == 1, msg
    return msg


def test_bad_inputs(tmp_path):
    make_biogpt_dir(tmp_path, 5)
    (tmp_path / "merges.txt").unlink()
    assert "merges.txt" in fails(tmp_path)
    make_biogpt_dir(tmp_path, 5)
    for bad in ["[1, 2]", "{\"a\": \"x\"}", "{\"a\": 0, \"b\": 0}", "{\"a\": 5}", "{not json", ""]:
        (tmp_path / "vocab.json").write_text(bad)
        assert "vocab.json" in fails(tmp_path), bad
    other = tmp_path / "gpt2ish"
    make_biogpt_dir(other, 5)
    (other / "tokenizer_config.json").unlink()
    assert "BioGPT" in fails(other)


def biogpt_model(path, seed):
    """A random BioGptForCausalLM saved next to the tokenizer files."""
    import torch
    from transformers import BioGptConfig, BioGptForCausalLM
    from llm_fixtures import randomize_
    tok = make_biogpt_dir(path, seed)
    cfg = BioGptConfig(vocab_size=len(tok.get_vocab()), hidden_size=64, num_attention_heads=4,
                       num_hidden_layers=2, intermediate_size=160, max_position_embeddings=512)
    torch.manual_seed(seed)
    model = BioGptForCausalLM(cfg).eval()
    randomize_(model, seed)
    model.save_pretrained(str(path))
    assert not (path / "tokenizer.json").exists()
    return model, tok


def greedy(model, ids, n, eos):
    import torch
    cur, gen = list(ids), []
    for _ in range(n):
        with torch.no_grad():
            t = int(model(torch.tensor([cur])).logits[0, -1].argmax())
        if t == eos:
            break
        gen.append(t)
        cur.append(t)
    return gen


def test_run_biogpt_model_with_its_tokenizer(tmp_path):
    """iris run on a BioGPT directory without tokenizer.json: the prompt's ids
    (</s> first, as BioGptTokenizer adds it) give transformers' logits, and the
    greedy continuation comes out as tokenizer.decode writes it."""
    import torch
    from llm_fixtures import read_f32, rel_err
    model, tok = biogpt_model(tmp_path, SEED % 1000)
    prompt = SENTENCES[0]
    ids = tok.encode(prompt)
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0, -1].numpy()
    out = tmp_path / "logits.f32"
    run_iris(["run", "-m", str(tmp_path), "-p", prompt, "-n", "0", "--dump-logits", str(out), "--threads", "2"])
    assert rel_err(read_f32(out), ref) <= 1e-4
    gen = greedy(model, ids, 10, model.config.eos_token_id)
    p = run_iris(["run", "-m", str(tmp_path), "-p", prompt, "-n", "10", "--temp", "0", "--threads", "2"])
    assert p.stdout.rstrip("\n") == tok.decode(gen, skip_special_tokens=True), f"seed {SEED}"


PUBMEDQA = {
    "201": {"QUESTION": "Does IL-6 rise after surgery?", "CONTEXTS": ["Dr. Lee measured IL-6 (pg/mL).",
                                                                       "Levels rose 2-fold, e.g. at 24 h."],
            "final_decision": "yes"},
    "202": {"QUESTION": "Is α-tubulin reduced?", "CONTEXTS": ["We found no change (p = 0.4)."],
            "final_decision": "no"},
}


def test_eval_pubmedqa_on_biogpt(tmp_path):
    """iris eval (PubMedQA) on the BioGPT directory: each prediction is
    transformers' greedy continuation of the raw prompt, decoded by
    BioGptTokenizer."""
    model, tok = biogpt_model(tmp_path, SEED % 1000 + 1)
    data = tmp_path / "ori_pqal.json"
    data.write_text(json.dumps(PUBMEDQA))
    res = tmp_path / "r.json"
    run_iris(["eval", "-m", str(tmp_path), "--data", str(data), "--template", "raw", "-n", "5", "-o", str(res)])
    r = json.load(open(res))
    assert r["n"] == 2 and r["format"] == "pubmedqa"
    for key, x in zip(PUBMEDQA, r["predictions"]):
        rec = PUBMEDQA[key]
        prompt = "Context: " + " ".join(rec["CONTEXTS"]) + "\nQuestion: " + rec["QUESTION"]
        gen = greedy(model, tok.encode(prompt), 5, model.config.eos_token_id)
        ref = tok.decode(gen, skip_special_tokens=True)
        assert x["prediction"].strip() == ref.strip(), (key, f"seed {SEED}")
