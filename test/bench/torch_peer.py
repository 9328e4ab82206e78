#!/usr/bin/python3
"""The PyTorch peer for `npm run bench`: the same Llama forward (optionally with a DiffLoRA adapter in
the authors' format), on the same safetensors, timed on the CPU.

  /usr/bin/python3 torch_peer.py --model DIR [--adapter DIR] --lengths 128,512 --runs 128:5,512:3
                                 --threads 1:1,1:2,2:2 [--select full|probe] --out RESULT.json

Needs Debian's python3-torch (run with /usr/bin/python3) and libopenblas0-pthread.
Thread settings are "torch:blas": torch.set_num_threads(torch) and, since Debian's torch does not pass
its thread count on to OpenBLAS (which otherwise runs one thread per core on its own), OpenBLAS's
openblas_set_num_threads(blas); "1:1" is a truly single-threaded peer, like tfjs-wasm in Node.
For every length T and thread setting it times, after one warm-up:
  forward  logits for all T positions, attention maps discarded (eager attention: torch 1.13 has no SDPA);
  capture  the same forward keeping every layer's maps (positive, and for DiffLoRA negative and
           differential), as HF's output_attentions does.
--decode N (base model): also N tokens decoded one at a time through a KV cache after a 128-token
prompt, at each thread setting; ms per token.
--cold-job (with --ids FILE --layer L --heads a,b,c --out OUT): the bench:cold peer. Loads, runs the
layers 0..L of one forward of the ids and writes layer L's maps of those heads as JSON to OUT, like
`difflora attention --layers L`; the caller times the whole process.
--select full: a warm-up and every run at every thread setting. --select probe (slow, large models):
one warm-up, one timed run per thread setting, then the remaining runs only at the fastest one.
The reported figure per (T, mode) is the median at the fastest thread setting.
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

DIFF_MODEL_TYPE = "llama_lora_diff_transformer"
DECODE_PROMPT = 128  # test/bench/common.ts DECODE_PROMPT


def log(msg):
    print(f"[torch] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- model

class Llama:
    def __init__(self, directory):
        with open(os.path.join(directory, "config.json")) as f:
            self.cfg = c = json.load(f)
        self.w = read_folder(directory)
        self.D = c["hidden_size"]
        self.H = c["num_attention_heads"]
        self.G = c.get("num_key_value_heads") or self.H
        self.d = c.get("head_dim") or self.D // self.H
        self.L = c["num_hidden_layers"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.embed = self.w["model.embed_tokens.weight"]
        self.lm_head = self.embed if c.get("tie_word_embeddings", False) else self.w["lm_head.weight"]
        self.inv_freq = inv_freq(c, self.d)

    def W(self, i, name):
        return self.w[f"model.layers.{i}.{name}.weight"]

    def params(self):
        n = sum(t.numel() for t in self.w.values())
        return n


def inv_freq(cfg, d):
    inv = float(cfg.get("rope_theta", 10000.0)) ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    rs = cfg.get("rope_scaling")
    kind = (rs.get("rope_type") or rs.get("type")) if rs else "default"
    if kind == "llama3":
        Fc, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        N = rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        smooth = (N / wavelen - lo) / (hi - lo)
        inv = np.where(wavelen < N / hi, inv, np.where(wavelen > N / lo, inv / Fc, (1 - smooth) * inv / Fc + smooth * inv))
    elif kind != "default":
        raise NotImplementedError(kind)
    return inv


class DiffLora:
    """The DiffLoRA authors' adapter (same semantics as test/reference/llama_ref.py)."""

    def __init__(self, directory, n_layers):
        with open(os.path.join(directory, "config.json")) as f:
            self.cfg = c = json.load(f)
        if c.get("model_type") != DIFF_MODEL_TYPE:
            raise SystemExit(f"{directory}: only DiffLoRA adapters (authors' format) are supported by the peer")
        g = c.get
        r, alpha = g("attention_lora_r", 32), g("attention_lora_alpha", 64)
        self.scale = alpha / r
        self.learn_lambda = g("learn_lambda", False)
        self.lam = g("diff_attn_lambda", 0.0)
        self.layers = set(g("layers_to_transform", list(range(32)))) & set(range(n_layers))
        self.neg_only = g("lora_negative_term_only", False)
        self.lora_only = g("negative_term_lora_only", False)
        self.full_dim = g("negative_term_full_dim", False)
        self.lora_v, self.lora_o, self.lora_mlp = g("lora_v", False), g("lora_o", False), g("lora_mlp", False)
        self.groupnorm = g("groupnorm", True)
        self.relu = g("relu_on_differential", False)
        self.t = read_folder(directory)

    def lambda_init(self, i):
        lam = self.lam[i] if isinstance(self.lam, list) else self.lam
        if self.learn_lambda and lam == 0:
            return 0.8 - 0.6 * math.exp(-0.3 * i)
        return float(lam)

    def lambda_full(self, i):
        init = self.lambda_init(i)
        if not self.learn_lambda:
            return init
        p, t = f"model.layers.{i}.self_attn.", self.t
        return float(torch.exp(torch.sum(t[p + "lambda_q1"] * t[p + "lambda_k1"]))
                     - torch.exp(torch.sum(t[p + "lambda_q2"] * t[p + "lambda_k2"]))) + init

    def lora(self, prefix, x, suffix=""):
        a, b = self.t[f"{prefix}_A{suffix}.weight"], self.t[f"{prefix}_B{suffix}.weight"]
        return F.linear(F.linear(x, a), b) * self.scale


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def split_heads(x, n, d):
    return x.view(x.shape[0], n, d).transpose(0, 1)  # [T, n*d] -> [n, T, d]


