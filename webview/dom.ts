/** Small DOM helpers. Text always goes through textContent: tokens and labels are never parsed as HTML. */

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string, parent?: Element): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

export const SVG_NS = 'http://www.w3.org/2000/svg';

export function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, cls?: string, parent?: Element): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  if (cls) e.setAttribute('class', cls);
  if (parent) parent.appendChild(e);
  return e;
}

/** A canvas sized in CSS pixels with a backing store at the device pixel ratio. Returns its 2-D context, scaled. */
export function sizeCanvas(c: HTMLCanvasElement, w: number, h: number, dpr = window.devicePixelRatio || 1): CanvasRenderingContext2D {
  const W = Math.max(1, Math.round(w * dpr)),
    H = Math.max(1, Math.round(h * dpr));
  if (c.width !== W) c.width = W;
  if (c.height !== H) c.height = H;
  c.style.width = `${w}px`;
  c.style.height = `${h}px`;
  const ctx = c.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/**
 * How a token is displayed: control characters made visible (newline, tab, carriage return), everything
 * else verbatim (set with textContent, so `<img ...>` shows as those characters).
 */
export function tokenDisplay(t: string): string {
  // A token of whitespace only (indentation, a blank) would be an invisible label: show its characters.
  if (t && !/\S/.test(t)) return t.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/\r/g, '␍');
  return t
    .replace(/\n/g, '↵')
    .replace(/\t/g, '⇥')
    .replace(/\r/g, '␍')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '�');
}

export function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, Math.max(1, n - 1))}…`;
}

/** Calls fn at most once per animation frame (with a timer fallback when frames are throttled). */
export function frameThrottle(fn: () => void): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    let done = false;
    const run = () => {
      if (done) return;
      done = true;
      pending = false;
      fn();
    };
    requestAnimationFrame(run);
    setTimeout(run, 100);
  };
}

export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = el('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A type="button" button (class dl-btn plus `cls`) that calls `onClick`. */
export function button(
  text: string,
  parent: Element,
  onClick: (ev: MouseEvent) => void,
  opts: { cls?: string; title?: string } = {},
): HTMLButtonElement {
  const b = el('button', opts.cls ? `dl-btn ${opts.cls}` : 'dl-btn', text, parent);
  b.type = 'button';
  if (opts.title) b.title = opts.title;
  b.addEventListener('click', onClick);
  return b;
}

/** A duration in seconds as "1:02:03", "2:03" or "45 s"; "—" when unknown. */
export function formatDuration(sec: number): string {
  if (!(sec >= 0) || !Number.isFinite(sec)) return '—';
  const s = Math.round(sec);
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    r = s % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? `${h}:` : ''}${mm}:${String(r).padStart(2, '0')}`;
}

/** A rate in [0, 1] as a percentage with one decimal ("—" for NaN). */
export function formatPercent(v: number): string {
  return v === v ? `${(v * 100).toFixed(1)}%` : '—';
}
