/**
 * The training panel: the run's header, a status line with Cancel / Resume, and live charts of loss
 * (with held-out eval points and checkpoints), learning rate, tokens/s, gradient norm and, for DiffLoRA,
 * lambda per layer (lines over steps and the latest values as bars). Events only append to columns;
 * the charts redraw at most once per animation frame, each series reduced to a few points per pixel.
 */
import * as d3 from 'd3';
import type { TrainEvent, TrainingRunInfo, TrainingStatus, TrainStepEvent } from '../../protocol/training';
import { BarChart, StepChart, type StepSeries } from '../charts';
import { modelColor, ordinalRamp, watchTheme, type Theme } from '../colors';
import { button, el, formatDuration, frameThrottle } from '../dom';

const expFormat = d3.format('.2~e');
/** A learning rate: 2e-4, 3.07e-5; plain 0. */
export function formatLr(v: number): string {
  return v === 0 ? '0' : expFormat(v);
}

/** A growable float column. */
export class Column {
  data = new Float64Array(256);
  n = 0;
  push(v: number): void {
    if (this.n === this.data.length) {
      const d = new Float64Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    this.data[this.n++] = v;
  }
  truncate(n: number): void {
    this.n = Math.min(this.n, n);
  }
  last(): number {
    return this.n ? this.data[this.n - 1] : NaN;
  }
}

export type ViewStatus = TrainingStatus | 'idle' | 'cancelling';

export interface TrainingPanelOptions {
  onCancel?: () => void;
  onResume?: () => void;
}

export interface TrainingTimings {
  events: number;
  renders: number;
  /** Total and longest render, ms. */
  renderMs: number;
  maxRenderMs: number;
  lastRenderMs: number;
}

const SMOOTHING = [0, 0.6, 0.9, 0.97];

/** While steps stream in, the charts redraw at most this often (the status line every frame). */
const CHART_INTERVAL_MS = 100;

export class TrainingPanel {
  readonly root: HTMLElement;
  run?: TrainingRunInfo;
  status: ViewStatus = 'idle';
  error?: string;
  readonly steps = new Column();
  readonly loss = new Column();
  readonly smooth = new Column();
  readonly lr = new Column();
  readonly gradNorm = new Column();
  readonly tokensPerSec = new Column();
  readonly epoch = new Column();
  readonly evalSteps = new Column();
  readonly evalLoss = new Column();
  /** lambda per layer: one column per layer, aligned with `steps` (NaN where a step had none). */
  readonly lambdas: Column[] = [];
  readonly checkpoints: { step: number; dir: string }[] = [];
  last?: TrainStepEvent;
  smoothing = 0.9;
  readonly timings: TrainingTimings = { events: 0, renders: 0, renderMs: 0, maxRenderMs: 0, lastRenderMs: 0 };
  private theme: Theme;
  private dirty = true;
  private chartsDirty = true;
  private lastChartsAt = -Infinity;
  private chartTimer?: ReturnType<typeof setTimeout>;
  private readonly schedule: () => void;
  private readonly ui: {
    title: HTMLElement;
    badge: HTMLElement;
    cancel: HTMLButtonElement;
    resume: HTMLButtonElement;
    info: HTMLElement;
    progressBar: HTMLElement;
    progressFill: HTMLElement;
    statusLine: HTMLElement;
    checkpoint: HTMLElement;
    message: HTMLElement;
    lossCard: HTMLElement;
    smallCard: HTMLElement;
    lambdaCard: HTMLElement;
    lambdaKey: HTMLElement;
    log: HTMLInputElement;
    smoothing: HTMLSelectElement;
  };
  readonly charts: { loss: StepChart; lr: StepChart; tps: StepChart; grad: StepChart; lambda: StepChart; lambdaBars: BarChart };

