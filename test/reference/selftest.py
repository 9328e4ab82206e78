#!/usr/bin/env python3
"""Sanity checks of the reference itself: python3 selftest.py  (exit code 0 = all passed)."""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_ref as ref  # noqa: E402
import st_io  # noqa: E402

FAILS = []
IDS = [1, 17, 42, 5, 99, 3, 64, 8]


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def close(a, b, tol):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) <= tol


def run(script, *args, timed=True):
    t0 = time.time()
    subprocess.run([sys.executable, os.path.join(HERE, script), *map(str, args)], check=True,
                   stderr=subprocess.DEVNULL)
    dt = time.time() - t0
    if timed:
        check(dt < 2.0, f"{script} {args[0]} runs in {dt:.2f}s < 2s")


def mk(*args):
    run("make_checkpoint.py", *args, timed=False)


def fwd(model_dir, adapter_dir=None, ids=IDS, model=None, adapter=None):
    m = model or ref.Model(model_dir)
    a = adapter if adapter is not None else ref.load_adapter(adapter_dir, m.L)
    return ref.forward(m, a, ids)


def maps(layers, i, key):
    return layers[i]["maps"][key]


def test_st_io(tmp):
    rng = np.random.default_rng(0)
    t = {"a": rng.standard_normal((3, 5)), "b.weight": rng.standard_normal(7), "c": np.array(2.5)}
    p = os.path.join(tmp, "x.safetensors")
    st_io.write(p, t, "F32", {"format": "pt"})
    with open(p, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
    check(n % 8 == 0, "safetensors header length is a multiple of 8")
    hdr, meta = st_io.read_header(p)
    check(meta == {"format": "pt"} and hdr["a"]["shape"] == [3, 5] and hdr["c"]["shape"] == [], "header fields")
    back = st_io.read(p)
    check(all(np.array_equal(back[k], np.float32(t[k]).astype(np.float64)) for k in t), "F32 round trip exact")
    st_io.write(p, t, "F16")
    back = st_io.read(p)
    check(all(np.array_equal(back[k], np.float16(t[k]).astype(np.float64)) for k in t), "F16 round trip")
    # bf16 round-to-nearest-even on known values
    vals = np.array([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -2.0, 65504.0, 3.0e38, np.inf],
                    dtype=np.float32)
    want = np.array([1.0, 1.0, 1 + 2 ** -6, 1 + 2 ** -7, -2.0, 65536.0, 2.9999880e38, np.inf])
    st_io.write(p, {"v": vals}, "BF16")
    got = st_io.read(p)["v"]
    check(np.allclose(got[:6], want[:6], rtol=0, atol=0) and abs(got[6] / 3.0e38 - 1) < 4e-3 and got[7] == np.inf,
          f"BF16 rounding to nearest even {got[:4].tolist()}")
    bits = st_io.f32_to_bf16_bits(np.array([np.nan], dtype=np.float32))
    check(np.isnan(st_io.bf16_bits_to_f32(bits))[0], "BF16 keeps NaN")
    mixed = {"x": np.ones(3), "y": np.full(2, 1 / 3)}
    st_io.write(p, mixed, {"x": "BF16", "y": "F32"})
    check(st_io.read_header(p)[0]["x"]["dtype"] == "BF16" and st_io.read(p)["y"][0] == np.float32(1 / 3),
          "mixed dtypes in one file")
    d = os.path.join(tmp, "sh")
    big = {f"t{i}": rng.standard_normal((4, i + 1)) for i in range(9)}
    total = st_io.write_sharded(d, big, 3, "F32")
    idx = json.load(open(os.path.join(d, st_io.INDEX_NAME)))
    files = sorted(set(idx["weight_map"].values()))
    check(files == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)], "shard file names")
    check(idx["metadata"]["total_size"] == total == sum(4 * v.size for v in big.values()), "index total_size")
    back = st_io.read_dir(d)
    check(set(back) == set(big) and all(np.array_equal(back[k], np.float32(big[k])) for k in big),
          "sharded read equals written")


