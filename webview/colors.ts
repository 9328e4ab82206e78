/**
 * Colour scales for attention maps: sequential (values >= 0) and diverging centred on 0 (whenever values
 * can be negative: differential maps and model differences). Each scale is a D3 scale plus a lookup
 * table of packed RGBA used to colour canvas pixels quickly; both come from the same interpolator.
 */
import * as d3 from 'd3';

export type Gamma = 'linear' | 'sqrt';
export type ScaleKind = 'sequential' | 'diverging';
/** A sequential map's hue: the default ramp, or its own for the subtracted term λ·A₂. */
export type Ramp = 'default' | 'negative';

export interface Theme {
  dark: boolean;
  background: string;
  foreground: string;
}

/** Odd size: the middle entry is exactly t = 0.5, the neutral colour of a diverging scale. */
export const LUT_SIZE = 1025;

export interface ColorScale {
  kind: ScaleKind;
  gamma: Gamma;
  /** sequential: [lo, hi]; diverging: [-m, m]. */
  domain: [number, number];
  /** The D3 scale (value -> CSS colour string). */
  scale: (v: number) => string;
  interpolator: (t: number) => string;
  /** Position in [0, 1] along the colour ramp. */
  t: (v: number) => number;
  /** LUT_SIZE packed RGBA (little-endian Uint32 as ImageData wants it). */
  lut: Uint32Array;
  /** [r, g, b] of the LUT entry used for v. */
  rgb: (v: number) => [number, number, number];
  lutIndex: (v: number) => number;
  /** A colour for a NaN / missing value. */
  missing: number;
  /** A colour for cells the causal mask hides (distinct from the ramp's 0 and from `missing`). */
  masked: number;
}

export function readTheme(el: Element): Theme {
  const cs = getComputedStyle(el);
  const bg = d3.color(cs.getPropertyValue('--dl-bg').trim() || cs.backgroundColor);
  const fg = d3.color(cs.getPropertyValue('--dl-fg').trim() || cs.color);
  const bgRgb =
    bg && bg.opacity > 0 ? bg.rgb() : d3.rgb(window.matchMedia?.('(prefers-color-scheme: dark)').matches ? '#1e1e1e' : '#ffffff');
  const lum = (0.2126 * bgRgb.r + 0.7152 * bgRgb.g + 0.0722 * bgRgb.b) / 255;
  return { dark: lum < 0.5, background: bgRgb.formatHex(), foreground: fg ? fg.rgb().formatHex() : lum < 0.5 ? '#cccccc' : '#333333' };
}

export function sequentialInterpolator(theme: Theme, ramp: Ramp = 'default'): (t: number) => string {
  // Zero sits close to the background in both themes, so small weights recede. λ·A₂ gets a hue of its
  // own (purple / magenta), so it is never mistaken for A₁ or for the negative side of a diverging map.
  if (ramp === 'negative')
    return theme.dark ? d3.piecewise(d3.interpolateLab, ['#1f1d24', '#4b2360', '#8e3b9e', '#d47fd6', '#f7e3fb']) : d3.interpolatePurples;
  return theme.dark ? d3.interpolateInferno : d3.interpolateBlues;
}

export function divergingInterpolator(theme: Theme): (t: number) => string {
  // Blue for negative, orange-red for positive, neutral (near the background) at 0.
  if (theme.dark) return d3.piecewise(d3.interpolateLab, ['#cfe8ff', '#4f9be8', '#1d4f86', '#262a30', '#8a3a1a', '#ea7a3c', '#ffe0c2']);
  return (t: number) => d3.interpolateRdBu(1 - t);
}

export function makeScale(kind: ScaleKind, gamma: Gamma, domain: [number, number], theme: Theme, ramp: Ramp = 'default'): ColorScale {
  let [lo, hi] = domain;
  if (kind === 'diverging') {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    lo = -m;
    hi = m;
  } else if (!(hi > lo)) hi = lo + 1;
  const interpolator = kind === 'sequential' ? sequentialInterpolator(theme, ramp) : divergingInterpolator(theme);
  let t: (v: number) => number;
  let scale: (v: number) => string;
  if (kind === 'sequential') {
    const span = hi - lo;
    t =
      gamma === 'sqrt'
        ? (v) => {
            const x = (v - lo) / span;
            return x <= 0 ? 0 : x >= 1 ? 1 : Math.sqrt(x);
          }
        : (v) => {
            const x = (v - lo) / span;
            return x <= 0 ? 0 : x >= 1 ? 1 : x;
          };
    scale =
      gamma === 'sqrt'
        ? (d3.scaleSequentialSqrt(interpolator).domain([lo, hi]).clamp(true) as unknown as (v: number) => string)
        : (d3.scaleSequential(interpolator).domain([lo, hi]).clamp(true) as unknown as (v: number) => string);
    if (gamma === 'sqrt' && lo !== 0) {
      // d3's sqrt scale transforms the domain ends, not the offset: keep ours for a non-zero start.
      scale = (v) => interpolator(t(v));
    }
  } else {
    const m = hi;
    t =
      gamma === 'sqrt'
        ? (v) => {
            const x = v / m;
            const a = Math.min(1, Math.sqrt(Math.abs(x)));
            return 0.5 + (x < 0 ? -a : a) / 2;
          }
        : (v) => {
            const x = Math.max(-1, Math.min(1, v / m));
            return 0.5 + x / 2;
          };
    scale =
      gamma === 'sqrt'
        ? (d3.scaleDivergingSqrt(interpolator).domain([-m, 0, m]).clamp(true) as unknown as (v: number) => string)
        : (d3.scaleDiverging(interpolator).domain([-m, 0, m]).clamp(true) as unknown as (v: number) => string);
  }
  const lut = new Uint32Array(LUT_SIZE);
  for (let i = 0; i < LUT_SIZE; i++) lut[i] = pack(interpolator(i / (LUT_SIZE - 1)));
  const last = LUT_SIZE - 1;
  const lutIndex = (v: number) => (v !== v ? -1 : Math.round(t(v) * last));
  const missing = pack(theme.dark ? '#3a3d41' : '#e4e4e4');
  const masked = pack(MASKED_COLOR[theme.dark ? 'dark' : 'light']);
  return {
    kind,
    gamma,
    domain: [lo, hi],
    scale,
    interpolator,
    t,
    lut,
    lutIndex,
    missing,
    masked,
    rgb: (v) => {
      const i = lutIndex(v);
      const c = i < 0 ? missing : lut[i];
      return [c & 255, (c >>> 8) & 255, (c >>> 16) & 255];
    },
  };
}

