/**
 * The HumanEval run view: live progress per model (generated / executed), the pass@k table (rows =
 * models, columns = k, with n and sample counts), and a per-problem table (task_id x model: passed c/n,
 * colour-coded) whose rows open that problem side by side.
 */
import * as d3 from 'd3';
import { passAtK, type HumanEvalRunInfo, type ModelProgress, type ProblemResult, type RunStatus } from '../../protocol/compare';
import { modelColor, rateInterpolator, type Theme } from '../colors';
import { el, formatPercent } from '../dom';

export type RowFilter = 'all' | 'failed' | 'disagree';

interface Row {
  tr: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
  version: string;
}

export class RunView {
  readonly root: HTMLElement;
  run?: HumanEvalRunInfo;
  status?: RunStatus;
  error?: string;
  /** taskId -> per model result. */
  readonly results = new Map<string, (ProblemResult | undefined)[]>();
  progress: ModelProgress[] = [];
  filter: RowFilter = 'all';
  private readonly ui: {
    title: HTMLElement;
    sub: HTMLElement;
    message: HTMLElement;
    progress: HTMLElement;
    passTable: HTMLTableElement;
    problemTable: HTMLTableElement;
    problemBody: HTMLTableSectionElement;
    filter: HTMLSelectElement;
    count: HTMLElement;
  };
  private rows = new Map<string, Row>();
  private rowsFor?: HumanEvalRunInfo;

  constructor(
    host: HTMLElement,
    private theme: Theme,
    private readonly cb: { onOpenProblem: (taskId: string) => void },
  ) {
    this.root = el('div', 'dl-run-view', undefined, host);
    const head = el('section', 'dl-card dl-run-head', undefined, this.root);
    const h = el('header', 'dl-card-head', undefined, head);
    const title = el('h2', undefined, 'HumanEval run', h);
    const sub = el('span', 'dl-card-sub', '', h);
    const message = el('div', 'dl-message', undefined, head);
    message.hidden = true;
    message.setAttribute('role', 'alert');
    const progress = el('div', 'dl-run-progress', undefined, head);

    const pk = el('section', 'dl-card dl-passk', undefined, this.root);
    el('h2', undefined, 'pass@k', el('header', 'dl-card-head', undefined, pk));
    const passTable = el('table', 'dl-table dl-passk-table', undefined, pk);
    el(
      'div',
      'dl-note',
      'Unbiased estimator 1 − C(n−c, k) / C(n, k) per problem, averaged over the problems with at least k executed samples.',
      pk,
    );

    const pp = el('section', 'dl-card dl-problems', undefined, this.root);
    const ph = el('header', 'dl-card-head', undefined, pp);
    el('h2', undefined, 'Per problem', ph);
    const count = el('span', 'dl-card-sub', '', ph);
    const fl = el('label', 'dl-group dl-card-tools', undefined, ph);
    el('span', 'dl-group-label', 'Show', fl);
    const filter = el('select', 'dl-select dl-row-filter', undefined, fl);
    for (const [v, t] of [
      ['all', 'all problems'],
      ['failed', 'a model failed'],
      ['disagree', 'pass rates differ'],
    ]) {
      const o = el('option', undefined, t, filter);
      o.value = v;
    }
    filter.addEventListener('change', () => {
      this.filter = filter.value as RowFilter;
      this.applyFilter();
    });
    const wrap = el('div', 'dl-table-wrap', undefined, pp);
    const problemTable = el('table', 'dl-table dl-problem-table', undefined, wrap);
    const problemBody = el('tbody', undefined, undefined, problemTable);
    problemBody.addEventListener('click', (ev) => {
      const tr = (ev.target as Element).closest('tr');
      if (tr?.dataset.task) this.cb.onOpenProblem(tr.dataset.task);
    });
    problemBody.addEventListener('keydown', (ev) => {
      const tr = (ev.target as Element).closest('tr');
      if ((ev.key === 'Enter' || ev.key === ' ') && tr?.dataset.task) {
        ev.preventDefault();
        this.cb.onOpenProblem(tr.dataset.task);
      }
    });
    this.ui = { title, sub, message, progress, passTable, problemTable, problemBody, filter, count };
  }

  setTheme(t: Theme): void {
    this.theme = t;
    for (const r of this.rows.values()) r.version = '';
  }

  setRun(run: HumanEvalRunInfo): void {
    this.run = run;
    this.results.clear();
    this.progress = run.models.map((_, model) => ({ model, generated: 0, executed: 0, total: run.taskIds.length * run.n }));
    this.status = 'running';
    this.error = undefined;
  }

