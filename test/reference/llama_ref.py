#!/usr/bin/env python3
"""Independent float64 reference forward pass: Llama + PEFT LoRA or DiffLoRA (authors' format).

  llama_ref.py --model DIR [--adapter DIR] --ids 1,2,3 --out F.json [--generate N]

The adapter kind is detected from its files: adapter_config.json -> PEFT LoRA;
config.json with model_type "llama_lora_diff_transformer" -> DiffLoRA.
Output JSON: ids, logits [T][vocab], layers[{layer, lambda?, lambda_init?, heads[{head, positive,
negative?, differential?}]}], and with --generate N, generated (N greedy ids, full recompute each step).
Everything is computed in float64 from the stored (F32/F16/BF16) weights; dropout is off.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

DIFF_MODEL_TYPE = "llama_lora_diff_transformer"


def read_json(path):
    with open(path) as f:
        return json.load(f)


# ----------------------------------------------------------------------------- building blocks

def linear(x, w):
    """HF nn.Linear without bias: weight stored [out, in], y = x W^T."""
    return x @ w.T


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_inv_freq(cfg, d):
    """inv_freq_i = theta^(-2i/d), optionally rescaled by the llama3 rule."""
    inv = float(cfg.get("rope_theta", 10000.0)) ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    rs = cfg.get("rope_scaling")
    kind = (rs.get("rope_type") or rs.get("type")) if rs else "default"
    if kind == "default":
        return inv
    if kind != "llama3":
        raise NotImplementedError(f"rope_scaling type {kind}")
    F, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    N = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    smooth = (N / wavelen - lo) / (hi - lo)
    return np.where(wavelen < N / hi, inv,                          # high frequency: keep
                    np.where(wavelen > N / lo, inv / F,             # low frequency: divide by F
                             (1 - smooth) * inv / F + smooth * inv))  # in between: interpolate


def rope_cos_sin(T, inv):
    ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
    emb = np.concatenate([ang, ang], axis=-1)  # [T, d]: frequencies repeated over the two halves
    return np.cos(emb), np.sin(emb)


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def apply_rope(x, cos, sin):
    """x: [heads, T, d]."""
    return x * cos + rotate_half(x) * sin


def split_heads(x, n, d):
    """[T, n*d] -> [n, T, d]."""
    return x.reshape(x.shape[0], n, d).transpose(1, 0, 2)


def merge_heads(x):
    """[n, T, d] -> [T, n*d]."""
    return x.transpose(1, 0, 2).reshape(x.shape[1], -1)


def repeat_kv(x, groups):
    """GQA: [G, T, d] -> [G*groups, T, d]; query head h reads KV head h // groups."""
    return np.repeat(x, groups, axis=0)


def causal_softmax(scores):
    """scores [H, T, T]; -inf above the diagonal, softmax over the last axis."""
    T = scores.shape[-1]
    s = np.where(np.triu(np.ones((T, T), dtype=bool), 1), -np.inf, scores)
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def attention_probs(q, k, d):
    return causal_softmax(q @ k.transpose(0, 2, 1) / math.sqrt(d))


# ----------------------------------------------------------------------------- model + adapters

class Model:
    def __init__(self, directory, lazy=False):
        self.cfg = c = read_json(os.path.join(directory, "config.json"))
        self.w = st_io.LazyDir(directory) if lazy else st_io.read_dir(directory)
        self.D = c["hidden_size"]
        self.H = c["num_attention_heads"]
        self.G = c.get("num_key_value_heads") or self.H
        self.d = c.get("head_dim") or self.D // self.H
        self.L = c["num_hidden_layers"]
        self.eps = c.get("rms_norm_eps", 1e-6)
        if self.H % self.G:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if c.get("hidden_act", "silu") != "silu":
            raise NotImplementedError(c["hidden_act"])
        tie = c.get("tie_word_embeddings", False)
        self.lm_head_name = "model.embed_tokens.weight" if tie else "lm_head.weight"
        self.lm_head = None if lazy else self.w[self.lm_head_name]  # lazy: read when the logits are computed
        self.inv_freq = rope_inv_freq(c, self.d)

    def W(self, i, name):
        return self.w[f"model.layers.{i}.{name}.weight"]


