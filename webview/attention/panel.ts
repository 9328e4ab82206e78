/**
 * The attention panel: toolbar, layer x head overview, large heatmap of the chosen head with its legend,
 * token lines for short spans, per-head metric charts. Layers stream in through addLayer(); every view
 * redraws at most once per animation frame.
 */
import { MAP_KINDS, type LayerMaps, type MapKind, type ModelAttention } from '../../protocol/attention';
import { MASKED_COLOR, formatValue, readTheme, type ColorScale, type Gamma, type Theme } from '../colors';
import { downloadBlob, el, frameThrottle } from '../dom';
import { Legend } from '../legend';
import { fileBase, renderJson, renderPng, type ExportView } from './export';
import { Heatmap } from './heatmap';
import { TokenLines } from './lines';
import { Overview } from './overview';
import { PanelScales } from './scales';
import { SidePanes } from './panes';
import { MetricCharts } from './metrics';
import { differenceSource, modelSource, operandLabel, type Mode, type ViewSource } from './source';
import { initialState, type MetricMaps, type PanelState, type RangeMode } from './state';
import { DifferenceStore, Jobs, ModelStore, operandKey, type Operand } from './store';
import { Toolbar } from './toolbar';

export type { MetricMaps, PanelState, RangeMode } from './state';

export interface ExportEvent {
  format: 'png' | 'json';
  filename: string;
  blob: Blob;
}

export interface PanelOptions {
  title?: string;
  /** Called before a download; return true when the host saved it (VS Code), to skip the browser download. */
  onExport?: (e: ExportEvent) => boolean | void | Promise<boolean | void>;
  /**
   * The editor's hover and tint follow the panel (VS Code): called with the selected head when the
   * "Editor hover" switch says "this head", and with null ("mean") when it is switched back.
   */
  onFocus?: (focus: { layer: number; head: number } | null) => void;
}

export interface PanelTimings {
  /** performance.now() when the first layer of any model arrived. */
  firstLayerAt?: number;
  /** performance.now() at the end of the render that first showed every head of the displayed source. */
  overviewCompleteAt?: number;
  /** Time inside addLayer (pooling) over all models, ms. */
  ingestMs: number;
  /** Overview renders: total and last, ms. */
  overviewRenderMs: number;
  lastOverviewRenderMs: number;
  /** Large heatmap: last recolour and last draw (including recolour), ms. */
  heatmapColorMs: number;
  heatmapDrawMs: number;
  renders: number;
  /** Time per view in the last render, ms. */
  lastRender?: Record<string, number>;
}

const CHART_INTERVAL_MS = 400;

export class AttentionPanel {
  readonly root: HTMLElement;
  readonly models: ModelStore[] = [];
  readonly state: PanelState = initialState();
  readonly timings: PanelTimings = {
    ingestMs: 0,
    overviewRenderMs: 0,
    lastOverviewRenderMs: 0,
    heatmapColorMs: 0,
    heatmapDrawMs: 0,
    renders: 0,
  };
  private theme: Theme;
  private readonly jobs: Jobs;
  private diff?: DifferenceStore;
  private diffKey = '';
  private source?: ViewSource;
  private sourceKey = '';
  private readonly scales = new PanelScales();
  private overviewWasComplete = false;
  private completeWaiters: (() => void)[] = [];
  private dirty = { source: true, overview: true, heatmap: true, charts: true, lines: true, toolbar: true };
  private readonly schedule: () => void;
  private lastChartsAt = -Infinity;
  private lastSliceRender = -Infinity;
  /** Bumped whenever a metric changes (a layer arrives, a head is refined). */
  private metricsVersion = 0;
  /** Render the charts in the next frame even if they were drawn less than CHART_INTERVAL_MS ago. */
  private forceCharts = true;
  private chartTimer?: ReturnType<typeof setTimeout>;
  private readonly toolbar: Toolbar;
  readonly side: SidePanes;
  /** The user chose the difference's operands / a colour range: defaults no longer apply. */
  private chose = { operands: false, range: false };
  private readonly ui: {
    detailTitle: HTMLElement;
    detailSub: HTMLElement;
    overviewSub: HTMLElement;
    message: HTMLElement;
    mainTitle: HTMLElement;
    maskSwatch: HTMLElement;
    editorHover?: HTMLSelectElement;
    overviewCard: HTMLElement;
    detailCard: HTMLElement;
    linesCard: HTMLElement;
    metricsCard: HTMLElement;
  };
  readonly overview: Overview;
  readonly heatmap: Heatmap;
  readonly legend: Legend;
  readonly lines: TokenLines;
  private readonly charts: MetricCharts;
  private readonly resizeObserver?: ResizeObserver;
  private readonly themeObserver?: MutationObserver;

