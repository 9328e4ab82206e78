/**
 * A self-contained HTML report: the bundled webview script, its CSS and the maps (base64 float32)
 * inlined in one file, with a Content-Security-Policy that allows no network access.
 * Runs in Node or the browser and imports neither: the caller reads the bundle, e.g.
 *   reportHtml(models, { title }, { js: fs.readFileSync('dist/webview/attention.js', 'utf8'),
 *                                   css: fs.readFileSync('dist/webview/attention.css', 'utf8') })
 */
import type { ModelAttention } from '../protocol/attention';
import { jsonForScript, serializeModels } from './codec';

export interface ReportSection {
  title: string;
  /** Plain text (escaped here; blank lines separate paragraphs). */
  text: string;
  /** Side-by-side blocks (e.g. each model's completion), shown as preformatted text. */
  columns?: { title: string; text: string }[];
}

export interface ReportExtra {
  title: string;
  sections?: ReportSection[];
}

export interface ReportAssets {
  /** dist/webview/attention.js */
  js: string;
  /** dist/webview/attention.css (a copy of media/attention.css) */
  css: string;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function nonce(): string {
  const b = new Uint8Array(18);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Text that may sit inside <script>...</script> or <style>...</style> without closing it early. */
function inlineSafe(code: string, tag: 'script' | 'style'): string {
  const re = tag === 'script' ? /<\/(script)/gi : /<\/(style)/gi;
  return code.replace(re, '<\\/$1').replace(/<!--/g, '<\\!--');
}

export function reportHtml(models: ModelAttention[], extra: ReportExtra, assets: ReportAssets): string {
  const n = nonce();
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${n}'`,
    `style-src 'nonce-${n}'`,
    'img-src data: blob:',
    "connect-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
  const sections = (extra.sections ?? []).map((s) => {
    const paras = s.text.split(/\n\s*\n/).map((p) => `<p>${escapeHtml(p.trim())}</p>`).join('\n');
    const cols = s.columns?.length
      ? `<div class="dl-report-columns">${s.columns.map((c) => `<div class="dl-report-column"><h3>${escapeHtml(c.title)}</h3><pre>${escapeHtml(c.text)}</pre></div>`).join('')}</div>`
      : '';
    return `<section class="dl-card dl-report-section"><header class="dl-card-head"><h2>${escapeHtml(s.title)}</h2></header>\n${paras}\n${cols}</section>`;
  }).join('\n');
  const data = jsonForScript(serializeModels(models, extra.title));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="DiffLoRA Lens">
<title>${escapeHtml(extra.title)}</title>
<style nonce="${n}">
${inlineSafe(assets.css, 'style')}
</style>
</head>
<body class="dl-report">
<div id="difflora-root"></div>
${sections ? `<div class="dl-report-sections">\n${sections}\n</div>` : ''}
<script type="application/json" id="difflora-data">${data}</script>
<script nonce="${n}">
${inlineSafe(assets.js, 'script')}
</script>
</body>
</html>
`;
}

/** The webview panels, each a bundle in dist/webview/. */
export type WebviewPanel = 'attention' | 'training' | 'compare' | 'analysis';

/**
 * The files of each panel in dist/webview/: its script, and its style sheets in order (the three newer
 * panels use the attention panel's base sheet plus panels.css).
 */
export const PANEL_FILES: Readonly<Record<WebviewPanel, { script: string; css: readonly string[] }>> = {
  attention: { script: 'attention.js', css: ['attention.css'] },
  training: { script: 'training.js', css: ['attention.css', 'panels.css'] },
  compare: { script: 'compare.js', css: ['attention.css', 'panels.css'] },
  analysis: { script: 'analysis.js', css: ['attention.css', 'panels.css'] },
};

export interface PanelHtmlOptions {
  /** URI of the panel's script as the webview sees it (webview.asWebviewUri), e.g. of dist/webview/training.js. */
  scriptUri: string;
  /** URI(s) of its style sheets, in PANEL_FILES order. */
  cssUri: string | readonly string[];
  /** webview.cspSource */
  cspSource: string;
  /** A fresh random nonce per page load. */
  nonce: string;
  title?: string;
}

/**
 * The HTML of a VS Code webview panel hosting one of the views (the extension calls this; the data then
 * arrives as that panel's host messages). Strict CSP: no inline script or style, no network. E.g.
 *   const f = PANEL_FILES.training, uri = (n: string) => webview.asWebviewUri(Uri.joinPath(ext, 'dist', 'webview', n)).toString();
 *   webview.html = panelHtml({ scriptUri: uri(f.script), cssUri: f.css.map(uri), cspSource: webview.cspSource, nonce, title: 'Train adapter' });
 */
export function panelHtml(o: PanelHtmlOptions): string {
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${o.nonce}'`,
    `style-src ${o.cspSource}`,
    `img-src ${o.cspSource} data: blob:`,
    `font-src ${o.cspSource}`,
  ].join('; ');
  const css = (typeof o.cssUri === 'string' ? [o.cssUri] : o.cssUri).map((u) => `<link rel="stylesheet" href="${escapeHtml(u)}">`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
${css}
<title>${escapeHtml(o.title ?? 'DiffLoRA Lens')}</title>
</head>
<body>
<div id="difflora-root"></div>
<script nonce="${escapeHtml(o.nonce)}" src="${escapeHtml(o.scriptUri)}"></script>
</body>
</html>
`;
}
