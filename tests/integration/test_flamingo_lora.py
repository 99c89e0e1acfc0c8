"""iris train in mode lora on an OpenFlamingo model against peft applied to
open_flamingo's own Flamingo (the random small models of
test_flamingo_model.py, MPT and LLaMA language models): starting from a
PEFT adapter written by peft (random A and B), the first step's loss and
gradient norm equal peft + torch autograd for several target sets; peft's
adapter, loaded by iris (iris export --peft ... --merge) gives peft's
logits; a memorised run's adapter loaded by peft gives iris's logits; bad
target lists are refused clearly."""
import json
import os

import pytest
import torch

from llm_fixtures import read_f32, rel_err, run_iris
from test_flamingo_model import SEED, build, images
from test_flamingo_train import QA, ids_labels, metrics, records
from test_train import write_config

R, ALPHA = 4, 8

LAYERS = {"mpt": "transformer.blocks", "llama": "model.layers"}
LM_ATTN = {"mpt": ["attn.Wqkv", "attn.out_proj"], "llama": ["self_attn.q_proj", "self_attn.k_proj",
                                                           "self_attn.v_proj", "self_attn.o_proj"]}
LM_FF = {"mpt": ["ffn.up_proj", "ffn.down_proj"], "llama": ["mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]}


def modules(model, arch, groups):
    """Full module names of the groups (of_lora_targets.h), as peft sees them."""
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    out = []
    for n in names:
        g = None
        if ".decoder_layer." in n:
            g = "self_attn" if any(n.endswith(x) for x in LM_ATTN[arch]) else \
                "ff" if any(n.endswith(x) for x in LM_FF[arch]) else None
        elif ".gated_cross_attn_layer.attn." in n:
            g = "xattn"
        elif ".gated_cross_attn_layer.ff." in n:
            g = "xattn_ff"
        elif n.startswith("perceiver."):
            g = "perceiver"
        if g in groups:
            out.append(n)
    return out


def peft_model(model, targets, seed, save=None):
    """peft on the Flamingo module with random (non-zero) A and B."""
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(seed)
    cfg = LoraConfig(r=R, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=targets, init_lora_weights=False,
                     modules_to_save=save)
    pm = get_peft_model(model, cfg)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.mul_(0.5)
    return pm


def setup(tmp_path, seed, arch="mpt", **over):
    model, tok, (eoc, media) = build(tmp_path, seed, every_n=1, n_layers=2, arch=arch, tied=arch == "llama")
    paths, vision_x = images(tmp_path, seed)
    recs = records(paths)
    data = tmp_path / "data.json"
    data.write_text(json.dumps(recs))
    kw = {"data.template": "openflamingo", "data.image_folder": str(tmp_path), "train.mode": "lora",
          "train.max_grad_norm": "0", "train.batch_size": "3", "train.lr": "1e-3", "train.max_steps": "1",
          "lora.r": str(R), "lora.alpha": str(ALPHA), "lora.dropout": "0"}
    kw.update(over)
    cfg = write_config(tmp_path / "c.ini", tmp_path / "openflamingo.json", data, **kw)
    return model, tok, media, paths, vision_x, recs, cfg


def ref_loss_grad(model, tok, media, recs, vision_x):
    model.zero_grad()
    total, counted = 0.0, 0
    for rec, vx in zip(recs, [vision_x[:, :1], vision_x[:, 1:], vision_x]):
        ids, labels = ids_labels(tok, rec, media)
        logits = model(vision_x=vx, lang_x=torch.tensor([ids])).logits[0]
        lab = torch.tensor(labels[1:])
        total = total + torch.nn.functional.cross_entropy(logits[:-1], lab, ignore_index=-100, reduction="sum")
        counted += int((lab >= 0).sum())
    loss = total / counted
    loss.backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    gnorm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in trainable if p.grad is not None)).item()
    return loss.item(), gnorm, sum(p.numel() for p in trainable)


