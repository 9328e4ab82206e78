/**
 * Node internals that must survive both tsc (CommonJS) and webpack: Node's own `require` and
 * `__dirname` are reached through direct `eval`, which webpack leaves alone, so files loaded at run
 * time (optional packages, .wasm and .node files) are looked up next to the real file that runs.
 */

declare const __non_webpack_require__: NodeRequire | undefined;
declare const __webpack_require__: unknown;

/** Node's real `require` (never webpack's), relative to the file that actually runs. */
export function nodeRequire(): NodeRequire {
  if (typeof __non_webpack_require__ === 'function') return __non_webpack_require__;
  return eval('require') as NodeRequire;
}

/** The real directory of the running file: out/engine/... in tsc output, dist/engine in a bundle. */
export function hereDir(): string {
  try {
    const d = eval('__dirname') as unknown;
    if (typeof d === 'string' && d.length > 1) return d;
  } catch {
    /* not CommonJS */
  }
  return process.cwd();
}

export const inWebpackBundle = typeof __webpack_require__ === 'function';

/** The first line of an error's message. */
export function errMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0].trim();
}