class PeftLora:
    """HF PEFT LoRA: y = x W^T + s * (x A^T) B^T, s = alpha/r (rsLoRA: alpha/sqrt(r))."""
    kind = "lora"

    def __init__(self, directory):
        self.cfg = c = read_json(os.path.join(directory, "adapter_config.json"))
        if c.get("peft_type", "LORA") != "LORA":
            raise NotImplementedError(c["peft_type"])
        if c.get("rank_pattern") or c.get("alpha_pattern") or c.get("use_dora") or c.get("fan_in_fan_out"):
            raise NotImplementedError("rank_pattern / alpha_pattern / DoRA / fan_in_fan_out")
        if c.get("bias", "none") != "none":
            raise NotImplementedError("LoRA bias")
        r, alpha = c["r"], c["lora_alpha"]
        self.scale = alpha / math.sqrt(r) if c.get("use_rslora") else alpha / r
        self.t = st_io.read(os.path.join(directory, "adapter_model.safetensors"))
        self.used = set()

    def delta(self, i, sub, module, x):
        p = f"base_model.model.model.layers.{i}.{sub}.{module}."
        a, b = p + "lora_A.weight", p + "lora_B.weight"
        if a not in self.t:
            return 0.0
        self.used.update((a, b))
        return self.scale * linear(linear(x, self.t[a]), self.t[b])


class DiffLora:
    """The DiffLoRA authors' adapters (config defaults = their LlamaLoraDiffTransformerConfig)."""
    kind = "difflora"

    def __init__(self, directory, n_layers):
        self.cfg = c = read_json(os.path.join(directory, "config.json"))
        g = c.get
        self.r, self.alpha = g("attention_lora_r", 32), g("attention_lora_alpha", 64)
        self.scale = self.alpha / self.r if self.r is not None and self.alpha is not None else 1.0
        self.learn_lambda = g("learn_lambda", False)
        self.lam = g("diff_attn_lambda", 0.0)
        self.layers = set(g("layers_to_transform", list(range(32)))) & set(range(n_layers))
        self.neg_only = g("lora_negative_term_only", False)
        self.lora_only = g("negative_term_lora_only", False)
        self.full_dim = g("negative_term_full_dim", False)
        self.lora_v, self.lora_o, self.lora_mlp = g("lora_v", False), g("lora_o", False), g("lora_mlp", False)
        self.groupnorm = g("groupnorm", True)
        self.relu = g("relu_on_differential", False)
        if self.lora_only and self.full_dim:
            raise ValueError("negative_term_lora_only and negative_term_full_dim are exclusive")
        self.t = st_io.read_dir(directory)
        self.check_keys()

    def expected_keys(self):
        keys = set()
        for i in self.layers:
            p = f"model.layers.{i}.self_attn."
            if not self.neg_only:
                keys |= {p + f"w{x}_lora_{y}1.weight" for x in "qk" for y in "AB"}
            if self.full_dim:
                keys |= {p + "wq_2.weight", p + "wk_2.weight"}
            else:
                keys |= {p + f"w{x}_lora_{y}2.weight" for x in "qk" for y in "AB"}
            if self.learn_lambda:
                keys |= {p + f"lambda_{x}" for x in ("q1", "k1", "q2", "k2")}
            if self.groupnorm:
                keys.add(p + "subln.weight")
            for flag, x in ((self.lora_v, "v"), (self.lora_o, "o")):
                if flag:
                    keys |= {p + f"w{x}_lora_A.weight", p + f"w{x}_lora_B.weight"}
            if self.lora_mlp:
                keys |= {f"model.layers.{i}.mlp.{m}_lora_{y}.weight"
                         for m in ("gate_proj", "up_proj", "down_proj") for y in "AB"}
        return keys

    def check_keys(self):
        exp, got = self.expected_keys(), set(self.t)
        if exp != got:
            raise ValueError(f"DiffLoRA tensors: missing {sorted(exp - got)}, unexpected {sorted(got - exp)}")

    def lambda_init(self, i):
        lam = self.lam[i] if isinstance(self.lam, list) else self.lam
        if self.learn_lambda and lam == 0:
            return 0.8 - 0.6 * math.exp(-0.3 * i)
        return float(lam)

    def lambda_full(self, i):
        init = self.lambda_init(i)
        if not self.learn_lambda:
            return init
        p = f"model.layers.{i}.self_attn."
        t = self.t
        return (math.exp(np.sum(t[p + "lambda_q1"] * t[p + "lambda_k1"]))
                - math.exp(np.sum(t[p + "lambda_q2"] * t[p + "lambda_k2"])) + init)

    def lora(self, prefix, x, suffix=""):
        """s * B(A(x)) with tensors {prefix}_A{suffix}.weight and {prefix}_B{suffix}.weight."""
        a, b = self.t[f"{prefix}_A{suffix}.weight"], self.t[f"{prefix}_B{suffix}.weight"]
        return self.scale * linear(linear(x, a), b)

    def mlp_delta(self, i, module, x):
        if not (self.lora_mlp and i in self.layers):
            return 0.0
        return self.lora(f"model.layers.{i}.mlp.{module}_lora", x)