/** Masked (future) cells: a mid grey, unlike any ramp's 0 (near the background) in either theme. */
export const MASKED_COLOR = { light: '#b9bcc2', dark: '#55585e' } as const;

export function pack(css: string, alpha = 255): number {
  const c = d3.rgb(css);
  return ((alpha << 24) | (Math.round(c.b) << 16) | (Math.round(c.g) << 8) | Math.round(c.r)) >>> 0;
}

/**
 * Colours `src` (n values) into `dst` (packed RGBA) through the scale, values divided by `norm` first
 * (per-head normalisation: the scale's domain is then [0, 1] or [-1, 1]).
 */
export function colorize(src: Float32Array, dst: Uint32Array, dstOffset: number, s: ColorScale, norm = 1): void {
  const lut = s.lut;
  const last = LUT_SIZE - 1;
  const n = src.length;
  const inv = 1 / norm;
  if (s.kind === 'sequential') {
    const lo = s.domain[0];
    const k = 1 / (s.domain[1] - lo);
    if (s.gamma === 'sqrt') {
      for (let i = 0; i < n; i++) {
        const v = src[i];
        if (v !== v) {
          dst[dstOffset + i] = s.missing;
          continue;
        }
        let x = (v * inv - lo) * k;
        x = x <= 0 ? 0 : x >= 1 ? 1 : Math.sqrt(x);
        dst[dstOffset + i] = lut[Math.round(x * last)];
      }
    } else {
      for (let i = 0; i < n; i++) {
        const v = src[i];
        if (v !== v) {
          dst[dstOffset + i] = s.missing;
          continue;
        }
        let x = (v * inv - lo) * k;
        x = x <= 0 ? 0 : x >= 1 ? 1 : x;
        dst[dstOffset + i] = lut[Math.round(x * last)];
      }
    }
  } else {
    const k = 1 / s.domain[1];
    const sqrt = s.gamma === 'sqrt';
    for (let i = 0; i < n; i++) {
      const v = src[i];
      if (v !== v) {
        dst[dstOffset + i] = s.missing;
        continue;
      }
      let x = v * inv * k;
      x = x <= -1 ? -1 : x >= 1 ? 1 : x;
      if (sqrt) x = x < 0 ? -Math.sqrt(-x) : Math.sqrt(x);
      dst[dstOffset + i] = lut[Math.round((0.5 + x / 2) * last)];
    }
  }
}

/** Short, exact-enough display of a map value. */
export function formatValue(v: number): string {
  if (v !== v) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-4 || a >= 1e5) return v.toExponential(4);
  return v.toPrecision(6);
}

/** One colour per model, by its index (every panel uses the same order). */
export const MODEL_COLORS = ['#4e9bff', '#f28e2b', '#59c26a', '#e15759', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7'];

export function modelColor(i: number): string {
  return MODEL_COLORS[((i % MODEL_COLORS.length) + MODEL_COLORS.length) % MODEL_COLORS.length];
}

/** Colours for a rate in [0, 1] (pass rates): red at 0, amber in the middle, green at 1, both themes. */
export function rateInterpolator(theme: Theme): (t: number) => string {
  return theme.dark
    ? d3.piecewise(d3.interpolateLab, ['#8c2f2f', '#8a6d1f', '#2f7a3d'])
    : d3.piecewise(d3.interpolateLab, ['#f4b4ae', '#f5dc8c', '#9fdcaa']);
}

/** n distinguishable colours for ordered series (e.g. one line per layer), readable on the background. */
export function ordinalRamp(n: number, theme: Theme): string[] {
  const ramp = theme.dark ? (t: number) => d3.interpolatePlasma(0.15 + 0.8 * t) : (t: number) => d3.interpolateViridis(0.9 * t);
  return Array.from({ length: n }, (_, i) => ramp(n <= 1 ? 0.5 : i / (n - 1)));
}

/**
 * Follows the theme: calls `onChange` when VS Code switches themes (it changes the body's class) or the
 * system's light / dark preference changes, and keeps the class `dl-dark` on `root` in step. Returns the
 * current theme.
 */
export function watchTheme(root: Element, onChange: (t: Theme) => void): Theme {
  let theme = readTheme(root);
  root.classList.toggle('dl-dark', theme.dark);
  const check = () => {
    const t = readTheme(root);
    if (t.background === theme.background && t.foreground === theme.foreground) return;
    theme = t;
    root.classList.toggle('dl-dark', t.dark);
    onChange(t);
  };
  if (typeof MutationObserver !== 'undefined') {
    new MutationObserver(check).observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind'] });
  }
  window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', check);
  return theme;
}
