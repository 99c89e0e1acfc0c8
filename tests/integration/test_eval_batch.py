"""iris eval --batch N: questions answered together give the same answers and
the same results JSON as questions answered one at a time (--batch 1), on
random tiny LLaVA models, with prompts of mixed lengths (image and text-only
questions, short and long), answers that stop early at the end token, batches
smaller and larger than the question count; bad --batch values are refused;
models batching does not cover (generic decoders) take the one-at-a-time path
by themselves."""
import json

import pytest

from llava_fixtures import build_llava
from llm_fixtures import run_iris

N_PREDICT = 6


def mixed_questions(tmp_path):
    """The shapes world's questions, three in a row about one image (their
    shared prompt prefix is computed once),
    and text-only questions of very different lengths in between."""
    data = tmp_path / "shapes"
    run_iris(["gen-shapes", "--seed", "21", "--count", "18", "-o", str(data), "--split", "test"])
    qs = [json.loads(l) for l in open(data / "test_questions.jsonl")]
    out = []
    for i, q in enumerate(qs):
        q["image"] = str(data / q["image"])
        out.append(q)
        if i == 3:
            out.append(dict(q, question_id="again", question="Is there anything else in the picture?"))
            out.append(dict(q, question_id="again2", question="Is"))
        if i in (5, 11):
            words = "tell me about the shapes and their colours " * (1 + 6 * (i == 11))
            out.append({"question_id": f"text{i}", "question": words.strip() + "?", "answer": "no",
                        "question_type": "text"})
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in out))
    return path, len(out)


def evaluate(model_dir, data, batch, tmp_path, n=N_PREDICT):
    res = tmp_path / f"r{batch}.json"
    args = ["eval", "-m", str(model_dir), "--data", str(data), "-n", str(n), "-o", str(res), "-t", "1"]
    if batch is not None:
        args += ["--batch", str(batch)]
    run_iris(args)
    r = json.load(open(res))
    del r["seconds"]
    return r


def set_eos(model_dir, token_id):
    cfg_path = model_dir / "config.json"
    cfg = json.load(open(cfg_path))
    cfg["text_config"]["eos_token_id"] = token_id
    json.dump(cfg, open(cfg_path, "w"))


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma"])
def test_batched_answers_equal_one_at_a_time(tmp_path, arch):
    from tokenizers import Tokenizer
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    build_llava(model_dir, arch=arch, seed=17)
    data, count = mixed_questions(tmp_path)
    # answers that end early: the end token becomes the first token of one
    # question's answer (found with iris itself, one token per question)
    first = evaluate(model_dir, data, 1, tmp_path, n=1)
    full = evaluate(model_dir, data, 1, tmp_path)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    text = next(p["prediction"] for p in first["predictions"] if p["prediction"].isascii() and p["prediction"].strip())
    set_eos(model_dir, tok.encode(text, add_special_tokens=False).ids[0])

    one = evaluate(model_dir, data, 1, tmp_path)
    preds_full = [p["prediction"] for p in full["predictions"]]
    preds_one = [p["prediction"] for p in one["predictions"]]
    shorter = [a for a, b in zip(preds_one, preds_full) if len(a) < len(b)]
    assert shorter and len(shorter) < count, "some answers, not all, must stop at the end token"
    assert all(b.startswith(a) for a, b in zip(preds_one, preds_full))
    assert one["n"] == count

    for batch in (2, 7, count + 40, None):   # None: the automatic batch
        assert evaluate(model_dir, data, batch, tmp_path) == one, f"--batch {batch}"


def test_batched_limit_and_progress(tmp_path):
    """--limit with a batch larger than the limit; the log lines give the rate."""
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    build_llava(model_dir, seed=5)
    data, _ = mixed_questions(tmp_path)
    res = tmp_path / "r.json"
    p = run_iris(["eval", "-m", str(model_dir), "--data", str(data), "-n", "3", "--limit", "5", "--batch", "16",
                  "-o", str(res)])
    r = json.load(open(res))
    assert r["n"] == 5 and [x["question_id"] for x in r["predictions"]] == ["0", "1", "2", "3", "again"]
    assert "5/5" in p.stderr and "questions/s" in p.stderr


def test_bad_batch_values_are_refused(tmp_path):
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    build_llava(model_dir, seed=6)
    data, _ = mixed_questions(tmp_path)
    for bad in ("0", "-2", "x", "3x", "1025", ""):
        p = run_iris(["eval", "-m", str(model_dir), "--data", str(data), "--batch", bad], check=False)
        assert p.returncode == 2 and "--batch" in p.stderr, bad
    h = run_iris(["eval", "--help"])
    assert "--batch N" in h.stdout


def test_generic_decoder_goes_one_at_a_time(tmp_path):
    """MPT has no batched path: --batch 8 answers as --batch 1 does."""
    from test_decoders import build
    build("mpt", tmp_path, seed=3)
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"question_id": i, "question": q, "answer": "a"}) + "\n"
                            for i, q in enumerate(["Why?", "What is the colour of the sky at noon?", "Hm"])))
    a = evaluate(tmp_path, data, 1, tmp_path, n=4)
    b = evaluate(tmp_path, data, 8, tmp_path, n=4)
    assert a == b and a["n"] == 3
    p = run_iris(["eval", "-m", str(tmp_path), "--data", str(data), "-n", "2", "--batch", "4"])
    assert "not mpt" in p.stderr and "one question at a time" in p.stderr


def test_prompt_longer_than_one_pass(tmp_path):
    """A text-only LLaMA with prompts of more rows than one batched pass takes
    (512): they continue over several passes beside short ones."""
    from llm_fixtures import build_model
    build_model("llama", tmp_path, seed=8, max_position_embeddings=2048)
    words = "the quick brown fox jumps over the lazy dog while seven wizards quietly box "
    qs = ["Why?", words * 24 + "true?", "Where is the dog?", words * 9 + "so?", "Hm"]
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"question_id": i, "question": q, "answer": "a"}) + "\n"
                            for i, q in enumerate(qs)))
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert len(tok.encode(qs[1]).ids) > 600   # more than one pass on its own
    one = evaluate(tmp_path, data, 1, tmp_path, n=5)
    assert one["n"] == 5
    for batch in (2, 5):
        assert evaluate(tmp_path, data, batch, tmp_path, n=5) == one, f"--batch {batch}"
