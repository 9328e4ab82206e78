#!/usr/bin/env python3
"""Write a large RANDOM Llama checkpoint (e.g. Llama-3.2-1B-shaped) without holding it in memory.

  make_big_checkpoint.py --config CONFIG.json --out DIR [--seed S] [--dtype BF16|F16|F32]

CONFIG.json is an HF Llama config (hidden_size, intermediate_size, num_hidden_layers,
num_attention_heads, num_key_value_heads, head_dim, vocab_size, tie_word_embeddings, ...); it is
copied to DIR/config.json. DIR/model.safetensors is written tensor by tensor, each in chunks of
random normal values (fan-in scaled, like test/reference/make_checkpoint.py), straight to disk:
safetensors layout = u64 LE header length, JSON header (space-padded to 8 bytes), raw LE data.
The file is written as model.safetensors.partial and renamed at the end, so an interrupted run
never leaves a truncated model under the real name. numpy only.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np

ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2}
TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
CHUNK = 1 << 24  # values per chunk (64 MB of float32)


def tensors_of(cfg):
    """[(name, shape, kind, std)] in file order; kind 'normal' (mean 0) or 'norm' (mean 1)."""
    D, I, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    H = cfg["num_attention_heads"]
    G = cfg.get("num_key_value_heads") or H
    d = cfg.get("head_dim") or D // H
    V = cfg["vocab_size"]
    out = [("model.embed_tokens.weight", (V, D), "normal", 2.0 / math.sqrt(D))]
    for i in range(L):
        p = f"model.layers.{i}."
        out += [
            (p + "input_layernorm.weight", (D,), "norm", 0.1),
            (p + "self_attn.q_proj.weight", (H * d, D), "normal", 1.6 / math.sqrt(D)),
            (p + "self_attn.k_proj.weight", (G * d, D), "normal", 1.6 / math.sqrt(D)),
            (p + "self_attn.v_proj.weight", (G * d, D), "normal", 1.0 / math.sqrt(D)),
            (p + "self_attn.o_proj.weight", (D, H * d), "normal", 1.0 / math.sqrt(H * d)),
            (p + "post_attention_layernorm.weight", (D,), "norm", 0.1),
            (p + "mlp.gate_proj.weight", (I, D), "normal", 1.0 / math.sqrt(D)),
            (p + "mlp.up_proj.weight", (I, D), "normal", 1.0 / math.sqrt(D)),
            (p + "mlp.down_proj.weight", (D, I), "normal", 1.0 / math.sqrt(I)),
        ]
    out.append(("model.norm.weight", (D,), "norm", 0.1))
    if not cfg.get("tie_word_embeddings", False):
        out.append(("lm_head.weight", (V, D), "normal", 2.0 / math.sqrt(D)))
    return out


def encode(f32, dtype):
    if dtype == "F32":
        return f32.astype("<f4", copy=False).tobytes()
    if dtype == "F16":
        return f32.astype("<f2").tobytes()
    # BF16, round to nearest even (random normals: no NaN/Inf to special-case)
    bits = f32.view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    return rounded.astype("<u2").tobytes()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=list(ITEMSIZE), default="BF16")
    a = ap.parse_args(argv)

    with open(a.config) as f:
        cfg = json.load(f)
    cfg["torch_dtype"] = TORCH_DTYPE[a.dtype]
    specs = tensors_of(cfg)

    header, offset = {}, 0
    for name, shape, _, _ in specs:
        n = int(np.prod(shape)) * ITEMSIZE[a.dtype]
        header[name] = {"dtype": a.dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((-len(hbytes)) % 8)

    os.makedirs(a.out, exist_ok=True)
    final = os.path.join(a.out, "model.safetensors")
    tmp = final + ".partial"
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    done = 0
    total_params = sum(int(np.prod(s)) for _, s, _, _ in specs)
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for name, shape, kind, std in specs:
            count = int(np.prod(shape))
            left = count
            while left > 0:
                n = min(left, CHUNK)
                x = rng.standard_normal(n, dtype=np.float32)
                x *= np.float32(std)
                if kind == "norm":
                    x += np.float32(1.0)
                f.write(encode(x, a.dtype))
                left -= n
                done += n
            if name.endswith("mlp.down_proj.weight") or name == "model.embed_tokens.weight":
                print(f"  {name}: {done / total_params * 100:.0f}% of {total_params / 1e9:.2f}B parameters, "
                      f"{time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    if os.path.getsize(tmp) != 8 + len(hbytes) + offset:
        raise SystemExit(f"{tmp}: size mismatch")
    os.replace(tmp, final)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    print(f"wrote {final}: {total_params / 1e9:.3f}B parameters, {(8 + len(hbytes) + offset) / 1e9:.2f} GB "
          f"in {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