  constructor(
    host: HTMLElement,
    private readonly opts: TrainingPanelOptions = {},
  ) {
    this.root = el('div', 'dl-panel dl-training', undefined, host);
    this.schedule = frameThrottle(() => this.render());
    this.theme = watchTheme(this.root, (t) => {
      this.theme = t;
      this.invalidate();
    });

    const bar = el('header', 'dl-toolbar', undefined, this.root);
    const brand = el('div', 'dl-brand', undefined, bar);
    el('span', 'dl-logo', 'DiffLoRA Lens', brand);
    const title = el('span', 'dl-title', 'Train adapter', brand);
    const badge = el('span', 'dl-badge', 'waiting', brand);
    badge.setAttribute('role', 'status');
    const controls = el('div', 'dl-controls', undefined, bar);
    const cancel = button('Cancel', controls, () => this.cancel(), { cls: 'dl-cancel', title: 'Checkpoint and stop the run' });
    const resume = button('Resume', controls, () => this.resume(), {
      cls: 'dl-primary dl-resume',
      title: 'Continue from the last checkpoint',
    });
    cancel.hidden = resume.hidden = true;

    const message = el('div', 'dl-message', undefined, this.root);
    message.hidden = true;
    message.setAttribute('role', 'alert');

    const head = el('section', 'dl-card dl-run', undefined, this.root);
    const info = el('dl', 'dl-run-info', undefined, head);
    const progress = el('div', 'dl-progress', undefined, head);
    const progressBar = el('div', 'dl-progress-bar', undefined, progress);
    const progressFill = el('div', 'dl-progress-fill', undefined, progressBar);
    progressBar.setAttribute('role', 'progressbar');
    progressBar.setAttribute('aria-valuemin', '0');
    const statusLine = el('div', 'dl-status-line', 'Waiting for the first step…', progress);
    statusLine.setAttribute('aria-live', 'polite');
    const checkpoint = el('div', 'dl-note dl-checkpoint', '', progress);

    const body = el('div', 'dl-train-body', undefined, this.root);
    const card = (cls: string, heading: string) => {
      const c = el('section', `dl-card ${cls}`, undefined, body);
      const h = el('header', 'dl-card-head', undefined, c);
      el('h2', undefined, heading, h);
      return { c, h };
    };
    const lc = card('dl-loss-card', 'Loss');
    const lossOpts = el('div', 'dl-card-tools', undefined, lc.h);
    const smoothLabel = el('label', 'dl-group', undefined, lossOpts);
    el('span', 'dl-group-label', 'Smoothing', smoothLabel);
    const smoothing = el('select', 'dl-select dl-smoothing', undefined, smoothLabel);
    for (const w of SMOOTHING) {
      const o = el('option', undefined, w ? String(w) : 'off', smoothing);
      o.value = String(w);
    }
    smoothing.value = String(this.smoothing);
    smoothing.title = 'Exponential moving average of the training loss (debiased), drawn over the raw values';
    smoothing.addEventListener('change', () => this.setSmoothing(Number(smoothing.value)));
    const logLabel = el('label', 'dl-group dl-check', undefined, lossOpts);
    const log = el('input', undefined, undefined, logLabel);
    log.type = 'checkbox';
    el('span', 'dl-group-label', 'log scale', logLabel);
    log.addEventListener('change', () => {
      this.charts.loss.setLog(log.checked);
      this.invalidate();
    });
    const loss = new StepChart(lc.c, 'Training loss per step; held-out loss as dots; ▲ checkpoints', {
      emptyText: 'Waiting for the first step…',
      height: 220,
      format: d3.format('.4~g'),
    });
    const sc = card('dl-small-card', 'Optimizer');
    const smallGrid = el('div', 'dl-charts', undefined, sc.c);
    const lr = new StepChart(smallGrid, 'Learning rate', { emptyText: '—', yMin: 0, format: formatLr });
    const tps = new StepChart(smallGrid, 'Tokens / s', { emptyText: '—', yMin: 0, format: d3.format('.3~s') });
    const grad = new StepChart(smallGrid, 'Gradient norm (before clipping)', { emptyText: '—', yMin: 0, format: d3.format('.3~g') });
    const lam = card('dl-lambda-card', 'Lambda per layer · DiffLoRA');
    const lambdaKey = el('div', 'dl-card-sub dl-lambda-key', undefined, lam.h);
    const lamGrid = el('div', 'dl-charts', undefined, lam.c);
    const lambda = new StepChart(lamGrid, 'λ over steps, one line per layer', {
      emptyText: 'No λ yet: only DiffLoRA runs have one.',
      height: 180,
      format: d3.format('.4~g'),
    });
    const lambdaBars = new BarChart(lamGrid, 'Latest λ per layer', { emptyText: 'No λ yet.', height: 180, format: d3.format('.4~g') });
    lam.c.hidden = true;

    this.ui = {
      title,
      badge,
      cancel,
      resume,
      info,
      progressBar,
      progressFill,
      statusLine,
      checkpoint,
      message,
      lossCard: lc.c,
      smallCard: sc.c,
      lambdaCard: lam.c,
      lambdaKey,
      log,
      smoothing,
    };
    this.charts = { loss, lr, tps, grad, lambda, lambdaBars };

    // Card widths come from the observer (reading clientWidth while drawing would force a layout per chart).
    if (typeof ResizeObserver !== 'undefined') {
      const ro = new ResizeObserver((entries) => {
        let changed = false;
        for (const e of entries) {
          const w = (e.target as HTMLElement).clientWidth;
          if (this.widths.get(e.target) !== w) {
            this.widths.set(e.target, w);
            changed = true;
          }
        }
        if (changed) this.invalidate();
      });
      for (const c of [lc.c, sc.c, lam.c]) ro.observe(c);
    }
    this.invalidate();
  }

