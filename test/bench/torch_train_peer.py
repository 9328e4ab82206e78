#!/usr/bin/python3
"""The PyTorch peer of the training benchmark (train-bench.ts): the same adapter training step as the
engine's train() (Llama forward with GQA + RoPE + SwiGLU, frozen base, LoRA or DiffLoRA adapters,
dropout on the adapter input, masked cross-entropy, global-norm clipping, AdamW), on the same
safetensors and the same token ids, timed on the CPU.

  /usr/bin/python3 torch_train_peer.py --model DIR --data IDS.json --method lora|lora-matched|difflora-64|difflora-32
      [--adapter-config JSON] [--steps N] [--warmup 1] [--threads 1:1,2:2] [--lr 1e-4] [--max-grad-norm 1]
      [--seed 0] --out RESULT.json

IDS.json: {"ids": [[...], ...]} (B rows of T token ids; every position after the first is a target).
--adapter-config: the engine's AdapterConfig (presets.ts methodConfig) as JSON, so both sides train the
same thing; without it the preset of --method is rebuilt here.
Thread settings are "torch:blas" (torch.set_num_threads and OpenBLAS's own count, which Debian's torch
does not set): for each, --warmup untimed steps then --steps timed ones; the reported figure is the
faster setting's median. The loss of the very first step (the untrained adapter) is reported for the
engine's sanity check, with the base model's loss (no adapter) on the same batch.
Needs Debian's python3-torch (run with /usr/bin/python3) and libopenblas0-pthread.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_io import blas_threads_setter, parse_threads, read_folder

MASKED = -1e9  # as the engine (llama.ts): not -inf


def log(msg):
    print(f"[torch-train] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- adapter configuration

def preset(method):
    """presets.ts methodConfig(method, {}) as the engine serialises it."""
    if method in ("lora", "lora-matched"):
        r = 16 if method == "lora" else 64
        return {"kind": "lora", "r": r, "alpha": 2 * r, "dropout": 0.05, "useRslora": False,
                "targets": ["q_proj", "k_proj", "v_proj", "o_proj"] if method == "lora" else ["q_proj", "k_proj"]}
    if method in ("difflora-64", "difflora-32"):
        r = 64 if method == "difflora-64" else 32
        return {"kind": "difflora", "r": r, "alpha": 2 * r, "dropout": 0.05, "learnLambda": False, "lambda": 0.1,
                "negativeTermOnly": method == "difflora-64", "negativeTermLoraOnly": False, "negativeTermFullDim": False,
                "loraV": False, "loraO": False, "loraMlp": False, "groupnorm": False, "reluOnDifferential": False}
    raise SystemExit(f"unknown method {method}")


def check_supported(c):
    if c["kind"] == "difflora":
        bad = [k for k in ("learnLambda", "negativeTermLoraOnly", "negativeTermFullDim", "loraV", "loraO", "loraMlp",
                           "groupnorm", "reluOnDifferential") if c.get(k)]
        if bad:
            raise SystemExit(f"the torch peer does not implement DiffLoRA options {bad} (the benchmark's presets do not use them)")


# ----------------------------------------------------------------------------- model

def kaiming_a(r, fan_in, gen):
    """PEFT's A init: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(in), 1/sqrt(in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(r, fan_in, generator=gen) * 2 - 1) * bound


class Pair:
    """s * B(A(dropout(x))), A: [r, in] kaiming, B: [out, r] zero; trainable."""

    def __init__(self, fin, fout, r, scale, gen):
        self.A = torch.nn.Parameter(kaiming_a(r, fin, gen))
        self.B = torch.nn.Parameter(torch.zeros(fout, r))
        self.scale = scale

    def __call__(self, x, p):
        return F.linear(F.linear(F.dropout(x, p, training=p > 0), self.A), self.B) * self.scale