def repeat_kv(x, rep):
    if rep == 1:
        return x
    G, T, d = x.shape
    return x[:, None].expand(G, rep, T, d).reshape(G * rep, T, d)


class KVCache:
    """Each layer's keys (after RoPE, before repeat_kv) [G, P, d] and values [P, G*d] so far."""

    def __init__(self):
        self.layers, self.length = {}, 0

    def extend(self, i, k, v):
        if i in self.layers:
            k0, v0 = self.layers[i]
            k, v = torch.cat((k0, k), dim=1), torch.cat((v0, v), dim=0)
        self.layers[i] = (k, v)
        return k, v


def forward(m, dl, ids, keep, last_layer=None, cache=None):
    """Logits [T, vocab]; `keep` (a list) receives every layer's maps when given. With `last_layer`,
    stops after that layer (its maps need no more) and returns None. With `cache` (base layers only),
    the ids continue the cached positions and their keys and values are appended."""
    T = ids.shape[0]
    P = cache.length if cache is not None else 0
    ang = torch.arange(P, P + T, dtype=torch.float64)[:, None] * torch.from_numpy(m.inv_freq)[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos().float(), emb.sin().float()
    mask = torch.full((T, P + T), float("-inf")).triu(P + 1)
    scale = 1.0 / math.sqrt(m.d)
    rep = m.H // m.G
    x = F.embedding(ids, m.embed)
    for i in range(m.L):
        h = rms_norm(x, m.W(i, "input_layernorm"), m.eps)
        diff = dl is not None and i in dl.layers
        q_base = F.linear(h, m.W(i, "self_attn.q_proj"))
        k_base = F.linear(h, m.W(i, "self_attn.k_proj"))
        v = F.linear(h, m.W(i, "self_attn.v_proj"))
        maps = {}
        if not diff:
            q = split_heads(q_base, m.H, m.d)
            k = split_heads(k_base, m.G, m.d)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if cache is not None:
                k, v = cache.extend(i, k, v)
            k = repeat_kv(k, rep)
            A = torch.softmax(torch.matmul(q, k.transpose(1, 2)) * scale + mask, dim=-1)
            maps["positive"] = A
        else:
            if cache is not None:
                raise NotImplementedError("the KV cache of the bench peer covers base layers only")
            p = f"model.layers.{i}.self_attn."
            if dl.neg_only:
                q1, k1 = q_base, k_base
            else:
                q1 = q_base + dl.lora(p + "wq_lora", h, "1")
                k1 = k_base + dl.lora(p + "wk_lora", h, "1")
            if dl.full_dim:
                q2, k2 = F.linear(h, dl.t[p + "wq_2.weight"]), F.linear(h, dl.t[p + "wk_2.weight"])
            else:
                lq2, lk2 = dl.lora(p + "wq_lora", h, "2"), dl.lora(p + "wk_lora", h, "2")
                q2, k2 = (lq2, lk2) if dl.lora_only else (q_base + lq2, k_base + lk2)
            if dl.lora_v:
                v = v + dl.lora(p + "wv_lora", h)

            def heads(t, n):
                t = split_heads(t, n, m.d)
                return t * cos + rotate_half(t) * sin
            q1, q2 = heads(q1, m.H), heads(q2, m.H)
            k1, k2 = repeat_kv(heads(k1, m.G), rep), repeat_kv(heads(k2, m.G), rep)
            A1 = torch.softmax(torch.matmul(q1, k1.transpose(1, 2)) * scale + mask, dim=-1)
            A2 = torch.softmax(torch.matmul(q2, k2.transpose(1, 2)) * scale + mask, dim=-1)
            neg = A2 * dl.lambda_full(i)
            A = A1 - neg
            if dl.relu:
                A = torch.relu(A)
            maps.update(positive=A1, negative=neg, differential=A)
        O = torch.matmul(A, repeat_kv(split_heads(v, m.G, m.d), rep))  # [H, T, d]
        if diff and dl.groupnorm:
            O = rms_norm(O, dl.t[f"model.layers.{i}.self_attn.subln.weight"], 1e-5) * (1 - dl.lambda_init(i))
        out = F.linear(O.transpose(0, 1).reshape(T, m.H * m.d), m.W(i, "self_attn.o_proj"))
        if diff and dl.lora_o:
            out = out + dl.lora(f"model.layers.{i}.self_attn.wo_lora", h)
        x = x + out
        if keep is not None:
            keep.append(maps)
        if i == last_layer:
            return None

        h2 = rms_norm(x, m.W(i, "post_attention_layernorm"), m.eps)
        mlp_d = dl is not None and dl.lora_mlp and i in dl.layers
        pm = f"model.layers.{i}.mlp."
        gate = F.linear(h2, m.W(i, "mlp.gate_proj"))
        up = F.linear(h2, m.W(i, "mlp.up_proj"))
        if mlp_d:
            gate = gate + dl.lora(pm + "gate_proj_lora", h2)
            up = up + dl.lora(pm + "up_proj_lora", h2)
        act = F.silu(gate) * up
        down = F.linear(act, m.W(i, "mlp.down_proj"))
        if mlp_d:
            down = down + dl.lora(pm + "down_proj_lora", act)
        x = x + down
    if cache is not None:
        cache.length += T
    x = rms_norm(x, m.w["model.norm.weight"], m.eps)
    return F.linear(x, m.lm_head)


# ----------------------------------------------------------------------------- timing

def thread_label(t, b):
    return f"t{t}b{b}"


def fastest(per_thread):
    """The thread setting with the lowest median of {setting: [ms, ...]}."""
    return min(per_thread, key=lambda n: statistics.median(per_thread[n]))


def per_setting(per_thread):
    """'t1b1: 12.3 ms, ...': the median of each thread setting, for the log."""
    return ", ".join(f"{thread_label(*n)}: {statistics.median(v):.1f} ms" for n, v in per_thread.items())


def bench_ids(T, vocab):
    """The same ids as the TypeScript side (test/bench/common.ts benchIds)."""
    return [(i * 7919 + 13) % vocab for i in range(T)]


def time_once(m, dl, ids, capture):
    """(wall ms, process CPU ms) of one forward."""
    c0, t0 = time.process_time(), time.perf_counter()
    keep = [] if capture else None
    logits = forward(m, dl, ids, keep)
    float(logits[-1, 0])  # everything is synchronous on the CPU; touch the result anyway
    dt, dc = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
    del logits, keep
    return dt, dc


def decode_id(i, vocab):
    """The token fed at decode step i (test/bench/common.ts decodeId)."""
    return (i * 31 + 7) % vocab


def time_decode(m, prompt, steps):
    """ms per token of `steps` tokens decoded one at a time through a KV cache after `prompt` tokens."""
    cache = KVCache()
    V = m.cfg["vocab_size"]
    forward(m, None, torch.tensor(bench_ids(prompt, V), dtype=torch.long), None, cache=cache)
    out = []
    for i in range(steps):
        t0 = time.perf_counter()
        logits = forward(m, None, torch.tensor([decode_id(i, V)], dtype=torch.long), None, cache=cache)
        float(logits[-1, 0])
        out.append((time.perf_counter() - t0) * 1000)
    return out


def parse_runs(spec, lengths, default):
    out = {T: default for T in lengths}
    for part in (spec or "").split(","):
        if ":" in part:
            t, n = part.split(":")
            out[int(t)] = int(n)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", default=None)
    ap.add_argument("--lengths", default="128,512")
    ap.add_argument("--runs", default="", help="T:N,... runs per length (default 5)")
    ap.add_argument("--threads", default="1:1,1:2,2:2", help="torch:blas thread settings")
    ap.add_argument("--select", choices=("full", "probe"), default="full")
    ap.add_argument("--modes", default="forward,capture")
    ap.add_argument("--decode", type=int, default=0, help="tokens decoded one at a time after a 128-token prompt (0: none)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cold-job", action="store_true", help="one forward, --layer's maps to --out (see above)")
    ap.add_argument("--ids", help="cold job: a file of comma-separated token ids")
    ap.add_argument("--layer", type=int, default=0)
    ap.add_argument("--heads", default="0")
    a = ap.parse_args(argv)
    if a.cold_job:
        return cold_job(a)

    lengths = [int(x) for x in a.lengths.split(",") if x]
    runs = parse_runs(a.runs, lengths, 5)
    threads = parse_threads(a.threads)
    set_blas = blas_threads_setter()
    if set_blas is None:
        log("BLAS is not OpenBLAS (or not found): the blas part of --threads is ignored")
    modes = [x for x in a.modes.split(",") if x]

    torch.set_grad_enabled(False)
    t0 = time.perf_counter()
    m = Llama(a.model)
    dl = DiffLora(a.adapter, m.L) if a.adapter else None
    load_s = time.perf_counter() - t0
    log(f"loaded {a.model}{' + ' + a.adapter if a.adapter else ''} ({m.params() / 1e6:.1f}M parameters) in {load_s:.1f} s")

    def use(setting):
        torch.set_num_threads(setting[0])
        if set_blas is not None:
            set_blas(setting[1])

    results = []
    with torch.inference_mode():
        for T in lengths:
            ids = torch.tensor(bench_ids(T, m.cfg["vocab_size"]), dtype=torch.long)
            for mode in modes:
                capture = mode == "capture"
                per_thread, cpu = {}, {}
                for j, n in enumerate(threads):
                    use(n)
                    if a.select == "full" or j == 0:  # probe (large models): one warm-up per (T, mode)
                        time_once(m, dl, ids, capture)
                    k = runs[T] if a.select == "full" else 1
                    got = [time_once(m, dl, ids, capture) for _ in range(k)]
                    per_thread[n], cpu[n] = [w for w, _ in got], [c for _, c in got]
                best = fastest(per_thread)
                if a.select == "probe" and runs[T] > 1:
                    use(best)
                    got = [time_once(m, dl, ids, capture) for _ in range(runs[T] - 1)]
                    per_thread[best] += [w for w, _ in got]
                    cpu[best] += [c for _, c in got]
                med = statistics.median(per_thread[best])
                results.append({
                    "T": T, "mode": mode, "threads": best[0], "blas_threads": best[1], "setting": thread_label(*best),
                    "runs": len(per_thread[best]), "median_ms": med,
                    "tokens_per_s": T / (med / 1000),
                    "cpu_median_ms": statistics.median(cpu[best]),
                    "cpu_share": statistics.median(c / w for c, w in zip(cpu[best], per_thread[best])),
                    "per_thread_ms": {thread_label(*n): v for n, v in per_thread.items()},
                    "per_thread_cpu_ms": {thread_label(*n): v for n, v in cpu.items()},
                })
                log(f"T={T} {mode}: {med:.1f} ms median of {len(per_thread[best])} at {thread_label(*best)} ({per_setting(per_thread)})")

        decode = None
        if a.decode > 0:
            per_thread = {}
            for n in threads:
                use(n)
                per_thread[n] = time_decode(m, DECODE_PROMPT, a.decode)
            best = fastest(per_thread)
            decode = {"prompt": DECODE_PROMPT, "steps": a.decode, "setting": thread_label(*best),
                      "median_ms": statistics.median(per_thread[best]), "all_ms": per_thread[best],
                      "per_thread_ms": {thread_label(*n): v for n, v in per_thread.items()}}
            log(f"decode after a {DECODE_PROMPT}-token prompt: {decode['median_ms']:.1f} ms/token at {decode['setting']} "
                f"({per_setting(per_thread)})")

    out = {
        "torch_version": torch.__version__,
        "blas": os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"),
        "model": a.model, "adapter": a.adapter, "load_s": load_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "results": results,
        "decode": decode,
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2)


def cold_job(a):
    torch.set_grad_enabled(False)
    threads = parse_threads(a.threads)[0]
    torch.set_num_threads(threads[0])
    set_blas = blas_threads_setter()
    if set_blas is not None:
        set_blas(threads[1])
    m = Llama(a.model)
    dl = DiffLora(a.adapter, m.L) if a.adapter else None
    with open(a.ids) as f:
        ids = torch.tensor([int(x) for x in f.read().split(",")], dtype=torch.long)
    keep = []
    with torch.inference_mode():
        forward(m, dl, ids, keep, last_layer=a.layer)
    maps = keep[a.layer]
    heads = [int(h) for h in a.heads.split(",")]
    layer = {"layer": a.layer, "heads": [{"head": h, **{k: v[h].tolist() for k, v in maps.items()}} for h in heads]}
    with open(a.out, "w") as f:
        json.dump({"ids": ids.tolist(), "layers": [layer]}, f)


if __name__ == "__main__":
    main()
