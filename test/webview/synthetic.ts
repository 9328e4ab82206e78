/**
 * Synthetic attention maps with the structure real heads show (BOS sink, previous token, local window,
 * "same token" lookups, broad heads), for a base model, a LoRA and a DiffLoRA adapter over one prompt.
 * Deterministic (seeded). Test and demo data only.
 */
import type { HeadMaps, LayerMaps, ModelAttention } from '../../protocol/attention';

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

type Pattern = 'bos' | 'prev' | 'local' | 'same' | 'broad' | 'first-of-line';

function logits(pattern: Pattern, tokens: string[], q: number, k: number, r: () => number): number {
  const noise = (r() - 0.5) * 1.2;
  switch (pattern) {
    case 'bos':
      return (k === 0 ? 4 : 0) + noise;
    case 'prev':
      return (k === q - 1 ? 5 : k === 0 ? 1.5 : 0) + noise;
    case 'local':
      return (q - k <= 3 ? 2.5 - 0.5 * (q - k) : 0) + (k === 0 ? 2 : 0) + noise;
    case 'same':
      return (k < q && tokens[k].trim() === tokens[q].trim() && tokens[q].trim() ? 5 : 0) + (k === 0 ? 2.5 : 0) + noise;
    case 'first-of-line':
      return (k === 0 || tokens[k - 1]?.includes('\n') ? 3 : 0) + noise;
    case 'broad':
      return noise * 0.6;
  }
}

function softmaxRows(l: Float32Array, t: number): Float32Array {
  const out = new Float32Array(t * t);
  for (let q = 0; q < t; q++) {
    let m = -Infinity;
    for (let k = 0; k <= q; k++) m = Math.max(m, l[q * t + k]);
    let s = 0;
    for (let k = 0; k <= q; k++) {
      const e = Math.exp(l[q * t + k] - m);
      out[q * t + k] = e;
      s += e;
    }
    for (let k = 0; k <= q; k++) out[q * t + k] /= s;
  }
  return out;
}

const PATTERNS: Pattern[] = ['bos', 'prev', 'local', 'same', 'broad', 'first-of-line'];

/** Base, LoRA and DiffLoRA attention over `tokens`, numLayers x numHeads. */
export function syntheticModels(tokens: string[], numLayers: number, numHeads: number, seed = 7): ModelAttention[] {
  const t = tokens.length;
  const r = rng(seed);
  const base: LayerMaps[] = [],
    lora: LayerMaps[] = [],
    diff: LayerMaps[] = [];
  for (let layer = 0; layer < numLayers; layer++) {
    const lambda = 0.8 - 0.6 * Math.exp(-0.3 * layer) + (r() - 0.5) * 0.05;
    const bh: HeadMaps[] = [],
      lh: HeadMaps[] = [],
      dh: HeadMaps[] = [];
    for (let head = 0; head < numHeads; head++) {
      const p = PATTERNS[(layer * 7 + head * 3) % PATTERNS.length];
      const lg = new Float32Array(t * t);
      for (let q = 0; q < t; q++) for (let k = 0; k <= q; k++) lg[q * t + k] = logits(p, tokens, q, k, r);
      const A = softmaxRows(lg, t);
      // LoRA: a small perturbation of the logits.
      const ll = lg.map((v) => v + (r() - 0.5) * 0.6);
      // DiffLoRA: the positive term sharpens, the negative term learns the "noise" (BOS sink + broad).
      const l1 = lg.map((v, i) => v * 1.15 + (r() - 0.5) * 0.4 + (i % t === 0 ? 0.3 : 0));
      const l2 = new Float32Array(t * t);
      for (let q = 0; q < t; q++) for (let k = 0; k <= q; k++) l2[q * t + k] = (k === 0 ? 3 : 0) + (r() - 0.5) * 0.8;
      const A1 = softmaxRows(l1, t),
        A2 = softmaxRows(l2, t);
      const neg = A2.map((v) => v * lambda);
      const D = A1.map((v, i) => v - neg[i]);
      bh.push({ head, positive: A });
      lh.push({ head, positive: softmaxRows(ll, t) });
      dh.push({ head, positive: A1, negative: neg, differential: D });
    }
    base.push({ layer, heads: bh });
    lora.push({ layer, heads: lh });
    diff.push({ layer, lambda, heads: dh });
  }
  const common = { tokens, tq: t, tk: t, numLayers, numHeads };
  return [
    { label: 'base', kind: 'base', ...common, layers: base },
    { label: 'LoRA r=16', kind: 'lora', ...common, layers: lora },
    { label: 'DiffLoRA r=8', kind: 'difflora', ...common, layers: diff },
  ];
}

export const CODE_TOKENS = [
  '<|begin_of_text|>',
  'def',
  ' add',
  '(a',
  ',',
  ' b',
  '):',
  '\n',
  '   ',
  ' """',
  'Return',
  ' the',
  ' sum',
  '."""',
  '\n',
  '   ',
  ' return',
  ' a',
  ' +',
  ' b',
  '\n',
  '\n',
  'def',
  ' mul',
  '(a',
  ',',
  ' b',
  '):',
  '\n',
  '   ',
  ' return',
  ' a',
  ' *',
  ' b',
  '\n',
  'print',
  '(add',
  '(2',
  ',',
  ' 3',
  '))',
];
