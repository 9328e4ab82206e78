/**
 * The HTML shell of a VS Code webview panel: which bundle and style sheets each panel loads, and the
 * page around them. The extension host writes it (extension/panels/); the webview's tests read it.
 * No imports, no Node, no DOM.
 */

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
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
 *   webview.html = panelHtml({
 *     scriptUri: uri(f.script), cssUri: f.css.map(uri), cspSource: webview.cspSource, nonce, title: 'Train adapter',
 *   });
 */
export function panelHtml(o: PanelHtmlOptions): string {
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${o.nonce}'`,
    `style-src ${o.cspSource}`,
    `img-src ${o.cspSource} data: blob:`,
    `font-src ${o.cspSource}`,
  ].join('; ');
  const css = (typeof o.cssUri === 'string' ? [o.cssUri] : o.cssUri)
    .map((u) => `<link rel="stylesheet" href="${escapeHtml(u)}">`)
    .join('\n');
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