  addResults(rs: ProblemResult[]): void {
    const M = this.run?.models.length ?? 0;
    for (const r of rs) {
      if (r.model < 0 || r.model >= M) continue;
      let a = this.results.get(r.taskId);
      if (!a) {
        a = new Array(M).fill(undefined);
        this.results.set(r.taskId, a);
      }
      a[r.model] = r;
    }
  }

  setProgress(ps: ModelProgress[]): void {
    for (const p of ps) if (p.model >= 0 && p.model < this.progress.length) this.progress[p.model] = p;
  }

  setStatus(status: RunStatus, error?: string): void {
    this.status = status;
    this.error = status === 'failed' ? (error ?? 'The run failed.') : undefined;
  }

  /** pass@k of a model: mean over problems with >= k executed samples, and how many problems that is. */
  passAt(model: number, k: number): { value: number; problems: number } {
    let sum = 0,
      n = 0;
    for (const a of this.results.values()) {
      const r = a[model];
      if (!r || r.executed < k) continue;
      sum += passAtK(r.executed, r.passed, k);
      n++;
    }
    return { value: n ? sum / n : NaN, problems: n };
  }

  render(): void {
    const run = this.run;
    const u = this.ui;
    if (!run) {
      u.sub.textContent = 'No run yet.';
      return;
    }
    u.title.textContent = run.title ?? 'HumanEval run';
    const stLabel = { running: 'running', finished: 'finished', cancelled: 'cancelled', failed: 'failed' }[this.status ?? 'running'];
    u.sub.textContent = `${stLabel} · ${run.models.length} models × ${run.taskIds.length} problems × n = ${run.n}${run.temperature !== undefined ? ` · temperature ${run.temperature}` : ''}`;
    this.root.dataset.status = this.status ?? '';
    u.message.hidden = !this.error;
    u.message.textContent = this.error ?? '';
    this.renderProgress(run);
    this.renderPassTable(run);
    this.renderProblems(run);
  }

  private renderProgress(run: HumanEvalRunInfo): void {
    const host = this.ui.progress;
    const rows = d3
      .select(host)
      .selectAll<HTMLDivElement, ModelProgress>('div.dl-prog-row')
      .data(this.progress, (p) => String(p.model))
      .join((e) =>
        e
          .append('div')
          .attr('class', 'dl-prog-row')
          .call((r) => {
            r.append('span')
              .attr('class', 'dl-prog-label')
              .call((s) => {
                s.append('span').attr('class', 'dl-swatch');
                s.append('span').attr('class', 'dl-prog-name');
              });
            for (const k of ['gen', 'exec']) {
              r.append('span')
                .attr('class', `dl-prog dl-prog-${k}`)
                .call((s) => {
                  s.append('span').attr('class', 'dl-prog-what');
                  s.append('span').attr('class', 'dl-progress-bar').append('span').attr('class', 'dl-progress-fill');
                  s.append('span').attr('class', 'dl-prog-count');
                });
            }
          }),
      );
    rows.select('.dl-swatch').style('background', (p) => modelColor(p.model));
    rows.select('.dl-prog-name').text((p) => run.models[p.model]?.label ?? `model ${p.model}`);
    const part = (k: 'gen' | 'exec', get: (p: ModelProgress) => number, what: string) => {
      const s = rows.select(`.dl-prog-${k}`);
      s.select('.dl-prog-what').text(what);
      s.select<HTMLElement>('.dl-progress-fill').style('width', (p) => `${p.total ? Math.min(100, (100 * get(p)) / p.total) : 0}%`);
      s.select('.dl-prog-count').text((p) => `${get(p)} / ${p.total}`);
    };
    part('gen', (p) => p.generated, 'generated');
    part('exec', (p) => p.executed, 'executed');
  }

