"""Sixel pictures: the real binary in a pseudo-terminal whose 'terminal' (this
test) answers DA1 with or without 4 and CSI 16 t with a 10x20 px cell.  With
4, the bytes written decode (libsixel's own decoder, through ctypes) to the
picture scaled to the cells the UI reserved for it; without 4, half-blocks
are drawn and no sixel is sent."""
import ctypes
import ctypes.util
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

import numpy as np
import pytest
from PIL import Image

from llava_fixtures import build_llava, random_photo
from llm_fixtures import iris_bin

CELL_W, CELL_H = 10, 20


def libsixel():
    name = ctypes.util.find_library("sixel") or "libsixel.so.1"
    try:
        return ctypes.CDLL(name)
    except OSError:
        pytest.skip("libsixel is not installed")


def decode_sixel(data):
    lib = libsixel()
    pixels, palette = ctypes.POINTER(ctypes.c_ubyte)(), ctypes.POINTER(ctypes.c_ubyte)()
    w, h, n = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    buf = ctypes.create_string_buffer(data, len(data))
    rc = lib.sixel_decode_raw(buf, len(data), ctypes.byref(pixels), ctypes.byref(w), ctypes.byref(h),
                              ctypes.byref(palette), ctypes.byref(n), None)
    assert rc == 0, f"sixel_decode_raw failed: {rc:#x}"
    idx = np.ctypeslib.as_array(pixels, shape=(h.value * w.value,)).copy().reshape(h.value, w.value)
    pal = np.ctypeslib.as_array(palette, shape=(n.value * 3,)).copy().reshape(n.value, 3)
    return pal[idx]


class FakeTerminal:
    def __init__(self, args, da1, cols=80, rows=24, env=None):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, cols * CELL_W, rows * CELL_H))
        e = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8", **(env or {}))
        self.p = subprocess.Popen([iris_bin(), *args], stdin=slave, stdout=slave, stderr=slave, env=e,
                                  start_new_session=True)
        os.close(slave)
        self.da1 = da1
        self.out = b""

    def pump(self, until, timeout=60):
        t0 = time.time()
        while time.time() - t0 < timeout:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    break
                self.out += chunk
                if b"\x1b[16t" in chunk:
                    os.write(self.master, f"\x1b[6;{CELL_H};{CELL_W}t".encode())
                if b"\x1b[c" in chunk:
                    os.write(self.master, self.da1)
            if until(self.out):
                return self.out
            if self.p.poll() is not None:
                break
        raise AssertionError(f"timed out; output tail: {self.out[-2000:]!r}")

    def write(self, s):
        os.write(self.master, s.encode())

    def close(self):
        try:
            self.write("\x11")   # Ctrl-Q
            self.p.wait(timeout=10)
        except Exception:
            self.p.kill()
            self.p.wait()
        os.close(self.master)


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    d = tmp_path_factory.mktemp("llava")
    build_llava(d, seed=7)
    random_photo(d / "photo.png", 64, 48, seed=8)
    return d


def test_sixel_bytes_decode_to_the_picture_in_its_cells(llava):
    t = FakeTerminal(["-m", str(llava), "--device", "cpu"], b"\x1b[?62;4;22c")
    try:
        t.pump(lambda o: b"loaded" in o)
        mark = len(t.out)
        t.write(f"/image {llava}/photo.png\r")
        out = t.pump(lambda o: re.search(rb"\x1bP[^\x1b]*\x1b\\", o[mark:]) is not None)[mark:]
        m = re.search(rb"\x1b7\x1b\[(\d+);(\d+)H(\x1bP.*?\x1b\\)", out, re.S)
        assert m, "the sixel is written at a saved cursor position"
        row, col, six = int(m.group(1)), int(m.group(2)), m.group(3)
        assert col == 1 and 2 <= row <= 22
        assert b"\xe2\x96\x80" not in out          # no half-blocks when sixel is on
        px = decode_sixel(six)
        # 64x48 in at most 80x12 cells of 10x20 px, aspect kept: 32x12 cells
        h, w = 12 * CELL_H, 32 * CELL_W
        assert px.shape[1] == w and h <= px.shape[0] < h + 6
        px = px[:h].astype(int)
        scaled = Image.open(llava / "photo.png").convert("RGB").resize((w, h), Image.BOX)
        ref = np.asarray(scaled).astype(int)
        # sixel carries at most 256 colours: the error is judged against what
        # PIL's own 256-colour quantisation of the same picture loses
        q = np.asarray(scaled.quantize(256).convert("RGB")).astype(int)
        base = np.abs(q - ref).mean()
        err = np.abs(px - ref).mean()
        assert err < 1.5 * base + 2, (err, base)
        assert np.percentile(np.abs(px - ref), 99) < 64
        # a resize repaints the picture (a new sixel)
        mark = len(t.out)
        fcntl.ioctl(t.master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 100 * CELL_W, 30 * CELL_H))
        t.pump(lambda o: b"\x1bP" in o[mark:])
    finally:
        t.close()


def test_without_4_in_da1_half_blocks_are_drawn(llava):
    t = FakeTerminal(["-m", str(llava), "--device", "cpu"], b"\x1b[?62;22c")
    try:
        t.pump(lambda o: b"loaded" in o)
        mark = len(t.out)
        t.write(f"/image {llava}/photo.png\r")
        out = t.pump(lambda o: o[mark:].count(b"\xe2\x96\x80") >= 32 * 12)[mark:]
        assert b"\x1bP" not in out
    finally:
        t.close()


def test_graphics_option_forces_the_mode(llava):
    t = FakeTerminal(["-m", str(llava), "--device", "cpu", "--graphics", "none"], b"\x1b[?62;4;22c")
    try:
        t.pump(lambda o: b"loaded" in o)
        mark = len(t.out)
        t.write(f"/image {llava}/photo.png\r")
        out = t.pump(lambda o: b"[image 64x48]" in o[mark:])[mark:]
        assert b"\x1bP" not in out and b"\xe2\x96\x80" not in out
    finally:
        t.close()