def test_base(tmp):
    b = os.path.join(tmp, "base")
    mk("base", "--out", b, "--seed", 1, "--rope-llama3")
    out = os.path.join(tmp, "base.json")
    run("llama_ref.py", "--model", b, "--ids", ",".join(map(str, IDS)), "--out", out, "--generate", 3)
    r = json.load(open(out))
    T = len(IDS)
    check(np.array(r["logits"]).shape == (T, 101), "logits shape [T, vocab]")
    check(all(set(h) == {"head", "positive"} for l in r["layers"] for h in l["heads"])
          and all("lambda" not in l for l in r["layers"]), "base JSON has positive maps only")
    P = np.array([[h["positive"] for h in l["heads"]] for l in r["layers"]])
    check(close(P.sum(-1), 1.0, 1e-12), "positive rows sum to 1")
    check(np.all(np.triu(np.ones((T, T)), 1)[None, None] * P == 0), "positive upper triangle is 0")
    check(P[:, :, 3:].max(-1).mean() > 0.5, f"attention is peaky (mean row max {P[:, :, 3:].max(-1).mean():.2f})")
    L = np.array(r["logits"])
    check(0.5 < L.std() < 5, f"logits O(1) (std {L.std():.2f})")
    pre, _ = fwd(b, ids=IDS[:5])
    check(close(pre, L[:5], 1e-12), "causal: prefix logits unchanged by later tokens")
    gen = r["generated"]
    g0 = int(np.argmax(L[-1]))
    l2, _ = fwd(b, ids=IDS + gen[:2])
    check(gen[0] == g0 and gen[2] == int(np.argmax(l2[-1])), f"greedy generation {gen}")

    cfg = json.load(open(os.path.join(b, "config.json")))
    rs = cfg["rope_scaling"]
    inv = 10000.0 ** (-np.arange(0, 8, 2) / 8)
    wl = 2 * math.pi / inv
    N = rs["original_max_position_embeddings"]
    kinds = {"keep" if w < N / 4 else "scale" if w > N else "smooth" for w in wl}
    check(kinds == {"keep", "smooth", "scale"} and N < cfg["max_position_embeddings"],
          f"llama3 rope: all three regimes occur (N={N})")
    m = ref.Model(b)
    scaled = m.inv_freq
    check(scaled[0] == inv[0] and close(scaled[2:], inv[2:] / 8, 1e-15) and inv[1] / 8 < scaled[1] < inv[1],
          "llama3 inv_freq: kept / interpolated / divided")

    # GQA: expanding the KV heads to H explicit heads must not change anything
    m2 = ref.Model(b)
    groups = m2.H // m2.G
    for i in range(m2.L):
        for n in ("k_proj", "v_proj"):
            k = f"model.layers.{i}.self_attn.{n}.weight"
            m2.w[k] = np.repeat(m2.w[k].reshape(m2.G, m2.d, -1), groups, axis=0).reshape(m2.H * m2.d, -1)
    m2.G = m2.H
    check(close(fwd(None, model=m2)[0], fwd(None, model=m)[0], 1e-12), "GQA == explicit repeated KV heads")

    # dtypes, shards, tie, head_dim != hidden/heads
    mk("base", "--out", os.path.join(tmp, "b_sh"), "--seed", 1, "--rope-llama3", "--shards", 3)
    check(close(fwd(os.path.join(tmp, "b_sh"))[0], L, 0), "3 shards == single file")
    for dt in ("F16", "BF16"):
        mk("base", "--out", os.path.join(tmp, "b_" + dt), "--seed", 1, "--rope-llama3", "--dtype", dt)
        md = ref.Model(os.path.join(tmp, "b_" + dt))
        conv = {"F16": lambda a: np.float16(a).astype(np.float64),
                "BF16": lambda a: st_io.bf16_bits_to_f32(st_io.f32_to_bf16_bits(a)).astype(np.float64)}[dt]
        check(all(np.array_equal(md.w[k], conv(m.w[k])) for k in m.w), f"{dt} checkpoint = rounded F32 one")
        check(close(fwd(None, model=md)[0], L, 0.5) and not close(fwd(None, model=md)[0], L, 0),
              f"{dt} logits close to F32")
    mk("base", "--out", os.path.join(tmp, "b_tie"), "--seed", 2, "--tie", "--head-dim", 12)
    mt = ref.Model(os.path.join(tmp, "b_tie"))
    check("lm_head.weight" not in mt.w and mt.d == 12 and mt.W(0, "self_attn.q_proj").shape == (96, 64),
          "tied + head_dim 12 != hidden/heads")
    lt, _ = fwd(None, model=mt)
    emb = mt.lm_head
    mt.lm_head = np.eye(mt.D)  # identity head -> the final normed hidden state
    hn, _ = fwd(None, model=mt)
    mt.lm_head = emb
    check(close(lt, hn @ mt.w["model.embed_tokens.weight"].T, 1e-10), "tied lm_head uses the embedding")
    return b