  // ---- data ---------------------------------------------------------------------------------------

  /** A new run: clears everything. */
  setRun(run: TrainingRunInfo): void {
    this.run = run;
    for (const c of [
      this.steps,
      this.loss,
      this.smooth,
      this.lr,
      this.gradNorm,
      this.tokensPerSec,
      this.epoch,
      this.evalSteps,
      this.evalLoss,
    ])
      c.truncate(0);
    this.lambdas.length = 0;
    this.checkpoints.length = 0;
    this.last = undefined;
    this.error = undefined;
    this.status = 'running';
    this.renderInfo();
    this.invalidate();
  }

  addEvents(events: TrainEvent[]): void {
    for (const e of events) this.addEvent(e);
  }

  addEvent(e: TrainEvent): void {
    this.timings.events++;
    if (e.type === 'step') this.addStep(e);
    else if (e.type === 'eval') {
      // A resumed run may redo an eval: replace it.
      let n = this.evalSteps.n;
      while (n > 0 && this.evalSteps.data[n - 1] >= e.step) n--;
      this.evalSteps.truncate(n);
      this.evalLoss.truncate(n);
      this.evalSteps.push(e.step);
      this.evalLoss.push(e.loss);
    } else if (e.type === 'checkpoint') {
      const i = this.checkpoints.findIndex((c) => c.step >= e.step);
      if (i >= 0) this.checkpoints.length = i;
      this.checkpoints.push({ step: e.step, dir: e.dir });
    }
    this.invalidate();
  }

  private addStep(e: TrainStepEvent): void {
    if (this.status === 'idle') this.status = 'running';
    // A run resumed from a checkpoint repeats the steps after it: they replace the ones shown.
    if (this.steps.n && e.step <= this.steps.last()) this.truncateFrom(e.step);
    this.steps.push(e.step);
    this.loss.push(e.loss);
    this.lr.push(e.lr);
    this.gradNorm.push(e.gradNorm);
    this.tokensPerSec.push(e.tokensPerSec);
    this.epoch.push(e.epoch);
    this.pushSmooth(this.steps.n - 1);
    const lam = e.lambdas;
    if (lam && lam.length) {
      while (this.lambdas.length < lam.length) {
        const c = new Column();
        for (let i = 0; i < this.steps.n - 1; i++) c.push(NaN);
        this.lambdas.push(c);
      }
    }
    for (let l = 0; l < this.lambdas.length; l++) this.lambdas[l].push(lam && l < lam.length ? lam[l] : NaN);
    this.last = e;
  }

