#!/usr/bin/env python3
"""Write small RANDOM checkpoints in the exact on-disk formats the engine reads.

  make_checkpoint.py base     --out DIR --seed S [...]   HF Llama folder
  make_checkpoint.py lora     --base DIR --out DIR --seed S [...]   PEFT LoRA adapter folder
  make_checkpoint.py difflora --base DIR --out DIR --seed S [...]   the DiffLoRA authors' folder

Everything is deterministic from --seed (numpy default_rng). Run with -h per command for options.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
ST_META = {"format": "pt"}
ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


def num(x):
    """8.0 -> 8 (configs carry integral alphas as ints)."""
    return int(x) if float(x).is_integer() else float(x)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def base_dtype(cfg, requested):
    if requested:
        return requested
    return {v: k for k, v in TORCH_DTYPE.items()}.get(cfg.get("torch_dtype"), "F32")


def dims(cfg):
    D, H, G = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim") or D // H
    return D, H, G, d, cfg["intermediate_size"], cfg["num_hidden_layers"]


# ----------------------------------------------------------------------------- llama3 RoPE numbers

def rope_regimes(head_dim, theta, N, low, high):
    """Classify each RoPE frequency as the llama3 rule does: 'keep' / 'smooth' / 'scale'."""
    inv = theta ** (-np.arange(0, head_dim, 2) / head_dim)
    wl = 2 * math.pi / inv
    out = []
    for w in wl:
        if w < N / high:
            out.append(("keep", None))
        elif w > N / low:
            out.append(("scale", None))
        else:
            out.append(("smooth", (N / w - low) / (high - low)))
    return out


def pick_llama3_original_context(head_dim, theta, max_pos, low=1.0, high=4.0):
    """Pick original_max_position_embeddings so that all three regimes occur, with the
    smoothed frequencies as far from the regime boundaries as possible."""
    def score(N):
        r = rope_regimes(head_dim, theta, N, low, high)
        kinds = {k for k, _ in r}
        if kinds != {"keep", "smooth", "scale"}:
            return None
        return min(min(s, 1 - s) for k, s in r if k == "smooth")

    for cands in (range(8, max_pos, 8), [2 ** k for k in range(3, 25)]):
        scored = [(score(N), N) for N in cands]
        scored = [(s, N) for s, N in scored if s is not None and s > 0.02]
        if scored:
            return max(scored)[1]
    raise SystemExit(f"no original context gives all three llama3 regimes for head_dim {head_dim}")


# ----------------------------------------------------------------------------- base

def cmd_base(a):
    rng = np.random.default_rng(a.seed)
    D, L, H, G, V, I = a.hidden, a.layers, a.heads, a.kv_heads, a.vocab, a.inter
    d = a.head_dim or D // H
    if H % G:
        raise SystemExit("--heads must be a multiple of --kv-heads")
    if d % 2:
        raise SystemExit("head dim must be even (RoPE)")
    max_pos = 128

    def normal(shape, std):
        return rng.standard_normal(shape) * std

    def norm_w(n):
        return 1.0 + 0.1 * rng.standard_normal(n)

    # Scales (fan-in aware): q/k rows give |q| ~ 1.6 per component so the scaled
    # scores have std ~2.5 and the softmax is peaky; logits come out with std ~2.
    t = {"model.embed_tokens.weight": normal((V, D), 2.0 / math.sqrt(D))}
    for i in range(L):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = norm_w(D)
        t[p + "self_attn.q_proj.weight"] = normal((H * d, D), 1.6 / math.sqrt(D))
        t[p + "self_attn.k_proj.weight"] = normal((G * d, D), 1.6 / math.sqrt(D))
        t[p + "self_attn.v_proj.weight"] = normal((G * d, D), 1.0 / math.sqrt(D))
        t[p + "self_attn.o_proj.weight"] = normal((D, H * d), 1.0 / math.sqrt(H * d))
        t[p + "post_attention_layernorm.weight"] = norm_w(D)
        t[p + "mlp.gate_proj.weight"] = normal((I, D), 1.0 / math.sqrt(D))
        t[p + "mlp.up_proj.weight"] = normal((I, D), 1.0 / math.sqrt(D))
        t[p + "mlp.down_proj.weight"] = normal((D, I), 1.0 / math.sqrt(I))
    t["model.norm.weight"] = norm_w(D)
    if not a.tie:
        t["lm_head.weight"] = normal((V, D), 2.0 / math.sqrt(D))

    rope_scaling = None
    if a.rope_llama3:
        N = pick_llama3_original_context(d, a.rope_theta, max_pos)
        rope_scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                        "high_freq_factor": 4.0, "original_max_position_embeddings": N}
        regimes = [k for k, _ in rope_regimes(d, a.rope_theta, N, 1.0, 4.0)]
        print(f"llama3 rope: original_max_position_embeddings={N}, regimes={regimes}", file=sys.stderr)

    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": D,
        "intermediate_size": I,
        "num_hidden_layers": L,
        "num_attention_heads": H,
        "num_key_value_heads": G,
        "head_dim": d,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": float(a.rope_theta),
        "rope_scaling": rope_scaling,
        "tie_word_embeddings": bool(a.tie),
        "vocab_size": V,
        "max_position_embeddings": max_pos,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "torch_dtype": TORCH_DTYPE[a.dtype],
    }
    os.makedirs(a.out, exist_ok=True)
    write_json(os.path.join(a.out, "config.json"), cfg)
    if a.shards > 1:
        st_io.write_sharded(a.out, t, a.shards, a.dtype, ST_META)
    else:
        st_io.write(os.path.join(a.out, "model.safetensors"), t, a.dtype, ST_META)


# ----------------------------------------------------------------------------- PEFT LoRA

def module_dims(cfg, mod):
    D, H, G, d, I, _ = dims(cfg)
    return {"q_proj": (D, H * d), "k_proj": (D, G * d), "v_proj": (D, G * d), "o_proj": (H * d, D),
            "gate_proj": (D, I), "up_proj": (D, I), "down_proj": (I, D)}[mod]  # (in, out)


def kaiming_a(rng, r, fan_in):
    """PEFT's default A init: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(in), 1/sqrt(in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, (r, fan_in))