@pytest.mark.parametrize("arch,groups,save", [
    ("mpt", ["self_attn", "xattn"], None),
    ("mpt", ["self_attn", "ff", "xattn", "xattn_ff"], None),
    ("mpt", ["perceiver", "xattn_ff"], None),
    ("mpt", ["self_attn", "ff"], ["perceiver"]),
    ("mpt", ["ff", "perceiver"], ["gated_cross_attn_layer"]),
    ("llama", ["self_attn", "ff", "xattn", "xattn_ff", "perceiver"], None),
])
def test_one_step_matches_peft(tmp_path, arch, groups, save):
    seed = (SEED + len(groups) + (7 if save else 0)) % 100000 + (50 if arch == "llama" else 0)
    model, tok, media, paths, vision_x, recs, _ = setup(tmp_path, seed, arch)
    targets = modules(model, arch, groups)
    pm = peft_model(model, targets, seed, save)
    adapter = tmp_path / "peft_adapter"
    pm.save_pretrained(str(adapter))
    cfg = write_config(tmp_path / "c2.ini", tmp_path / "openflamingo.json", tmp_path / "data.json",
                       **{"data.template": "openflamingo", "data.image_folder": str(tmp_path), "train.mode": "lora",
                          "train.max_grad_norm": "0", "train.batch_size": "3", "train.max_steps": "1",
                          "lora.dropout": "0", "lora.init": str(adapter)})
    run = tmp_path / "run"
    p = run_iris(["train", str(cfg), "--run-dir", str(run)])
    loss, gnorm, n_trainable = ref_loss_grad(pm, tok, media, recs, vision_x)
    out = p.stdout + p.stderr
    assert f"{n_trainable} trainable parameters (" in out, out
    m = metrics(run)[0]
    print(f"{arch} {groups} save={save}: loss iris {m['loss']:.6f} ref {loss:.6f}; "
          f"grad_norm iris {m['grad_norm']:.6f} ref {gnorm:.6f}")
    assert abs(m["loss"] - loss) <= 1e-4 * abs(loss), f"seed {SEED}"
    assert abs(m["grad_norm"] - gnorm) <= 1e-4 * gnorm, f"seed {SEED}"
    # each adapter's gradient: after one AdamW step (no clipping) the
    # checkpoint's exp_avg is (1 - beta1) * gradient
    from safetensors.torch import load_file
    ck = load_file(str(run / "checkpoint.safetensors"))
    ref = {n.replace(".default", ""): p_.grad for n, p_ in pm.named_parameters() if "lora_" in n}
    lm_layers = LAYERS[arch] + "."
    worst, seen = 0.0, 0
    for k, v in ck.items():
        if not k.endswith(".exp_avg") or ".lora_" not in k:
            continue
        name = k[:-len(".exp_avg")]
        if name.startswith(lm_layers):   # the decoder's own LoRA: named as in its checkpoint
            idx, rest = name[len(lm_layers):].split(".", 1)
            name = f"lang_encoder.{lm_layers}{idx}.decoder_layer.{rest}"
        g = ref["base_model.model." + name]
        err = ((v / 0.1 - g).norm() / g.norm()).item()
        worst, seen = max(worst, err), seen + 1
    print(f"  {seen} adapter gradients, worst rel err {worst:.2e}")
    assert seen == len(ref) and worst <= 1e-4, f"seed {SEED}: {worst}"


def prompt_logits(model, tok, vision_x):
    prompt = "<image>Question:" + QA[0][0] + " Short answer:"
    ids = tok.encode(prompt).ids
    with torch.no_grad():
        return prompt, model(vision_x=vision_x[:, :1], lang_x=torch.tensor([ids])).logits[0, -1].numpy()


def iris_logits(tmp_path, model_json, prompt, image):
    out = tmp_path / "logits.f32"
    run_iris(["run", "-m", str(model_json), "-p", prompt, "-i", image, "--threads", "2", "-n", "0",
              "--dump-logits", str(out)])
    return read_f32(out)


@pytest.mark.parametrize("arch", ["mpt", "llama"])
def test_peft_adapter_in_iris(tmp_path, arch):
    """peft's adapter (all five groups), merged by iris, gives peft's logits."""
    seed = SEED % 1000 + 61 + (arch == "llama")
    model, tok, media, paths, vision_x, recs, _ = setup(tmp_path, seed, arch)
    pm = peft_model(model, modules(model, arch, ["self_attn", "ff", "xattn", "xattn_ff", "perceiver"]), seed)
    adapter = tmp_path / "peft_adapter"
    pm.save_pretrained(str(adapter))
    prompt, ref = prompt_logits(pm, tok, vision_x)
    merged = tmp_path / "merged"
    run_iris(["export", "--peft", str(adapter), "--base", str(tmp_path / "openflamingo.json"), "--merge",
              "-o", str(merged)])
    got = iris_logits(tmp_path, merged / "openflamingo.json", prompt, paths[0])
    with pm.disable_adapter(), torch.no_grad():
        plain = pm(vision_x=vision_x[:, :1], lang_x=torch.tensor([tok.encode(prompt).ids])).logits[0, -1].numpy()
    assert rel_err(plain, ref) > 1e-2   # the adapter matters: the comparison can fail
    err = rel_err(got, ref)
    print(f"{arch}: peft adapter in iris, logits rel err {err:.2e}")
    assert err <= 1e-4, f"seed {SEED}: {err}"