  constructor(
    host: HTMLElement,
    private readonly opts: PanelOptions = {},
  ) {
    this.root = el('div', 'dl-panel', undefined, host);
    this.theme = readTheme(this.root);
    this.schedule = frameThrottle(() => this.render());
    this.jobs = new Jobs(25, () => {
      // Background results show up a few times a second (every slice would cost a frame each).
      const now = performance.now();
      if (this.jobs.pending === 0) this.forceCharts = true;
      else if (now - this.lastSliceRender < 150) return;
      this.lastSliceRender = now;
      if (this.state.mode === 'difference') this.dirty.overview = true;
      this.schedule();
    });

    this.toolbar = new Toolbar(this.root, {
      onModel: (model) => this.select({ model }),
      onMode: (mode) => this.setMode(mode),
      onDifference: (a, b) => {
        this.chose.operands = true;
        this.setDifference(a, b);
      },
      onBeside: (models) => this.setBeside(models),
      onRange: (range) => {
        this.chose.range = true;
        this.setColor(range);
      },
      onGamma: (gamma) => this.setColor(this.state.range, gamma),
      onExport: (what) => void (what === 'png' ? this.downloadPng() : this.downloadJson(what)),
    });

    const message = el('div', 'dl-message', undefined, this.root);
    message.hidden = true;
    message.setAttribute('role', 'alert');

    // Body.
    const body = el('div', 'dl-body', undefined, this.root);
    const card = (cls: string, heading: string) => {
      const c = el('section', `dl-card ${cls}`, undefined, body);
      const h = el('header', 'dl-card-head', undefined, c);
      const h2 = el('h2', undefined, heading, h);
      const sub = el('span', 'dl-card-sub', '', h);
      return { c, h, h2, sub };
    };
    const ov = card('dl-overview', 'Layers × heads');
    const overviewHost = el('div', undefined, undefined, ov.c);
    const dt = card('dl-detail', '');
    let editorHover: HTMLSelectElement | undefined;
    if (opts.onFocus) {
      const g = el('label', 'dl-group dl-editor-hover', undefined, dt.h);
      el('span', 'dl-group-label', 'Editor hover', g);
      editorHover = el('select', 'dl-select', undefined, g);
      for (const [v, t] of [
        ['mean', 'mean of all heads'],
        ['head', 'this head'],
      ]) {
        const o = el('option', undefined, t, editorHover);
        o.value = v;
      }
      editorHover.title = 'What the hover and the tint in the editor show: the mean over all layers and heads, or the head selected here';
      editorHover.addEventListener('change', () => this.setEditorHover(editorHover!.value as 'mean' | 'head'));
    }
    const panesHost = el('div', 'dl-panes', undefined, dt.c);
    const mainPane = el('div', 'dl-pane dl-pane-main', undefined, panesHost);
    const mainTitle = el('div', 'dl-pane-title', undefined, mainPane);
    const readout = el('div', 'dl-readout', undefined, mainPane);
    readout.setAttribute('aria-live', 'polite');
    const heatHost = el('div', undefined, undefined, mainPane);
    const foot = el('div', 'dl-detail-foot', undefined, dt.c);
    const legendHost = el('div', undefined, undefined, foot);
    const maskKey = el('span', 'dl-mask-key', undefined, foot);
    const maskSwatch = el('span', 'dl-mask-swatch', undefined, maskKey);
    el('span', undefined, 'masked (later keys)', maskKey);
    maskKey.title = 'A query never attends to the tokens after it (causal mask): those cells are grey, not 0';
    const fit = el('button', 'dl-btn dl-fit', 'Fit', foot);
    fit.type = 'button';
    fit.title = 'Reset the zoom (key 0)';
    fit.addEventListener('click', () => this.heatmap.resetZoom());
    const mt = card('dl-metrics', 'Per-head metrics');
    const metricMaps = el('select', 'dl-select dl-metric-maps', undefined, mt.h);
    for (const [v, t] of [
      ['effective', 'effective maps (A for DiffLoRA)'],
      ['positive', 'positive maps A₁'],
    ]) {
      const o = el('option', undefined, t, metricMaps);
      o.value = v;
    }
    metricMaps.addEventListener('change', () => {
      this.state.metricMaps = metricMaps.value as MetricMaps;
      this.dirty.charts = this.forceCharts = true;
      this.schedule();
    });
    const chartsHost = el('div', 'dl-charts', undefined, mt.c);
    const ln = card('dl-lines-card', 'Token lines');
    const linesHost = el('div', undefined, undefined, ln.c);

    this.ui = {
      detailTitle: dt.h2,
      detailSub: dt.sub,
      overviewSub: ov.sub,
      message,
      mainTitle,
      maskSwatch,
      editorHover,
      overviewCard: ov.c,
      detailCard: dt.c,
      linesCard: ln.c,
      metricsCard: mt.c,
    };
    this.overview = new Overview(overviewHost, {
      onSelect: (layer, head) => this.select({ layer, head }),
      describe: (layer, head) => this.describeHead(layer, head),
    });
    const linesChanged = () => {
      this.dirty.lines = true;
      this.schedule();
    };
    this.heatmap = new Heatmap(heatHost, readout, {
      onCell: (c, pinned) => {
        this.side.cellFrom(this.heatmap, c, pinned);
        linesChanged();
      },
      onView: (t) => {
        this.side.viewFrom(this.heatmap, t);
        linesChanged();
      },
    });
    this.side = new SidePanes(panesHost, this.heatmap, mainPane, linesChanged);
    this.legend = new Legend(legendHost);
    this.lines = new TokenLines(linesHost, { onQuery: (q) => this.heatmap.pin({ q, k: this.heatmap.pinned?.k ?? 0 }) });
    const onSelect = (s: { model: number; layer: number; head: number }) =>
      this.select(this.state.mode === 'difference' ? { layer: s.layer, head: s.head } : s);
    this.charts = new MetricCharts(chartsHost, mt.sub, onSelect);

    if (typeof ResizeObserver !== 'undefined') {
      let lastW = 0;
      this.resizeObserver = new ResizeObserver(() => {
        const w = this.root.clientWidth;
        if (w === lastW) return;
        lastW = w;
        this.dirty.overview = this.dirty.heatmap = this.dirty.lines = this.dirty.charts = true;
        this.schedule();
      });
      this.resizeObserver.observe(this.root);
    }
    // VS Code switches themes by changing the body's class: re-read the colours then.
    if (typeof MutationObserver !== 'undefined') {
      this.themeObserver = new MutationObserver(() => this.refreshTheme());
      this.themeObserver.observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind'] });
    }
    window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', () => this.refreshTheme());
    this.schedule();
  }

