"""iris image-preprocess against PIL + transformers' image processors.

Every image is random ("photograph-like": smooth colour fields plus grain) and
written by PIL in the format under test; the reference is PIL's decode and
.convert("RGB"), LLaVA's expand2square for pad mode, then CLIPImageProcessor
(or SiglipImageProcessor) from transformers.  Pixel values are compared before
normalisation: max |iris - reference| <= 1/255, for JPEG too (iris decodes it
with libjpeg-turbo, as PIL does).
"""
import os
import struct
import subprocess
import zlib

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

transformers = pytest.importorskip("transformers")
from transformers import CLIPImageProcessor, SiglipImageProcessor  # noqa: E402

IRIS = os.environ.get("IRIS_BIN", "bin/iris")
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))


def photo(w, h):
    """Smooth random colour fields with grain, like a downscaled photograph."""
    base = rng.integers(0, 256, (max(2, h // 12), max(2, w // 12), 3), dtype=np.uint8)
    im = Image.fromarray(base).resize((w, h), Image.BICUBIC)
    a = np.asarray(im).astype(np.int16) + rng.integers(-10, 11, (h, w, 3))
    return np.clip(a, 0, 255).astype(np.uint8)


def expand2square(img, bg):
    """LLaVA's expand2square, run with PIL."""
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    out = Image.new(img.mode, (side, side), bg)
    out.paste(img, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return out


def clip_processor(size):
    return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                              resample=Image.BICUBIC, do_center_crop=True,
                              image_mean=CLIP_MEAN, image_std=CLIP_STD)


def reference(path, mode, size=336):
    img = Image.open(path).convert("RGB")
    if mode == "resize":
        proc = SiglipImageProcessor(size={"height": size, "width": size}, resample=Image.BICUBIC,
                                    image_mean=[0.5] * 3, image_std=[0.5] * 3)
        mean, std = [0.5] * 3, [0.5] * 3
    else:
        proc = clip_processor(size)
        mean, std = CLIP_MEAN, CLIP_STD
        if mode == "pad":
            img = expand2square(img, tuple(int(x * 255) for x in CLIP_MEAN))
    # channels_last given explicitly: transformers guesses wrong for 1- or 3-pixel-high images
    t = proc(img, return_tensors="np", input_data_format="channels_last")["pixel_values"][0]
    return t, np.array(mean).reshape(3, 1, 1), np.array(std).reshape(3, 1, 1)


def run_iris(path, mode, size, tmp_path, extra=()):
    out = tmp_path / "out.f32"
    args = [IRIS, "image-preprocess", "-i", str(path), "--mode", mode, "--size", str(size), "-o", str(out)]
    if mode == "resize":
        args += ["--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"]
    r = subprocess.run(args + list(extra), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return np.fromfile(out, dtype=np.float32).reshape(3, size, size)


def compare(path, mode, size, tmp_path):
    """max |pixel difference| before normalisation, in units of 1/255."""
    got = run_iris(path, mode, size, tmp_path)
    ref, mean, std = reference(path, mode, size)
    assert got.shape == ref.shape
    return np.abs((got - ref) * std).max() * 255, np.abs((got - ref) * std).mean() * 255


SIZES = [(517, 333), (333, 517), (1, 7), (7, 1), (1, 1), (336, 336), (1000, 20), (20, 1000),
         (3, 500), (640, 480), (337, 336), (224, 224)]


@pytest.mark.parametrize("w,h", SIZES)
@pytest.mark.parametrize("mode", ["crop", "pad", "resize"])
def test_sizes_png(tmp_path, w, h, mode):
    path = tmp_path / "img.png"
    Image.fromarray(photo(w, h)).save(path)
    diff, _ = compare(path, mode, 336, tmp_path)
    assert diff <= 1.0, f"{w}x{h} {mode}: max diff {diff}/255"


@pytest.mark.parametrize("size", [224, 64])
@pytest.mark.parametrize("mode", ["crop", "pad", "resize"])
def test_other_tower_sizes(tmp_path, size, mode):
    path = tmp_path / "img.png"
    Image.fromarray(photo(517, 333)).save(path)
    diff, _ = compare(path, mode, size, tmp_path)
    assert diff <= 1.0


def write_format(kind, a, path):
    im = Image.fromarray(a)
    if kind == "gray.png":
        im.convert("L").save(path)
    elif kind == "gray_alpha.png":
        im.convert("LA").save(path)
    elif kind == "rgba.png":
        alpha = rng.integers(0, 256, a.shape[:2] + (1,), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, alpha], 2), "RGBA").save(path)
    elif kind == "palette.png":
        im.convert("P", palette=Image.ADAPTIVE, colors=64).save(path)
    elif kind == "palette_trns.png":
        p = im.convert("P", palette=Image.ADAPTIVE, colors=64)
        p.info["transparency"] = 3
        p.save(path, transparency=3)
    elif kind == "bilevel.png":
        im.convert("1").save(path)
    elif kind == "rgb16.png":
        # 16-bit RGB: PIL keeps the high byte, as stb_image does
        hi = a.astype(np.uint16) * 257 + rng.integers(0, 256, a.shape, dtype=np.uint16) % 257
        Image.frombytes("RGB", (a.shape[1], a.shape[0]), hi.astype(">u2").tobytes(), "raw", "RGB;16B").save(path)
    elif kind == "rgb.bmp":
        im.save(path)
    elif kind == "gray.bmp":
        im.convert("L").save(path)
    elif kind == "palette.bmp":
        im.convert("P", palette=Image.ADAPTIVE, colors=16).save(path)
    elif kind == "frame0.gif":
        frames = [im.convert("P", palette=Image.ADAPTIVE, colors=200),
                  Image.fromarray(255 - a).convert("P", palette=Image.ADAPTIVE, colors=200)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    elif kind == "rgb.ppm":
        im.save(path)
    elif kind == "gray.pgm":
        im.convert("L").save(path)
    else:
        raise ValueError(kind)


FORMATS = ["gray.png", "gray_alpha.png", "rgba.png", "palette.png", "palette_trns.png", "bilevel.png",
           "rgb16.png", "rgb.bmp", "gray.bmp", "palette.bmp", "frame0.gif", "rgb.ppm", "gray.pgm"]


@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_formats(tmp_path, kind, mode):
    path = tmp_path / ("img." + kind)
    write_format(kind, photo(517, 333), path)
    if kind == "rgb16.png" and Image.open(path).mode != "RGB":
        pytest.skip("this Pillow does not open 16-bit RGB PNGs as RGB")
    diff, _ = compare(path, mode, 336, tmp_path)
    assert diff <= 1.0, f"{kind} {mode}: max diff {diff}/255"


@pytest.mark.parametrize("opts", [dict(quality=90), dict(quality=75, subsampling=0),
                                  dict(quality=85, progressive=True), dict(quality=95, gray=True),
                                  dict(quality=90, cmyk=True), dict(quality=60, subsampling=1)])
@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_jpeg(tmp_path, opts, mode):
    """iris decodes JPEG with libjpeg-turbo as PIL does, so the tolerance is
    the one of the lossless formats; odd sizes exercise the chroma edges."""
    opts = dict(opts)
    gray, cmyk = opts.pop("gray", False), opts.pop("cmyk", False)
    path = tmp_path / "img.jpg"
    im = Image.fromarray(photo(517, 333))
    (im.convert("L") if gray else im.convert("CMYK") if cmyk else im).save(path, **opts)
    diff, _ = compare(path, mode, 336, tmp_path)
    assert diff <= 1.0, f"JPEG {opts} {mode}: max diff {diff}/255"


@pytest.mark.parametrize("opts", [dict(quality=90), dict(quality=80, progressive=True),
                                  dict(quality=90, gray=True), dict(quality=90, cmyk=True)])
def test_jpeg_decode_is_pils(tmp_path, opts):
    """At the tower's own size nothing is resampled: the decoded pixels
    themselves must equal PIL's."""
    opts = dict(opts)
    gray, cmyk = opts.pop("gray", False), opts.pop("cmyk", False)
    path = tmp_path / "img.jpg"
    im = Image.fromarray(photo(336, 336))
    (im.convert("L") if gray else im.convert("CMYK") if cmyk else im).save(path, **opts)
    diff, _ = compare(path, "crop", 336, tmp_path)
    assert diff < 1e-3, f"JPEG {opts}: decoded pixels differ from PIL's by {diff}/255"


def test_u8_output_matches_float(tmp_path):
    path = tmp_path / "img.png"
    Image.fromarray(photo(400, 300)).save(path)
    u8 = tmp_path / "out.rgb"
    got = run_iris(path, "crop", 336, tmp_path, ["--u8", str(u8)])
    px = np.fromfile(u8, dtype=np.uint8).reshape(336, 336, 3).transpose(2, 0, 1)
    mean, std = np.array(CLIP_MEAN).reshape(3, 1, 1), np.array(CLIP_STD).reshape(3, 1, 1)
    assert np.abs((got * std + mean) * 255 - px).max() < 1e-3


# ---- bad input: one line on stderr naming the file, exit status 1

def run_bad(path, *extra):
    r = subprocess.run([IRIS, "image-preprocess", "-i", str(path), "-o", "/dev/null", *extra],
                       capture_output=True, text=True)
    return r.returncode, r.stderr


def assert_error(path, needle):
    rc, err = run_bad(path)
    assert rc == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("iris image-preprocess: ") and str(path) in lines[0], err
    assert needle in lines[0], err


def png_header_only(path, w, h):
    """A PNG whose IHDR claims w x h, with a bogus IDAT: only a header check
    made before decoding can name the size as the problem."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"\x00" * 16) +
                     chunk(b"IEND", b""))


def test_missing(tmp_path):
    assert_error(tmp_path / "nope.jpg", "No such file")


def test_directory(tmp_path):
    assert_error(tmp_path, "directory")


def test_empty(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    assert_error(p, "empty")


def test_text_named_jpg(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("these are not the pixels you are looking for\n" * 20)
    assert_error(p, "not a JPEG, PNG, BMP, GIF or PNM image")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable(tmp_path):
    p = tmp_path / "secret.png"
    Image.fromarray(photo(20, 20)).save(p)
    p.chmod(0)
    assert_error(p, "Permission denied")


@pytest.mark.parametrize("fmt,cut", [("jpg", 0.5), ("jpg", 0.98), ("png", 0.5), ("bmp", 0.7),
                                     ("gif", 0.6), ("ppm", 0.8)])
def test_truncated(tmp_path, fmt, cut):
    p = tmp_path / ("whole." + fmt)
    im = Image.fromarray(photo(200, 150))
    (im.convert("P") if fmt == "gif" else im).save(p)
    data = p.read_bytes()
    q = tmp_path / ("cut." + fmt)
    q.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(OSError):  # PIL refuses it too
        Image.open(q).convert("RGB")
    rc, err = run_bad(q)
    assert rc == 1 and str(q) in err and len(err.strip().splitlines()) == 1, err
    assert "truncated" in err or "corrupt" in err, err


@pytest.mark.parametrize("w,h", [(16385, 1), (1, 20000), (8193, 8193), (12000, 6000)])
def test_too_large_checked_from_header(tmp_path, w, h):
    p = tmp_path / "huge.png"
    png_header_only(p, w, h)
    assert_error(p, f"image is {w}x{h}")


def test_largest_accepted_header_gets_to_decoding(tmp_path):
    p = tmp_path / "big.png"
    png_header_only(p, 8192, 8192)   # exactly the limit: passes the size check
    rc, err = run_bad(p)
    assert rc == 1 and "corrupt" in err, err


def test_usage_errors(tmp_path):
    for args in (["image-preprocess"], ["image-preprocess", "-i", "x.png", "--mode", "zoom"],
                 ["image-preprocess", "-i", "x.png", "--size", "0"],
                 ["image-preprocess", "-i", "x.png", "--std", "1,0,1"]):
        r = subprocess.run([IRIS, *args], capture_output=True, text=True)
        assert r.returncode == 2, (args, r.stderr)


@pytest.mark.parametrize("w,h", [(517, 333), (20, 90)])
def test_crop_larger_than_resize(tmp_path, w, h):
    """shortest_edge 48, crop 64: transformers' center_crop pads with zeros."""
    path = tmp_path / "img.png"
    Image.fromarray(photo(w, h)).save(path)
    got = run_iris(path, "crop", 64, tmp_path, ["--size", "48", "--crop", "64"])
    proc = CLIPImageProcessor(size={"shortest_edge": 48}, crop_size={"height": 64, "width": 64},
                              image_mean=CLIP_MEAN, image_std=CLIP_STD)
    ref = proc(Image.open(path).convert("RGB"), return_tensors="np",
               input_data_format="channels_last")["pixel_values"][0]
    std = np.array(CLIP_STD).reshape(3, 1, 1)
    assert np.abs((got - ref) * std).max() * 255 <= 1.0


def test_gif_transparency_documented_difference(tmp_path):
    """image_load.h documents one divergence from PIL: transparent pixels of a
    GIF's first frame come out black (stb_image) where PIL gives the colour of
    the transparent palette entry.  Every other pixel matches exactly."""
    p = Image.fromarray(photo(50, 40)).convert("P", palette=Image.ADAPTIVE, colors=16)
    path = tmp_path / "t.gif"
    p.save(path, transparency=3)
    idx = np.asarray(Image.open(path))
    if not (idx == 3).any():
        pytest.skip("palette entry 3 unused in this random image")
    ref = np.asarray(Image.open(path).convert("RGB"))
    u8 = tmp_path / "o.rgb"
    r = subprocess.run([IRIS, "image-preprocess", "-i", str(path), "--size", "40", "--crop", "40",
                        "--u8", str(u8)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = np.fromfile(u8, dtype=np.uint8).reshape(40, 40, 3)
    ref, idx = ref[:, 5:45], idx[:, 5:45]   # 50 wide, centre crop 40: no resize
    clear = idx == 3
    assert (got[clear] == 0).all()
    assert (got[~clear] == ref[~clear]).all()
