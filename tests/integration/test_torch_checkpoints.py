"""torch.save checkpoints read by iris's own zip reader and data-only pickle
VM, against torch 1.13 writing them: every storage dtype, shared storages,
strided views, nested training checkpoints, transformers' pytorch_model.bin
(single and sharded) giving the same logits as the safetensors copy and as
transformers itself, and hostile pickles that must be refused with a message
while nothing they ask for is executed."""
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from llm_fixtures import (build_config, build_model, hf_last_logits,  # noqa: E402
                          make_bytelevel_tokenizer, read_f32, rel_err, run_iris)

IRIS = os.environ.get("IRIS_BIN", "bin/iris")


def inspect(path, check=True):
    r = subprocess.run([IRIS, "inspect", str(path), "--json"], capture_output=True, text=True,
                       errors="replace", timeout=120)
    assert r.returncode >= 0, f"iris crashed with signal {-r.returncode}: {r.stderr}"
    if check:
        assert r.returncode == 0, r.stderr
        return {t["name"]: t for t in json.loads(r.stdout)["tensors"]}, json.loads(r.stdout)
    return r


def check_tensor(entry, t, dtype_name):
    assert entry["dtype"] == dtype_name
    assert entry["shape"] == list(t.shape)
    assert entry["bytes"] == t.numel() * t.element_size()
    if entry.get("sum") is not None:  # sums exist for the dtypes iris computes with
        v = t.double().numpy()
        assert entry["sum"] == pytest.approx(v.sum(), rel=1e-9, abs=1e-9)
        assert entry["sumsq"] == pytest.approx((v * v).sum(), rel=1e-9, abs=1e-9)


DTYPES = [(torch.float32, "F32"), (torch.float16, "F16"), (torch.bfloat16, "BF16"),
          (torch.int32, "I32"), (torch.int64, "I64"), (torch.float64, "F64")]


def rand(shape, dtype, g):
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-1000, 1000, shape, generator=g).to(dtype)


def test_every_dtype_and_names(tmp_path):
    g = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
    sd = OrderedDict()
    for i, (dt, _) in enumerate(DTYPES):
        sd[f"layer.{i}.weight"] = rand((3 + i, 5), dt, g)
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 4)
    path = tmp_path / "all.pt"
    torch.save(sd, str(path))
    got, doc = inspect(path)
    assert doc["format"] == "torch"
    assert list(got) == list(sd)
    for i, (dt, name) in enumerate(DTYPES):
        check_tensor(got[f"layer.{i}.weight"], sd[f"layer.{i}.weight"], name)
    check_tensor(got["scalar"], sd["scalar"], "F32")
    assert got["empty"]["shape"] == [0, 4]


def test_shared_storage_and_strided_views(tmp_path):
    g = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
    base = torch.randn(6, 8, generator=g)
    h = torch.randn(4, 10, generator=g).half()
    views = OrderedDict([
        ("base", base), ("row_slice", base[2:5]), ("transpose", base.t()),
        ("step", base[:, 1::3]), ("col", base[:, 3]), ("flat_tail", base.view(-1)[7:20]),
        ("expand", torch.randn(1, 5, generator=g).expand(3, 5)),
        ("h_t", h.t()), ("h_slice", h[1:, ::2]), ("permute", torch.randn(2, 3, 4, generator=g).permute(2, 0, 1)),
    ])
    path = tmp_path / "views.bin"
    torch.save(views, str(path))
    with zipfile.ZipFile(path) as z:  # the views really share storages
        assert len([n for n in z.namelist() if "/data/" in n]) < len(views)
    got, _ = inspect(path)
    for name, t in views.items():
        check_tensor(got[name], t, "F16" if t.dtype == torch.float16 else "F32")


def test_training_checkpoint_picks_the_state_dict(tmp_path):
    g = torch.Generator().manual_seed(1)
    model_sd = {"enc": {"w": torch.randn(3, 3, generator=g), "b": torch.randn(3, generator=g)},
                "heads": [torch.randn(2, generator=g), torch.randn(4, generator=g)]}
    opt = {"state": {0: {"exp_avg": torch.randn(3, 3, generator=g), "step": 5}},
           "param_groups": [{"lr": 0.1, "params": [0]}]}
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 3, "model_state_dict": model_sd, "optimizer_state_dict": opt,
                "note": "x", "flag": True, "lr": 1e-4, "raw": b"\x00\x01"}, str(path))
    got, _ = inspect(path)
    assert sorted(got) == ["enc.b", "enc.w", "heads.0", "heads.1"]
    check_tensor(got["enc.w"], model_sd["enc"]["w"], "F32")
    check_tensor(got["heads.1"], model_sd["heads"][1], "F32")
    # without a state-dict key everything is flattened with dotted names
    path2 = tmp_path / "flat.pt"
    torch.save({"a": model_sd, "opt": opt}, str(path2))
    got2, _ = inspect(path2)
    assert sorted(got2) == ["a.enc.b", "a.enc.w", "a.heads.0", "a.heads.1",
                            "opt.state.0.exp_avg"]


def test_parameters_and_module_state_dict(tmp_path):
    torch.manual_seed(int.from_bytes(os.urandom(2), "little"))
    m = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.LayerNorm(7), torch.nn.Linear(7, 2))
    path = tmp_path / "mm_projector.bin"
    torch.save(m.state_dict(), str(path))
    got, _ = inspect(path)
    assert list(got) == list(m.state_dict())
    for k, v in m.state_dict().items():
        check_tensor(got[k], v, "F32")
    # nn.Parameter objects pickle through _rebuild_parameter
    path2 = tmp_path / "params.pt"
    torch.save({k: v for k, v in m.named_parameters()}, str(path2))
    got2, _ = inspect(path2)
    for k, v in m.named_parameters():
        check_tensor(got2[k], v.detach(), "F32")