  /**
   * Drops what the run showed from `step` on: a run resumed from a checkpoint redoes those steps (and
   * their evals and checkpoints) on its own trajectory.
   */
  private truncateFrom(step: number): void {
    let n = this.steps.n;
    while (n > 0 && this.steps.data[n - 1] >= step) n--;
    for (const c of [this.steps, this.loss, this.lr, this.gradNorm, this.tokensPerSec, this.epoch, ...this.lambdas]) c.truncate(n);
    let k = this.evalSteps.n;
    while (k > 0 && this.evalSteps.data[k - 1] >= step) k--;
    this.evalSteps.truncate(k);
    this.evalLoss.truncate(k);
    while (this.checkpoints.length && this.checkpoints[this.checkpoints.length - 1].step >= step) this.checkpoints.pop();
    this.recomputeSmooth();
  }

  private recomputeSmooth(): void {
    this.smooth.truncate(0);
    this.emaBiased = 0;
    for (let i = 0; i < this.loss.n; i++) this.pushSmooth(i);
  }

  /** Debiased EMA of the loss at index i (from the one at i - 1). */
  private pushSmooth(i: number): void {
    const w = this.smoothing;
    const v = this.loss.data[i];
    if (!w) {
      this.smooth.push(v);
      return;
    }
    // Kept as the biased EMA divided by (1 - w^(i+1)): store the biased one in a side value.
    const prev = i > 0 ? this.emaBiased : 0;
    this.emaBiased = v === v ? w * prev + (1 - w) * v : prev;
    this.smooth.push(this.emaBiased / (1 - Math.pow(w, i + 1)));
  }
  private emaBiased = 0;

  setSmoothing(w: number): void {
    this.smoothing = w;
    this.ui.smoothing.value = String(w);
    this.recomputeSmooth();
    this.invalidate();
  }

  setStatus(status: TrainingStatus, error?: string): void {
    this.status = status;
    this.error = status === 'failed' ? (error ?? 'Training failed.') : undefined;
    this.invalidate();
  }

  // ---- buttons ------------------------------------------------------------------------------------

  cancel(): void {
    if (this.status !== 'running') return;
    this.status = 'cancelling';
    this.opts.onCancel?.();
    this.invalidate();
  }

  resume(): void {
    if (this.status !== 'cancelled') return;
    this.opts.onResume?.();
    this.ui.resume.disabled = true;
    this.ui.resume.textContent = 'Resuming…';
  }

  // ---- rendering ----------------------------------------------------------------------------------

  invalidate(): void {
    this.dirty = this.chartsDirty = true;
    this.schedule();
  }

  /** Renders now whatever changed, charts included (normally: once per animation frame, charts less often). */
  renderIfDirty(): void {
    if (this.dirty || this.chartsDirty) this.render(true);
  }

  /** The header's Steps value (the run may start with 0 and learn the total from the first step). */
  private stepsValue?: HTMLElement;

  private renderInfo(): void {
    const r = this.run;
    const info = this.ui.info;
    info.textContent = '';
    if (!r) return;
    const item = (k: string, v: string, cls?: string) => {
      const d = el('div', `dl-kv${cls ? ` ${cls}` : ''}`, undefined, info);
      el('dt', undefined, k, d);
      const dd = el('dd', undefined, v, d);
      dd.title = v;
      return dd;
    };
    item('Model', r.model);
    item('Method', r.method);
    item('Dataset', r.dataset);
    if (r.evalDataset) item('Eval data', r.evalDataset);
    item('Output', r.outputDir, 'dl-kv-wide');
    this.stepsValue = item('Steps', r.totalSteps > 0 ? String(r.totalSteps) : '—');
    for (const [k, v] of Object.entries(r.details ?? {})) if (v !== undefined && v !== null && v !== '') item(k, String(v));
    this.ui.title.textContent = `Train adapter · ${r.method}`;
  }

