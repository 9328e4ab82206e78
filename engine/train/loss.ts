/** The language-modelling loss over target tokens, and the batches it is computed on. */
import * as tf from '@tensorflow/tfjs-core';

export interface Sequence {
  ids: number[];
  /** 1 where the token is a prediction target (its logit comes from the previous position). */
  targetMask: number[];
}

export interface Batch {
  /** Right-padded to one length: with a causal mask, real tokens never see the padding after them. */
  ids: number[][];
  /** labels[b][i] = ids[b][i + 1]; weights[b][i] = 1 where that label is a target. */
  labels: number[];
  weights: number[];
  targetCount: number;
  tokenCount: number;
}

export function makeBatch(seqs: Sequence[], padId: number): Batch {
  const T = Math.max(...seqs.map((s) => s.ids.length));
  const ids: number[][] = [], labels: number[] = [], weights: number[] = [];
  let targetCount = 0, tokenCount = 0;
  for (const s of seqs) {
    const row = s.ids.concat(new Array(T - s.ids.length).fill(padId));
    ids.push(row);
    tokenCount += s.ids.length;
    for (let i = 0; i < T; i++) {
      const w = i + 1 < s.ids.length ? s.targetMask[i + 1] : 0;
      labels.push(i + 1 < s.ids.length ? s.ids[i + 1] : 0);
      weights.push(w);
      targetCount += w;
    }
  }
  return { ids, labels, weights, targetCount, tokenCount };
}

/**
 * Sum over target positions of cross-entropy(logits, label) (no gather: one-hot labels, since wasm
 * has no gradient for gather), divided by `normaliser` (the number of targets in the whole step).
 */
export function maskedCrossEntropy(logits: tf.Tensor, batch: Batch, normaliser: number): tf.Scalar {
  const V = logits.shape[logits.shape.length - 1];
  const flat = tf.reshape(logits, [-1, V]) as tf.Tensor2D;
  const oneHot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), V);
  const perToken = tf.sub(tf.logSumExp(flat, -1), tf.sum(tf.mul(flat, oneHot), -1));
  return tf.div(tf.sum(tf.mul(perToken, tf.tensor1d(batch.weights))), normaliser) as tf.Scalar;
}
