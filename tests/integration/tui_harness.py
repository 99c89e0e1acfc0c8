"""Drives the real iris binary in a private tmux server: send-keys to type,
capture-pane to read the screen (with colours when asked)."""
import itertools
import os
import shutil
import subprocess
import time

import pytest

from llm_fixtures import iris_bin


def need_tmux():
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed (tools/debian-packages.txt lists it)")


_SESSIONS = itertools.count()


class Tui:
    def __init__(self, args, tmp_path, width=80, height=24, env=None, builtin=True):
        """builtin=False runs a copy of the binary with no assets/ beside it or
        in the working directory: an install without the built-in model."""
        need_tmux()
        # a counter, not id(self): a closed session's object id comes back at once,
        # while its tmux server may still hold the socket
        self.sock = f"iris-test-{os.getpid()}-{next(_SESSIONS)}"
        self.tmp = tmp_path
        e = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm-256color", "ESCDELAY": "40",
             "HOME": str(tmp_path), "IRIS_RUNS": str(tmp_path / "runs")}
        e.update(env or {})
        envs = " ".join(f"{k}={sh(v)}" for k, v in e.items())
        self.exit_file = tmp_path / f"exit-{self.sock}"
        binary, cwd = os.path.abspath(iris_bin()), os.getcwd()
        if not builtin:
            inst = tmp_path / "inst" / "bin"
            inst.mkdir(parents=True, exist_ok=True)
            for f in [binary, os.path.join(os.path.dirname(binary), "libiris-cuda.so")]:
                if os.path.exists(f):
                    shutil.copy(f, inst / os.path.basename(f))
            binary, cwd = str(inst / os.path.basename(binary)), str(tmp_path)
        cmd = (f"env {envs} {sh(binary)} {' '.join(sh(a) for a in args)} "
               f"2>{sh(str(tmp_path / 'stderr.txt'))}; echo $? > {sh(str(self.exit_file))}; sleep 600")
        self.tmux("new-session", "-d", "-s", "t", "-c", cwd, "-x", str(width), "-y", str(height), cmd)
        self.tmux("set-option", "-g", "status", "off")

    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *args], check=check,
                              capture_output=True, text=True, timeout=30)

    def send(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "t", "-l", "--", text)

    def send_hex(self, data):
        self.tmux("send-keys", "-t", "t", "-H", *[f"{b:02x}" for b in data])

    def paste(self, text, bracketed=True):
        buf = self.tmp / "paste.txt"
        buf.write_bytes(text if isinstance(text, bytes) else text.encode())
        self.tmux("load-buffer", "-b", "p", str(buf))
        self.tmux("paste-buffer", "-b", "p", "-t", "t", *(["-p"] if bracketed else []))

    def screen(self, colours=False):
        return self.tmux("capture-pane", "-p", "-t", "t", *(["-e"] if colours else [])).stdout

    def lines(self):
        return self.screen().split("\n")

    def resize(self, w, h):
        self.tmux("resize-window", "-t", "t", "-x", str(w), "-y", str(h))

    def exited(self):
        return self.exit_file.exists()

    def wait_for(self, pred, timeout=60, what=""):
        t0 = time.time()
        while time.time() - t0 < timeout:
            s = self.screen()
            if (pred(s) if callable(pred) else pred in s):
                return s
            if self.exited():
                raise AssertionError(f"iris exited ({self.exit_file.read_text().strip()}) waiting for {what or pred}:\n"
                                     f"{s}\nstderr: {(self.tmp / 'stderr.txt').read_text()}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or pred!r}; screen:\n{self.screen()}")

    def alive(self):
        """The UI still answers: the help screen opens and closes."""
        assert not self.exited(), (self.tmp / "stderr.txt").read_text()
        self.send("F4")
        self.wait_for(lambda s: s.split("\n")[0].count("Plot") >= 1, what="a panel switch")
        self.send("F1")
        self.wait_for(lambda s: "Chat" in s.split("\n")[0], what="back to chat")

    def close(self):
        self.tmux("kill-server", check=False)


def sh(s):
    return "'" + str(s).replace("'", "'\\''") + "'"
