/**
 * Adapter tensors attached to a base model, read from the PEFT and the DiffLoRA authors' folders.
 * A and B are held transposed ([in, r], [r, out]) so the forward pass uses plain 2-D matMuls.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { readJsonFile } from '../formats/json-fields';
import { TensorStore } from '../formats/tensor-store';
import {
  AdapterConfig, DIFFLORA_MODEL_TYPE, DiffLoraConfig, LinearTarget, LoraConfig, lambdaInit, layerIsAdapted, loraScale,
  parseDiffLoraConfig, parseLoraConfig,
} from './adapter-config';
import { LlamaConfig } from './config';
import { toInOut } from './weights';

export interface LoraPair {
  aT: tf.Tensor2D;
  bT: tf.Tensor2D;
  scale: number;
}

export type LambdaParams =
  | { kind: 'fixed'; value: number }
  | { kind: 'learned'; q1: tf.Tensor1D; k1: tf.Tensor1D; q2: tf.Tensor1D; k2: tf.Tensor1D };

export interface DiffAttention {
  q1?: LoraPair;
  k1?: LoraPair;
  q2?: LoraPair;
  k2?: LoraPair;
  /** Full-dim negative projections, [in, out]. */
  q2Full?: tf.Tensor2D;
  k2Full?: tf.Tensor2D;
  /** Whether Q2/K2 include the frozen base projection. */
  negativeUsesBase: boolean;
  lambda: LambdaParams;
  lambdaInit: number;
  subln?: tf.Tensor1D;
  relu: boolean;
}

export interface LayerAdapter {
  lora: Partial<Record<LinearTarget, LoraPair>>;
  /** The authors' o adapter reads the layer input X, not the attention output. */
  oAdapterReadsLayerInput: boolean;
  diff?: DiffAttention;
}

export interface Adapter {
  dir: string;
  config: AdapterConfig;
  layers: (LayerAdapter | undefined)[];
  /** Every tensor as stored in the checkpoint (HF orientation), for counting and saving. */
  parameterCount: number;
}

const MODULE_OF: Record<LinearTarget, string> = {
  q_proj: 'self_attn', k_proj: 'self_attn', v_proj: 'self_attn', o_proj: 'self_attn',
  gate_proj: 'mlp', up_proj: 'mlp', down_proj: 'mlp',
};

export function linearShape(c: LlamaConfig, t: LinearTarget): { out: number; in: number } {
  const D = c.hiddenSize, I = c.intermediateSize, qd = c.numHeads * c.headDim, kvd = c.numKvHeads * c.headDim;
  switch (t) {
    case 'q_proj': return { out: qd, in: D };
    case 'k_proj': case 'v_proj': return { out: kvd, in: D };
    case 'o_proj': return { out: D, in: qd };
    case 'gate_proj': case 'up_proj': return { out: I, in: D };
    case 'down_proj': return { out: D, in: I };
  }
}

export function readAdapterConfig(dir: string): AdapterConfig {
  const peft = path.join(dir, 'adapter_config.json');
  if (fs.existsSync(peft)) return parseLoraConfig(peft, readJsonFile(peft));
  const authors = path.join(dir, 'config.json');
  if (fs.existsSync(authors)) {
    const json = readJsonFile(authors);
    if (json.model_type === DIFFLORA_MODEL_TYPE) return parseDiffLoraConfig(authors, json);
    throw new InputError(authors, `model_type ${JSON.stringify(json.model_type)} is not an adapter ('${DIFFLORA_MODEL_TYPE}' expected)`);
  }
  throw new InputError(dir, 'not an adapter folder: no adapter_config.json (PEFT LoRA) or config.json (DiffLoRA)');
}

class PairReader {
  count = 0;
  private readonly used = new Set<string>();
  constructor(private readonly store: TensorStore) {}

  has(name: string): boolean {
    return this.store.has(name);
  }

  private read(name: string, shape: number[]): Float32Array {
    this.used.add(name);
    return this.store.read(name, shape);
  }

  /** Tensors in the file that the configuration never asked for: a sign the config and weights disagree. */
  unused(): string[] {
    return this.store.names().filter((n) => !this.used.has(n));
  }

  pair(aName: string, bName: string, r: number, inDim: number, outDim: number, scale: number): LoraPair {
    this.count += r * (inDim + outDim);
    return { aT: this.transposed(aName, r, inDim), bT: this.transposed(bName, outDim, r), scale };
  }

  full(name: string, outDim: number, inDim: number): tf.Tensor2D {
    this.count += outDim * inDim;
    return this.transposed(name, outDim, inDim);
  }

  vector(names: string[], dim: number): tf.Tensor1D {
    const name = names.find((n) => this.store.has(n)) ?? names[0];
    this.count += dim;
    return tf.tensor1d(this.read(name, [dim]));
  }

  private transposed(name: string, outDim: number, inDim: number): tf.Tensor2D {
    return toInOut(this.read(name, [outDim, inDim]), outDim, inDim);
  }
}