def cmd_lora(a):
    rng = np.random.default_rng(a.seed)
    cfg = read_json(os.path.join(a.base, "config.json"))
    L = cfg["num_hidden_layers"]
    a.dtype = base_dtype(cfg, a.dtype)
    targets = [s.strip() for s in a.targets.split(",") if s.strip()]
    for m in targets:
        if m not in ATTN + MLP:
            raise SystemExit(f"unknown target {m}")
    r = a.r
    b_std = 0.0 if a.zero_b else 0.4 / math.sqrt(r)  # "trained": B nonzero so the adapter acts
    t = {}
    for i in range(L):
        for m in ATTN + MLP:  # fixed order -> deterministic regardless of --targets order
            if m not in targets:
                continue
            fin, fout = module_dims(cfg, m)
            sub = "self_attn" if m in ATTN else "mlp"
            p = f"base_model.model.model.layers.{i}.{sub}.{m}."
            t[p + "lora_A.weight"] = kaiming_a(rng, r, fin)
            t[p + "lora_B.weight"] = rng.standard_normal((fout, r)) * b_std
    acfg = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": r,
        "lora_alpha": num(a.alpha),
        "lora_dropout": a.dropout,
        "target_modules": targets,
        "use_rslora": bool(a.rslora),
        "bias": "none",
        "base_model_name_or_path": a.base,
        "fan_in_fan_out": False,
        "layers_to_transform": None,
        "layers_pattern": None,
        "modules_to_save": None,
        "init_lora_weights": True,
        "inference_mode": True,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_dora": False,
        "revision": None,
    }
    os.makedirs(a.out, exist_ok=True)
    write_json(os.path.join(a.out, "adapter_config.json"), acfg)
    st_io.write(os.path.join(a.out, "adapter_model.safetensors"), t, a.dtype, ST_META)


# ----------------------------------------------------------------------------- DiffLoRA (authors' format)

