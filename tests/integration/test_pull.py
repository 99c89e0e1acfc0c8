"""`iris pull`, `iris ls`, `iris rm` against a local Hub stand-in (hub_server.py).

Every test draws fresh random file contents; correctness is judged by the bytes
on disk, by what the server saw, and by huggingface_hub itself reading the
cache iris wrote (hf_hub_download(local_files_only=True), scan_cache_dir()).
"""
import hashlib
import json
import os
import pty
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_server import Hub  # noqa: E402

IRIS = os.path.abspath(os.environ.get("IRIS_BIN", "bin/iris"))
VENV_PY = os.path.join(os.environ.get("IRIS_VENV", ".venv"), "bin", "python")
CHUNK = 64 * 1024


@pytest.fixture
def hub():
    h = Hub(lifetime=300).start()
    yield h
    h.stop()


@pytest.fixture
def env(hub, tmp_path):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("HF_", "HUGGING", "IRIS_HUB", "IRIS_MODELS"))}
    e.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "hf"), IRIS_HUB_BACKOFF="0.05",
             IRIS_HUB_STALL_TIMEOUT="5", HF_HUB_DISABLE_TELEMETRY="1", IRIS_PROGRESS_INTERVAL="0.2")
    return e


def iris(env, *args, timeout=120):
    return subprocess.run([IRIS, *args], env=env, capture_output=True, text=True, timeout=timeout)


def model_files(rng, big=3_000_000):
    cfg = {"architectures": [rng.choice(["LlavaForConditionalGeneration", "LlamaForCausalLM",
                                         "GemmaForCausalLM"])],
           "hidden_size": rng.randrange(64, 4096), "seed": rng.random()}
    return {
        "config.json": json.dumps(cfg).encode(),
        "tokenizer.json": json.dumps({"v": [rng.random() for _ in range(50)]}).encode(),
        "model.safetensors": rng.randbytes(big),
        "sub/dir/extra.txt": rng.randbytes(rng.randrange(1, 4000)),
    }


def repo_dir(env, repo):
    return Path(env["HF_HOME"]) / "hub" / ("models--" + repo.replace("/", "--"))


def check_snapshot(env, repo, commit, files):
    rd = repo_dir(env, repo)
    for name, data in files.items():
        p = rd / "snapshots" / commit / name
        assert p.is_symlink(), name
        target = os.readlink(p)
        assert not os.path.isabs(target) and "/blobs/" in target, target
        assert p.read_bytes() == data, name
    assert not list((rd / "blobs").glob("*.incomplete*")) and not list((rd / "blobs").glob("*.iris-partial*"))


