/**
 * The analysis panel: the paper's analyses, one Run button each, results side by side per model.
 * (a) Attention mass on the first (BOS) token per layer x head; (b) the "magic number" needle probe:
 * attention mass from the final query onto the needle's tokens, the models' answers, and the text with
 * the needle marked. Each analysis: small layer x head heatmaps on one shared colour scale (linked hover
 * readout), its legend, and the per-layer means as a chart.
 */
import type { ModelKind } from '../../protocol/attention';
import type { AnalysisName, BosAnalysis, LayerHeadValues, NeedleAnalysis, NeedleOptions } from '../../protocol/analysis';
import { MetricChart } from '../charts';
import { formatValue, makeScale, modelColor, watchTheme, type ColorScale, type Gamma, type Theme } from '../colors';
import { button, el, frameThrottle } from '../dom';
import { LayerHeadMap, type LayerHeadCell } from '../layerhead';
import { Legend } from '../legend';

export interface AnalysisPanelOptions {
  onRun?: (analysis: AnalysisName, options?: NeedleOptions) => void;
  onSelect?: (analysis: AnalysisName, model: number, layer: number, head: number) => void;
}

interface SectionUi {
  title: HTMLElement;
  card: HTMLElement;
  run: HTMLButtonElement;
  progress: HTMLElement;
  progressFill: HTMLElement;
  progressText: HTMLElement;
  message: HTMLElement;
  results: HTMLElement;
  meta: HTMLElement;
  readout: HTMLElement;
  maps: HTMLElement;
  legend: Legend;
  chart: MetricChart;
  gamma: HTMLSelectElement;
  extra: HTMLElement;
}

/** The shared colour scale of a set of maps: sequential from 0, or diverging when a value is negative. */
export function sharedScale(models: LayerHeadValues[], gamma: Gamma, theme: Theme): ColorScale {
  let lo = Infinity,
    hi = -Infinity;
  for (const m of models)
    for (const v of m.values)
      if (v === v) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
  if (!(hi >= lo)) {
    lo = 0;
    hi = 1;
  }
  return lo < 0 ? makeScale('diverging', gamma, [lo, hi], theme) : makeScale('sequential', gamma, [0, hi > 0 ? hi : 1], theme);
}

export class AnalysisPanel {
  readonly root: HTMLElement;
  models: { label: string; kind: ModelKind }[] = [];
  bos?: BosAnalysis;
  needle?: NeedleAnalysis;
  readonly progress: Partial<Record<AnalysisName, { text: string; fraction?: number }>> = {};
  readonly errors: Partial<Record<AnalysisName, string>> = {};
  /** The colour scale each analysis used in its last render. */
  readonly scales: Partial<Record<AnalysisName, ColorScale>> = {};
  readonly maps: Record<AnalysisName, LayerHeadMap[]> = { bos: [], needle: [] };
  private readonly hover: Partial<Record<AnalysisName, LayerHeadCell>> = {};
  private theme: Theme;
  private dirty = new Set<AnalysisName>(['bos', 'needle']);
  /** Results of a run started here: scrolled into view once drawn (the needle probe sits below the fold). */
  private readonly reveal = new Set<AnalysisName>();
  private readonly schedule: () => void;
  private readonly ui: Record<AnalysisName, SectionUi>;
  private readonly needleOpts: { length: HTMLSelectElement; depth: HTMLSelectElement };
  private readonly modelsLine: HTMLElement;

