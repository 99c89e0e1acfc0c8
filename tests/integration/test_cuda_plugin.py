"""The CUDA plugin boundary, driven through the real binary.

bin/iris must carry no CUDA symbol and no CUDA library (it dlopens
bin/libiris-cuda.so), and `iris --version` must name the backends and, when
CUDA is unusable, say why.  With a GPU present the CUDA line names the device.
"""
import os
import shutil
import subprocess

import pytest

IRIS = os.environ.get("IRIS_BIN", "bin/iris")


def run(*args, env=None):
    return subprocess.run([IRIS, *args], capture_output=True, text=True, env=env, timeout=60)


def test_version_lists_backends_and_explains_missing_cuda():
    r = run("--version")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    backends = [b.strip() for b in lines["backends"].split(",")]
    assert backends[0] == "cpu"
    if "cuda" in backends:
        assert lines["gpu"] != "none"
    else:
        assert lines["gpu"] == "none"
        assert lines.get("cuda"), "no reason given for the missing CUDA backend"


def test_missing_plugin_is_reported_not_fatal(tmp_path):
    env = dict(os.environ, IRIS_CUDA_PLUGIN=str(tmp_path / "absent.so"))
    r = run("--version", env=env)
    assert r.returncode == 0, r.stderr
    assert "backends: cpu\n" in r.stdout
    assert "CUDA backend not available" in r.stdout
    assert "absent.so" in r.stdout


@pytest.mark.skipif(shutil.which("nm") is None or shutil.which("ldd") is None,
                    reason="needs binutils nm and ldd")
def test_cpu_binary_carries_no_cuda():
    syms = subprocess.run(["nm", "-D", IRIS], capture_output=True, text=True, check=True).stdout
    undefined_cuda = [l for l in syms.splitlines()
                      if " U " in l and any(p in l for p in ("cuda", "cublas", "cuLaunch"))]
    assert undefined_cuda == []
    libs = subprocess.run(["ldd", IRIS], capture_output=True, text=True).stdout
    assert "libcudart" not in libs and "libcublas" not in libs