  private renderPassTable(run: HumanEvalRunInfo): void {
    const t = this.ui.passTable;
    t.textContent = '';
    const hr = el('tr', undefined, undefined, el('thead', undefined, undefined, t));
    for (const h of ['Model', 'n', 'Samples', 'Problems', ...run.ks.map((k) => `pass@${k}`)]) el('th', undefined, h, hr);
    const body = el('tbody', undefined, undefined, t);
    const best = run.ks.map((k) => Math.max(...run.models.map((_, m) => this.passAt(m, k).value).filter((v) => v === v)));
    run.models.forEach((mod, m) => {
      const tr = el('tr', undefined, undefined, body);
      const name = el('td', 'dl-model-cell', undefined, tr);
      el('span', 'dl-swatch', undefined, name).style.background = modelColor(m);
      el('span', undefined, mod.label, name);
      el('span', `dl-kind dl-kind-${mod.kind}`, mod.kind, name);
      el('td', 'dl-num', String(run.n), tr);
      let executed = 0,
        done = 0;
      for (const a of this.results.values()) {
        const r = a[m];
        if (r) {
          executed += r.executed;
          if (r.executed >= run.n) done++;
        }
      }
      el('td', 'dl-num', `${executed} / ${run.taskIds.length * run.n}`, tr);
      el('td', 'dl-num', `${done} / ${run.taskIds.length}`, tr);
      run.ks.forEach((k, j) => {
        const p = this.passAt(m, k);
        const td = el('td', 'dl-num dl-passk-cell', formatPercent(p.value), tr);
        td.dataset.k = String(k);
        td.dataset.value = String(p.value);
        td.title =
          k > run.n ? `k = ${k} > n = ${run.n}: not defined` : `pass@${k} over ${p.problems} problems with ≥ ${k} executed samples`;
        if (p.value === p.value && p.value === best[j] && run.models.length > 1) td.classList.add('dl-best');
      });
    });
  }

  private renderProblems(run: HumanEvalRunInfo): void {
    const u = this.ui;
    if (this.rowsFor !== run) {
      this.rowsFor = run;
      this.rows.clear();
      u.problemBody.textContent = '';
      u.problemTable.tHead?.remove();
      const hr = el('tr', undefined, undefined, u.problemTable.createTHead());
      el('th', undefined, 'task_id', hr);
      run.models.forEach((mod, m) => {
        const th = el('th', 'dl-num', undefined, hr);
        th.title = `${mod.label} (${mod.kind})`;
        el('span', 'dl-swatch', undefined, th).style.background = modelColor(m);
        el('span', undefined, mod.label, th);
      });
      for (const id of run.taskIds) {
        const tr = el('tr', 'dl-problem-row', undefined, u.problemBody);
        tr.dataset.task = id;
        tr.tabIndex = 0;
        tr.title = 'Show this problem side by side';
        el('td', 'dl-task', id, tr);
        const cells = run.models.map(() => el('td', 'dl-num dl-rate', '…', tr));
        this.rows.set(id, { tr, cells, version: '' });
      }
    }
    const interp = rateInterpolator(this.theme);
    for (const [id, row] of this.rows) {
      const a = this.results.get(id);
      const version = a ? a.map((r) => (r ? `${r.executed}/${r.passed}/${r.timedOut ?? 0}` : '-')).join() : '';
      if (version === row.version) continue;
      row.version = version;
      let anyFail = false,
        lo = Infinity,
        hi = -Infinity;
      row.cells.forEach((td, m) => {
        const r = a?.[m];
        if (!r || r.executed === 0) {
          td.textContent = '…';
          td.style.background = '';
          td.style.color = '';
          td.title = 'not executed yet';
          delete td.dataset.rate;
          return;
        }
        const rate = r.passed / r.executed;
        lo = Math.min(lo, rate);
        hi = Math.max(hi, rate);
        if (r.passed < r.executed) anyFail = true;
        td.textContent = `${r.passed}/${r.executed}${r.timedOut ? ` ◷${r.timedOut}` : ''}`;
        td.dataset.rate = String(rate);
        td.style.background = interp(rate);
        td.style.color = this.theme.dark ? '#f0f0f0' : '#1f2328';
        td.title = `${run.models[m].label}: ${r.passed} of ${r.executed} executed samples passed${r.timedOut ? `, ${r.timedOut} timed out` : ''}${r.executed < run.n ? ` (${run.n - r.executed} to go)` : ''}`;
      });
      row.tr.dataset.fail = anyFail ? '1' : '';
      row.tr.dataset.disagree = hi > lo ? '1' : '';
    }
    this.applyFilter();
  }

  private applyFilter(): void {
    let shown = 0;
    for (const row of this.rows.values()) {
      const hide = this.filter === 'failed' ? !row.tr.dataset.fail : this.filter === 'disagree' ? !row.tr.dataset.disagree : false;
      row.tr.hidden = hide;
      if (!hide) shown++;
    }
    this.ui.count.textContent = `${shown} of ${this.rows.size} · click a row to compare its completions`;
  }
}
