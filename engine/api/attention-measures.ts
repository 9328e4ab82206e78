/**
 * The paper's attention analyses as numbers per layer x head:
 * - `bos`: mean attention mass on the first token over the query positions after it (attention sinks);
 * - `needle`: a number hidden in filler text and asked for at the end ("magic number" / passkey
 *   retrieval); the mass the final position puts on the number's tokens.
 * Each model is measured on its effective map: the differential map of a DiffLoRA layer, else the
 * positive (softmax) map.
 */
import type { PackedLayerMaps } from '../../protocol/attention';
import type { TokenSpan } from '../../protocol/engine';

/** Code for the BOS measurement when the user gives none: ordinary Python, ~150 tokens. */
export const DEFAULT_BOS_TEXT = `import os


def read_config(path, defaults=None):
    """Read a key=value file into a dict, starting from the defaults."""
    config = dict(defaults or {})
    if not os.path.exists(path):
        return config
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            config[key.strip()] = value.strip()
    return config
`;

/** The effective map of each head of a layer: [heads, tq, tk]. */
export function effectiveMaps(p: PackedLayerMaps): Float32Array {
  return p.differential ?? p.positive;
}

/** Per head of the layer: mean over query positions 1..T-1 of the map's first column. */
export function bosMass(p: PackedLayerMaps): Float32Array {
  const a = effectiveMaps(p);
  const out = new Float32Array(p.heads.length);
  if (p.tq < 2) return out;
  for (let h = 0; h < p.heads.length; h++) {
    let s = 0;
    for (let q = 1; q < p.tq; q++) s += a[(h * p.tq + q) * p.tk];
    out[h] = s / (p.tq - 1);
  }
  return out;
}

/** Per head of the layer: the last query position's mass on keys [start, end). */
export function spanMass(p: PackedLayerMaps, start: number, end: number): Float32Array {
  const a = effectiveMaps(p);
  const out = new Float32Array(p.heads.length);
  for (let h = 0; h < p.heads.length; h++) {
    const row = (h * p.tq + p.tq - 1) * p.tk;
    let s = 0;
    for (let k = start; k < end; k++) s += a[row + k];
    out[h] = s;
  }
  return out;
}

const FILLER = ['The grass is green.', 'The sky is blue.', 'The sun is yellow.', 'Here we go.', 'There and back again.'];

/** A small deterministic generator (mulberry32): the needle's value and place follow from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface NeedlePrompt {
  text: string;
  value: string;
  /** Character range of the number's first mention. */
  start: number;
  end: number;
}

/**
 * Filler sentences of about `fillerChars` characters with "The magic number is N." at the sentence
 * boundary nearest `depth` (0 = start, 1 = end), then the question. The needle's range is its digits;
 * its value follows from the seed.
 */
export function needlePrompt(fillerChars: number, depth: number, seed: number): NeedlePrompt {
  const r = rng(seed);
  const value = String(10000 + Math.floor(r() * 90000));
  const sentences: string[] = [];
  let n = 0;
  for (let i = 0; n < fillerChars; i++) {
    const s = FILLER[i % FILLER.length];
    sentences.push(s);
    n += s.length + 1;
  }
  const at = Math.round(depth * sentences.length);
  const before = sentences.slice(0, at).join(' ');
  const lead = `${before}${before ? ' ' : ''}The magic number is `;
  const text = `${lead}${value}. Remember it. ${sentences.slice(at).join(' ')}\nWhat is the magic number? The magic number is`;
  return { text, value, start: lead.length, end: lead.length + value.length };
}

/** Tokens [first, last+1) whose character ranges overlap [start, end). */
export function tokenRange(spans: TokenSpan[], start: number, end: number): { tokenStart: number; tokenEnd: number } | undefined {
  let first = -1;
  let last = -1;
  spans.forEach((s, i) => {
    if (s.start === undefined || s.end === undefined || s.end <= start || s.start >= end) return;
    if (first < 0) first = i;
    last = i;
  });
  return first < 0 ? undefined : { tokenStart: first, tokenEnd: last + 1 };
}