  // ---- data ---------------------------------------------------------------------------------------

  /** Adds a model (its layers may be empty and stream in later). Returns its index. */
  addModel(m: ModelAttention): number {
    const layers = m.layers;
    const store = new ModelStore({ ...m, layers: [] });
    const idx = this.models.push(store) - 1;
    if (idx === 0) {
      this.state.model = 0;
      this.state.a = { model: 0, kind: 'positive' };
      this.state.b = { model: 0, kind: 'positive' };
    }
    if (idx >= 1) {
      // Default difference: the newest model's effective map minus the first model's positive map.
      this.state.a = { model: idx, kind: m.kind === 'difflora' ? 'differential' : 'positive' };
      this.state.b = { model: 0, kind: 'positive' };
    }
    this.dirty.toolbar = this.dirty.source = this.dirty.charts = true;
    this.schedule();
    for (const l of layers) this.addLayer(idx, l);
    return idx;
  }

  /** Ingests one layer of a model's maps (kept by reference: do not modify them afterwards). */
  addLayer(modelIndex: number, l: LayerMaps): void {
    const s = this.models[modelIndex];
    if (!s) throw new Error(`no model ${modelIndex}`);
    this.timings.firstLayerAt ??= performance.now();
    const t0 = performance.now();
    let filled: number[];
    try {
      filled = s.addLayer(l);
    } catch (e) {
      this.showMessage(String((e as Error).message ?? e));
      throw e;
    }
    this.timings.ingestMs += performance.now() - t0;
    this.metricsVersion++;
    // Exact thumbnails (large maps get a strided first pass) and entropy: in background slices.
    for (const i of filled) this.queueRefine(modelIndex, i);
    const shown =
      this.state.mode === 'difference'
        ? this.state.a.model === modelIndex || this.state.b.model === modelIndex
        : this.state.model === modelIndex;
    if (shown) {
      if (this.state.mode === 'difference') this.scheduleDiff();
      else if (this.state.range === 'shared') this.overview.markAllDirty();
      else this.overview.markDirty(filled);
      const sel = s.index(this.state.layer, this.state.head);
      if (filled.includes(sel)) {
        this.heatmap.invalidate();
        this.dirty.heatmap = true;
        this.dirty.lines = true;
      }
      if (this.state.range === 'shared') {
        this.dirty.heatmap = true;
        this.heatmap.invalidate();
      }
      this.dirty.overview = true;
    }
    if (this.state.mode !== 'difference' && this.state.beside.includes(modelIndex)) this.dirty.heatmap = true;
    if (s.layersLoaded === 1) this.dirty.toolbar = true; // the kinds it has are known now
    this.dirty.charts = true;
    this.schedule();
  }