  constructor(
    host: HTMLElement,
    private readonly opts: AnalysisPanelOptions = {},
  ) {
    this.root = el('div', 'dl-panel dl-analysis', undefined, host);
    this.schedule = frameThrottle(() => this.render());
    this.theme = watchTheme(this.root, (t) => {
      this.theme = t;
      this.invalidate('bos');
      this.invalidate('needle');
    });
    const bar = el('header', 'dl-toolbar', undefined, this.root);
    const brand = el('div', 'dl-brand', undefined, bar);
    el('span', 'dl-logo', 'DiffLoRA Lens', brand);
    el('span', 'dl-title', 'Analyses', brand);
    this.modelsLine = el('span', 'dl-status', '', brand);

    const bos = this.section(
      'bos',
      'Attention on the first token',
      'Per head, the mean attention weight that queries put on the first token: the "attention sink". Differential attention is expected to lower it.',
      'linear',
    );
    const nd = this.section(
      'needle',
      'Magic-number needle probe',
      "A number is hidden in long filler text and asked for at the end. Per head, the attention mass from the final query position onto the number's tokens, and what each model answers.",
      'sqrt',
    );
    const tools = nd.run.parentElement!;
    const sel = (label: string, values: [string, string][], value: string) => {
      const g = el('label', 'dl-group', undefined, tools);
      el('span', 'dl-group-label', label, g);
      const s = el('select', 'dl-select', undefined, g);
      for (const [v, t] of values) {
        const o = el('option', undefined, t, s);
        o.value = v;
      }
      s.value = value;
      tools.insertBefore(g, nd.run);
      return s;
    };
    this.needleOpts = {
      length: sel(
        'Length',
        [
          ['512', '512 tokens'],
          ['1024', '1k tokens'],
          ['2048', '2k tokens'],
          ['4096', '4k tokens'],
          ['8192', '8k tokens'],
        ],
        '1024',
      ),
      depth: sel(
        'Depth',
        [
          ['0.1', '10%'],
          ['0.25', '25%'],
          ['0.5', '50%'],
          ['0.75', '75%'],
          ['0.9', '90%'],
        ],
        '0.5',
      ),
    };
    this.ui = { bos, needle: nd };
    if (typeof ResizeObserver !== 'undefined') {
      let lastW = 0;
      new ResizeObserver(() => {
        const w = this.root.clientWidth;
        if (w !== lastW) {
          lastW = w;
          this.invalidate('bos');
          this.invalidate('needle');
        }
      }).observe(this.root);
    }
    this.schedule();
  }

  private section(name: AnalysisName, title: string, about: string, gammaDefault: Gamma): SectionUi {
    const card = el('section', `dl-card dl-analysis-${name}`, undefined, this.root);
    const h = el('header', 'dl-card-head', undefined, card);
    const titleEl = el('h2', undefined, title, h);
    const tools = el('div', 'dl-card-tools', undefined, h);
    const run = button('Run', tools, () => this.run(name), { cls: 'dl-primary dl-run', title: `Run this analysis on the panel's models` });
    el('p', 'dl-about', about, card);
    const progress = el('div', 'dl-progress', undefined, card);
    const bar = el('div', 'dl-progress-bar', undefined, progress);
    const progressFill = el('div', 'dl-progress-fill', undefined, bar);
    const progressText = el('div', 'dl-status-line', '', progress);
    progress.hidden = true;
    const message = el('div', 'dl-message', undefined, card);
    message.hidden = true;
    message.setAttribute('role', 'alert');
    const results = el('div', 'dl-results', undefined, card);
    const meta = el('div', 'dl-card-sub dl-meta', '', results);
    const readout = el('div', 'dl-readout', undefined, results);
    readout.setAttribute('aria-live', 'polite');
    const main = el('div', 'dl-results-main', undefined, results);
    const left = el('div', 'dl-results-maps', undefined, main);
    const maps = el('div', 'dl-lh-row', undefined, left);
    const foot = el('div', 'dl-detail-foot', undefined, left);
    const legend = new Legend(el('div', undefined, undefined, foot));
    const gl = el('label', 'dl-group', undefined, foot);
    el('span', 'dl-group-label', 'Colour', gl);
    const gamma = el('select', 'dl-select dl-gamma', undefined, gl);
    for (const [v, t] of [
      ['sqrt', '√ scale'],
      ['linear', 'linear'],
    ]) {
      const o = el('option', undefined, t, gamma);
      o.value = v;
    }
    gamma.value = gammaDefault;
    gamma.addEventListener('change', () => this.invalidate(name));
    const chart = new MetricChart(el('div', 'dl-results-chart', undefined, main), 'Per layer: mean over heads (line), each head (dots)', {
      emptyText: '',
      yMin: 0,
      onSelect: (s) => this.setHover(name, { layer: s.layer, head: s.head }),
    });
    const extra = el('div', 'dl-extra', undefined, results);
    results.hidden = true;
    return {
      title: titleEl,
      card,
      run,
      progress,
      progressFill,
      progressText,
      message,
      results,
      meta,
      readout,
      maps,
      legend,
      chart,
      gamma,
      extra,
    };
  }

  // ---- data ---------------------------------------------------------------------------------------

  setModels(models: { label: string; kind: ModelKind }[]): void {
    this.models = models.slice();
    this.modelsLine.textContent = models.length ? `on ${models.map((m) => m.label).join(', ')}` : '';
  }

