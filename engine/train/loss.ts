/** The language-modelling loss over target tokens, and the batches it is computed on. */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy } from '../model/fused';

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
  const ids: number[][] = [],
    labels: number[] = [],
    weights: number[] = [];
  let targetCount = 0,
    tokenCount = 0;
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
 * Sum over target positions of cross-entropy(logits, label), divided by `normaliser` (the number of
 * targets in the whole step).
 */
export function maskedCrossEntropy(logits: tf.Tensor, batch: Batch, normaliser: number): tf.Scalar {
  return crossEntropy(logits, tf.tensor1d(batch.labels, 'int32'), tf.div(tf.tensor1d(batch.weights), normaliser));
}

/** Mean loss over the target tokens of `batches` (no dropout): held-out evaluation. */
export async function meanTargetLoss(forward: (ids: number[][]) => tf.Tensor, batches: Batch[]): Promise<number> {
  let sum = 0,
    count = 0;
  for (const b of batches) {
    const l = tf.tidy(() => maskedCrossEntropy(forward(b.ids), b, 1));
    sum += (await l.data())[0];
    count += b.targetCount;
    l.dispose();
  }
  return sum / Math.max(1, count);
}