class Model:
    def __init__(self, directory):
        with open(os.path.join(directory, "config.json")) as f:
            self.cfg = c = json.load(f)
        self.w = read_folder(directory)
        for t in self.w.values():
            t.requires_grad_(False)
        self.D = c["hidden_size"]
        self.H = c["num_attention_heads"]
        self.G = c.get("num_key_value_heads") or self.H
        self.d = c.get("head_dim") or self.D // self.H
        self.I = c["intermediate_size"]
        self.L = c["num_hidden_layers"]
        self.V = c["vocab_size"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.embed = self.w["model.embed_tokens.weight"]
        self.lm_head = self.embed if c.get("tie_word_embeddings", False) else self.w["lm_head.weight"]
        rs = c.get("rope_scaling")
        inv = float(c.get("rope_theta", 10000.0)) ** (-np.arange(0, self.d, 2, dtype=np.float64) / self.d)
        if rs and (rs.get("rope_type") or rs.get("type")) == "llama3":
            Fc, lo, hi, N = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
            wl = 2 * math.pi / inv
            sm = (N / wl - lo) / (hi - lo)
            inv = np.where(wl < N / hi, inv, np.where(wl > N / lo, inv / Fc, (1 - sm) * inv / Fc + sm * inv))
        elif rs and (rs.get("rope_type") or rs.get("type")) not in (None, "default"):
            raise SystemExit(f"rope_scaling {rs} not supported by the peer")
        self.inv_freq = inv

    def W(self, i, name):
        return self.w[f"model.layers.{i}.{name}.weight"]

    def params(self):
        return sum(t.numel() for t in self.w.values())


class Adapter:
    def __init__(self, m, c, seed):
        gen = torch.Generator().manual_seed(seed)
        self.c = c
        self.kind = c["kind"]
        self.p = float(c.get("dropout", 0.0))
        r, alpha = c["r"], c["alpha"]
        scale = alpha / math.sqrt(r) if c.get("useRslora") else alpha / r
        layers = c.get("layers")
        self.layers = set(range(m.L)) if layers is None else set(layers)
        D, qd, kvd = m.D, m.H * m.d, m.G * m.d
        dims = {"q_proj": (D, qd), "k_proj": (D, kvd), "v_proj": (D, kvd), "o_proj": (qd, D),
                "gate_proj": (D, m.I), "up_proj": (D, m.I), "down_proj": (m.I, D)}
        self.per_layer = {}
        for i in sorted(self.layers):
            pairs = {}
            if self.kind == "lora":
                for t in c["targets"]:
                    pairs[t] = Pair(*dims[t], r, scale, gen)
            else:
                if not c["negativeTermOnly"]:
                    pairs["q1"] = Pair(D, qd, r, scale, gen)
                    pairs["k1"] = Pair(D, kvd, r, scale, gen)
                pairs["q2"] = Pair(D, qd, r, scale, gen)
                pairs["k2"] = Pair(D, kvd, r, scale, gen)
            self.per_layer[i] = pairs
        lam = c.get("lambda", 0.1)
        self.lam = (lambda i: float(lam[i])) if isinstance(lam, list) else (lambda i: float(lam))

    def parameters(self):
        return [t for pairs in self.per_layer.values() for p in pairs.values() for t in (p.A, p.B)]


def forward_loss(m, ad, ids, cos, sin, mask):
    """Mean cross-entropy over positions 1..T-1 (the engine's sum / target count)."""
    B, T = ids.shape
    H, G, d = m.H, m.G, m.d
    rep = H // G
    scale = 1.0 / math.sqrt(d)

    def heads(t, n):  # [B, T, n*d] -> RoPE -> [B, n, T, d]
        t = t.view(B, T, n, d).transpose(1, 2)
        h = d // 2
        return t * cos + torch.cat((-t[..., h:], t[..., :h]), dim=-1) * sin

    def repeat_kv(t):  # [B, G, T, d] -> [B, H, T, d]
        return t if rep == 1 else t[:, :, None].expand(B, G, rep, T, d).reshape(B, H, T, d)

    def probs(q, k):
        return torch.softmax(torch.matmul(q * scale, k.transpose(-1, -2)) + mask, dim=-1)

    def rms(x, w, eps):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    x = F.embedding(ids, m.embed)
    for i in range(m.L):
        pairs = ad.per_layer.get(i, {}) if ad is not None else {}
        lora = ad is not None and ad.kind == "lora"
        p = ad.p if ad is not None else 0.0

        def lin(inp, name, target):
            y = F.linear(inp, m.W(i, name))
            return y + pairs[target](inp, p) if lora and target in pairs else y

        h = rms(x, m.W(i, "input_layernorm"), m.eps)
        qb = lin(h, "self_attn.q_proj", "q_proj")
        kb = lin(h, "self_attn.k_proj", "k_proj")
        v = lin(h, "self_attn.v_proj", "v_proj")
        diff = ad is not None and ad.kind == "difflora" and i in ad.layers
        if diff:
            q1 = qb + pairs["q1"](h, p) if "q1" in pairs else qb
            k1 = kb + pairs["k1"](h, p) if "k1" in pairs else kb
            q2, k2 = qb + pairs["q2"](h, p), kb + pairs["k2"](h, p)
            A = probs(heads(q1, H), repeat_kv(heads(k1, G))) - ad.lam(i) * probs(heads(q2, H), repeat_kv(heads(k2, G)))
        else:
            A = probs(heads(qb, H), repeat_kv(heads(kb, G)))
        O = torch.matmul(A, repeat_kv(v.view(B, T, G, d).transpose(1, 2)))  # [B, H, T, d]
        x = x + lin(O.transpose(1, 2).reshape(B, T, H * d), "self_attn.o_proj", "o_proj")

        h2 = rms(x, m.W(i, "post_attention_layernorm"), m.eps)
        act = F.silu(lin(h2, "mlp.gate_proj", "gate_proj")) * lin(h2, "mlp.up_proj", "up_proj")
        x = x + lin(act, "mlp.down_proj", "down_proj")
    logits = F.linear(rms(x, m.w["model.norm.weight"], m.eps), m.lm_head)
    return F.cross_entropy(logits[:, :-1].reshape(-1, m.V), ids[:, 1:].reshape(-1))


# ----------------------------------------------------------------------------- timing

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--method", required=True)
    ap.add_argument("--adapter-config", default=None, help="the engine's AdapterConfig as JSON")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", default="1:1,2:2", help="torch:blas thread settings")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)

    cfg = json.loads(a.adapter_config) if a.adapter_config else preset(a.method)
    check_supported(cfg)
    with open(a.data) as f:
        ids = torch.tensor(json.load(f)["ids"], dtype=torch.long)
    B, T = ids.shape
    torch.manual_seed(a.seed)
    set_blas = blas_threads_setter()
    if set_blas is None:
        log("BLAS is not OpenBLAS (or not found): the blas part of --threads is ignored")

    t0 = time.perf_counter()
    m = Model(a.model)
    ad = Adapter(m, cfg, a.seed)
    params = ad.parameters()
    n_params = sum(t.numel() for t in params)
    load_s = time.perf_counter() - t0
    log(f"{a.method}: {m.params() / 1e6:.2f}M base parameters, {n_params} trainable, batch {B} x {T}, loaded in {load_s:.2f} s")

    ang = torch.arange(T, dtype=torch.float64)[:, None] * torch.from_numpy(m.inv_freq)[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos().float(), emb.sin().float()
    mask = torch.full((T, T), MASKED).triu(1)

    with torch.no_grad():
        base_loss = float(forward_loss(m, None, ids, cos, sin, mask))
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay)

    def step():
        c0, w0 = time.process_time(), time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = forward_loss(m, ad, ids, cos, sin, mask)
        loss.backward()
        if a.max_grad_norm > 0:
            gn = float(torch.nn.utils.clip_grad_norm_(params, a.max_grad_norm))
        else:
            gn = float(torch.sqrt(sum((p.grad ** 2).sum() for p in params)))
        opt.step()
        value = float(loss)
        return (time.perf_counter() - w0) * 1000, (time.process_time() - c0) * 1000, value, gn

    per_setting, first_loss, first_grad_norm, losses = {}, None, None, []
    for (tt, bb) in parse_threads(a.threads):
        torch.set_num_threads(tt)
        if set_blas is not None:
            set_blas(bb)
        label = f"t{tt}b{bb}"
        for _ in range(a.warmup):
            _, _, lv, gn = step()
            losses.append(lv)
            if first_loss is None:
                first_loss, first_grad_norm = lv, gn
        wall, cpu = [], []
        for _ in range(a.steps):
            w, c, lv, gn = step()
            if first_loss is None:
                first_loss, first_grad_norm = lv, gn
            losses.append(lv)
            wall.append(w)
            cpu.append(c)
        per_setting[label] = {"threads": tt, "blas_threads": bb, "all_ms": [round(x, 2) for x in wall],
                              "median_ms": statistics.median(wall), "cpu_median_ms": statistics.median(cpu),
                              "cpu_share": statistics.median(c / w for c, w in zip(cpu, wall))}
        log(f"{a.method} {label}: step {statistics.median(wall):.1f} ms median of {len(wall)} "
            f"({B * T / statistics.median(wall) * 1000:.0f} tok/s, cpu/wall {per_setting[label]['cpu_share']:.2f})")

    best = min(per_setting, key=lambda k: per_setting[k]["median_ms"])
    med = per_setting[best]["median_ms"]
    out = {
        "method": a.method, "adapter_config": cfg, "torch_version": torch.__version__,
        "blas": os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"),
        "batch": B, "seq_len": T, "tokens_per_step": B * T, "trainable_params": n_params, "load_s": load_s,
        "steps": a.steps, "warmup": a.warmup, "best": best, "median_ms": med, "tokens_per_s": B * T / (med / 1000),
        "per_setting": per_setting, "loss_step0": first_loss, "grad_norm_step0": first_grad_norm,
        "base_loss": base_loss, "losses": losses,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    log(f"{a.method}: best {best} {med:.1f} ms/step = {out['tokens_per_s']:.0f} tok/s; loss at step 0 {first_loss:.5f} "
        f"(base model {base_loss:.5f}); peak RSS {out['peak_rss_mb']:.0f} MB")
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