def merged_model(base_dir, updates):
    m = ref.Model(base_dir)
    for k, dw in updates.items():
        m.w[k] = m.w[k] + dw
    return m


def test_lora(tmp, b):
    base_logits, base_layers = fwd(b)
    z = os.path.join(tmp, "lora0")
    mk("lora", "--base", b, "--out", z, "--seed", 3, "--zero-b")
    lz, _ = fwd(b, z)
    check(np.array_equal(lz, base_logits), "LoRA with B = 0 gives exactly the base logits")
    cfg_keys = json.load(open(os.path.join(z, "adapter_config.json")))
    check(cfg_keys["peft_type"] == "LORA" and cfg_keys["task_type"] == "CAUSAL_LM", "adapter_config.json")
    for rs in (False, True):
        d = os.path.join(tmp, f"lora_rs{int(rs)}")
        mk("lora", "--base", b, "--out", d, "--seed", 4, *(["--rslora"] if rs else []))
        out = os.path.join(tmp, "lora.json")
        run("llama_ref.py", "--model", b, "--adapter", d, "--ids", ",".join(map(str, IDS)), "--out", out)
        r = json.load(open(out))
        t = st_io.read(os.path.join(d, "adapter_model.safetensors"))
        s = 8 / math.sqrt(4) if rs else 8 / 4
        upd = {}
        for k in t:
            if k.endswith("lora_A.weight"):
                mod = k[len("base_model.model."):-len(".lora_A.weight")]
                upd[mod + ".weight"] = s * t[k.replace("lora_A", "lora_B")] @ t[k]
        check(len(upd) == 14, "LoRA on all 7 modules x 2 layers")
        lm, _ = fwd(None, model=merged_model(b, upd))
        check(close(r["logits"], lm, 1e-10), f"LoRA {'rsLoRA ' if rs else ''}== merged W + s B A")
        check(not close(r["logits"], base_logits, 1e-2), "random LoRA changes the logits")
        check(all(set(h) == {"head", "positive"} for l in r["layers"] for h in l["heads"]), "LoRA JSON: positive only")


def difflora(tmp, b, name, *flags, seed=5):
    d = os.path.join(tmp, name)
    mk("difflora", "--base", b, "--out", d, "--seed", seed, *flags)
    return d, ref.load_adapter(d, 2)