  setBos(r: BosAnalysis): void {
    this.bos = r;
    // "BOS" only where the model has one and the text starts with it.
    this.ui.bos.title.textContent = r.firstTokenIsBos ? 'Attention on the first token (BOS)' : 'Attention on the first token';
    this.finish('bos');
  }
  setNeedle(r: NeedleAnalysis): void {
    this.needle = r;
    this.finish('needle');
  }

  setProgress(name: AnalysisName, text: string, fraction?: number): void {
    this.progress[name] = { text, fraction };
    this.errors[name] = undefined;
    this.invalidate(name);
  }

  setError(name: AnalysisName, error: string): void {
    this.errors[name] = error;
    this.progress[name] = undefined;
    this.invalidate(name);
  }

  private finish(name: AnalysisName): void {
    if (this.progress[name]) this.reveal.add(name);
    this.progress[name] = undefined;
    this.errors[name] = undefined;
    this.hover[name] = undefined;
    this.invalidate(name);
  }

  /** The Run button: asks the host (the view shows "starting" until progress or results arrive). */
  run(name: AnalysisName): void {
    const options: NeedleOptions | undefined =
      name === 'needle' ? { length: Number(this.needleOpts.length.value), depth: Number(this.needleOpts.depth.value) } : undefined;
    this.progress[name] = { text: 'Starting…' };
    this.errors[name] = undefined;
    this.opts.onRun?.(name, options);
    this.invalidate(name);
  }

  private result(name: AnalysisName): BosAnalysis | NeedleAnalysis | undefined {
    return name === 'bos' ? this.bos : this.needle;
  }

  // ---- rendering ----------------------------------------------------------------------------------

  private invalidate(name: AnalysisName): void {
    this.dirty.add(name);
    this.schedule();
  }

  renderIfDirty(): void {
    if (this.dirty.size) this.render();
  }

  private render(): void {
    for (const name of this.dirty) this.renderSection(name);
    this.dirty.clear();
    for (const name of this.reveal) this.ui[name].results.scrollIntoView({ block: 'nearest' });
    this.reveal.clear();
  }

  private renderSection(name: AnalysisName): void {
    const u = this.ui[name];
    const pr = this.progress[name],
      err = this.errors[name];
    u.progress.hidden = !pr;
    u.progressText.textContent = pr?.text ?? '';
    u.progressFill.style.width = pr?.fraction !== undefined ? `${(Math.max(0, Math.min(1, pr.fraction)) * 100).toFixed(2)}%` : '100%';
    u.progressFill.parentElement!.classList.toggle('dl-progress-indeterminate', pr !== undefined && pr.fraction === undefined);
    u.message.hidden = !err;
    u.message.textContent = err ?? '';
    u.run.disabled = !!pr;
    const r = this.result(name);
    u.run.textContent = pr ? 'Running…' : r ? 'Run again' : 'Run';
    u.results.hidden = !r;
    if (!r) return;
    const models = r.models;
    const scale = sharedScale(models, u.gamma.value as Gamma, this.theme);
    this.scales[name] = scale;
    u.meta.textContent =
      name === 'bos'
        ? `${(r as BosAnalysis).numTokens} tokens${(r as BosAnalysis).note ? ` · ${(r as BosAnalysis).note}` : ''} · ${models.length} models · one colour scale for all`
        : `${r.numTokens} tokens · needle ${JSON.stringify((r as NeedleAnalysis).needle)}${(r as NeedleAnalysis).depth !== undefined ? ` at ${Math.round((r as NeedleAnalysis).depth! * 100)}% depth` : ''} · one colour scale for all`;

    // Heatmaps, side by side, same cell size.
    const avail = Math.max(240, (u.card.clientWidth || 1000) - 26);
    // The per-layer chart sits beside the maps when there is room.
    const mapsAvail = avail > 900 ? avail - 480 : avail;
    const maxHeads = Math.max(...models.map((m) => m.numHeads));
    const perRow = Math.min(models.length, Math.max(1, Math.floor(mapsAvail / 200)));
    const cell = LayerHeadMap.cellFor(maxHeads, Math.floor((mapsAvail - 16 * (perRow - 1)) / perRow));
    const maps = this.maps[name];
    while (maps.length > models.length) maps.pop()!.root.remove();
    while (maps.length < models.length) {
      const i = maps.length;
      maps.push(
        new LayerHeadMap(u.maps, {
          onHover: (c) => this.setHover(name, c),
          onClick: (c) => this.opts.onSelect?.(name, i, c.layer, c.head),
        }),
      );
    }
    models.forEach((m, i) => {
      if (m.values.length !== m.numLayers * m.numHeads) {
        this.errors[name] = `${m.label}: ${m.values.length} values, expected ${m.numLayers} layers × ${m.numHeads} heads`;
        u.message.hidden = false;
        u.message.textContent = this.errors[name]!;
      }
      maps[i].root.dataset.model = String(i);
      maps[i].render(m, scale, cell, `${m.label} · ${m.kind}${m.map && m.kind === 'difflora' ? ` (${m.map})` : ''}`);
      maps[i].root.style.setProperty('--dl-model-color', modelColor(i));
    });
    const caption =
      name === 'bos' ? 'attention on token 0, mean over queries' : 'attention from the last query onto the needle (sum over its tokens)';
    u.legend.render(scale, `${caption} · ${scale.gamma === 'sqrt' ? '√ ramp' : 'linear'}`, Math.min(300, avail - 40));
    u.chart.render(
      models.map((m, i) => ({
        model: i,
        label: m.label,
        color: modelColor(i),
        numLayers: m.numLayers,
        numHeads: m.numHeads,
        values: m.values,
      })),
      this.hover[name] ? { model: 0, ...this.hover[name]! } : undefined,
      Math.min(440, avail),
    );
    this.renderReadout(name);
    if (name === 'needle') this.renderNeedleExtra(r as NeedleAnalysis, u.extra);
    else u.extra.textContent = '';
  }

