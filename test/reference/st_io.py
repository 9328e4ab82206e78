"""Minimal safetensors reader/writer (numpy + stdlib only).

Layout: 8-byte little-endian header length N, then N bytes of JSON
  {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}
(padded with spaces so N is a multiple of 8), then the raw little-endian data.
Offsets are relative to the first byte after the header.

write(path, tensors, dtype='F32', metadata=None)   dtype: 'F32'|'F16'|'BF16' or {name: dtype}
read(path) -> {name: float64 ndarray}
read_header(path) -> (header dict without __metadata__, metadata dict or None)
write_sharded(dir, tensors, n_shards, dtype='F32', metadata=None)
read_dir(dir) -> {name: float64 ndarray} from model.safetensors or a sharded index
LazyDir(dir) -> the same as a mapping that reads each tensor when asked (a 1B model in float64 would not fit)
"""
import json
import os
import struct
from collections.abc import Mapping

import numpy as np

ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2}
INDEX_NAME = "model.safetensors.index.json"


def f32_to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns (uint16), round to nearest, ties to even."""
    f = np.ascontiguousarray(a, dtype=np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    nan = np.isnan(f)
    if nan.any():  # keep NaN a (quiet) NaN instead of letting rounding carry into the exponent
        out[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return out


def bf16_bits_to_f32(u16):
    return (np.asarray(u16, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def encode(arr, dtype):
    arr = np.asarray(arr)
    if dtype == "F32":
        return np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if dtype == "F16":
        # via float32 like BF16, so every dtype is the rounding of the same float32 values
        return np.ascontiguousarray(np.asarray(arr, dtype=np.float32), dtype="<f2").tobytes()
    if dtype == "BF16":
        return f32_to_bf16_bits(arr).astype("<u2").tobytes()
    raise ValueError(f"unsupported dtype {dtype}")


def decode(buf, dtype, shape):
    if dtype == "F32":
        a = np.frombuffer(buf, dtype="<f4")
    elif dtype == "F16":
        a = np.frombuffer(buf, dtype="<f2")
    elif dtype == "BF16":
        a = bf16_bits_to_f32(np.frombuffer(buf, dtype="<u2"))
    else:
        raise ValueError(f"unsupported dtype {dtype}")
    return a.astype(np.float64).reshape(shape)


def write(path, tensors, dtype="F32", metadata=None):
    """Write {name: array}. dtype is one dtype for all tensors or a {name: dtype} dict."""
    names = sorted(tensors)
    header, chunks, offset = {}, [], 0
    for name in names:
        dt = dtype[name] if isinstance(dtype, dict) else dtype
        if dt not in ITEMSIZE:
            raise ValueError(f"unsupported dtype {dt}")
        data = encode(tensors[name], dt)
        header[name] = {"dtype": dt, "shape": list(np.shape(tensors[name])),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((-len(hbytes)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for c in chunks:
            f.write(c)
    return offset  # bytes of tensor data


def read_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    meta = header.pop("__metadata__", None)
    return header, meta


def read(path, names=None):
    """Read tensors (all, or the given names) as float64, seeking to each tensor's offset."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
        header.pop("__metadata__", None)
        base = 8 + n
        out = {}
        for name, info in header.items():
            if names is not None and name not in names:
                continue
            b, e = info["data_offsets"]
            shape = info["shape"]
            count = int(np.prod(shape)) if shape else 1
            if e - b != count * ITEMSIZE[info["dtype"]] or base + e > size:
                raise ValueError(f"{path}: bad offsets for {name}")
            f.seek(base + b)
            out[name] = decode(f.read(e - b), info["dtype"], shape)
    return out


def shard_name(i, n):
    return f"model-{i + 1:05d}-of-{n:05d}.safetensors"


def write_sharded(directory, tensors, n_shards, dtype="F32", metadata=None):
    """Split tensors (sorted by name, contiguous groups of ~equal bytes) over n_shards files."""
    os.makedirs(directory, exist_ok=True)
    names = sorted(tensors)
    if not 1 <= n_shards <= len(names):
        raise ValueError("n_shards must be between 1 and the number of tensors")
    dt_of = (lambda k: dtype[k]) if isinstance(dtype, dict) else (lambda k: dtype)
    nbytes = {k: int(np.size(tensors[k])) * ITEMSIZE[dt_of(k)] for k in names}
    total = sum(nbytes.values())
    groups, cur, acc = [], [], 0
    for idx, k in enumerate(names):
        cur.append(k)
        acc += nbytes[k]
        remaining_names = len(names) - idx - 1
        remaining_groups = n_shards - len(groups) - 1
        if remaining_groups > 0 and (acc >= total * (len(groups) + 1) / n_shards
                                     or remaining_names == remaining_groups):
            groups.append(cur)
            cur = []
    groups.append(cur)
    assert len(groups) == n_shards and all(groups)
    weight_map = {}
    for i, g in enumerate(groups):
        fname = shard_name(i, n_shards)
        write(os.path.join(directory, fname), {k: tensors[k] for k in g},
              {k: dt_of(k) for k in g}, metadata)
        for k in g:
            weight_map[k] = fname
    with open(os.path.join(directory, INDEX_NAME), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return total


def file_map(directory, single="model.safetensors"):
    """{tensor name: file} of a model folder: the single file if present, else the sharded index."""
    p = os.path.join(directory, single)
    if os.path.exists(p):
        return {k: single for k in read_header(p)[0]}
    idx = os.path.join(directory, INDEX_NAME)
    if not os.path.exists(idx):
        raise FileNotFoundError(f"no {single} or {INDEX_NAME} in {directory}")
    with open(idx) as f:
        return json.load(f)["weight_map"]


class LazyDir(Mapping):
    """A model folder's tensors, each read (as float64) when it is looked up, never kept."""

    def __init__(self, directory, single="model.safetensors"):
        self.directory, self.files = directory, file_map(directory, single)

    def __getitem__(self, name):
        got = read(os.path.join(self.directory, self.files[name]), {name})
        if name not in got:
            raise ValueError(f"{self.files[name]} lacks {name}")
        return got[name]

    def __iter__(self):
        return iter(self.files)

    def __len__(self):
        return len(self.files)


def read_dir(directory, single="model.safetensors"):
    """Read a model folder: the single file if present, else the sharded index."""
    p = os.path.join(directory, single)
    if os.path.exists(p):
        return read(p)
    weight_map = file_map(directory, single)
    out = {}
    for fname in sorted(set(weight_map.values())):
        wanted = {k for k, v in weight_map.items() if v == fname}
        got = read(os.path.join(directory, fname), wanted)
        missing = wanted - set(got)
        if missing:
            raise ValueError(f"{fname} lacks {sorted(missing)}")
        out.update(got)
    return out