def test_difflora(tmp, b):
    base_logits, base_layers = fwd(b)
    T = len(IDS)

    # negative-term only, fixed lambda 0, no groupnorm == base
    d, a = difflora(tmp, b, "neg0", "--negative-term-only", "--lambda", 0)
    l, lay = fwd(b, adapter=a)
    check(close(l, base_logits, 1e-12) and close(maps(lay, 0, "positive"), maps(base_layers, 0, "positive"), 1e-12),
          "DiffLoRA negative-term-only, lambda 0 == base")
    check(close(maps(lay, 1, "differential"), maps(base_layers, 1, "positive"), 1e-12), "... differential == A1")

    # both terms, lambda 0 == base with q, k merged with A1/B1; + lora_v and lora_mlp merged too
    d, a = difflora(tmp, b, "both0", "--lambda", 0, "--lora-v", "--lora-mlp")
    t, s = a.t, a.scale
    upd = {}
    for i in range(2):
        p = f"model.layers.{i}."
        upd[p + "self_attn.q_proj.weight"] = s * t[p + "self_attn.wq_lora_B1.weight"] @ t[p + "self_attn.wq_lora_A1.weight"]
        upd[p + "self_attn.k_proj.weight"] = s * t[p + "self_attn.wk_lora_B1.weight"] @ t[p + "self_attn.wk_lora_A1.weight"]
        upd[p + "self_attn.v_proj.weight"] = s * t[p + "self_attn.wv_lora_B.weight"] @ t[p + "self_attn.wv_lora_A.weight"]
        for mm in ("gate_proj", "up_proj", "down_proj"):
            upd[p + f"mlp.{mm}.weight"] = s * t[p + f"mlp.{mm}_lora_B.weight"] @ t[p + f"mlp.{mm}_lora_A.weight"]
    l, lay = fwd(b, adapter=a)
    lm, laym = fwd(None, model=merged_model(b, upd))
    check(close(l, lm, 1e-10) and close(maps(lay, 1, "positive"), maps(laym, 1, "positive"), 1e-10),
          "DiffLoRA both terms, lambda 0, lora_v, lora_mlp == merged q,k,v,mlp")

    # lora_o reads X: with lambda 0 the layer-0 output changes by exactly s * B_o A_o X
    d, a = difflora(tmp, b, "o0", "--lambda", 0, "--negative-term-only", "--lora-o", "--layers-to-transform", "0")
    m = ref.Model(b)
    x = ref.rms_norm(m.w["model.embed_tokens.weight"][IDS], m.W(0, "input_layernorm"), m.eps)
    cos, sin = ref.rope_cos_sin(T, m.inv_freq)
    o_plain, _ = ref.plain_attention(m, 0, x, cos, sin, None)
    o_diff, _, _ = ref.diff_attention(m, 0, x, cos, sin, a)
    p = "model.layers.0.self_attn."
    check(close(o_diff - o_plain, a.scale * x @ a.t[p + "wo_lora_A.weight"].T @ a.t[p + "wo_lora_B.weight"].T, 1e-12),
          "lora_o adds s * B_o A_o X (authors' quirk)")

    # default (base + LoRA2) == full-dim with W_2 = W + s B2 A2; lora-only == full-dim with W_2 = s B2 A2
    for lo in (False, True):
        d, a = difflora(tmp, b, f"nt{int(lo)}", "--lambda", 0.3, *(["--negative-term-lora-only"] if lo else []))
        l, lay = fwd(b, adapter=a)
        for i in range(2):
            p = f"model.layers.{i}.self_attn."
            for x_ in "qk":
                w2 = a.scale * a.t[p + f"w{x_}_lora_B2.weight"] @ a.t[p + f"w{x_}_lora_A2.weight"]
                if not lo:
                    w2 = w2 + m.W(i, f"self_attn.{x_}_proj")
                a.t[p + f"w{x_}_2.weight"] = w2
        a.full_dim = True
        l2, lay2 = fwd(b, adapter=a)
        check(close(l, l2, 1e-10) and close(maps(lay, 1, "negative"), maps(lay2, 1, "negative"), 1e-10),
              f"negative term {'lora-only' if lo else 'base+LoRA'} == full-dim equivalent")
        neg = maps(lay, 0, "negative")
        check(close(neg.sum(-1), 0.3, 1e-12) and np.all(np.triu(np.ones((T, T)), 1) * neg == 0),
              "negative rows sum to lambda, upper triangle 0")
        check(close(maps(lay, 0, "differential"), maps(lay, 0, "positive") - neg, 1e-15), "differential = A1 - lambda A2")
        check(neg.std() > 0.02 and not close(neg / 0.3, maps(lay, 0, "positive"), 0.05), "negative map non-trivial")

    # full-dim CLI + relu + groupnorm + learned lambda (layer rule) + all extras
    d, a = difflora(tmp, b, "full", "--full-dim", "--relu", "--groupnorm", "--learn-lambda", "--lambda", 0,
                    "--lora-v", "--lora-o", "--lora-mlp")
    out = os.path.join(tmp, "diff.json")
    run("llama_ref.py", "--model", b, "--adapter", d, "--ids", ",".join(map(str, IDS)), "--out", out, "--generate", 2)
    r = json.load(open(out))
    t = st_io.read(os.path.join(d, "model.safetensors"))
    hdr, _ = st_io.read_header(os.path.join(d, "model.safetensors"))
    for i, lr in enumerate(r["layers"]):
        p = f"model.layers.{i}.self_attn."
        init = 0.8 - 0.6 * math.exp(-0.3 * i)
        lam = math.exp(t[p + "lambda_q1"] @ t[p + "lambda_k1"]) - math.exp(t[p + "lambda_q2"] @ t[p + "lambda_k2"]) + init
        check(abs(lr["lambda"] - lam) < 1e-12 and abs(lr["lambda_init"] - init) < 1e-15,
              f"learned lambda layer {i}: {lam:.4f} (init {init:.4f})")
        h0 = lr["heads"][0]
        P, N, Dm = (np.array(h0[k]) for k in ("positive", "negative", "differential"))
        check(close(Dm, np.maximum(P - N, 0), 1e-15) and (P - N).min() < 0, "relu on differential")
    check(hdr["model.layers.0.self_attn.lambda_q1"]["shape"] == [8] and "lambda_q1.weight" not in str(hdr),
          "lambda tensors named without .weight, shape [d]")

    # groupnorm is per head: scaling one KV head's V rows leaves the output unchanged
    d, a = difflora(tmp, b, "gn", "--groupnorm", "--lambda", 0.2)
    scaled = []
    for f in (1e3, 1e6):
        mg = ref.Model(b)
        for i in range(2):
            k = f"model.layers.{i}.self_attn.v_proj.weight"
            mg.w[k][: mg.d] *= f  # KV head 0 (query heads 0..3) only
        scaled.append((fwd(None, model=mg, adapter=a)[0], fwd(None, model=mg)[0]))
    check(close(scaled[0][0], scaled[1][0], 1e-6) and not close(scaled[0][1], scaled[1][1], 1e-2),
          "groupnorm: per-head RMSNorm (invariant to one head's V scale, eps aside)")

    # per-layer lambda list + layers_to_transform
    d, a = difflora(tmp, b, "list", "--lambda-list", "0.1,0.3", "--layers-to-transform", "1")
    l, lay = fwd(b, adapter=a)
    check("lambda" not in lay[0] and lay[1]["lambda"] == 0.3 and set(lay[0]["maps"]) == {"positive"},
          "lambda list + layers_to_transform: layer 0 plain, layer 1 lambda 0.3")
    check(close(maps(lay, 0, "positive"), maps(base_layers, 0, "positive"), 1e-14), "untransformed layer 0 == base")
    check(not any(k.startswith("model.layers.0.") for k in a.t), "no tensors for untransformed layers")
    d, a = difflora(tmp, b, "llist", "--learn-lambda", "--lambda-list", "0,0.5")
    check(abs(a.lambda_init(0) - 0.2) < 1e-15 and a.lambda_init(1) == 0.5, "learned + list: 0 -> layer rule")

    # dtype: bf16 adapter keeps lambdas in F32
    d, a = difflora(tmp, b, "bf", "--learn-lambda", "--dtype", "BF16")
    hdr, _ = st_io.read_header(os.path.join(d, "model.safetensors"))
    check(hdr["model.layers.0.self_attn.lambda_q1"]["dtype"] == "F32"
          and hdr["model.layers.0.self_attn.wq_lora_A1.weight"]["dtype"] == "BF16", "BF16 adapter, F32 lambdas")

    # head_dim != hidden/heads (our shapes: A in = hidden, wo_lora_B out = hidden)
    bt = os.path.join(tmp, "b_tie")
    d = os.path.join(tmp, "hd12")
    mk("difflora", "--base", bt, "--out", d, "--seed", 9, "--lora-o", "--lora-v", "--groupnorm", "--learn-lambda")
    l, lay = fwd(bt, d)
    check(l.shape == (len(IDS), 101) and maps(lay, 0, "negative").shape == (8, T, T), "DiffLoRA with head_dim 12 runs")
    run("llama_ref.py", "--model", bt, "--adapter", d, "--ids", ",".join(map(str, IDS)), "--out", out)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_st_io(tmp)
        b = test_base(tmp)
        test_lora(tmp, b)
        test_difflora(tmp, b)
    print(f"\n{'ALL PASSED' if not FAILS else f'{len(FAILS)} FAILED'}")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