  /** Resolves when every queued computation is done and the views show it. */
  async whenIdle(): Promise<void> {
    await this.jobs.idle();
    this.dirty.charts = true;
    this.forceCharts = true;
    this.render();
  }

  /** Resolves after the render that first shows every head of the displayed source. */
  whenOverviewComplete(): Promise<void> {
    if (this.overviewWasComplete) return Promise.resolve();
    return new Promise((r) => this.completeWaiters.push(r));
  }

  // ---- state --------------------------------------------------------------------------------------

  select(p: Partial<Pick<PanelState, 'model' | 'layer' | 'head'>>): void {
    const st = this.state;
    if (p.model !== undefined && p.model !== st.model && this.models[p.model]) {
      st.model = p.model;
      st.beside = st.beside.filter((m) => m !== p.model);
      if (st.mode !== 'difference' && !this.models[p.model].has(st.mode)) st.mode = 'positive';
      this.dirty.source = true;
    }
    const s = this.currentStore();
    if (s) {
      if (p.layer !== undefined) st.layer = Math.max(0, Math.min(s.numLayers - 1, p.layer));
      if (p.head !== undefined) st.head = Math.max(0, Math.min(s.numHeads - 1, p.head));
    }
    this.dirty.heatmap = this.dirty.lines = this.dirty.charts = this.dirty.overview = this.dirty.toolbar = true;
    this.forceCharts = true;
    this.heatmap.invalidate();
    if (st.editorHover === 'head') this.opts.onFocus?.({ layer: st.layer, head: st.head });
    this.schedule();
  }

