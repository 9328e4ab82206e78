/**
 * A self-contained HTML report: the bundled webview script, its CSS and the maps (base64 float32)
 * inlined in one file, with a Content-Security-Policy that allows no network access.
 * Runs in Node or the browser and imports neither: the caller reads the bundle, e.g.
 *   reportHtml(models, { title }, { js: fs.readFileSync('dist/webview/attention.js', 'utf8'),
 *                                   css: fs.readFileSync('dist/webview/attention.css', 'utf8') })
 */
import type { ModelAttention } from '../protocol/attention';
import { escapeHtml } from '../protocol/panel-shell';
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
  const sections = (extra.sections ?? [])
    .map((s) => {
      const paras = s.text
        .split(/\n\s*\n/)
        .map((p) => `<p>${escapeHtml(p.trim())}</p>`)
        .join('\n');
      const cols = s.columns?.length
        ? `<div class="dl-report-columns">${s.columns.map((c) => `<div class="dl-report-column"><h3>${escapeHtml(c.title)}</h3><pre>${escapeHtml(c.text)}</pre></div>`).join('')}</div>`
        : '';
      return `<section class="dl-card dl-report-section"><header class="dl-card-head"><h2>${escapeHtml(s.title)}</h2></header>\n${paras}\n${cols}</section>`;
    })
    .join('\n');
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

export { escapeHtml };
// The panels' HTML shell is shared with the extension host, so it lives in the protocol.
export { PANEL_FILES, panelHtml, type PanelHtmlOptions, type WebviewPanel } from '../protocol/panel-shell';