  private setHover(name: AnalysisName, c: LayerHeadCell | undefined): void {
    this.hover[name] = c;
    for (const m of this.maps[name]) m.highlight(c);
    this.renderReadout(name);
  }

  private renderReadout(name: AnalysisName): void {
    const u = this.ui[name],
      c = this.hover[name],
      r = this.result(name);
    u.readout.textContent = '';
    if (!r) return;
    if (!c) {
      el(
        'span',
        'dl-readout-hint',
        "Hover a cell: every model's value for that layer and head. Click: open it in the attention panel.",
        u.readout,
      );
      delete u.readout.dataset.layer;
      return;
    }
    u.readout.dataset.layer = String(c.layer);
    u.readout.dataset.head = String(c.head);
    el('span', 'dl-readout-idx', `L${c.layer} H${c.head}`, u.readout);
    r.models.forEach((m, i) => {
      const v = this.maps[name][i]?.value(c) ?? NaN;
      const part = el('span', 'dl-readout-model', undefined, u.readout);
      el('span', 'dl-swatch', undefined, part).style.background = modelColor(i);
      el('span', 'dl-readout-label', `${m.label}`, part);
      const val = el('span', 'dl-value', formatValue(v), part);
      val.dataset.value = String(v);
    });
  }

  private renderNeedleExtra(r: NeedleAnalysis, host: HTMLElement): void {
    host.textContent = '';
    const answers = el('div', 'dl-answers', undefined, host);
    el('h3', undefined, `Answers (the needle is ${r.needle})`, answers);
    r.models.forEach((m, i) => {
      const row = el('div', 'dl-answer', undefined, answers);
      row.dataset.model = String(i);
      el('span', 'dl-swatch', undefined, row).style.background = modelColor(i);
      el('span', 'dl-answer-label', m.label, row);
      if (m.correct !== undefined)
        el('span', `dl-badge dl-exec dl-exec-${m.correct ? 'passed' : 'failed'}`, m.correct ? '✓ found' : '✗ missed', row);
      el('span', 'dl-answer-text', m.answer, row);
    });
    const t = el('div', 'dl-needle-box', undefined, host);
    const th = el('h3', undefined, 'The prompt, with the needle marked', t);
    el('span', 'dl-card-sub', ` · ${r.text.length.toLocaleString()} characters`, th);
    const pre = el('pre', 'dl-needle-text', undefined, t);
    const a = Math.max(0, Math.min(r.text.length, r.needleStart)),
      b = Math.max(a, Math.min(r.text.length, r.needleEnd));
    pre.append(document.createTextNode(r.text.slice(0, a)));
    const mark = el('mark', 'dl-needle', r.text.slice(a, b), pre);
    pre.append(document.createTextNode(r.text.slice(b)));
    // Scroll the needle into the middle of the box (not the page).
    requestAnimationFrame(() => {
      pre.scrollTop = Math.max(0, mark.offsetTop - pre.clientHeight / 2);
    });
  }
}