  /** What the editor's hover and tint show: the mean over all heads, or the selected head. */
  setEditorHover(what: 'mean' | 'head'): void {
    const st = this.state;
    st.editorHover = what;
    if (this.ui.editorHover) this.ui.editorHover.value = what;
    this.opts.onFocus?.(what === 'head' ? { layer: st.layer, head: st.head } : null);
  }

  setMode(mode: Mode): void {
    const st = this.state;
    const s = this.models[st.model];
    if (mode !== 'difference' && s && !s.has(mode)) return;
    if (mode === 'difference' && this.operands().length < 2) return;
    if (mode === 'difference' && st.mode !== 'difference') {
      if (!this.chose.operands) ({ a: st.a, b: st.b } = this.defaultDifference());
      // A difference on a per-head scale blows small changes up to full colour: scale it like the maps.
      if (!this.chose.range && st.range === 'head') st.range = 'maps';
    } else if (mode !== 'difference' && st.range === 'maps') st.range = 'head';
    st.mode = mode;
    this.dirty.source = this.dirty.toolbar = true;
    this.schedule();
  }

  /**
   * The selected adapter's effective map minus the base model's: the selected model unless it is a base,
   * else the newest adapter; the base is the first model of kind "base" (else the first model).
   */
  private defaultDifference(): { a: Operand; b: Operand } {
    const ms = this.models;
    const base = Math.max(
      0,
      ms.findIndex((m) => m.meta.kind === 'base'),
    );
    let a = ms[this.state.model]?.meta.kind !== 'base' ? this.state.model : -1;
    for (let i = ms.length - 1; a < 0 && i >= 0; i--) if (ms[i].meta.kind !== 'base') a = i;
    if (a < 0 || a === base) a = ms.length - 1 === base ? 0 : ms.length - 1;
    const kind = (i: number): MapKind => (ms[i].has('differential') ? 'differential' : 'positive');
    return { a: { model: a, kind: kind(a) }, b: { model: base, kind: 'positive' } };
  }

  /** Shows these models' maps beside the selected model's (same head, zoom and hover). */
  setBeside(models: number[]): void {
    this.state.beside = models.filter((m, i) => m !== this.state.model && this.models[m] && models.indexOf(m) === i);
    this.dirty.heatmap = this.dirty.lines = this.dirty.toolbar = true;
    this.schedule();
  }

  setDifference(a: Operand, b: Operand): void {
    this.state.a = a;
    this.state.b = b;
    this.state.mode = 'difference';
    this.dirty.source = this.dirty.toolbar = true;
    this.schedule();
  }

  setColor(range: RangeMode, gamma: Gamma = this.state.gamma): void {
    this.state.range = range;
    this.state.gamma = gamma;
    this.invalidateScales();
  }

  /** The large heatmap's colour scale (D3 scale + lookup table). */
  colorScale(): ColorScale | undefined {
    this.renderIfDirty();
    return this.scales.heat;
  }
  viewSource(): ViewSource | undefined {
    this.renderIfDirty();
    return this.source;
  }

  /** Synchronous render of whatever is pending (normally done once per animation frame). */
  renderIfDirty(): void {
    if (Object.values(this.dirty).some(Boolean)) this.render();
  }

  private currentStore(): ModelStore | undefined {
    return this.models[this.state.mode === 'difference' ? this.state.a.model : this.state.model];
  }

  private operands(): Operand[] {
    const out: Operand[] = [];
    this.models.forEach((s, model) => {
      for (const kind of MAP_KINDS) if (s.kinds.has(kind) || kind === 'positive') out.push({ model, kind });
    });
    return out;
  }

  private invalidateScales(): void {
    this.dirty.source = true;
    this.schedule();
  }

  private refreshTheme(): void {
    const t = readTheme(this.root);
    if (t.background === this.theme.background && t.foreground === this.theme.foreground) return;
    this.theme = t;
    this.invalidateScales();
  }

  private showMessage(text: string): void {
    this.ui.message.textContent = text;
    this.ui.message.hidden = !text;
  }

  // ---- rendering ----------------------------------------------------------------------------------