def test_memorise_and_peft_loads_iris_adapter(tmp_path):
    seed = SEED % 1000 + 67
    model, tok, media, paths, vision_x, recs, cfg = setup(
        tmp_path, seed, **{"train.max_steps": "120", "train.lr": "3e-3", "lora.targets": "all", "lora.r": "8",
                           "lora.alpha": "16", "lora.dropout": "0.05", "run.save_steps": "60"})
    run = tmp_path / "run"
    run_iris(["train", str(cfg), "--run-dir", str(run)])
    losses = [m["loss"] for m in metrics(run)]
    print(f"lora loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    assert losses[-1] < losses[0] / 2
    adapter = run / "adapter"
    conf = json.loads((adapter / "adapter_config.json").read_text())
    assert conf["peft_type"] == "LORA" and conf["r"] == 8
    from peft import PeftModel
    pm = PeftModel.from_pretrained(model, str(adapter))
    prompt, ref = prompt_logits(pm, tok, vision_x)
    merged = tmp_path / "merged"
    run_iris(["export", str(run), "--merge", "-o", str(merged)])
    got = iris_logits(tmp_path, merged / "openflamingo.json", prompt, paths[0])
    err = rel_err(got, ref)
    print(f"iris adapter in peft: logits rel err {err:.2e}")
    assert err <= 1e-4, f"seed {SEED}: {err}"
    # iris export --adapter writes the same adapter again
    again = tmp_path / "again"
    run_iris(["export", str(run), "--adapter", "-o", str(again)])
    assert json.loads((again / "adapter_config.json").read_text())["target_modules"] == conf["target_modules"]


def test_bad_targets(tmp_path):
    *_, cfg = setup(tmp_path, 71)

    def fails(**over):
        c = write_config(tmp_path / "bad.ini", tmp_path / "openflamingo.json", tmp_path / "data.json",
                         **dict({"data.template": "openflamingo", "data.image_folder": str(tmp_path),
                                 "train.mode": "lora"}, **over))
        p = run_iris(["train", str(c), "--run-dir", str(tmp_path / f"r{abs(hash(str(over)))}")], check=False)
        assert p.returncode == 1, p.stderr
        return p.stderr
    assert "unknown LoRA target 'xatn'" in fails(**{"lora.targets": "xatn"})
    assert "matches no module of this OpenFlamingo model" in fails(
        **{"lora.targets": "lang_encoder.transformer.blocks.7.decoder_layer.attn.Wqkv"})
    assert "matches no module" in fails(**{"lora.targets": "self_attn,q_proj"})
    assert "unknown module 'gates'" in fails(**{"lora.modules_to_save": "gates"})
    assert "cannot also take a LoRA adapter" in fails(**{"lora.targets": "perceiver",
                                                         "lora.modules_to_save": "perceiver"})
    assert "lora.layers selects no module" in fails(**{"lora.targets": "xattn", "lora.layers": "5-6"})
    # adapters iris cannot use
    from safetensors.torch import save_file
    bad = tmp_path / "bad_adapter"
    bad.mkdir()
    (bad / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 4}))
    save_file({"base_model.model.lang_encoder.transformer.blocks.9.decoder_layer.attn.Wqkv.lora_A.weight":
               torch.zeros(2, 64)}, str(bad / "adapter_model.safetensors"))
    assert "adapts a module this OpenFlamingo model does not have" in fails(**{"lora.init": str(bad)})
    save_file({"base_model.model.perceiver.layers.0.0.to_q.lora_A.weight": torch.zeros(2, 7),
               "base_model.model.perceiver.layers.0.0.to_q.lora_B.weight": torch.zeros(512, 2)},
              str(bad / "adapter_model.safetensors"))
    assert "has a shape or dtype unlike the model's" in fails(**{"lora.init": str(bad)})
    (bad / "adapter_config.json").write_text("{")
    assert "malformed JSON" in fails(**{"lora.init": str(bad)})
    p = run_iris(["export", "--peft", str(bad), "--base", str(tmp_path / "openflamingo.json"), "--merge", "-o",
                  str(tmp_path / "x")], check=False)
    assert p.returncode == 1 and "malformed JSON" in p.stderr, p.stderr


def test_resume_after_sigkill(tmp_path):
    """Adapters on every group with dropout: a killed run resumes with the
    losses of an uninterrupted one (masks and checkpoint cover the blocks'
    and the perceiver's adapters)."""
    import signal
    import subprocess
    import time
    from llm_fixtures import iris_bin
    *_, cfg = setup(tmp_path, SEED % 1000 + 73, **{"train.max_steps": "8", "run.save_steps": "2",
                                                    "train.batch_size": "1", "train.grad_accum": "2",
                                                    "lora.targets": "all", "lora.dropout": "0.1",
                                                    "train.max_grad_norm": "1.0"})
    full = tmp_path / "full"
    run_iris(["train", str(cfg), "--run-dir", str(full)])
    killed = tmp_path / "killed"
    proc = subprocess.Popen([iris_bin(), "train", str(cfg), "--run-dir", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        mp = killed / "metrics.jsonl"
        if mp.exists() and len(mp.read_text().splitlines()) >= 5:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if len(metrics(killed)) >= 8:
        pytest.skip("the run finished before it could be killed")
    run_iris(["train", str(cfg), "--run-dir", str(killed), "--resume"])
    a, b = metrics(full), metrics(killed)
    assert [m["step"] for m in b] == list(range(1, 9))
    assert [m["loss"] for m in a] == [m["loss"] for m in b]
    assert [m["grad_norm"] for m in a] == [m["grad_norm"] for m in b]