def load_adapter(directory, n_layers):
    if directory is None:
        return None
    if os.path.exists(os.path.join(directory, "adapter_config.json")):
        return PeftLora(directory)
    cfg_path = os.path.join(directory, "config.json")
    if os.path.exists(cfg_path) and read_json(cfg_path).get("model_type") == DIFF_MODEL_TYPE:
        return DiffLora(directory, n_layers)
    raise ValueError(f"{directory}: neither a PEFT LoRA nor a DiffLoRA folder")


# ----------------------------------------------------------------------------- layers

def plain_attention(m, i, x, cos, sin, peft):
    """Standard Llama GQA attention; PEFT LoRA deltas on any of q, k, v, o."""
    def proj(name, inp):
        y = linear(inp, m.W(i, f"self_attn.{name}"))
        return y + peft.delta(i, "self_attn", name, inp) if peft else y

    q = apply_rope(split_heads(proj("q_proj", x), m.H, m.d), cos, sin)
    k = apply_rope(split_heads(proj("k_proj", x), m.G, m.d), cos, sin)
    v = split_heads(proj("v_proj", x), m.G, m.d)
    groups = m.H // m.G
    A1 = attention_probs(q, repeat_kv(k, groups), m.d)
    out = proj("o_proj", merge_heads(A1 @ repeat_kv(v, groups)))
    return out, {"positive": A1}


def diff_attention(m, i, x, cos, sin, dl):
    """DiffLoRA differential attention, following the authors' eager LlamaLoraDiffAttention."""
    p = f"model.layers.{i}.self_attn."
    Wq, Wk, Wv, Wo = (m.W(i, f"self_attn.{n}_proj") for n in "qkvo")
    q_base, k_base, v = linear(x, Wq), linear(x, Wk), linear(x, Wv)

    if dl.neg_only:
        q1, k1 = q_base, k_base
    else:
        q1 = q_base + dl.lora(p + "wq_lora", x, "1")
        k1 = k_base + dl.lora(p + "wk_lora", x, "1")

    if dl.full_dim:
        q2, k2 = linear(x, dl.t[p + "wq_2.weight"]), linear(x, dl.t[p + "wk_2.weight"])
    else:
        lq2, lk2 = dl.lora(p + "wq_lora", x, "2"), dl.lora(p + "wk_lora", x, "2")
        q2, k2 = (lq2, lk2) if dl.lora_only else (q_base + lq2, k_base + lk2)

    if dl.lora_v:
        v = v + dl.lora(p + "wv_lora", x)

    groups = m.H // m.G
    q1 = apply_rope(split_heads(q1, m.H, m.d), cos, sin)
    q2 = apply_rope(split_heads(q2, m.H, m.d), cos, sin)
    k1 = repeat_kv(apply_rope(split_heads(k1, m.G, m.d), cos, sin), groups)
    k2 = repeat_kv(apply_rope(split_heads(k2, m.G, m.d), cos, sin), groups)
    v = repeat_kv(split_heads(v, m.G, m.d), groups)

    A1 = attention_probs(q1, k1, m.d)
    A2 = attention_probs(q2, k2, m.d)
    lam = dl.lambda_full(i)
    A = A1 - lam * A2
    if dl.relu:
        A = np.maximum(A, 0.0)
    O = A @ v                                                   # [H, T, d]
    if dl.groupnorm:                                            # per-head RMSNorm over d
        O = rms_norm(O, dl.t[p + "subln.weight"], 1e-5) * (1 - dl.lambda_init(i))
    out = linear(merge_heads(O), Wo)
    if dl.lora_o:                                               # authors' quirk: adapter reads X
        out = out + dl.lora(p + "wo_lora", x)
    maps = {"positive": A1, "negative": lam * A2, "differential": A}
    return out, maps, lam