  private buildSource(): void {
    const st = this.state;
    this.showMessage('');
    let src: ViewSource | undefined;
    if (st.mode === 'difference') {
      const A = this.models[st.a.model],
        B = this.models[st.b.model];
      const key = operandKey(st.a, st.b);
      if (A && B) {
        if (this.diffKey !== key) {
          this.jobs.clear();
          try {
            this.diff = new DifferenceStore(A, st.a.kind, B, st.b.kind);
            this.diffKey = key;
          } catch (e) {
            this.diff = undefined;
            this.diffKey = '';
            this.showMessage((e as Error).message);
          }
          // Re-queue the background work that clear() dropped.
          this.models.forEach((s, m) => {
            for (let i = 0; i < s.heads.length; i++) if (s.needsRefine(i)) this.queueRefine(m, i);
          });
          this.scheduleDiff();
        }
        if (this.diff) src = differenceSource(this.diff, operandLabel);
      }
    } else {
      const s = this.models[st.model];
      if (s) src = modelSource(s, s.has(st.mode) ? st.mode : 'positive');
    }
    const newKey = `${st.mode}|${st.model}|${operandKey(st.a, st.b)}`;
    if (newKey !== this.sourceKey) {
      this.overviewWasComplete = false;
      this.sourceKey = newKey;
    }
    this.source = src;
    this.dirty.source = false;
  }

  private queueRefine(model: number, i: number): void {
    const s = this.models[model];
    this.jobs.push(() => {
      if (!s.needsRefine(i)) return;
      s.refine(i);
      this.metricsVersion++;
      const st = this.state;
      if (st.mode !== 'difference' && st.model === model) {
        this.overview.markDirty([i]);
        this.dirty.overview = true;
        if (i === this.selectedIndex()) this.dirty.heatmap = true; // its range may have grown
      }
      this.dirty.charts = true;
    });
  }

  private scheduleDiff(): void {
    this.diff?.schedule(this.jobs, (i) => {
      this.overview.markDirty([i]);
      if (i === this.selectedIndex()) {
        this.heatmap.invalidate();
        this.dirty.heatmap = this.dirty.lines = true;
      }
    });
  }

  /** The maps shown beside the selected model's: each model's map of the current kind (else its A₁). */
  private besideSources(): { model: number; src: ViewSource }[] {
    const st = this.state;
    if (st.mode === 'difference') return [];
    return st.beside
      .filter((m) => this.models[m])
      .map((model) => {
        const s = this.models[model];
        return { model, src: modelSource(s, s.has(st.mode as MapKind) ? (st.mode as MapKind) : 'positive') };
      });
  }

  private selectedIndex(): number {
    const s = this.source;
    return s ? this.state.layer * s.numHeads + this.state.head : -1;
  }

  private width(elm: HTMLElement, fallback: number): number {
    const w = elm.clientWidth;
    return w > 0 ? w - 24 : fallback;
  }

