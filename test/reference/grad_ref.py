#!/usr/bin/env python3
"""Float64 finite-difference gradients of the training loss, to check the engine's autodiff.

  grad_ref.py --model DIR [--adapter DIR] --ids "1,2,3;4,5,6" --mask "0,1,1;0,0,1"
              --tensors NAME1,NAME2,... [--samples K] [--seed S] [--eps 1e-5] --out F.json

Loss (one mean over all target tokens of the batch; sequences separated by ';', equal lengths):
  loss = sum_{s, i>=1} m[s][i] * CE(L_s[i-1], x_s[i]) / sum_{s, i} m[s][i],
  CE(l, y) = logsumexp(l) - l[y],  L_s = logits of llama_ref.forward (float64, dropout off).
m[s][0] must be 0 (position 0 has no prediction).

NAMEs are tensor names as stored: adapter tensors (PEFT `base_model.model.model.layers.0.self_attn.
q_proj.lora_A.weight`, DiffLoRA `model.layers.0.self_attn.wq_lora_A1.weight`, `...lambda_q1`,
`...subln.weight`) or base tensors (`model.embed_tokens.weight`, `model.norm.weight`, `lm_head.weight`,
...). A name in neither file is an error. With tied embeddings, `model.embed_tokens.weight` is the
same array as the LM head, so its gradient includes both uses.

For each tensor, K flat (row-major) indices are picked, deterministic from --seed and the tensor's name
(all elements if the tensor has <= K). For embeddings / LM head, about half of them are taken from
rows that the batch actually uses (input tokens that reach a target; target tokens). If no picked
element moves the loss, more are probed and one that does replaces the last pick (a warning goes to
stderr when none exists, e.g. lora_A when lora_B = 0). Each value is the central difference
(loss(p + eps) - loss(p - eps)) / ((p + eps) - (p - eps)) in float64 (the denominator is the actual,
representable step, i.e. 2*eps up to rounding), the tensor being perturbed in memory only.

Output JSON: {"loss": float, "grads": {NAME: {"shape": [...], "indices": [...], "values": [...]}}}.
Indices are sorted ascending; values[j] belongs to indices[j].
"""
import argparse
import json
import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref as ref  # noqa: E402

# |FD value| above this counts as "influences the loss" (float64 FD noise is ~1e-11 at eps 1e-5).
INFLUENCE_TOL = 1e-9
EXTRA_PROBES = 64


def parse_batch(text, cast):
    rows = [r for r in text.split(";") if r.strip()]
    return [[cast(s) for s in r.split(",") if s.strip()] for r in rows]


def check_batch(ids, mask):
    if not ids:
        raise ValueError("no sequences")
    if len(ids) != len(mask):
        raise ValueError(f"{len(ids)} id sequences but {len(mask)} mask sequences")
    T = len(ids[0])
    for s, (x, m) in enumerate(zip(ids, mask)):
        if len(x) != T:
            raise ValueError("all sequences must have the same length")
        if len(m) != len(x):
            raise ValueError(f"sequence {s}: mask length {len(m)} != ids length {len(x)}")
        if m[0] != 0:
            raise ValueError(f"sequence {s}: mask[0] must be 0 (position 0 has no prediction)")
    if sum(sum(m) for m in mask) <= 0:
        raise ValueError("mask selects no target token")


def loss_fn(m, adapter, ids, mask):
    """Mean cross-entropy over all masked target tokens of the batch (float64)."""
    total, count = 0.0, 0.0
    for x, w in zip(ids, mask):
        w = np.asarray(w, dtype=np.float64)
        if not np.any(w[1:]):
            continue
        logits, _ = ref.forward(m, adapter, x)
        l = logits[:-1]                                        # L[i-1] predicts x[i]
        mx = l.max(axis=-1, keepdims=True)
        lse = (mx + np.log(np.exp(l - mx).sum(axis=-1, keepdims=True)))[:, 0]
        ce = lse - l[np.arange(len(x) - 1), np.asarray(x[1:])]
        total += float(np.sum(w[1:] * ce))
        count += float(np.sum(w))
    return total / count


def find_tensor(m, adapter, name):
    in_ad = adapter is not None and name in adapter.t
    in_base = name in m.w
    if in_ad and in_base:
        raise ValueError(f"{name}: present in both the adapter and the base model")
    if not (in_ad or in_base):
        raise ValueError(f"{name}: no such tensor in the base model or the adapter")
    return adapter.t[name] if in_ad else m.w[name]


