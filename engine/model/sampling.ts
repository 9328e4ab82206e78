/** Picking the next token from logits: greedy, or temperature + nucleus (top-p) sampling. */
import { Rng } from '../util/rng';

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature: number;
  topP: number;
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export function sampleToken(logits: Float32Array, opts: SamplingOptions, rng: Rng): number {
  if (opts.temperature <= 0) return argmax(logits);
  const max = logits[argmax(logits)];
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += probs[i] = Math.exp((logits[i] - max) / opts.temperature);
  const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]);
  // Keep the smallest prefix whose mass reaches top_p (always at least one token).
  let kept = 0,
    mass = 0;
  while (kept < order.length && (kept === 0 || mass < opts.topP * sum)) mass += probs[order[kept++]];
  let u = rng.next() * mass;
  for (let i = 0; i < kept; i++) {
    u -= probs[order[i]];
    if (u < 0) return order[i];
  }
  return order[kept - 1];
}
