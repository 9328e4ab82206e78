/**
 * Adapter tensors attached to a base model, read from and written to the PEFT and the DiffLoRA
 * authors' folders. A and B are held transposed ([in, r], [r, out]) so the forward pass uses plain
 * 2-D matMuls; saving transposes them back.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { Json, readJsonFile } from '../formats/json-fields';
import { DType } from '../formats/dtype';
import { writeSafetensors } from '../formats/safetensors';
import { TensorStore } from '../formats/tensor-store';
import {
  AdapterConfig,
  DIFFLORA_MODEL_TYPE,
  LinearTarget,
  lambdaInit,
  layerIsAdapted,
  loraScale,
  parseDiffLoraConfig,
  parseLoraConfig,
} from './adapter-config';
import { adapterTensorSpecs, Slot, TensorSpec } from './adapter-layout';
import { LlamaConfig } from './config';
import { toInOut } from './weights';

export interface LoraPair {
  aT: tf.Tensor2D;
  bT: tf.Tensor2D;
  scale: number;
}

export type LambdaParams =
  { kind: 'fixed'; value: number } | { kind: 'learned'; q1: tf.Tensor1D; k1: tf.Tensor1D; q2: tf.Tensor1D; k2: tf.Tensor1D };

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
  /** The config file's JSON, written back unchanged on save. */
  configJson: Json;
  layers: (LayerAdapter | undefined)[];
  parameterCount: number;
}

const PEFT_CONFIG = 'adapter_config.json';
const PEFT_WEIGHTS = 'adapter_model.safetensors';
const AUTHORS_CONFIG = 'config.json';
const AUTHORS_WEIGHTS = 'model.safetensors';

export function adapterFiles(kind: AdapterConfig['kind']): { config: string; weights: string } {
  return kind === 'lora' ? { config: PEFT_CONFIG, weights: PEFT_WEIGHTS } : { config: AUTHORS_CONFIG, weights: AUTHORS_WEIGHTS };
}

export function readAdapterConfigJson(dir: string): { config: AdapterConfig; json: Json } {
  if (!fs.existsSync(dir)) throw new InputError(dir, 'adapter folder not found');
  if (!fs.statSync(dir).isDirectory()) throw new InputError(dir, 'not a folder: --adapter takes the adapter folder');
  const peft = path.join(dir, PEFT_CONFIG);
  if (fs.existsSync(peft)) {
    const json = readJsonFile(peft);
    return { config: parseLoraConfig(peft, json), json };
  }
  const authors = path.join(dir, AUTHORS_CONFIG);
  if (fs.existsSync(authors)) {
    const json = readJsonFile(authors);
    if (json.model_type === DIFFLORA_MODEL_TYPE) return { config: parseDiffLoraConfig(authors, json), json };
    throw new InputError(authors, `model_type ${JSON.stringify(json.model_type)} is not an adapter ('${DIFFLORA_MODEL_TYPE}' expected)`);
  }
  throw new InputError(dir, `not an adapter folder: no ${PEFT_CONFIG} (PEFT LoRA) or ${AUTHORS_CONFIG} (DiffLoRA)`);
}

export function readAdapterConfig(dir: string): AdapterConfig {
  return readAdapterConfigJson(dir).config;
}

/** Layers with empty adapter structures (pairs and tensors filled in through `slotRef`). */
function emptyLayers(config: AdapterConfig, base: LlamaConfig): (LayerAdapter | undefined)[] {
  return [...Array(base.numLayers).keys()].map((i) => {
    if (!layerIsAdapted(config.layers, i)) return undefined;
    if (config.kind === 'lora') return { lora: {}, oAdapterReadsLayerInput: false };
    const init = lambdaInit(config, i);
    const diff: DiffAttention = {
      negativeUsesBase: !config.negativeTermLoraOnly && !config.negativeTermFullDim,
      // Learned vectors are filled in by their slots; the placeholder is replaced then.
      lambda: { kind: 'fixed', value: init },
      lambdaInit: init,
      relu: config.reluOnDifferential,
    };
    return { lora: {}, oAdapterReadsLayerInput: true, diff };
  });
}

type AnyPair = Partial<LoraPair> & { scale: number };

/** Reads or writes the tensor a slot names inside a layer. */
function slotRef(layer: LayerAdapter, slot: Slot, scale: number): { get: () => tf.Tensor | undefined; set: (t: tf.Tensor) => void } {
  const pairIn = (holder: Record<string, AnyPair | undefined>, key: string, part: 'A' | 'B') => {
    const field = part === 'A' ? 'aT' : 'bT';
    return {
      get: () => holder[key]?.[field],
      set: (t: tf.Tensor) => {
        (holder[key] ??= { scale })[field] = t as tf.Tensor2D;
      },
    };
  };
  const diff = layer.diff as DiffAttention;
  switch (slot.kind) {
    case 'lora':
      return pairIn(layer.lora as Record<string, AnyPair>, slot.target, slot.part);
    case 'diff':
      return pairIn(diff as unknown as Record<string, AnyPair>, slot.pair, slot.part);
    case 'full':
      return {
        get: () => diff[slot.which],
        set: (t) => {
          diff[slot.which] = t as tf.Tensor2D;
        },
      };
    case 'subln':
      return {
        get: () => diff.subln,
        set: (t) => {
          diff.subln = t as tf.Tensor1D;
        },
      };
    case 'lambda':
      return {
        get: () => (diff.lambda.kind === 'learned' ? diff.lambda[slot.part] : undefined),
        set: (t) => {
          if (diff.lambda.kind !== 'learned') {
            const z = t as tf.Tensor1D;
            diff.lambda = { kind: 'learned', q1: z, k1: z, q2: z, k2: z };
          }
          diff.lambda[slot.part] = t as tf.Tensor1D;
        },
      };
  }
}