  private render(force = false): void {
    const t0 = performance.now();
    if (this.dirty) {
      this.dirty = false;
      this.renderStatus();
    }
    if (!this.chartsDirty) return;
    const wait = this.lastChartsAt + CHART_INTERVAL_MS - t0;
    if (!force && wait > 0) {
      this.chartTimer ??= setTimeout(() => {
        this.chartTimer = undefined;
        this.schedule();
      }, wait);
      return;
    }
    this.chartsDirty = false;
    this.lastChartsAt = t0;
    this.renderCharts();
    const ms = performance.now() - t0;
    this.timings.renders++;
    this.timings.renderMs += ms;
    this.timings.lastRenderMs = ms;
    this.timings.maxRenderMs = Math.max(this.timings.maxRenderMs, ms);
  }

  private renderStatus(): void {
    const st = this.status,
      u = this.ui,
      e = this.last;
    const label: Record<ViewStatus, string> = {
      idle: 'waiting',
      running: 'running',
      cancelling: 'cancelling…',
      cancelled: 'cancelled',
      finished: 'finished',
      failed: 'failed',
    };
    u.badge.textContent = label[st];
    u.badge.className = `dl-badge dl-badge-${st}`;
    this.root.dataset.status = st;
    u.cancel.hidden = !(st === 'running' || st === 'cancelling');
    u.cancel.disabled = st === 'cancelling';
    u.cancel.textContent = st === 'cancelling' ? 'Cancelling…' : 'Cancel';
    u.resume.hidden = st !== 'cancelled';
    if (st !== 'cancelled') {
      u.resume.disabled = false;
      u.resume.textContent = 'Resume';
    }
    u.message.hidden = !this.error;
    u.message.textContent = this.error ?? '';

    const total = e?.totalSteps || this.run?.totalSteps || 0;
    if (this.stepsValue && total > 0) this.stepsValue.textContent = String(total);
    const step = e?.step ?? 0;
    const frac = total > 0 ? Math.min(1, step / total) : 0;
    u.progressFill.style.width = `${(frac * 100).toFixed(2)}%`;
    u.progressBar.setAttribute('aria-valuemax', String(total));
    u.progressBar.setAttribute('aria-valuenow', String(step));
    u.progressBar.classList.toggle('dl-progress-done', st === 'finished');
    u.progressBar.classList.toggle('dl-progress-stopped', st === 'cancelled' || st === 'failed');
    if (!e) {
      u.statusLine.textContent = st === 'failed' ? 'Failed before the first step.' : 'Waiting for the first step…';
    } else {
      const nf = d3.format(',');
      const parts = [
        `step ${nf(step)} / ${nf(total)} (${(frac * 100).toFixed(1)}%)`,
        `epoch ${e.epoch + 1}`,
        st === 'running'
          ? `ETA ${formatDuration(e.etaSec)}`
          : st === 'finished'
            ? 'done'
            : st === 'cancelling'
              ? 'stopping at the next step'
              : `stopped at step ${nf(step)}`,
        `loss ${d3.format('.4~f')(e.loss)}`,
        `grad norm ${d3.format('.3~g')(e.gradNorm)}`,
        `lr ${formatLr(e.lr)}`,
        `${d3.format('.3~s')(e.tokensPerSec)} tok/s`,
      ];
      if (this.evalLoss.n) parts.push(`eval ${d3.format('.4~f')(this.evalLoss.last())} @ ${nf(this.evalSteps.last())}`);
      u.statusLine.textContent = parts.join(' · ');
    }
    const ck = this.checkpoints[this.checkpoints.length - 1];
    u.checkpoint.textContent = ck ? `Last checkpoint: step ${ck.step} → ${ck.dir}` : '';
    u.checkpoint.title = ck?.dir ?? '';
  }

