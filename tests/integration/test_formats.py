"""iris inspect --json against the reference writers: GGUF files made by the
`gguf` package (llama.cpp's Python writer) and safetensors files made by the
`safetensors` package, on fresh random data each run.  The sums iris reports
must match numpy's (Q8_0 and BF16: gguf's own dequantisation)."""
import json
import os
import subprocess

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
quants = pytest.importorskip("gguf.quants")
torch = pytest.importorskip("torch")
st_torch = pytest.importorskip("safetensors.torch")

IRIS = os.environ.get("IRIS_BIN", "bin/iris")
QT = gguf.GGMLQuantizationType


def inspect_json(path):
    r = subprocess.run([IRIS, "inspect", str(path), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def by_name(doc):
    return {t["name"]: t for t in doc["tensors"]}


def check_sums(entry, values):
    v = np.asarray(values, dtype=np.float64)
    assert entry["shape"] == list(v.shape)
    assert entry["sum"] == pytest.approx(v.sum(), rel=1e-9, abs=1e-9)
    assert entry["sumsq"] == pytest.approx((v * v).sum(), rel=1e-9, abs=1e-9)


def write_gguf(path, rng, alignment=None, big_endian=False):
    endian = gguf.GGUFEndian.BIG if big_endian else gguf.GGUFEndian.LITTLE
    w = gguf.GGUFWriter(str(path), "llama", endianess=endian)
    if alignment:
        w.add_custom_alignment(alignment)
    meta = {
        "test.u32": int(rng.integers(0, 2**32)),
        "test.i64": -int(rng.integers(1, 2**62)),
        "test.f32": float(np.float32(rng.standard_normal())),
        "test.name": "iris-%d" % rng.integers(1000),
        "test.strs": ["a", "", "unicode é", "x" * int(rng.integers(1, 200))],
        "test.ints": [int(x) for x in rng.integers(-1000, 1000, size=17)],
        "test.flag": True,
    }
    w.add_uint32("test.u32", meta["test.u32"])
    w.add_int64("test.i64", meta["test.i64"])
    w.add_float32("test.f32", meta["test.f32"])
    w.add_string("test.name", meta["test.name"])
    w.add_array("test.strs", meta["test.strs"])
    w.add_array("test.ints", meta["test.ints"])
    w.add_bool("test.flag", meta["test.flag"])

    expected = {}
    f32 = rng.standard_normal((7, 5)).astype(np.float32)
    w.add_tensor("w.f32", f32)
    expected["w.f32"] = ("F32", f32)
    f16 = rng.standard_normal((3, 2, 8)).astype(np.float16)
    w.add_tensor("w.f16", f16)
    expected["w.f16"] = ("F16", f16.astype(np.float32))
    for qt, shape in ((QT.Q8_0, (4, 96)), (QT.BF16, (6, 10))):
        src = rng.standard_normal(shape).astype(np.float32)
        q = quants.quantize(src, qt)
        w.add_tensor("w." + qt.name.lower(), q, raw_dtype=qt)
        expected["w." + qt.name.lower()] = (qt.name, quants.dequantize(q, qt))
    # a type iris cannot compute with: listed, sized, no sums
    q4k = rng.integers(0, 256, size=(2, 144), dtype=np.uint8)
    w.add_tensor("w.q4k", q4k, raw_dtype=QT.Q4_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return meta, expected


@pytest.mark.parametrize("alignment", [None, 64])
def test_gguf_matches_reference(tmp_path, alignment):
    rng = np.random.default_rng()
    path = tmp_path / "model.gguf"
    meta, expected = write_gguf(path, rng, alignment)
    doc = inspect_json(path)
    assert doc["format"] == "gguf" and doc["version"] == 3
    for k, v in meta.items():
        if isinstance(v, float):
            assert doc["metadata"][k] == pytest.approx(v, rel=1e-7)
        else:
            assert doc["metadata"][k] == v, k
    assert doc["metadata"]["general.architecture"] == "llama"
    if alignment:
        assert doc["metadata"]["general.alignment"] == alignment
    tensors = by_name(doc)
    # the reader's own view of the same file
    reader = gguf.GGUFReader(str(path))
    assert [t["name"] for t in doc["tensors"]] == [t.name for t in reader.tensors]
    for name, (dtype, values) in expected.items():
        assert tensors[name]["dtype"] == dtype
        check_sums(tensors[name], values)
    q4k = tensors["w.q4k"]
    assert q4k["dtype"] == "Q4_K" and q4k["shape"] == [2, 256] and q4k["bytes"] == 288
    assert q4k["sum"] is None


def test_gguf_version_2(tmp_path):
    """v2 and v3 share the little-endian layout; rewrite the version field."""
    rng = np.random.default_rng()
    path = tmp_path / "v2.gguf"
    _, expected = write_gguf(path, rng)
    data = bytearray(path.read_bytes())
    data[4:8] = (2).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    doc = inspect_json(path)
    assert doc["version"] == 2
    check_sums(by_name(doc)["w.f32"], expected["w.f32"][1])


def test_gguf_big_endian_refused(tmp_path):
    path = tmp_path / "be.gguf"
    write_gguf(path, np.random.default_rng(), big_endian=True)
    r = subprocess.run([IRIS, "inspect", str(path)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "big-endian" in r.stderr and str(path) in r.stderr


def torch_tensors(rng):
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return {
        "a.weight": torch.randn(5, 3, generator=g),
        "a.bias": torch.randn(5, generator=g).to(torch.float16),
        "b.weight": torch.randn(4, 2, 3, generator=g).to(torch.bfloat16),
        "ids": torch.randint(-100, 100, (9,), generator=g, dtype=torch.int32),
        "position_ids": torch.arange(11, dtype=torch.int64),
        "scalar": torch.tensor(2.5),
    }


def check_torch(entry, t):
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int32: "I32", torch.int64: "I64"}
    assert entry["dtype"] == names[t.dtype]
    assert entry["shape"] == list(t.shape)
    assert entry["bytes"] == t.numel() * t.element_size()
    if t.dtype == torch.int64:
        assert entry["sum"] is None
    else:
        check_sums(entry, t.to(torch.float64).numpy())


def test_safetensors_file_and_dir(tmp_path):
    rng = np.random.default_rng()
    ts = torch_tensors(rng)
    st_torch.save_file(ts, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    for path in (tmp_path / "model.safetensors", tmp_path):
        doc = inspect_json(path)
        assert doc["format"] == "safetensors"
        assert doc["metadata"] == {"format": "pt"}
        tensors = by_name(doc)
        assert set(tensors) == set(ts)
        for name, t in ts.items():
            check_torch(tensors[name], t)


def test_sharded_checkpoint(tmp_path):
    rng = np.random.default_rng()
    ts = torch_tensors(rng)
    names = sorted(ts)
    shards = [names[::2], names[1::2]]
    weight_map = {}
    for i, part in enumerate(shards):
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
        st_torch.save_file({n: ts[n] for n in part}, str(tmp_path / fname))
        weight_map.update({n: fname for n in part})
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    doc = inspect_json(tmp_path)
    tensors = by_name(doc)
    assert set(tensors) == set(ts)
    for name, t in ts.items():
        check_torch(tensors[name], t)
    # a shard the index names must exist
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    r = subprocess.run([IRIS, "inspect", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("iris inspect: ")
    assert "model-00002-of-00002.safetensors" in r.stderr and "missing" in r.stderr


def test_text_listing(tmp_path):
    rng = np.random.default_rng()
    path = tmp_path / "m.gguf"
    write_gguf(path, rng)
    r = subprocess.run([IRIS, "inspect", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "test.strs = [string x 4]" in r.stdout
    assert "w.q8_0" in r.stdout and "Q8_0" in r.stdout and "[4, 96]" in r.stdout


def bad_files(tmp_path, rng):
    """Files the reference writers produced, then damaged."""
    good = tmp_path / "good.safetensors"
    st_torch.save_file(torch_tensors(rng), str(good))
    gg = tmp_path / "good.gguf"
    write_gguf(gg, rng)
    sb, gb = good.read_bytes(), gg.read_bytes()
    hlen = int.from_bytes(sb[:8], "little")
    cases = {
        "trunc.safetensors": sb[: len(sb) - 3],
        "header-cut.safetensors": sb[: 8 + hlen // 2],
        "lying-length.safetensors": (2**40).to_bytes(8, "little") + sb[8:],
        "bad-json.safetensors": sb[:8] + b"{" * hlen + sb[8 + hlen:],
        "unknown-dtype.safetensors": sb.replace(b'"F32"', b'"Q99"', 1),
        "empty.safetensors": b"",
        "trunc.gguf": gb[: len(gb) - 1],
        "magic.gguf": b"GGUX" + gb[4:],
        "counts.gguf": gb[:8] + (2**62).to_bytes(8, "little") + gb[16:],
        "header-only.gguf": gb[:40],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    return list(cases)


def test_bad_input_one_line_exit_1(tmp_path):
    rng = np.random.default_rng()
    for name in bad_files(tmp_path, rng):
        path = tmp_path / name
        for args in ([], ["--json"]):
            r = subprocess.run([IRIS, "inspect", str(path)] + args, capture_output=True,
                               text=True)
            assert r.returncode == 1, (name, r.stdout[:200])
            assert r.stdout == "", name
            assert r.stderr.startswith("iris inspect: " + str(path)), (name, r.stderr)
            assert r.stderr.count("\n") == 1, (name, r.stderr)


def test_usage_errors():
    for args in ([], ["a", "b"], ["--bogus", "x"]):
        r = subprocess.run([IRIS, "inspect"] + args, capture_output=True, text=True)
        assert r.returncode == 2, args
        assert "usage: iris inspect" in r.stderr
    r = subprocess.run([IRIS, "inspect", "/nonexistent/model"], capture_output=True, text=True)
    assert r.returncode == 1 and "/nonexistent/model" in r.stderr
