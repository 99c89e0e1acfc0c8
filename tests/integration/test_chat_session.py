"""Multi-turn visual chat: the image is encoded once, a new turn sends only its
own tokens through the decoder, and its logits equal a from-scratch run over the
whole transcript (transformers' LlavaForConditionalGeneration)."""
import re
import subprocess

import numpy as np
import torch

from llava_fixtures import IMAGE_SIZE, PATCH, build_llava, random_photo
from llm_fixtures import iris_bin, read_f32, rel_err

N_IMG = (IMAGE_SIZE // PATCH) ** 2


def chat(tmp_path, lines, extra=()):
    p = subprocess.run([iris_bin(), "chat", "-m", str(tmp_path), *extra], input="".join(l + "\n" for l in lines),
                       capture_output=True, text=True, timeout=300)
    return p


def n_tokens(proc, text):
    ids = proc.tokenizer(text, add_special_tokens=True)["input_ids"]
    image_id = proc.tokenizer.convert_tokens_to_ids("<image>")
    return ids, sum(N_IMG if t == image_id else 1 for t in ids)


def test_second_turn_processes_only_new_tokens_and_matches_scratch(tmp_path):
    model, proc = build_llava(tmp_path, seed=5)
    img = tmp_path / "p.png"
    im = random_photo(img, 80, 60, seed=3)
    dump = tmp_path / "turn.f32"
    p = chat(tmp_path, ["What is this?", "And the colour?"],
             ["-i", str(img), "--preprocess", "crop", "-n", "0", "--dump-logits", str(dump)])
    assert p.returncode == 0, p.stderr
    counts = [int(x) for x in re.findall(r"\[(\d+) new tokens processed", p.stderr)]
    assert len(counts) == 2, p.stderr
    # the transcripts as llava-hf's chat template renders them (answers empty: -n 0)
    t1 = "USER: <image>\nWhat is this? ASSISTANT:"
    t2 = "USER: <image>\nWhat is this? ASSISTANT:  USER: And the colour? ASSISTANT:"
    ids1, len1 = n_tokens(proc, t1)
    ids2, len2 = n_tokens(proc, t2)
    common = 0
    while common < min(len(ids1), len(ids2)) and ids1[common] == ids2[common]:
        common += 1
    assert counts[0] == len1
    assert counts[1] == len(ids2) - common     # no image rows, no history re-processed
    assert counts[1] < len2 - N_IMG          # far less than a from-scratch run
    inputs = proc(text=t2, images=im, return_tensors="pt")
    inputs.pop("token_type_ids", None)
    with torch.no_grad():
        ref = model(**inputs).logits[0, -1].numpy()
    assert rel_err(read_f32(dump), ref) <= 1e-4


def test_clear_and_bad_commands_keep_the_repl_alive(tmp_path):
    model, proc = build_llava(tmp_path, seed=6)
    img = tmp_path / "p.png"
    random_photo(img, 40, 40, seed=1)
    lines = ["/image " + str(tmp_path / "missing.png"), "/image " + str(tmp_path),
             "<image> what?", "/bogus", "/image " + str(img), "hello", "/clear",
             "/save " + str(tmp_path / "t.md"), "again"]
    p = chat(tmp_path, lines, ["-n", "2", "--temp", "0", "--preprocess", "crop"])
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "missing.png" in out
    assert "placeholder" in out        # <image> with no image attached
    assert "unknown command /bogus" in out
    assert out.count("error:") >= 3
    assert len(re.findall(r"\[(\d+) new tokens processed", p.stderr)) == 2
    assert (tmp_path / "t.md").exists()


def test_ctrl_c_stops_the_answer_not_the_program(tmp_path):
    import signal
    import time
    from llm_fixtures import build_model
    build_model("llama", tmp_path, seed=4)
    # no end token the sampler could draw: the answer runs until it is stopped
    import json
    cfg = json.load(open(tmp_path / "config.json"))
    cfg["eos_token_id"] = 10 ** 6
    json.dump(cfg, open(tmp_path / "config.json", "w"))
    p = subprocess.Popen([iris_bin(), "chat", "-m", str(tmp_path), "-n", "50000", "--ctx", "60000",
                          "--temp", "1", "--min-p", "0", "--top-k", "0"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write("tell me a long story\n")
    p.stdin.flush()
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)
    p.stdin.write("/save " + str(tmp_path / "after.md") + "\n/quit\n")
    p.stdin.flush()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "[stopped]" in out
    assert (tmp_path / "after.md").exists()
    assert "tell me a long story" in (tmp_path / "after.md").read_text()