def iris_logits(model_dir, tmp_path, tag):
    out = tmp_path / f"logits-{tag}.f32"
    run_iris(["run", "-m", str(model_dir), "-p", "What color is the triangle?", "-n", "0",
              "--dump-logits", str(out), "--threads", "2"])
    return read_f32(out)


@pytest.mark.parametrize("shard", [None, "40KB"])
def test_pytorch_model_bin_gives_safetensors_logits(tmp_path, shard):
    st_dir = tmp_path / "st"
    st_dir.mkdir()
    model, tok = build_model("llama", st_dir, seed=int.from_bytes(os.urandom(2), "little"))
    pt_dir = tmp_path / "pt"
    kw = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(str(pt_dir), safe_serialization=False, **kw)
    shutil.copy(st_dir / "tokenizer.json", pt_dir / "tokenizer.json")
    names = sorted(os.listdir(pt_dir))
    assert not any(n.endswith(".safetensors") for n in names)
    if shard:
        assert "pytorch_model.bin.index.json" in names
        assert len([n for n in names if n.startswith("pytorch_model-")]) > 1
    else:
        assert "pytorch_model.bin" in names
    want = iris_logits(st_dir, tmp_path, "st")
    got = iris_logits(pt_dir, tmp_path, "pt")
    assert np.array_equal(got, want)
    ref = hf_last_logits(model, tok.encode("What color is the triangle?").ids)
    assert rel_err(got, ref) <= 1e-4
    _, doc = inspect(pt_dir)
    assert doc["format"] == "torch"


def test_legacy_format_is_refused(tmp_path):
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.randn(2, 2)}, str(path), _use_new_zipfile_serialization=False)
    r = inspect(path, check=False)
    assert r.returncode == 1
    assert "legacy torch.save format" in r.stderr


def test_compressed_and_damaged_archives_are_refused(tmp_path):
    path = tmp_path / "ok.pt"
    torch.save({"w": torch.randn(16, 16)}, str(path))
    deflated = tmp_path / "deflated.pt"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as zo:
        for n in zin.namelist():
            zo.writestr(n, zin.read(n))
    r = inspect(deflated, check=False)
    assert r.returncode == 1 and "compressed" in r.stderr
    data = path.read_bytes()
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    for cut in sorted(set(int(x) for x in rng.integers(1, len(data), 40))):
        bad = tmp_path / "cut.pt"
        bad.write_bytes(data[:cut])
        r = inspect(bad, check=False)
        assert r.returncode == 1 and r.stderr.startswith("iris inspect: "), (cut, r.stderr)
    for _ in range(60):  # random byte flips: refused or read, never a crash
        b = bytearray(data)
        for pos in rng.integers(0, len(b), 4):
            b[pos] = int(rng.integers(0, 256))
        bad = tmp_path / "flip.pt"
        bad.write_bytes(bytes(b))
        r = inspect(bad, check=False)
        assert r.returncode in (0, 1), r.stderr


# ---- hostile pickles ---------------------------------------------------------

def checkpoint_with_pickle(path, pkl):
    """A torch.save archive whose data.pkl is replaced by PKL."""
    buf = io.BytesIO()
    torch.save({"w": torch.ones(4)}, buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zo:
        for n in zin.namelist():
            zo.writestr(n, pkl if n.endswith("/data.pkl") else zin.read(n))


def binunicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


class Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class EvilNewobj:
    def __reduce__(self):
        return (EvilNewobj, ())


def hostile_pickles(canary):
    cmd = f"touch {canary}"
    return {
        "os.system": b"\x80\x02cos\nsystem\nq\x00" + binunicode(cmd) + b"\x85R.",
        "builtins.eval": b"\x80\x02cbuiltins\neval\n" + binunicode(f"open('{canary}','w')") + b"\x85R.",
        "posix.system": pickle.dumps({"w": Evil(cmd)}, protocol=2),
        "system (protocol 4, STACK_GLOBAL)": pickle.dumps({"w": Evil(cmd)}, protocol=4),
        "INST": b"\x80\x02(" + binunicode(cmd) + b"ios\nsystem\n.",
        "OBJ": b"\x80\x02(]o.",
        "NEWOBJ": b"\x80\x02]\x81.",
        "torch.storage._load_from_bytes":
            b"\x80\x02ctorch.storage\n_load_from_bytes\nC\x00\x85R.",
        "copyreg": pickle.dumps(EvilNewobj(), protocol=2),
    }


@pytest.mark.parametrize("case", list(hostile_pickles("x")))
def test_hostile_pickles_are_refused(tmp_path, case):
    canary = tmp_path / "pwned"
    pkl = hostile_pickles(canary)[case]
    path = tmp_path / "evil.bin"
    checkpoint_with_pickle(path, pkl)
    r = inspect(path, check=False)
    assert r.returncode == 1, r.stdout
    assert "refusing to load" in r.stderr and str(path) in r.stderr, r.stderr
    if "." in case and " " not in case:
        assert f"calls {case}" in r.stderr
    assert not canary.exists()
    # the same pickle in a directory's pytorch_model.bin: refused by iris run as well
    d = tmp_path / "model"
    d.mkdir()
    build_config("llama", 320).save_pretrained(str(d))
    make_bytelevel_tokenizer(d / "tokenizer.json")
    shutil.copy(path, d / "pytorch_model.bin")
    r = run_iris(["run", "-m", str(d), "-p", "hi", "-n", "1"], check=False)
    assert r.returncode == 1 and "refusing to load" in r.stderr, r.stderr
    assert not canary.exists()