def hf_python(env, code):
    if not os.path.exists(VENV_PY):
        pytest.skip("no reference environment (%s): huggingface_hub checks skipped" % VENV_PY)
    r = subprocess.run([VENV_PY, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def hf_check(env, repo, files, revision="main"):
    """huggingface_hub finds every file iris pulled, offline, and reports nothing corrupt."""
    code = """
import json, sys, huggingface_hub as h
repo, rev, names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out = {n: open(h.hf_hub_download(repo, n, revision=rev, local_files_only=True), "rb").read().hex() for n in names}
info = h.scan_cache_dir()
r = [x for x in info.repos if x.repo_id == repo][0]
print(json.dumps({"files": out, "warnings": [str(w) for w in info.warnings], "size": r.size_on_disk,
                  "refs": sorted(ref for rv in r.revisions for ref in rv.refs)}))
"""
    if not os.path.exists(VENV_PY):
        pytest.skip("no reference environment (%s): huggingface_hub checks skipped" % VENV_PY)
    r = subprocess.run([VENV_PY, "-c", code, repo, revision, json.dumps(sorted(files))], env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["warnings"] == []
    for n, data in files.items():
        assert bytes.fromhex(res["files"][n]) == data, n
    assert res["size"] == sum(len(d) for d in set(files.values()))   # one blob per distinct content
    return res


def test_pull_layout_and_huggingface_hub_reads_it(hub, env):
    rng = random.Random()
    files = model_files(rng)
    commit = hub.add_commit("org/model", files)
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    check_snapshot(env, "org/model", commit, files)
    assert (repo_dir(env, "org/model") / "refs" / "main").read_text() == commit
    assert "pulled org/model@main" in r.stdout
    assert "total (" in r.stdout   # plain progress lines when stdout is not a terminal
    res = hf_check(env, "org/model", files)
    assert res["refs"] == ["main"]
    # The LFS file came from the CDN.
    assert any(q["server"] == "cdn" for q in hub.data_requests("model.safetensors"))


def test_same_content_twice_is_fetched_once(hub, env):
    rng = random.Random()
    same = rng.randbytes(300_000)
    files = {"a/model.safetensors": same, "b/model.safetensors": same, "x/__init__.py": b"",
             "y/__init__.py": b"", "config.json": b"{}"}
    commit = hub.add_commit("org/model", files)
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    check_snapshot(env, "org/model", commit, files)
    assert len(hub.data_requests("a/model.safetensors") + hub.data_requests("b/model.safetensors")) == 1
    hf_check(env, "org/model", files)


def test_second_pull_transfers_nothing(hub, env):
    files = model_files(random.Random())
    hub.add_commit("org/model", files)
    assert iris(env, "pull", "org/model").returncode == 0
    hub.reset_stats()
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    assert hub.data_requests() == [] and hub.bytes_sent == {}
    assert "0 B downloaded" in r.stdout


def test_model_in_huggingface_hub_cache_is_used(hub, env):
    files = model_files(random.Random())
    commit = hub.add_commit("org/pymodel", files)
    hf_python(env, "import huggingface_hub as h; h.snapshot_download('org/pymodel')")
    hub.reset_stats()
    r = iris(env, "pull", "org/pymodel")
    assert r.returncode == 0, r.stderr
    assert hub.data_requests() == [] and hub.bytes_sent == {}
    check_snapshot(env, "org/pymodel", commit, files)
    ls = iris(env, "ls")
    assert "org/pymodel" in ls.stdout and json.loads(files["config.json"])["architectures"][0] in ls.stdout


@pytest.mark.parametrize("split", [False, True])
def test_dropped_connection_resumes(hub, env, split):
    rng = random.Random()
    size = 8_000_000
    files = {"model.safetensors": rng.randbytes(size), "config.json": b"{}"}
    commit = hub.add_commit("org/model", files)
    hub.drop_at["model.safetensors"] = rng.randrange(size // 10, size - size // 10)
    if split:
        env["IRIS_HUB_SPLIT_MIN"] = "1000000"
        env["IRIS_HUB_SPLIT_PROBE"] = "0"   # in pieces from the start
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    assert "retrying" in r.stderr
    check_snapshot(env, "org/model", commit, files)
    assert hub.drop_at == {}   # the fault did fire
    assert hub.sent("model.safetensors") <= size + size // 100 + CHUNK
    if split:
        assert len(hub.data_requests("model.safetensors")) >= 4


@pytest.mark.parametrize("split", [False, True])
def test_transfer_waits_for_a_small_hash_buffer(hub, env, split):
    """With a 64 KiB hash buffer the in-order transfer keeps waiting for the
    hash to catch up; a dropped connection and a corrupted byte meanwhile are
    still handled."""
    rng = random.Random()
    size = 12_000_000
    files = {"model.safetensors": rng.randbytes(size), "bad.bin": rng.randbytes(3_000_000),
             "config.json": b"{}"}
    commit = hub.add_commit("org/model", files)
    hub.drop_at["model.safetensors"] = rng.randrange(size // 10, size - size // 10)
    hub.corrupt_at["bad.bin"] = rng.randrange(3_000_000)
    env["IRIS_HUB_HASH_BUFFER"] = "65536"
    if split:
        env["IRIS_HUB_SPLIT_MIN"] = "1000000"
        env["IRIS_HUB_SPLIT_PROBE"] = "0"   # in pieces from the start
    r = iris(env, "pull", "org/model")
    assert r.returncode == 1
    assert "iris pull: bad.bin: checksum mismatch" in r.stderr
    assert "retrying" in r.stderr
    assert hub.drop_at == {}
    hub.corrupt_at.clear()
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    check_snapshot(env, "org/model", commit, files)
    hf_check(env, "org/model", files)


def test_slow_connection_is_split_after_the_probe(hub, env):
    """A large file starts on one plain GET; when that connection stays slower
    than the hash for IRIS_HUB_SPLIT_PROBE seconds, the rest is fetched in
    pieces over several connections and the first one stops where its piece ends."""
    rng = random.Random()
    size = 16_000_000
    files = {"model.safetensors": rng.randbytes(size), "config.json": b"{}"}
    commit = hub.add_commit("org/model", files)
    hub.throttle = 8_000_000   # bytes/s per connection
    env.update(IRIS_HUB_SPLIT_MIN="4000000", IRIS_HUB_SPLIT_PROBE="0.3")
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    check_snapshot(env, "org/model", commit, files)
    hf_check(env, "org/model", files)
    reqs = hub.data_requests("model.safetensors")
    assert reqs[0]["range"] is None and len(reqs) >= 4
    assert all(q["range"] for q in reqs[1:])
    # The first connection was cut short: hardly more than the file was sent.
    assert hub.sent("model.safetensors") <= size + size // 20


def test_fast_connection_is_not_split(hub, env):
    """A connection that brings the bytes faster than they can be hashed is
    never split (IRIS_HUB_HASH_BUFFER makes the hash fall behind at once)."""
    rng = random.Random()
    size = 40_000_000
    files = {"model.safetensors": rng.randbytes(size)}
    commit = hub.add_commit("org/model", files)
    env.update(IRIS_HUB_SPLIT_MIN="4000000", IRIS_HUB_SPLIT_PROBE="0.05", IRIS_HUB_HASH_BUFFER="65536")
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    check_snapshot(env, "org/model", commit, files)
    assert len(hub.data_requests("model.safetensors")) == 1


def test_corrupted_byte_is_detected_and_not_published(hub, env):
    rng = random.Random()
    files = {"model.safetensors": rng.randbytes(2_000_000), "config.json": rng.randbytes(100)}
    commit = hub.add_commit("org/model", files)
    for name in files:
        hub.corrupt_at[name] = rng.randrange(len(files[name]))
    r = iris(env, "pull", "org/model")
    assert r.returncode == 1
    assert "iris pull: config.json: checksum mismatch" in r.stderr
    assert "iris pull: model.safetensors: checksum mismatch" in r.stderr
    assert "2 of 2 files failed" in r.stderr
    rd = repo_dir(env, "org/model")
    assert not (rd / "snapshots" / commit / "model.safetensors").exists()
    assert not (rd / "snapshots" / commit / "config.json").exists()
    assert [p.name for p in (rd / "blobs").iterdir()] == []
    assert not (rd / "refs" / "main").exists()
    hub.corrupt_at.clear()
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    check_snapshot(env, "org/model", commit, files)


def test_429_retry_after_is_honoured(hub, env):
    files = {"model.safetensors": random.randbytes(200_000)}
    commit = hub.add_commit("org/model", files)
    hub.status_queue["model.safetensors"] = [(429, {"Retry-After": "1"}), (503, {"Retry-After": "1"})]
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    check_snapshot(env, "org/model", commit, files)
    times = [q["time"] for q in hub.requests if q.get("file") == "model.safetensors" and q["server"] == "hub"]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.9 and times[2] - times[1] >= 0.9


def test_gated_repo_and_token_handling(hub, env, tmp_path):
    files = model_files(random.Random(), big=300_000)
    commit = hub.add_commit("org/gated", files, gated=True)
    r = iris(env, "pull", "org/gated")
    assert r.returncode == 1
    assert "HF_TOKEN" in r.stderr and "401" in r.stderr
    bad = dict(env, HF_TOKEN="hf_wrong_token_123")
    r = iris(bad, "pull", "org/gated")
    assert r.returncode == 1 and "no access" in r.stderr and "hf_wrong_token_123" not in r.stderr + r.stdout
    good = dict(env, HF_TOKEN=hub.token)
    r = iris(good, "pull", "org/gated")
    assert r.returncode == 0, r.stderr
    check_snapshot(env, "org/gated", commit, files)
    assert hub.token not in r.stdout + r.stderr
    for p in Path(env["HF_HOME"]).rglob("*"):
        if p.is_file():
            assert hub.token.encode() not in p.read_bytes(), p
    # The token went to the Hub, never to the CDN the download was redirected to.
    assert any(q["auth"] == "Bearer " + hub.token for q in hub.requests if q["server"] == "hub")
    assert all(q["auth"] is None for q in hub.requests if q["server"] == "cdn")
    assert any(q["server"] == "cdn" for q in hub.requests)
    # A token saved in $HF_HOME/token works the same.
    iris(env, "rm", "org/gated")
    Path(env["HF_HOME"], "token").write_text(hub.token + "\n")
    r = iris(env, "pull", "org/gated")
    assert r.returncode == 0, r.stderr
    assert hub.token not in r.stdout + r.stderr


def test_not_found(hub, env):
    hub.add_commit("org/model", {"config.json": b"{}", "missing.bin": random.randbytes(50_000)})
    r = iris(env, "pull", "org/nothere")
    assert r.returncode == 1 and "repository not found" in r.stderr
    r = iris(env, "pull", "org/model@v9")
    assert r.returncode == 1 and "revision 'v9' not found" in r.stderr
    hub.status_queue["missing.bin"] = [(404, {})]
    r = iris(env, "pull", "org/model")
    assert r.returncode == 1 and "missing.bin: not found" in r.stderr
    r = iris(env, "pull", "not a repo")
    assert r.returncode == 2


def test_etag_changed_between_runs(hub, env):
    rng = random.Random()
    size = 4_000_000
    old = {"model.safetensors": rng.randbytes(size)}
    hub.add_commit("org/model", old)
    hub.drop_at["model.safetensors"] = size // 2
    r = iris(dict(env, IRIS_HUB_RETRIES="0"), "pull", "org/model")
    assert r.returncode == 1 and "kept for resuming" in r.stderr
    blobs = repo_dir(env, "org/model") / "blobs"
    old_sha = hashlib.sha256(old["model.safetensors"]).hexdigest()
    assert (blobs / (old_sha + ".incomplete")).stat().st_size == size // 2
    # The file changes on the server: a new etag, so the old partial cannot be used.
    new = {"model.safetensors": rng.randbytes(size)}
    commit = hub.add_commit("org/model", new)
    hub.reset_stats()
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    snap = repo_dir(env, "org/model") / "snapshots" / commit / "model.safetensors"
    assert snap.read_bytes() == new["model.safetensors"]
    assert hub.sent("model.safetensors") == size


@pytest.mark.parametrize("split", [False, True])
def test_partial_left_by_huggingface_hub_is_resumed(hub, env, split):
    rng = random.Random()
    size = 6_000_000
    files = {"model.safetensors": rng.randbytes(size)}
    commit = hub.add_commit("org/model", files)
    # huggingface_hub leaves a contiguous prefix under blobs/<etag>.incomplete.
    have = rng.randrange(size // 4, size // 2)
    blobs = repo_dir(env, "org/model") / "blobs"
    blobs.mkdir(parents=True)
    sha = hashlib.sha256(files["model.safetensors"]).hexdigest()
    (blobs / (sha + ".incomplete")).write_bytes(files["model.safetensors"][:have])
    if split:
        env["IRIS_HUB_SPLIT_MIN"] = "1000000"
        env["IRIS_HUB_SPLIT_PROBE"] = "0"   # in pieces from the start
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    assert "resuming at %d" % have in r.stderr
    check_snapshot(env, "org/model", commit, files)
    assert hub.sent("model.safetensors") == size - have


@pytest.mark.parametrize("split", [False, True])
def test_server_ignoring_range_restarts_from_zero(hub, env, split):
    rng = random.Random()
    size = 3_000_000
    files = {"model.safetensors": rng.randbytes(size)}
    commit = hub.add_commit("org/model", files)
    hub.drop_at["model.safetensors"] = size // 3
    if split:
        env["IRIS_HUB_SPLIT_MIN"] = "1000000"
        env["IRIS_HUB_SPLIT_PROBE"] = "0"   # in pieces from the start
    assert iris(dict(env, IRIS_HUB_RETRIES="0"), "pull", "org/model").returncode == 1
    hub.ignore_range.add("model.safetensors")
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    assert "from the start" in r.stderr
    check_snapshot(env, "org/model", commit, files)


@pytest.mark.parametrize("split", [False, True])
def test_sigkill_then_rerun_resumes(hub, env, split):
    rng = random.Random()
    size = 24_000_000
    files = {"model.safetensors": rng.randbytes(size), "config.json": b"{}"}
    commit = hub.add_commit("org/model", files)
    hub.throttle = 1_500_000 if split else 6_000_000   # per connection; split uses 4
    if split:
        env["IRIS_HUB_SPLIT_MIN"] = "4000000"
    p = subprocess.Popen([IRIS, "pull", "org/model"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while hub.sent("model.safetensors") < size // 3 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    time.sleep(0.6)   # let iris note its progress
    p.send_signal(signal.SIGKILL)
    p.wait()
    first = hub.sent("model.safetensors")
    assert first < size
    blobs = repo_dir(env, "org/model") / "blobs"
    if split:
        # Pieces with holes never go under huggingface_hub's .incomplete name.
        assert list(blobs.glob("*.iris-partial")) and list(blobs.glob("*.iris-partial.ranges"))
        assert not list(blobs.glob("*.incomplete"))
    else:
        assert list(blobs.glob("*.incomplete"))
    hub.throttle = 0
    hub.reset_stats()
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr
    check_snapshot(env, "org/model", commit, files)
    # Most of what the first run fetched was kept.
    assert hub.sent("model.safetensors") <= size - first + size // 10


def test_interrupt_keeps_partial_and_lock_is_respected(hub, env):
    size = 8_000_000
    files = {"model.safetensors": random.randbytes(size)}
    commit = hub.add_commit("org/model", files)
    hub.throttle = 2_000_000
    p = subprocess.Popen([IRIS, "pull", "org/model"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    while hub.sent("model.safetensors") < size // 4 and p.poll() is None:
        time.sleep(0.05)
    # While it runs, huggingface_hub's lock on the blob is held: a second pull refuses.
    second = iris(env, "pull", "org/model")
    assert second.returncode == 1 and "another process" in second.stderr
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=30)[1]
    assert p.returncode == 1 and "interrupted" in err
    sha = hashlib.sha256(files["model.safetensors"]).hexdigest()
    part = repo_dir(env, "org/model") / "blobs" / (sha + ".incomplete")
    assert 0 < part.stat().st_size < size
    assert (Path(env["HF_HOME"]) / "hub" / ".locks" / "models--org--model" / (sha + ".lock")).exists()
    hub.throttle = 0
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    check_snapshot(env, "org/model", commit, files)


def test_stalled_transfer_is_restarted(hub, env):
    files = {"model.safetensors": random.randbytes(1_000_000)}
    commit = hub.add_commit("org/model", files)
    hub.stall_at["model.safetensors"] = 300_000
    hub.stall_seconds = 15
    env["IRIS_HUB_STALL_TIMEOUT"] = "1"
    t0 = time.monotonic()
    r = iris(env, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 12   # well before the server's 15 s silence ends
    assert "retrying" in r.stderr
    check_snapshot(env, "org/model", commit, files)


def test_file_name_leaving_the_cache_is_refused(hub, env, tmp_path):
    hub.add_commit("org/evil", {"config.json": b"{}"}, extra_siblings=[
        {"rfilename": "../../../../evil.txt", "size": 3, "blobId": hashlib.sha1(b"x").hexdigest()}])
    r = iris(env, "pull", "org/evil")
    assert r.returncode == 1 and "refusing" in r.stderr
    assert not [p for p in tmp_path.rglob("evil*")]


def test_offline(hub, env):
    files = model_files(random.Random(), big=100_000)
    hub.add_commit("org/model", files)
    off = dict(env, HF_HUB_OFFLINE="1")
    r = iris(off, "pull", "org/model")
    assert r.returncode == 1 and "not in the cache" in r.stderr and "HF_HUB_OFFLINE" in r.stderr
    assert hub.requests == []
    assert iris(env, "pull", "org/model").returncode == 0
    hub.reset_stats()
    r = iris(off, "pull", "org/model")
    assert r.returncode == 0, r.stderr
    assert hub.requests == []


def test_disk_full_keeps_partial(hub, env, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare not available: disk-full test skipped")
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m none /mnt"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: disk-full test skipped")
    size = 6_000_000
    files = {"model.safetensors": random.randbytes(size)}
    hub.add_commit("org/model", files)
    cache = tmp_path / "small"
    cache.mkdir()
    script = ('mount -t tmpfs -o size=3m none "$HF_HUB_CACHE" || exit 99; "$IRIS" pull org/model; '
              'echo "rc=$?"; ls -l "$HF_HUB_CACHE"/models--org--model/blobs')
    r = subprocess.run(["unshare", "-rm", "sh", "-c", script], env=dict(env, HF_HUB_CACHE=str(cache), IRIS=IRIS),
                       capture_output=True, text=True, timeout=60)
    assert "rc=1" in r.stdout, r.stdout + r.stderr
    assert "No space left on device" in r.stderr and "kept for resuming" in r.stderr
    assert ".incomplete" in r.stdout


def test_ls_and_rm(hub, env):
    rng = random.Random()
    a = model_files(rng, big=200_000)
    ca = hub.add_commit("org/a", a)
    b1 = model_files(rng, big=100_000)
    cb1 = hub.add_commit("org/b", b1, revision="v1")
    b2 = dict(b1, **{"model.safetensors": rng.randbytes(150_000)})   # shares the small files with v1
    cb2 = hub.add_commit("org/b", b2, revision="main")
    for ref in ("org/a", "org/b@v1", "org/b"):
        r = iris(env, "pull", ref)
        assert r.returncode == 0, r.stderr
    ls = iris(env, "ls")
    assert ls.returncode == 0
    rows = [l.split() for l in ls.stdout.splitlines()[1:]]
    assert [(x[0], x[1]) for x in rows] == [("org/a", "main"), ("org/b", "main"), ("org/b", "v1")]
    arch_a = json.loads(a["config.json"])["architectures"][0]
    assert rows[0][-1] == arch_a and rows[0][4] == "4"
    r = iris(env, "rm", "org/b@v1")
    assert r.returncode == 0, r.stderr
    assert "1 snapshot, 1 blob" in r.stdout
    check_snapshot(env, "org/b", cb2, b2)
    assert not (repo_dir(env, "org/b") / "snapshots" / cb1).exists()
    hf_check(env, "org/b", b2)
    r = iris(env, "rm", "org/a")
    assert r.returncode == 0 and not repo_dir(env, "org/a").exists()
    assert iris(env, "rm", "org/a").returncode == 1
    assert ca not in iris(env, "ls").stdout


def test_alias_and_filters(hub, env, tmp_path):
    files = model_files(random.Random(), big=50_000)
    files["model.bin"] = random.randbytes(30_000)
    commit = hub.add_commit("org/model", files)
    ini = tmp_path / "models.ini"
    ini.write_text("[tiny]\nrepo = org/model\nexclude = *.bin sub/\n")
    env["IRIS_MODELS_INI"] = str(ini)
    r = iris(env, "pull", "tiny")
    assert r.returncode == 0, r.stderr
    snap = repo_dir(env, "org/model") / "snapshots" / commit
    got = sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_symlink())
    assert got == ["config.json", "model.safetensors", "tokenizer.json"]
    r = iris(env, "pull", "org/model", "--include", "*.json", "--include", "sub/")
    assert r.returncode == 0, r.stderr
    assert (snap / "sub/dir/extra.txt").read_bytes() == files["sub/dir/extra.txt"]
    r = iris(env, "pull", "org/model", "--include", "*.nothing")
    assert r.returncode == 1 and "no file matches" in r.stderr
    r = iris(env, "pull", "unknown-alias")
    assert r.returncode == 2 and "not an alias" in r.stderr


def test_progress_redrawn_on_a_terminal(hub, env):
    files = {"model.safetensors": random.randbytes(6_000_000)}
    hub.add_commit("org/model", files)
    hub.throttle = 10_000_000
    master, slave = pty.openpty()
    p = subprocess.Popen([IRIS, "pull", "org/model"], env=env, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=60)
    os.close(master)
    assert p.returncode == 0
    text = out.decode(errors="replace")
    assert "\x1b[" in text and "A\r\x1b[J" in text   # cursor up + clear: redrawn in place
    assert "model.safetensors" in text and "MiB/s" in text and "ETA" in text