def cmd_difflora(a):
    rng = np.random.default_rng(a.seed)
    base_cfg = read_json(os.path.join(a.base, "config.json"))
    D, H, G, d, I, L = dims(base_cfg)
    a.dtype = base_dtype(base_cfg, a.dtype)
    r = a.r
    if a.negative_term_lora_only and a.full_dim:
        raise SystemExit("--negative-term-lora-only and --full-dim are exclusive (authors' config raises)")
    if a.lambda_list is not None:
        lam = [float(x) for x in a.lambda_list.split(",")]
        if len(lam) != L:
            raise SystemExit(f"--lambda-list needs {L} values (one per layer)")
    elif a.lam is not None:
        lam = float(a.lam)
    else:
        lam = 0.0 if a.learn_lambda else 0.1
    layers = list(range(L)) if a.layers_to_transform is None else \
        [int(x) for x in a.layers_to_transform.split(",") if x.strip()]
    if any(not 0 <= i < L for i in layers):
        raise SystemExit("--layers-to-transform out of range")

    s = a.alpha / r

    def A(fin):
        return kaiming_a(rng, r, fin)

    def B(fout, std=0.4 / math.sqrt(r)):
        return rng.standard_normal((fout, r)) * std

    # In negative_term_lora_only mode Q2/K2 are the adapter alone: give B2 a larger scale so
    # |Q2| ~ |Q1| (about 1.6 per component) and the negative map is not uniform.
    b2_std = 1.6 / (s * math.sqrt(r) * 0.577) if a.negative_term_lora_only else 0.4 / math.sqrt(r)

    t, dtypes = {}, {}
    for i in sorted(layers):
        p = f"model.layers.{i}.self_attn."
        if not a.negative_term_only:
            t[p + "wq_lora_A1.weight"] = A(D)
            t[p + "wq_lora_B1.weight"] = B(H * d)
            t[p + "wk_lora_A1.weight"] = A(D)
            t[p + "wk_lora_B1.weight"] = B(G * d)
        if a.full_dim:
            t[p + "wq_2.weight"] = rng.standard_normal((H * d, D)) * 1.6 / math.sqrt(D)
            t[p + "wk_2.weight"] = rng.standard_normal((G * d, D)) * 1.6 / math.sqrt(D)
        else:
            t[p + "wq_lora_A2.weight"] = A(D)
            t[p + "wq_lora_B2.weight"] = B(H * d, b2_std)
            t[p + "wk_lora_A2.weight"] = A(D)
            t[p + "wk_lora_B2.weight"] = B(G * d, b2_std)
        if a.learn_lambda:
            for n in ("lambda_q1", "lambda_k1", "lambda_q2", "lambda_k2"):
                t[p + n] = rng.standard_normal(d) * 0.2
                dtypes[p + n] = "F32"  # the authors create these as explicit float32 Parameters
        if a.groupnorm:
            t[p + "subln.weight"] = 1.0 + 0.1 * rng.standard_normal(d)
        if a.lora_v:
            t[p + "wv_lora_A.weight"] = A(D)
            t[p + "wv_lora_B.weight"] = B(G * d)
        if a.lora_o:
            t[p + "wo_lora_A.weight"] = A(D)
            t[p + "wo_lora_B.weight"] = B(D)
        if a.lora_mlp:
            q = f"model.layers.{i}.mlp."
            t[q + "gate_proj_lora_A.weight"] = A(D)
            t[q + "gate_proj_lora_B.weight"] = B(I)
            t[q + "up_proj_lora_A.weight"] = A(D)
            t[q + "up_proj_lora_B.weight"] = B(I)
            t[q + "down_proj_lora_A.weight"] = A(I)
            t[q + "down_proj_lora_B.weight"] = B(D)
    for k in t:
        dtypes.setdefault(k, a.dtype)

    cfg = dict(base_cfg)
    cfg.update({
        "architectures": ["LlamaLoraDiffTransformerForCausalLM"],
        "auto_map": {
            "AutoConfig": "llama_lora_diff_transformer_config.LlamaLoraDiffTransformerConfig",
            "AutoModelForCausalLM": "llama_lora_diff_transformer_model.LlamaLoraDiffTransformerForCausalLM",
        },
        "model_type": "llama_lora_diff_transformer",
        "_name_or_path": a.base,
        "diff_attn_implementation": "eager",
        "attention_lora_r": r,
        "attention_lora_alpha": num(a.alpha),
        "attention_lora_dropout": a.dropout,
        "learn_lambda": bool(a.learn_lambda),
        "diff_attn_lambda": lam,
        "layers_to_transform": layers,
        "diff_attn_init_with_base_weights": True,
        "lora_negative_term_only": bool(a.negative_term_only),
        "negative_term_lora_only": bool(a.negative_term_lora_only),
        "negative_term_full_dim": bool(a.full_dim),
        "lora_v": bool(a.lora_v),
        "lora_o": bool(a.lora_o),
        "lora_mlp": bool(a.lora_mlp),
        "groupnorm": bool(a.groupnorm),
        "relu_on_differential": bool(a.relu),
        "fa_deterministic_backward": False,
        "verbose": False,
        "torch_dtype": TORCH_DTYPE[a.dtype],
    })
    os.makedirs(a.out, exist_ok=True)
    write_json(os.path.join(a.out, "config.json"), cfg)
    st_io.write(os.path.join(a.out, "model.safetensors"), t, dtypes, ST_META)


