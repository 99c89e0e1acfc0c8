"""Writes a small seed corpus for the parser fuzzers (stdlib only):
valid GGUF v2/v3 files with every metadata type and several tensor types,
valid safetensors files with metadata, several dtypes and empty tensors, and
torch.save data.pkl streams / zip archives assembled opcode by opcode."""
import io
import json
import os
import struct
import sys
import zipfile


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


def pk_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def pk_ints(v):
    return b"(" + b"".join(b"K" + bytes([x]) for x in v) + b"t"


def pk_tensor(stype, key, numel, offset, size, stride):
    """_rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())"""
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + b"(" + pk_str("storage") +
            b"ctorch\n" + stype.encode() + b"\n" + pk_str(key) + pk_str("cpu") +
            b"K" + bytes([numel]) + b"tQ" + b"K" + bytes([offset]) + pk_ints(size) +
            pk_ints(stride) + b"\x89ccollections\nOrderedDict\n)Rtr\x01\x00\x00\x00R")


def pk_state_dict(items):
    out = b"\x80\x02ccollections\nOrderedDict\n)Rq\x00("
    for name, t in items:
        out += pk_str(name) + t
    return out + b"u."


def torch_seeds():
    sd = pk_state_dict([
        ("w", pk_tensor("FloatStorage", "0", 64, 1, [2, 3], [3, 1])),
        ("t", pk_tensor("FloatStorage", "0", 64, 1, [3, 2], [1, 3])),
        ("h", pk_tensor("HalfStorage", "1", 128, 0, [4, 2], [1, 4])),
        ("l", pk_tensor("LongStorage", "2", 32, 0, [5], [1])),
        ("b", pk_tensor("BFloat16Storage", "3", 128, 2, [2, 2, 2], [8, 2, 1]))])
    yield "state_dict.pkl", sd
    nested = (b"\x80\x02}(" + pk_str("epoch") + b"K\x03" + pk_str("model_state_dict") + b"}" +
              pk_str("enc.w") + pk_tensor("FloatStorage", "0", 64, 0, [8], [1]) + b"s" +
              pk_str("opt") + b"]" + pk_tensor("IntStorage", "4", 64, 0, [2, 2], [2, 1]) +
              b"a" + pk_str("lr") + b"G?\xb9\x99\x99\x99\x99\x99\x9a" + b"u.")
    yield "training.pkl", nested
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", sd)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
        for k, n in (("0", 256), ("1", 256), ("2", 256), ("3", 256)):
            z.writestr(f"archive/data/{k}", bytes((i * 13) & 255 for i in range(n)))
    yield "archive.zip", buf.getvalue()


def main(out):
    for sub, seeds in (("gguf", gguf_seeds()), ("safetensors", st_seeds()),
                       ("torch_pickle", torch_seeds())):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        for name, blob in seeds:
            with open(os.path.join(out, sub, name), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main(sys.argv[1])
