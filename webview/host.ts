/**
 * What every webview bundle does to talk to the VS Code extension host: get the API (once per page),
 * listen for the host's messages of its own panel, start when the DOM is ready, show a fatal error as
 * text, and expose a handle on window for tests and scripting.
 */

export interface VsCodeApi<M> {
  postMessage(m: M): void;
}
declare const acquireVsCodeApi: undefined | (() => VsCodeApi<unknown>);

let api: VsCodeApi<unknown> | undefined;
let acquired = false;

/** The VS Code webview API, or undefined outside VS Code. acquireVsCodeApi() may be called only once. */
export function vscodeApi<M>(): VsCodeApi<M> | undefined {
  if (!acquired) {
    acquired = true;
    api = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : undefined;
  }
  return api as VsCodeApi<M> | undefined;
}

/**
 * Calls `fn` with every message from the host whose `type` starts with `prefix` (e.g. 'training.').
 * Anything else (other panels' messages, junk) is ignored.
 */
export function onHostMessage<M extends { type: string }>(prefix: string, fn: (m: M) => void): void {
  window.addEventListener('message', (ev: MessageEvent) => {
    const m = ev.data as { type?: unknown } | null;
    if (!m || typeof m !== 'object' || typeof m.type !== 'string' || !m.type.startsWith(prefix)) return;
    fn(m as M);
  });
}

/** Exposes `value` as window[name] (e.g. DiffLoRALensTraining). */
export function expose(name: string, value: unknown): void {
  (window as unknown as Record<string, unknown>)[name] = value;
}

/** Runs `boot` once the DOM is ready; if it throws, the page shows the error as text. */
export function start(boot: () => void): void {
  const run = () => {
    try {
      boot();
    } catch (e) {
      const p = document.createElement('pre');
      p.className = 'dl-fatal';
      p.textContent = `DiffLoRA Lens could not start: ${(e as Error).stack ?? e}`;
      document.body.appendChild(p);
      throw e;
    }
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', run, { once: true });
  else run();
}

/** The element a panel mounts in: #difflora-root of the page panelHtml() makes, or the body. */
export function rootElement(): HTMLElement {
  return document.getElementById('difflora-root') ?? document.body;
}