def mlp(m, i, x, delta):
    """SwiGLU: down(silu(gate(x)) * up(x)); delta(module, input) adds adapter terms."""
    gate = linear(x, m.W(i, "mlp.gate_proj")) + delta("gate_proj", x)
    up = linear(x, m.W(i, "mlp.up_proj")) + delta("up_proj", x)
    act = silu(gate) * up
    return linear(act, m.W(i, "mlp.down_proj")) + delta("down_proj", act)


def forward(m, adapter, ids, n_layers=None):
    """Returns logits [T, vocab] and per-layer attention maps; with n_layers, only the first layers' maps (no logits)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.min() < 0 or ids.max() >= m.cfg["vocab_size"]:
        raise ValueError("token id out of range")
    T = len(ids)
    cos, sin = rope_cos_sin(T, m.inv_freq)
    peft = adapter if adapter is not None and adapter.kind == "lora" else None
    dl = adapter if adapter is not None and adapter.kind == "difflora" else None

    h = m.w["model.embed_tokens.weight"][ids]
    layers = []
    for i in range(m.L if n_layers is None else n_layers):
        x = rms_norm(h, m.W(i, "input_layernorm"), m.eps)
        info = {"layer": i}
        if dl is not None and i in dl.layers:
            a, maps, lam = diff_attention(m, i, x, cos, sin, dl)
            info["lambda"] = lam
            info["lambda_init"] = dl.lambda_init(i)
        else:
            a, maps = plain_attention(m, i, x, cos, sin, peft)
        info["maps"] = maps
        layers.append(info)
        h = h + a

        x = rms_norm(h, m.W(i, "post_attention_layernorm"), m.eps)
        if peft is not None:
            delta = lambda mod, inp, i=i: peft.delta(i, "mlp", mod, inp)  # noqa: E731
        elif dl is not None:
            delta = lambda mod, inp, i=i: dl.mlp_delta(i, mod, inp)  # noqa: E731
        else:
            delta = lambda mod, inp: 0.0  # noqa: E731
        h = h + mlp(m, i, x, delta)

    if n_layers is not None:
        return None, layers
    h = rms_norm(h, m.w["model.norm.weight"], m.eps)
    return linear(h, m.w[m.lm_head_name] if m.lm_head is None else m.lm_head), layers


def generate(m, adapter, ids, n):
    ids, out = list(ids), []
    for _ in range(n):
        logits, _ = forward(m, adapter, ids)
        nxt = int(np.argmax(logits[-1]))
        out.append(nxt)
        ids.append(nxt)
    return out


def to_json(ids, logits, layers, generated=None, heads=None):
    res = {"ids": [int(t) for t in ids], "layers": []}
    if logits is not None:
        res["logits"] = logits.tolist()
    for info in layers:
        entry = {"layer": info["layer"]}
        for k in ("lambda", "lambda_init"):
            if k in info:
                entry[k] = info[k]
        maps = info["maps"]
        n_heads = maps["positive"].shape[0]
        entry["heads"] = [{"head": h, **{k: v[h].tolist() for k, v in maps.items()}} for h in (heads if heads is not None else range(n_heads))]
        res["layers"].append(entry)
    if generated is not None:
        res["generated"] = generated
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF Llama folder (the base model)")
    ap.add_argument("--adapter", default=None, help="PEFT LoRA folder or DiffLoRA folder")
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", required=True, help="output JSON path ('-' for stdout)")
    ap.add_argument("--generate", type=int, default=0, help="N greedy tokens (no cache)")
    ap.add_argument("--first-layers", type=int, default=None,
                    help="only the first N layers' maps, no logits; weights read as needed (a 1B model)")
    ap.add_argument("--heads", default=None, help="comma-separated heads to write (default all)")
    a = ap.parse_args(argv)

    ids = [int(s) for s in a.ids.split(",") if s.strip()]
    heads = None if a.heads is None else [int(s) for s in a.heads.split(",") if s.strip()]
    m = Model(a.model, lazy=a.first_layers is not None)
    adapter = load_adapter(a.adapter, m.L)
    logits, layers = forward(m, adapter, ids, a.first_layers)
    if isinstance(adapter, PeftLora) and a.first_layers is None:
        unused = set(adapter.t) - adapter.used
        if unused:
            raise ValueError(f"adapter tensors not applied: {sorted(unused)[:5]}")
    gen = generate(m, adapter, ids, a.generate) if a.generate > 0 else None
    res = to_json(ids, logits, layers, gen, heads)
    if a.out == "-":
        json.dump(res, sys.stdout)
    else:
        with open(a.out, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