export function loadAdapter(dir: string, base: LlamaConfig): Adapter {
  const config = readAdapterConfig(dir);
  const file = config.kind === 'lora' ? 'adapter_model.safetensors' : 'model.safetensors';
  const reader = new PairReader(TensorStore.openFolder(dir, file));
  const layers = config.kind === 'lora' ? loadPeftLayers(reader, config, base) : loadDiffLayers(reader, config, base);
  const unused = reader.unused();
  if (unused.length) {
    throw new InputError(dir, `${unused.length} tensor(s) that the adapter's config does not use, e.g. '${unused[0]}' (config and weights disagree, or the adapter targets other modules/layers)`);
  }
  return { dir, config, layers, parameterCount: reader.count };
}

function loadPeftLayers(reader: PairReader, c: LoraConfig, base: LlamaConfig): (LayerAdapter | undefined)[] {
  const scale = loraScale(c);
  const layers: (LayerAdapter | undefined)[] = [];
  for (let i = 0; i < base.numLayers; i++) {
    if (!layerIsAdapted(c.layers, i)) { layers.push(undefined); continue; }
    const lora: LayerAdapter['lora'] = {};
    for (const t of c.targets) {
      const { out, in: inDim } = linearShape(base, t);
      const prefix = `base_model.model.model.layers.${i}.${MODULE_OF[t]}.${t}`;
      // PEFT strips the adapter name on save; files written with it keep ".default".
      const named = reader.has(`${prefix}.lora_A.weight`) ? '' : '.default';
      lora[t] = reader.pair(`${prefix}.lora_A${named}.weight`, `${prefix}.lora_B${named}.weight`, c.r, inDim, out, scale);
    }
    layers.push({ lora, oAdapterReadsLayerInput: false });
  }
  return layers;
}

function loadDiffLayers(reader: PairReader, c: DiffLoraConfig, base: LlamaConfig): (LayerAdapter | undefined)[] {
  const s = loraScale(c);
  const D = base.hiddenSize, d = base.headDim, qd = base.numHeads * d, kvd = base.numKvHeads * d;
  const layers: (LayerAdapter | undefined)[] = [];
  for (let i = 0; i < base.numLayers; i++) {
    if (!layerIsAdapted(c.layers, i)) { layers.push(undefined); continue; }
    const attn = `model.layers.${i}.self_attn.`;
    const mlp = `model.layers.${i}.mlp.`;
    // The authors name pairs "<stem>_A<suffix>.weight" / "<stem>_B<suffix>.weight".
    const pair = (prefix: string, stem: string, suffix: string, inDim: number, outDim: number) =>
      reader.pair(`${prefix}${stem}_A${suffix}.weight`, `${prefix}${stem}_B${suffix}.weight`, c.r, inDim, outDim, s);
    const vec = (name: string) => reader.vector([`${attn}${name}`, `${attn}${name}.weight`], d);
    const diff: DiffAttention = {
      negativeUsesBase: !c.negativeTermLoraOnly && !c.negativeTermFullDim,
      lambda: c.learnLambda
        ? { kind: 'learned', q1: vec('lambda_q1'), k1: vec('lambda_k1'), q2: vec('lambda_q2'), k2: vec('lambda_k2') }
        : { kind: 'fixed', value: lambdaInit(c, i) },
      lambdaInit: lambdaInit(c, i),
      relu: c.reluOnDifferential,
    };
    if (!c.negativeTermOnly) {
      diff.q1 = pair(attn, 'wq_lora', '1', D, qd);
      diff.k1 = pair(attn, 'wk_lora', '1', D, kvd);
    }
    if (c.negativeTermFullDim) {
      diff.q2Full = reader.full(`${attn}wq_2.weight`, qd, D);
      diff.k2Full = reader.full(`${attn}wk_2.weight`, kvd, D);
    } else {
      diff.q2 = pair(attn, 'wq_lora', '2', D, qd);
      diff.k2 = pair(attn, 'wk_lora', '2', D, kvd);
    }
    if (c.groupnorm) diff.subln = reader.vector([`${attn}subln.weight`], d);
    const lora: LayerAdapter['lora'] = {};
    if (c.loraV) lora.v_proj = pair(attn, 'wv_lora', '', D, kvd);
    if (c.loraO) lora.o_proj = pair(attn, 'wo_lora', '', D, D);
    if (c.loraMlp) {
      for (const t of ['gate_proj', 'up_proj', 'down_proj'] as const) {
        const { out, in: inDim } = linearShape(base, t);
        lora[t] = pair(mlp, `${t}_lora`, '', inDim, out);
      }
    }
    layers.push({ lora, oAdapterReadsLayerInput: true, diff });
  }
  return layers;
}

export function disposeAdapter(a: Adapter): void {
  for (const layer of a.layers) {
    if (!layer) continue;
    const tensors: (tf.Tensor | undefined)[] = [];
    const pairs = [...Object.values(layer.lora)];
    const d = layer.diff;
    if (d) {
      pairs.push(...[d.q1, d.k1, d.q2, d.k2].filter((p): p is LoraPair => !!p));
      tensors.push(d.q2Full, d.k2Full, d.subln);
      if (d.lambda.kind === 'learned') tensors.push(d.lambda.q1, d.lambda.k1, d.lambda.q2, d.lambda.k2);
    }
    for (const p of pairs) tensors.push(p.aT, p.bT);
    for (const t of tensors) t?.dispose();
  }
}