  private render(): void {
    this.timings.renders++;
    const d = this.dirty;
    const stage: Record<string, number> = {};
    const r0 = performance.now();
    if (d.source) {
      this.buildSource();
      d.overview = d.heatmap = d.lines = d.toolbar = d.charts = this.forceCharts = true;
      this.scales.reset();
    }
    if (d.toolbar) this.renderToolbar();
    const src = this.source;
    this.root.classList.toggle('dl-empty', !src);
    if (src) {
      // Scales: rebuilt when what they depend on changed.
      const i = this.selectedIndex();
      const st = this.state;
      const beside = this.besideSources();
      const changed = this.scales.update(
        src,
        i,
        st,
        this.theme,
        this.sourceKey,
        beside.map((b) => b.src),
      );
      if (changed.heat) d.heatmap = d.lines = true;
      if (changed.overview) {
        this.overview.setSource(src, this.scales.overview!, this.theme.dark ? '#2b2d31' : '#eceef1');
        d.overview = true;
      }
      stage.prepare = performance.now() - r0;
      if (d.overview) {
        this.overview.render(this.width(this.ui.overviewCard, 600), { layer: st.layer, head: st.head });
        this.timings.overviewRenderMs += this.overview.lastRenderMs;
        this.timings.lastOverviewRenderMs = this.overview.lastRenderMs;
        this.checkOverviewComplete(src);
        this.ui.overviewSub.textContent =
          st.range === 'shared' || st.range === 'maps'
            ? 'one colour range for all heads · click a head'
            : 'each head scaled to its own range · click a head';
      }
      if (d.overview) stage.overview = this.overview.lastRenderMs;
      if (d.heatmap) {
        const h0 = performance.now();
        this.side.set(beside.map((b) => b.model));
        this.root.classList.toggle('dl-side-by-side', beside.length > 0);
        const cardW = this.width(this.ui.detailCard, 640);
        this.heatmap.setSource(src, i, this.scales.heat!);
        this.side.panes.forEach((p, j) => {
          p.source = beside[j].src;
          p.title.textContent = p.source.label;
          p.heatmap.setSource(p.source, i, this.scales.heat!);
        });
        this.side.layout(cardW);
        this.heatmap.updateReadout();
        this.ui.maskSwatch.style.background = MASKED_COLOR[this.theme.dark ? 'dark' : 'light'];
        this.ui.mainTitle.hidden = beside.length === 0;
        this.ui.mainTitle.textContent = src.label;
        this.side.panes.forEach((p) => {
          p.heatmap.setTransform(this.heatmap.zoomTransform);
          p.heatmap.showCell(this.heatmap.hover, !!this.heatmap.pinned);
        });
        this.timings.heatmapColorMs = this.heatmap.lastColorMs;
        this.timings.heatmapDrawMs = this.heatmap.lastDrawMs;
        this.renderDetailTitle(src);
        const lw = Math.min(320, Math.max(160, this.heatmap.layout.width - 160));
        this.legend.render(this.scales.heat!, this.scales.caption(src, i, st), lw);
        stage.heatmap = performance.now() - h0;
      }
      if (d.lines) {
        const l0 = performance.now();
        const range = this.heatmap.visibleRange();
        this.lines.render(
          src,
          i,
          this.scales.heat,
          range,
          this.heatmap.pinned?.q,
          this.width(this.ui.linesCard, 480),
          this.heatmap.hover?.q,
        );
        stage.lines = performance.now() - l0;
      }
    }
    let chartsLater = false;
    if (d.charts) {
      // While layers stream in and metrics fill, charts redraw a few times a second, not every frame.
      const wait = this.lastChartsAt + CHART_INTERVAL_MS - performance.now();
      if (this.forceCharts || wait <= 0) {
        const c0 = performance.now();
        this.charts.render(this.models, this.state, this.width(this.ui.metricsCard, 900), this.metricsVersion);
        this.lastChartsAt = performance.now();
        stage.charts = this.lastChartsAt - c0;
        this.forceCharts = false;
      } else {
        chartsLater = true;
        this.chartTimer ??= setTimeout(() => {
          this.chartTimer = undefined;
          this.schedule();
        }, wait);
      }
    }
    d.overview = d.heatmap = d.lines = d.toolbar = false;
    d.charts = chartsLater;
    this.updateStatus();
    this.timings.lastRender = stage;
  }

  private checkOverviewComplete(src: ViewSource): void {
    if (this.overviewWasComplete) return;
    const n = src.numLayers * src.numHeads;
    for (let i = 0; i < n; i++) if (!src.loaded(i)) return;
    this.overviewWasComplete = true;
    this.timings.overviewCompleteAt = performance.now();
    const w = this.completeWaiters;
    this.completeWaiters = [];
    for (const r of w) r();
  }

  private renderDetailTitle(src: ViewSource): void {
    const st = this.state;
    this.ui.detailTitle.textContent = `Layer ${st.layer} · Head ${st.head}`;
    const s = this.currentStore();
    const lam = s && st.mode !== 'difference' ? s.lambda[st.layer] : NaN;
    const i = this.selectedIndex();
    const parts = [src.label, `${src.tq} × ${src.tk}`];
    if (lam === lam) parts.push(`λ = ${formatValue(lam)}`);
    if (!src.loaded(i)) parts.push('not loaded yet');
    this.ui.detailSub.textContent = parts.join(' · ');
  }

