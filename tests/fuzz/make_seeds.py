"""Writes a small seed corpus for the parser fuzzers (stdlib only):
valid GGUF v2/v3 files with every metadata type and several tensor types,
and valid safetensors files with metadata, several dtypes and empty tensors."""
import json
import os
import struct
import sys


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(version, kvs, tensors, align=32):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, typ, payload in kvs:
        out += gstr(key) + struct.pack("<I", typ) + payload
    data, off = b"", 0
    for name, ne, typ, nbytes in tensors:
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", typ, off)
        blob = bytes((i * 7) & 255 for i in range(nbytes))
        data += blob + b"\0" * (-len(blob) % align)
        off += nbytes + (-nbytes % align)
    out += b"\0" * (-len(out) % align)
    return out + data


def gguf_seeds():
    kvs = [
        ("general.architecture", 8, gstr("llama")),
        ("a.u8", 0, b"\x07"), ("a.i8", 1, b"\xfe"), ("a.u16", 2, b"\x01\x02"),
        ("a.i16", 3, b"\xff\xff"), ("a.u32", 4, struct.pack("<I", 9)),
        ("a.i32", 5, struct.pack("<i", -9)), ("a.f32", 6, struct.pack("<f", 0.5)),
        ("a.bool", 7, b"\x01"), ("a.u64", 10, struct.pack("<Q", 1 << 40)),
        ("a.i64", 11, struct.pack("<q", -5)), ("a.f64", 12, struct.pack("<d", 2.5)),
        ("a.strs", 9, struct.pack("<IQ", 8, 3) + gstr("x") + gstr("") + gstr("yz")),
        ("a.ints", 9, struct.pack("<IQ", 5, 2) + struct.pack("<ii", 1, -1)),
    ]
    tensors = [("f32", [3, 2], 0, 24), ("f16", [4], 1, 8), ("q8", [32, 2], 8, 68),
               ("bf16", [2, 2, 2], 30, 16), ("q4k", [256], 12, 144)]
    yield "v3.gguf", gguf(3, kvs, tensors)
    yield "v2.gguf", gguf(2, kvs[:3], tensors[:2])
    aligned = kvs[:1] + [("general.alignment", 4, struct.pack("<I", 64))]
    yield "align64.gguf", gguf(3, aligned, tensors[2:], 64)
    yield "empty.gguf", gguf(3, [], [])


def safetensors(entries, metadata=None, pad=8):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, size in entries:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + size]}
        data += bytes((i * 13) & 255 for i in range(size))
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % pad)
    return struct.pack("<Q", len(h)) + h + data


def st_seeds():
    yield "mixed.safetensors", safetensors(
        [("w", "F32", [2, 3], 24), ("b", "I32", [2], 8), ("h", "F16", [2, 2], 8),
         ("g", "BF16", [3], 6)], {"format": "pt"})
    yield "scalar.safetensors", safetensors([("s", "F32", [], 4), ("z", "F16", [0, 4], 0)])
    yield "ids.safetensors", safetensors([("p", "I64", [3], 24), ("u", "U8", [5], 5)])
    yield "empty.safetensors", safetensors([])


def main(out):
    for sub, seeds in (("gguf", gguf_seeds()), ("safetensors", st_seeds())):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        for name, blob in seeds:
            with open(os.path.join(out, sub, name), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main(sys.argv[1])