def used_rows(m, name, ids, mask):
    """Rows of the embedding / LM head that the batch uses (empty for any other tensor)."""
    tie = m.cfg.get("tie_word_embeddings", False)
    rows = set()
    for x, w in zip(ids, mask):
        tpos = [i for i in range(1, len(x)) if w[i] != 0]
        if not tpos:
            continue
        targets = {x[i] for i in tpos}
        if name == "model.embed_tokens.weight":
            rows |= set(x[:max(tpos)])                         # inputs that reach some target
            if tie:
                rows |= targets
        elif name == "lm_head.weight" and not tie:
            rows |= targets
    return sorted(rows)


def distinct(rng, n, k, exclude=()):
    """k distinct ints in [0, n) not in exclude, in draw order (no O(n) permutation: n may be 1e8+)."""
    out, seen = [], set(exclude)
    k = min(k, n - len(seen))
    while len(out) < k:
        c = int(rng.integers(n))
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def pick_indices(arr, name, K, seed, rows):
    """K flat indices (all if the tensor has <= K elements) and the generator for further probes."""
    n = arr.size
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if n <= K:
        return list(range(n)), rng
    picked = []
    if rows:                                                   # about half from used rows
        cols = n // arr.shape[0]
        cand = distinct(rng, len(rows) * cols, min(max(1, K // 2), len(rows) * cols))
        picked = [rows[c // cols] * cols + c % cols for c in cand]
    picked += distinct(rng, n, K - len(picked), picked)
    return picked, rng


def central_diff(arr, idx, eps, f):
    flat = arr.reshape(-1)                                     # a view: arrays are contiguous
    assert np.shares_memory(flat, arr)
    orig = flat[idx]
    try:
        hi, lo = orig + eps, orig - eps
        flat[idx] = hi
        fp = f()
        flat[idx] = lo
        fm = f()
    finally:
        flat[idx] = orig
    return (fp - fm) / (hi - lo)


def grads(m, adapter, ids, mask, names, K=12, seed=0, eps=1e-5, log=sys.stderr):
    """In-memory API: returns {"loss", "grads"} as the CLI writes it."""
    check_batch(ids, mask)
    f = lambda: loss_fn(m, adapter, ids, mask)  # noqa: E731
    res = {"loss": f(), "grads": {}}
    for name in names:
        arr = find_tensor(m, adapter, name)
        picked, rng = pick_indices(arr, name, K, seed, used_rows(m, name, ids, mask))
        vals = [central_diff(arr, i, eps, f) for i in picked]
        if not any(abs(v) > INFLUENCE_TOL for v in vals):
            found = False
            if len(picked) < arr.size:                         # probe more elements
                for c in distinct(rng, arr.size, EXTRA_PROBES, picked):
                    v = central_diff(arr, c, eps, f)
                    if abs(v) > INFLUENCE_TOL:
                        picked[-1], vals[-1], found = c, v, True
                        break
            if not found and log is not None:
                print(f"grad_ref: warning: no sampled element of {name} influences the loss", file=log)
        order = np.argsort(picked, kind="stable")
        res["grads"][name] = {"shape": [int(s) for s in arr.shape],
                              "indices": [int(picked[j]) for j in order],
                              "values": [float(vals[j]) for j in order]}
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF Llama folder (the base model)")
    ap.add_argument("--adapter", default=None, help="PEFT LoRA folder or DiffLoRA folder")
    ap.add_argument("--ids", required=True, help="comma-separated token ids; ';' between sequences")
    ap.add_argument("--mask", required=True, help="target mask, same layout as --ids (mask[0] = 0)")
    ap.add_argument("--tensors", required=True, help="comma-separated tensor names as stored")
    ap.add_argument("--samples", type=int, default=12, help="elements per tensor (K)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--out", required=True, help="output JSON path ('-' for stdout)")
    a = ap.parse_args(argv)

    ids = parse_batch(a.ids, int)
    mask = parse_batch(a.mask, float)
    names = [s.strip() for s in a.tensors.split(",") if s.strip()]
    if a.samples < 1 or a.eps <= 0:
        raise ValueError("--samples must be >= 1 and --eps > 0")
    m = ref.Model(a.model)
    adapter = ref.load_adapter(a.adapter, m.L)
    res = grads(m, adapter, ids, mask, names, a.samples, a.seed, a.eps)
    if a.out == "-":
        json.dump(res, sys.stdout)
    else:
        with open(a.out, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