  private readonly widths = new WeakMap<Element, number>();

  private width(card: HTMLElement, fallback: number): number {
    const w = this.widths.get(card) ?? card.clientWidth;
    return w > 0 ? w - 26 : fallback;
  }

  private renderCharts(): void {
    const total = Math.max(this.run?.totalSteps ?? 0, this.last?.totalSteps ?? 0, this.steps.last() || 1);
    const xDomain: [number, number] = [0, total];
    const fg = this.theme.dark ? '#cccccc' : '#1f2328';
    const lossColor = modelColor(0),
      evalColor = modelColor(1);
    const col = (c: Column, label: string, color: string, style?: StepSeries['style'], quiet?: boolean): StepSeries => ({
      label,
      color,
      xs: this.steps.data,
      ys: c.data,
      n: c.n,
      style,
      quiet,
    });
    const wLoss = this.width(this.ui.lossCard, 900);
    const lossSeries: StepSeries[] = this.smoothing
      ? [col(this.loss, 'loss', lossColor, 'faint'), col(this.smooth, `loss (EMA ${this.smoothing})`, lossColor)]
      : [col(this.loss, 'loss', lossColor)];
    lossSeries.push({
      label: 'eval loss',
      color: evalColor,
      xs: this.evalSteps.data,
      ys: this.evalLoss.data,
      n: this.evalLoss.n,
      style: 'points',
    });
    this.charts.loss.render(
      lossSeries,
      wLoss,
      xDomain,
      this.checkpoints.map((c) => ({ x: c.step, label: `checkpoint at step ${c.step}: ${c.dir}` })),
    );
    const wSmall = this.chartWidth(this.ui.smallCard, 3);
    this.charts.lr.render([col(this.lr, 'lr', fg)], wSmall, xDomain);
    this.charts.tps.render([col(this.tokensPerSec, 'tokens/s', modelColor(2))], wSmall, xDomain);
    this.charts.grad.render([col(this.gradNorm, 'grad norm', modelColor(3))], wSmall, xDomain);
    const L = this.lambdas.length;
    this.ui.lambdaCard.hidden = L === 0;
    if (L) {
      const colors = ordinalRamp(L, this.theme);
      const wl = this.chartWidth(this.ui.lambdaCard, 2);
      this.charts.lambda.render(
        this.lambdas.map((c, l) => col(c, `L${l}`, colors[l], undefined, L > 12)),
        wl,
        xDomain,
      );
      this.charts.lambdaBars.render(
        this.lambdas.map((c) => c.last()),
        colors,
        wl,
      );
      this.renderLambdaKey(colors);
    }
  }

  private chartWidth(card: HTMLElement, perRow: number): number {
    const w = this.width(card, 900);
    const n = Math.max(1, Math.min(perRow, Math.floor((w + 16) / 316)));
    return Math.floor((w - 16 * (n - 1)) / n);
  }

  private keyFor = '';
  private renderLambdaKey(colors: string[]): void {
    const k = colors.join();
    if (k === this.keyFor) return;
    this.keyFor = k;
    const key = this.ui.lambdaKey;
    key.textContent = '';
    const idx = colors.length <= 6 ? colors.map((_, i) => i) : [0, colors.length >> 1, colors.length - 1];
    idx.forEach((i, j) => {
      if (j && idx[j] - idx[j - 1] > 1) el('span', 'dl-key-gap', '…', key);
      const s = el('span', 'dl-key', undefined, key);
      el('span', 'dl-swatch', undefined, s).style.background = colors[i];
      el('span', undefined, `L${i}`, s);
    });
  }
}