/** Builds an adapter from one tensor per spec (HF orientation), e.g. read from a file or freshly initialised. */
export function assembleAdapter(
  dir: string,
  config: AdapterConfig,
  configJson: Json,
  base: LlamaConfig,
  values: (spec: TensorSpec) => Float32Array,
): Adapter {
  const layers = emptyLayers(config, base);
  const scale = loraScale(config.kind === 'lora' ? config : { r: config.r, alpha: config.alpha });
  let parameterCount = 0;
  for (const spec of adapterTensorSpecs(config, base)) {
    const data = values(spec);
    const t = spec.shape.length === 2 ? toInOut(data, spec.shape[0], spec.shape[1]) : tf.tensor1d(data);
    slotRef(layers[spec.layer] as LayerAdapter, spec.slot, scale).set(t);
    parameterCount += data.length;
  }
  return { dir, config, configJson, layers, parameterCount };
}

export function loadAdapter(dir: string, base: LlamaConfig): Adapter {
  const { config, json } = readAdapterConfigJson(dir);
  if (config.kind === 'difflora' && Array.isArray(config.lambda)) {
    for (let i = 0; i < base.numLayers; i++) {
      if (layerIsAdapted(config.layers, i) && config.lambda[i] === undefined) {
        throw new InputError(
          path.join(dir, adapterFiles(config.kind).config),
          `'diff_attn_lambda' lists ${config.lambda.length} value(s): none for layer ${i} of the ${base.numLayers}-layer model`,
        );
      }
    }
  }
  const store = TensorStore.openFolder(dir, adapterFiles(config.kind).weights);
  const used = new Set<string>();
  const adapter = assembleAdapter(dir, config, json, base, (spec) => {
    // PEFT strips the adapter name on save; files written with it keep ".default".
    const name = [spec.name, spec.name.replace(/\.lora_([AB])\.weight$/, '.lora_$1.default.weight')].find((n) => store.has(n)) ?? spec.name;
    used.add(name);
    return store.read(name, spec.shape);
  });
  const unused = store.names().filter((n) => !used.has(n));
  if (unused.length) {
    disposeAdapter(adapter);
    throw new InputError(
      dir,
      `${unused.length} tensor(s) that the adapter's config does not use, e.g. '${unused[0]}' (config and weights disagree, or the adapter targets other modules/layers)`,
    );
  }
  return adapter;
}

/**
 * Turns every adapter tensor into a trainable tf.Variable (in place) and returns them by checkpoint
 * name; lambda vectors and the group-norm weight are exempt from weight decay.
 */
export function makeTrainable(adapter: Adapter, base: LlamaConfig): { name: string; variable: tf.Variable; noDecay: boolean }[] {
  return adapterTensorSpecs(adapter.config, base).map((spec) => {
    const ref = slotRef(adapter.layers[spec.layer] as LayerAdapter, spec.slot, 0);
    const t = ref.get();
    if (!t) throw new Error(`adapter has no tensor for ${spec.name}`);
    // Unnamed: tfjs variable names are global, and two adapters share checkpoint names.
    const variable = t instanceof tf.Variable ? t : tf.variable(t, true);
    if (variable !== t) {
      ref.set(variable);
      t.dispose();
    }
    return { name: spec.name, variable, noDecay: spec.slot.kind === 'lambda' || spec.slot.kind === 'subln' };
  });
}

/** Writes the adapter in its own format (PEFT for LoRA, the authors' for DiffLoRA). */
export function saveAdapter(adapter: Adapter, base: LlamaConfig, dir: string, dtype: DType = 'F32'): void {
  fs.mkdirSync(dir, { recursive: true });
  const files = adapterFiles(adapter.config.kind);
  const tensors = adapterTensorSpecs(adapter.config, base).map((spec) => {
    const t = slotRef(adapter.layers[spec.layer] as LayerAdapter, spec.slot, 0).get();
    if (!t) throw new Error(`adapter has no tensor for ${spec.name}`);
    const stored = spec.shape.length === 2 ? tf.transpose(t) : t;
    const data = stored.dataSync() as Float32Array;
    if (stored !== t) stored.dispose();
    return { name: spec.name, shape: spec.shape, data };
  });
  writeSafetensors(path.join(dir, files.weights), tensors, dtype, { format: 'pt' });
  fs.writeFileSync(path.join(dir, files.config), `${JSON.stringify(adapter.configJson, null, 2)}\n`);
}

export function disposeAdapter(a: Adapter): void {
  for (const layer of a.layers) {
    if (!layer) continue;
    const pairs = [...Object.values(layer.lora)];
    const tensors: (tf.Tensor | undefined)[] = [];
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
