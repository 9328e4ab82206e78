"""What the PyTorch benchmark peers share: safetensors into torch tensors (F32 / F16 / BF16, read by
offset, shards) and thread settings (torch:OpenBLAS)."""
import ctypes
import json
import os
import struct

import numpy as np
import torch


def read_safetensors(path):
    """{name: float32 torch tensor}; F32 / F16 / BF16, read by offset."""
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
        header.pop("__metadata__", None)
        base = 8 + n
        for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            b, e = info["data_offsets"]
            f.seek(base + b)
            buf = f.read(e - b)
            dt = info["dtype"]
            if dt == "F32":
                a = np.frombuffer(buf, dtype="<f4").copy()
            elif dt == "F16":
                a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
            elif dt == "BF16":
                a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                raise ValueError(f"{path}: {name}: unsupported dtype {dt}")
            del buf
            out[name] = torch.from_numpy(a.reshape(info["shape"]))
    return out


def read_folder(directory, single="model.safetensors"):
    p = os.path.join(directory, single)
    if os.path.exists(p):
        return read_safetensors(p)
    with open(p + ".index.json") as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    out = {}
    for s in shards:
        out.update(read_safetensors(os.path.join(directory, s)))
    return out


def blas_threads_setter():
    """openblas_set_num_threads of the BLAS torch uses, or None when it is not OpenBLAS."""
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if hasattr(lib, "openblas_set_num_threads"):
            return lib.openblas_set_num_threads
    return None


def parse_threads(spec):
    out = []
    for part in spec.split(","):
        if part.strip():
            t, _, b = part.partition(":")
            out.append((int(t), int(b or t)))
    return out
