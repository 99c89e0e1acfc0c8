#!/usr/bin/env python3
"""Seed corpus for fuzz_image: one small image of each format and flavour iris
decodes.  With PIL every format is written; without it PNG, BMP and PNM are
written by hand (struct + zlib) and JPEG/GIF are left to the dictionary."""
import os
import random
import struct
import sys
import zlib

out = os.path.join(sys.argv[1], "image")
os.makedirs(out, exist_ok=True)
random.seed(1)
W, H = 13, 7


def noise(n):
    return bytes(random.randrange(256) for _ in range(n))


def png(color_type, channels, palette=None):
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    raw = b"".join(b"\0" + (noise(W * channels) if palette is None else bytes(random.randrange(4) for _ in range(W)))
                   for _ in range(H))
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, color_type, 0, 0, 0))
    if palette is not None:
        body += chunk(b"PLTE", palette) + chunk(b"tRNS", b"\x00\xff")
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def bmp24():
    stride = (W * 3 + 3) & ~3
    pixels = b"".join(noise(W * 3) + b"\0" * (stride - W * 3) for _ in range(H))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, W, H, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def by_hand():
    return {"rgb.png": png(2, 3), "gray.png": png(0, 1), "la.png": png(4, 2), "rgba.png": png(6, 4),
            "pal.png": png(3, 1, noise(12)), "rgb.bmp": bmp24(),
            "rgb.ppm": b"P6\n%d %d\n255\n" % (W, H) + noise(W * H * 3),
            "gray.pgm": b"P5 # comment\n%d %d\n255\n" % (W, H) + noise(W * H)}


for name, data in by_hand().items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
try:
    from PIL import Image
except ImportError:
    print("fuzz: PIL not found; JPEG and GIF seeds skipped")
    sys.exit(0)
rgb = Image.frombytes("RGB", (W, H), noise(W * H * 3))
for name, im, kw in [("base.jpg", rgb, {"quality": 80}), ("prog.jpg", rgb, {"progressive": True}),
                     ("gray.jpg", rgb.convert("L"), {}), ("444.jpg", rgb, {"subsampling": 0}),
                     ("pal.bmp", rgb.convert("P"), {}), ("pal.gif", rgb.convert("P"), {}),
                     ("bw.png", rgb.convert("1"), {})]:
    im.save(os.path.join(out, name), **kw)