  private renderToolbar(): void {
    this.toolbar.render({ title: this.opts.title ?? '', models: this.models, state: this.state, operands: this.operands() });
  }

  private updateStatus(): void {
    const s = this.currentStore();
    if (!s) {
      this.toolbar.status.textContent = 'waiting for maps…';
      return;
    }
    const parts = [`${s.layersLoaded}/${s.numLayers} layers`, `${s.numHeads} heads`, `${s.meta.tk} tokens`];
    if (this.jobs.pending) parts.push(`computing… ${this.jobs.pending}`);
    this.toolbar.status.textContent = parts.join(' · ');
    this.toolbar.status.classList.toggle('dl-busy', this.jobs.pending > 0 || s.layersLoaded < s.numLayers);
  }

  private describeHead(layer: number, head: number): string {
    const src = this.source;
    if (!src) return '';
    const i = layer * src.numHeads + head;
    if (!src.loaded(i)) return `L${layer} H${head}: not loaded yet`;
    const parts = [`L${layer} H${head}`, `min ${formatValue(src.min(i))}`, `max ${formatValue(src.max(i))}`];
    if (this.state.mode !== 'difference') {
      const s = this.models[this.state.model];
      const k: MapKind = s.has(this.state.mode as MapKind) ? (this.state.mode as MapKind) : 'positive';
      parts.push(`BOS ${formatValue(s.stats[k].bos[i])}`);
      const e = s.stats[k].entropy[i];
      if (e === e) parts.push(`entropy ${e.toFixed(2)} bits`);
    } else if (this.diff) parts.push(`Δ BOS ${formatValue(this.diff.stats.bos[i])}`);
    return parts.join(' · ');
  }

  // ---- export -------------------------------------------------------------------------------------

  /** The current view (overview, heatmap with its labels, legend, readout) as a PNG. */
  exportPng(scale = 2): Promise<Blob> {
    this.renderIfDirty();
    return renderPng(this.exportView(), scale);
  }

  /** JSON of the selected head's current map ('head', numbers) or of every map ('all', base64 float32). */
  exportJson(scope: 'head' | 'all' = 'head'): string {
    this.renderIfDirty();
    return renderJson(this.exportView(), scope);
  }

  private exportView(): ExportView {
    return {
      root: this.root,
      title: this.opts.title,
      state: this.state,
      theme: this.theme,
      source: this.source,
      scale: this.scales.heat,
      models: this.models,
      store: this.currentStore(),
      index: this.selectedIndex(),
      overview: this.overview,
      heatmap: this.heatmap,
      legend: this.legend,
      subtitle: this.ui.detailSub.textContent ?? '',
      panes: this.side.panes.map((p) => ({ title: p.title.textContent ?? '', heatmap: p.heatmap })),
      mainTitle: this.ui.mainTitle.textContent ?? '',
    };
  }

  async downloadPng(): Promise<void> {
    const blob = await this.exportPng();
    await this.deliver({ format: 'png', filename: `${fileBase(this)}.png`, blob });
  }

  async downloadJson(scope: 'head' | 'all'): Promise<void> {
    const text = this.exportJson(scope);
    const filename = scope === 'all' ? 'attention-maps.json' : `${fileBase(this)}.json`;
    await this.deliver({ format: 'json', filename, blob: new Blob([text], { type: 'application/json' }) });
  }

  private async deliver(e: ExportEvent): Promise<void> {
    if (await this.opts.onExport?.(e)) return;
    downloadBlob(e.blob, e.filename);
  }

  destroy(): void {
    this.resizeObserver?.disconnect();
    this.themeObserver?.disconnect();
    this.jobs.clear();
    this.root.remove();
  }
}
