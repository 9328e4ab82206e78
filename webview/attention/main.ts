/**
 * Entry point of the attention webview bundle (dist/webview/attention.js). Browser only: no Node, no
 * `vscode` import. Three ways in:
 * - a self-contained report: the page holds <script type="application/json" id="difflora-data">;
 * - a VS Code webview: acquireVsCodeApi() exists; maps arrive as AttentionHostMessage messages;
 * - any other page: an empty panel; drive it through window.DiffLoRALens.panel.
 * The API is also exposed as window.DiffLoRALens.
 */
import { decodeLayerMaps } from '../../protocol/map-pack';
import { MAP_KINDS, unpackLayerMaps, type AttentionHostMessage, type AttentionViewMessage } from '../../protocol/attention';
import { base64ToFloat32, deserializeModels, float32ToBase64, serializeModels, type SerializedAttention } from '../codec';
import { formatValue, makeScale } from '../colors';
import { start, vscodeApi } from '../host';
import { AttentionPanel, type ExportEvent, type PanelOptions } from './panel';

export {
  AttentionPanel,
  MAP_KINDS,
  base64ToFloat32,
  deserializeModels,
  float32ToBase64,
  formatValue,
  makeScale,
  serializeModels,
  unpackLayerMaps,
};

export function createPanel(host: HTMLElement, opts?: PanelOptions): AttentionPanel {
  return new AttentionPanel(host, opts);
}

async function blobToBase64(b: Blob): Promise<string> {
  const bytes = new Uint8Array(await b.arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000) as unknown as number[]);
  return btoa(s);
}

function boot(): AttentionPanel {
  const host = document.getElementById('difflora-root') ?? document.body;
  const dataEl = document.getElementById('difflora-data');
  if (dataEl) {
    const data = JSON.parse(dataEl.textContent ?? '{}') as SerializedAttention;
    const panel = new AttentionPanel(host, { title: data.title });
    for (const m of deserializeModels(data)) panel.addModel(m);
    return panel;
  }
  const vscode = vscodeApi<AttentionViewMessage>();
  if (!vscode) return new AttentionPanel(host);
  const make = (title?: string) =>
    new AttentionPanel(host, {
      title,
      onExport: async (e: ExportEvent) => {
        const data = e.format === 'png' ? await blobToBase64(e.blob) : await e.blob.text();
        vscode.postMessage({ type: 'attention.export', format: e.format, filename: e.filename, data });
        return true;
      },
      onFocus: (focus) => vscode.postMessage({ type: 'attention.focus', focus }),
    });
  let panel = make();
  const notice = document.createElement('div');
  notice.className = 'dl-notice';
  notice.setAttribute('role', 'status');
  notice.hidden = true;
  if (host === document.body) host.prepend(notice);
  else host.before(notice);
  window.addEventListener('message', (ev: MessageEvent<AttentionHostMessage>) => {
    const m = ev.data;
    if (!m || typeof m !== 'object') return;
    switch (m.type) {
      case 'attention.reset': {
        notice.hidden = true;
        panel.destroy();
        panel = make(m.title);
        api.panel = panel;
        break;
      }
      case 'attention.model':
        panel.addModel(m.model);
        break;
      case 'attention.layer':
        panel.addLayer(m.model, m.layer);
        break;
      case 'attention.wireLayer':
        panel.addLayer(m.model, unpackLayerMaps(decodeLayerMaps(m.maps)));
        break;
      case 'attention.done':
        break;
      case 'attention.notice':
        notice.textContent = m.text ?? '';
        notice.hidden = m.text === null;
        break;
    }
  });
  vscode.postMessage({ type: 'attention.ready' });
  return panel;
}

const api: {
  panel?: AttentionPanel;
  AttentionPanel: typeof AttentionPanel;
  createPanel: typeof createPanel;
  deserializeModels: typeof deserializeModels;
  serializeModels: typeof serializeModels;
  float32ToBase64: typeof float32ToBase64;
  base64ToFloat32: typeof base64ToFloat32;
  unpackLayerMaps: typeof unpackLayerMaps;
  makeScale: typeof makeScale;
  formatValue: typeof formatValue;
} = {
  AttentionPanel,
  createPanel,
  deserializeModels,
  serializeModels,
  float32ToBase64,
  base64ToFloat32,
  unpackLayerMaps,
  makeScale,
  formatValue,
};

(window as unknown as { DiffLoRALens: typeof api }).DiffLoRALens = api;

start(() => {
  api.panel = boot();
});
