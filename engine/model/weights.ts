/** Base-model weights as long-lived tfjs tensors, linear weights pre-transposed to [in, out]. */
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'path';
import { readTensorFloat32, TensorReader, transposed } from '../formats/safetensors';
import { TensorStore } from '../formats/tensor-store';
import { LlamaConfig } from './config';

export interface LayerWeights {
  inputNorm: tf.Tensor1D;
  postNorm: tf.Tensor1D;
  /** [in, out]: XNNPACK's fast matMul on wasm takes only untransposed 2-D operands. */
  q: tf.Tensor2D;
  k: tf.Tensor2D;
  v: tf.Tensor2D;
  o: tf.Tensor2D;
  gate: tf.Tensor2D;
  up: tf.Tensor2D;
  down: tf.Tensor2D;
}

export interface BaseWeights {
  embed: tf.Tensor2D;
  /**
   * [hidden, vocab]: the head, untied, or tied as a transposed copy of `embed` where a plain matMul is
   * faster than a transposed one (wasm). Absent when tied otherwise (native: 1 GB less for a 1B model,
   * for a head product 5-14% slower at 512-128 tokens and 25% for one token, measured on one OpenBLAS
   * thread) and when the embedding trains, so the tied head follows it.
   */
  lmHeadT?: tf.Tensor2D;
  norm: tf.Tensor1D;
  layers: LayerWeights[];
}

export interface WeightOptions {
  /** How tensors are read from the files (the native backend's addon reads them itself). */
  reader?: TensorReader;
  /** Keep a tied head as its own transposed copy (see BaseWeights.lmHeadT). */
  tiedHeadCopy?: boolean;
}

/** Bytes of float32 tensors the engine will hold for this model (for the memory checks). */
export function baseWeightBytes(c: LlamaConfig, o: WeightOptions = {}): number {
  const D = c.hiddenSize,
    I = c.intermediateSize,
    hd = c.headDim;
  const perLayer = 2 * D + D * c.numHeads * hd * 2 + D * c.numKvHeads * hd * 2 + 3 * D * I;
  const heads = c.tieWordEmbeddings && !o.tiedHeadCopy ? 1 : 2;
  return 4 * (heads * c.vocabSize * D + D + c.numLayers * perLayer);
}

/**
 * An HF [out, in] weight as an [in, out] tensor, transposed on the host in cache-sized blocks: tfjs's
 * transpose kernel is about 20x slower on the cpu backend and 2.5x on wasm (a 1B model's load).
 */
export function toInOut(data: Float32Array, outDim: number, inDim: number): tf.Tensor2D {
  return tf.tensor2d(transposed(data, outDim, inDim), [inDim, outDim]);
}

/** The tensor is read already transposed: no [out, in] copy exists beside the [in, out] one. */
function linearT(store: TensorStore, name: string, outDim: number, inDim: number): tf.Tensor2D {
  return tf.tensor2d(store.readTransposed(name, outDim, inDim), [inDim, outDim]);
}

export function loadBaseWeights(
  dir: string,
  c: LlamaConfig,
  onProgress?: (done: number, total: number) => void,
  o: WeightOptions = {},
): BaseWeights {
  const store = TensorStore.openFolder(dir, 'model.safetensors', o.reader ?? readTensorFloat32);
  const D = c.hiddenSize,
    hd = c.headDim;
  const total = c.numLayers + 2;
  const embed = tf.tensor2d(store.read('model.embed_tokens.weight', [c.vocabSize, D]), [c.vocabSize, D]);
  onProgress?.(1, total);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    layers.push({
      inputNorm: tf.tensor1d(store.read(`${p}input_layernorm.weight`, [D])),
      postNorm: tf.tensor1d(store.read(`${p}post_attention_layernorm.weight`, [D])),
      q: linearT(store, `${p}self_attn.q_proj.weight`, c.numHeads * hd, D),
      k: linearT(store, `${p}self_attn.k_proj.weight`, c.numKvHeads * hd, D),
      v: linearT(store, `${p}self_attn.v_proj.weight`, c.numKvHeads * hd, D),
      o: linearT(store, `${p}self_attn.o_proj.weight`, D, c.numHeads * hd),
      gate: linearT(store, `${p}mlp.gate_proj.weight`, c.intermediateSize, D),
      up: linearT(store, `${p}mlp.up_proj.weight`, c.intermediateSize, D),
      down: linearT(store, `${p}mlp.down_proj.weight`, D, c.intermediateSize),
    });
    onProgress?.(i + 2, total);
  }
  const norm = tf.tensor1d(store.read('model.norm.weight', [D]));
  // A tied copy is the embedding read a second time, transposed: no third copy while transposing.
  const lmHeadT = !c.tieWordEmbeddings
    ? linearT(store, 'lm_head.weight', c.vocabSize, D)
    : o.tiedHeadCopy
      ? linearT(store, 'model.embed_tokens.weight', c.vocabSize, D)
      : undefined;
  onProgress?.(total, total);
  return { embed, lmHeadT, norm, layers };
}

export function modelFolderFiles(dir: string): { config: string; tokenizer: string; tokenizerConfig: string } {
  return {
    config: path.join(dir, 'config.json'),
    tokenizer: path.join(dir, 'tokenizer.json'),
    tokenizerConfig: path.join(dir, 'tokenizer_config.json'),
  };
}