# ----------------------------------------------------------------------------- CLI

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("base", help="random HF Llama model folder")
    b.add_argument("--out", required=True)
    b.add_argument("--seed", type=int, required=True)
    b.add_argument("--hidden", type=int, default=64)
    b.add_argument("--layers", type=int, default=2)
    b.add_argument("--heads", type=int, default=8)
    b.add_argument("--kv-heads", type=int, default=2)
    b.add_argument("--head-dim", type=int, default=None, help="default hidden/heads")
    b.add_argument("--inter", type=int, default=96)
    b.add_argument("--vocab", type=int, default=101)
    b.add_argument("--rope-theta", type=float, default=10000.0)
    b.add_argument("--rope-llama3", action="store_true")
    b.add_argument("--tie", action="store_true")
    b.add_argument("--dtype", choices=list(TORCH_DTYPE), default="F32")
    b.add_argument("--shards", type=int, default=1)
    b.set_defaults(fn=cmd_base)

    lo = sub.add_parser("lora", help="random PEFT LoRA adapter folder")
    lo.add_argument("--base", required=True)
    lo.add_argument("--out", required=True)
    lo.add_argument("--seed", type=int, required=True)
    lo.add_argument("--r", type=int, default=4)
    lo.add_argument("--alpha", type=float, default=8)
    lo.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    lo.add_argument("--rslora", action="store_true")
    lo.add_argument("--dropout", type=float, default=0.05)
    lo.add_argument("--zero-b", action="store_true", help="B = 0 (an untrained adapter)")
    lo.add_argument("--dtype", choices=list(TORCH_DTYPE), default=None, help="default: the base's dtype")
    lo.set_defaults(fn=cmd_lora)

    df = sub.add_parser("difflora", help="random DiffLoRA folder in the authors' format")
    df.add_argument("--base", required=True)
    df.add_argument("--out", required=True)
    df.add_argument("--seed", type=int, required=True)
    df.add_argument("--r", type=int, default=4)
    df.add_argument("--alpha", type=float, default=8)
    df.add_argument("--dropout", type=float, default=0.1)
    df.add_argument("--negative-term-only", action="store_true", help="lora_negative_term_only")
    df.add_argument("--negative-term-lora-only", action="store_true", help="negative_term_lora_only")
    df.add_argument("--full-dim", action="store_true", help="negative_term_full_dim")
    df.add_argument("--learn-lambda", action="store_true")
    g = df.add_mutually_exclusive_group()
    g.add_argument("--lambda", dest="lam", type=float, default=None,
                   help="diff_attn_lambda (default 0.1 fixed, 0.0 = layer rule when learned)")
    g.add_argument("--lambda-list", default=None, help="one value per layer, comma separated")
    df.add_argument("--groupnorm", action="store_true")
    df.add_argument("--relu", action="store_true", help="relu_on_differential")
    df.add_argument("--layers-to-transform", default=None, help="e.g. 0,1 (default all layers)")
    df.add_argument("--lora-v", action="store_true")
    df.add_argument("--lora-o", action="store_true")
    df.add_argument("--lora-mlp", action="store_true")
    df.add_argument("--dtype", choices=list(TORCH_DTYPE), default=None, help="default: the base's dtype")
    df.set_defaults(fn=cmd_difflora)

    a = ap.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    main()
