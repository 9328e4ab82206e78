/**
 * The compare panel. Side by side: one HumanEval problem, its prompt once (collapsible), and each model's
 * completion in a column, highlighted as Python, with its pass / fail / timed-out badge and reason, and
 * word-level differences against a chosen reference column; "open in diff editor" per pair; a click on
 * a token names (model, character offset). Run: the RunView (pass@k, per problem, progress).
 */
import type {
  CompareItem,
  CompareMode,
  ExecStatus,
  HumanEvalRunInfo,
  ModelProgress,
  ProblemResult,
  RunStatus,
} from '../../protocol/compare';
import { modelColor, watchTheme, type Theme } from '../colors';
import { button, el, frameThrottle } from '../dom';
import { diffAgainst, renderCode } from './code';
import { RunView } from './run';

export interface ComparePanelOptions {
  onOpenDiff?: (taskId: string, a: number, b: number) => void;
  onToken?: (taskId: string, model: number, offset: number, text: string) => void;
  onOpenProblem?: (taskId: string) => void;
  onShowing?: (taskId: string) => void;
}

const STATUS_TEXT: Record<ExecStatus | 'none', string> = {
  passed: '✓ passed',
  failed: '✗ failed',
  'timed-out': '◷ timed out',
  pending: '… running',
  none: 'not run',
};

export class ComparePanel {
  readonly root: HTMLElement;
  items: CompareItem[] = [];
  index = 0;
  /** The column the others are compared with. */
  reference = 0;
  mode: CompareMode = 'problem';
  readonly runView: RunView;
  /** Render time of the last side-by-side view, ms. */
  lastRenderMs = 0;
  private theme: Theme;
  private dirty = { problem: true, run: true, chrome: true };
  private readonly schedule: () => void;
  private readonly ui: {
    tabs: Map<CompareMode, HTMLButtonElement>;
    prev: HTMLButtonElement;
    next: HTMLButtonElement;
    select: HTMLSelectElement;
    pos: HTMLElement;
    problemView: HTMLElement;
    taskTitle: HTMLElement;
    entry: HTMLElement;
    promptBox: HTMLDetailsElement;
    promptSummary: HTMLElement;
    prompt: HTMLElement;
    columns: HTMLElement;
    empty: HTMLElement;
    nav: HTMLElement;
  };

  constructor(
    host: HTMLElement,
    private readonly opts: ComparePanelOptions = {},
  ) {
    this.root = el('div', 'dl-panel dl-compare', undefined, host);
    this.schedule = frameThrottle(() => this.render());
    this.theme = watchTheme(this.root, (t) => {
      this.theme = t;
      this.runView.setTheme(t);
      this.dirty.run = true;
      this.schedule();
    });

    const bar = el('header', 'dl-toolbar', undefined, this.root);
    const brand = el('div', 'dl-brand', undefined, bar);
    el('span', 'dl-logo', 'DiffLoRA Lens', brand);
    el('span', 'dl-title', 'Compare completions', brand);
    const controls = el('div', 'dl-controls', undefined, bar);
    const nav = el('div', 'dl-nav', undefined, controls);
    const prev = button('◀', nav, () => this.show(this.index - 1), { title: 'Previous problem', cls: 'dl-prev' });
    const select = el('select', 'dl-select dl-problem-select', undefined, nav);
    select.title = 'Problem';
    select.addEventListener('change', () => this.show(Number(select.value)));
    const next = button('▶', nav, () => this.show(this.index + 1), { title: 'Next problem', cls: 'dl-next' });
    const pos = el('span', 'dl-status dl-nav-pos', '', nav);
    const seg = el('div', 'dl-seg', undefined, controls);
    seg.setAttribute('role', 'tablist');
    const tabs = new Map<CompareMode, HTMLButtonElement>();
    for (const [m, t] of [
      ['problem', 'Side by side'],
      ['run', 'HumanEval run'],
    ] as const) {
      const b = el('button', 'dl-seg-btn', t, seg);
      b.type = 'button';
      b.dataset.mode = m;
      b.setAttribute('role', 'tab');
      b.addEventListener('click', () => this.setMode(m));
      tabs.set(m, b);
    }

    const problemView = el('div', 'dl-problem-view', undefined, this.root);
    const empty = el('div', 'dl-note dl-empty-note', 'No problem to show yet.', problemView);
    const head = el('section', 'dl-card dl-problem-head', undefined, problemView);
    const hh = el('header', 'dl-card-head', undefined, head);
    const taskTitle = el('h2', 'dl-task-title', '', hh);
    const entry = el('span', 'dl-card-sub', '', hh);
    const promptBox = el('details', 'dl-prompt', undefined, head);
    promptBox.open = true;
    const promptSummary = el('summary', undefined, 'Prompt', promptBox);
    const prompt = el('pre', undefined, undefined, promptBox);
    const columns = el('div', 'dl-columns', undefined, problemView);
    columns.addEventListener('click', (ev) => this.onColumnsClick(ev));
    columns.addEventListener('change', (ev) => {
      const t = ev.target as HTMLInputElement;
      if (t.classList.contains('dl-ref-radio')) this.setReference(Number(t.value));
    });

    this.runView = new RunView(this.root, this.theme, { onOpenProblem: (id) => this.openProblem(id) });
    this.ui = { tabs, prev, next, select, pos, problemView, taskTitle, entry, promptBox, promptSummary, prompt, columns, empty, nav };
    this.schedule();
  }

  // ---- problems -----------------------------------------------------------------------------------

  setProblems(items: CompareItem[], index = 0): void {
    this.items = items.slice();
    this.index = Math.max(0, Math.min(items.length - 1, index));
    this.reference = 0;
    this.mode = 'problem';
    this.invalidate(true);
  }

  /** Adds the problem or replaces the one with the same task_id, and shows it. */
  upsertProblem(item: CompareItem): void {
    const i = this.items.findIndex((x) => x.problem.task_id === item.problem.task_id);
    if (i >= 0) this.items[i] = item;
    else this.items.push(item);
    this.index = i >= 0 ? i : this.items.length - 1;
    this.mode = 'problem';
    this.invalidate(true);
  }

  setExecStatus(taskId: string, model: number, status: ExecStatus, reason?: string): void {
    const it = this.items.find((x) => x.problem.task_id === taskId);
    const c = it?.completions[model];
    if (!c) return;
    c.status = status;
    c.reason = reason;
    this.invalidate(true);
  }

  show(index: number): void {
    if (!this.items.length) return;
    const i = Math.max(0, Math.min(this.items.length - 1, index));
    const changed = i !== this.index;
    this.index = i;
    this.mode = 'problem';
    if (changed) this.opts.onShowing?.(this.items[i].problem.task_id);
    this.invalidate(true);
  }

  /** Shows a listed problem; false if it is not in the list. */
  showTask(taskId: string): boolean {
    const i = this.items.findIndex((x) => x.problem.task_id === taskId);
    if (i < 0) return false;
    this.show(i);
    return true;
  }

  setReference(i: number): void {
    this.reference = i;
    this.invalidate(true);
  }

  setMode(mode: CompareMode): void {
    this.mode = mode;
    this.dirty.chrome = this.dirty.run = true;
    this.schedule();
  }

  current(): CompareItem | undefined {
    return this.items[this.index];
  }

  private openProblem(taskId: string): void {
    this.opts.onOpenProblem?.(taskId);
    // Shown at once when the view has it; otherwise the host answers with compare.problem.
    const i = this.items.findIndex((x) => x.problem.task_id === taskId);
    if (i >= 0) {
      this.index = i;
      this.setMode('problem');
      this.invalidate(true);
    }
  }

  // ---- run ----------------------------------------------------------------------------------------

  setRun(run: HumanEvalRunInfo): void {
    this.runView.setRun(run);
    this.mode = 'run';
    this.dirty.run = this.dirty.chrome = true;
    this.schedule();
  }
  addRunResults(rs: ProblemResult[]): void {
    this.runView.addResults(rs);
    this.dirty.run = true;
    this.schedule();
  }
  setRunProgress(ps: ModelProgress[]): void {
    this.runView.setProgress(ps);
    this.dirty.run = true;
    this.schedule();
  }
  setRunStatus(s: RunStatus, error?: string): void {
    this.runView.setStatus(s, error);
    this.dirty.run = true;
    this.schedule();
  }

  // ---- rendering ----------------------------------------------------------------------------------

  private invalidate(problem: boolean): void {
    if (problem) this.dirty.problem = true;
    this.dirty.chrome = true;
    this.schedule();
  }

  renderIfDirty(): void {
    if (this.dirty.problem || this.dirty.run || this.dirty.chrome) this.render();
  }

  private render(): void {
    const d = this.dirty;
    if (d.chrome) this.renderChrome();
    if (d.problem && this.mode === 'problem') {
      this.renderProblem();
      d.problem = false;
    }
    if (d.run && this.mode === 'run') {
      this.runView.render();
      d.run = false;
    }
    d.chrome = false;
  }

  private renderChrome(): void {
    const u = this.ui;
    this.root.dataset.mode = this.mode;
    for (const [m, b] of u.tabs) {
      b.classList.toggle('dl-active', m === this.mode);
      b.setAttribute('aria-selected', String(m === this.mode));
    }
    u.tabs.get('run')!.disabled = !this.runView.run;
    u.problemView.hidden = this.mode !== 'problem';
    this.runView.root.hidden = this.mode !== 'run';
    u.nav.hidden = this.mode !== 'problem' || this.items.length === 0;
    const n = this.items.length;
    u.prev.disabled = this.index <= 0;
    u.next.disabled = this.index >= n - 1;
    u.pos.textContent = n ? `${this.index + 1} / ${n}` : '';
    // The list: task_id and a mark per model.
    const key = this.items.map((it) => `${it.problem.task_id}:${it.completions.map((c) => c.status ?? '').join('')}`).join('|');
    if (u.select.dataset.key !== key) {
      u.select.dataset.key = key;
      u.select.textContent = '';
      this.items.forEach((it, i) => {
        const marks = it.completions
          .map((c) => (c.status === 'passed' ? '✓' : c.status === 'failed' ? '✗' : c.status === 'timed-out' ? '◷' : '·'))
          .join('');
        const o = el('option', undefined, `${it.problem.task_id}  ${marks}`, u.select);
        o.value = String(i);
      });
    }
    u.select.value = String(this.index);
  }

  private renderProblem(): void {
    const t0 = performance.now();
    const u = this.ui;
    const it = this.items[this.index];
    u.empty.hidden = !!it;
    u.columns.textContent = '';
    (u.promptBox.parentElement as HTMLElement).hidden = !it;
    if (!it) return;
    const p = it.problem;
    u.taskTitle.textContent = p.task_id;
    u.entry.textContent = `entry point ${p.entry_point} · ${it.completions.length} completions`;
    const promptLines = p.prompt.split('\n').length;
    u.promptSummary.textContent = `Prompt · ${promptLines} line${promptLines === 1 ? '' : 's'}`;
    renderCode(u.prompt, p.prompt);
    const N = it.completions.length;
    if (this.reference >= N) this.reference = 0;
    const ref = it.completions[this.reference];
    // Every column in one row while each keeps 130 px (three fit a panel beside the editor; code scrolls
    // sideways inside its column); narrower still, the columns wrap rather than hide past the right edge.
    u.columns.style.gridTemplateColumns = `repeat(auto-fit, minmax(max(130px, calc((100% - ${12 * (N - 1)}px) / ${N})), 1fr))`;
    // The completion starts on the prompt's last line (after its final newline, or continuing it).
    const firstLine = promptLines;
    it.completions.forEach((c, i) => {
      const col = el('section', 'dl-card dl-col', undefined, u.columns);
      col.dataset.model = String(i);
      const isRef = i === this.reference;
      col.classList.toggle('dl-col-ref', isRef);
      const h = el('header', 'dl-col-head', undefined, col);
      el('span', 'dl-swatch dl-swatch-big', undefined, h).style.background = modelColor(i);
      el('span', 'dl-col-label', c.label, h);
      el('span', `dl-kind dl-kind-${c.kind}`, c.kind, h);
      if (c.sample !== undefined) el('span', 'dl-card-sub', `sample ${c.sample}`, h);
      const st = c.status ?? 'none';
      el('span', `dl-badge dl-exec dl-exec-${st}`, STATUS_TEXT[st], h);
      const tools = el('div', 'dl-col-tools', undefined, col);
      const rl = el('label', 'dl-group dl-check', undefined, tools);
      const radio = el('input', 'dl-ref-radio', undefined, rl);
      radio.type = 'radio';
      radio.name = 'dl-ref';
      radio.value = String(i);
      radio.checked = isRef;
      el('span', 'dl-group-label', 'reference', rl);
      const diffSum = el('span', 'dl-note dl-diff-sum', '', tools);
      if (!isRef && ref) {
        const b = button('Open in diff editor', tools, () => this.opts.onOpenDiff?.(p.task_id, this.reference, i), {
          cls: 'dl-open-diff',
          title: `${ref.label} (left) against ${c.label} (right) in VS Code's diff editor`,
        });
        b.dataset.a = String(this.reference);
        b.dataset.b = String(i);
      }
      if (c.reason && st !== 'passed') {
        const r = el('pre', `dl-reason dl-reason-${st}`, c.reason, col);
        r.title = c.reason;
      }
      const pre = el('pre', undefined, undefined, col);
      const diff = !isRef && ref ? diffAgainst(ref.completion, c.completion) : undefined;
      renderCode(pre, c.completion, { context: p.prompt, diff, firstLine, clickable: true });
      if (!c.completion) el('div', 'dl-note', '(empty completion)', col);
      if (isRef) diffSum.textContent = 'the others are compared with this one';
      else if (diff)
        diffSum.textContent =
          diff.insertedChars || diff.deletedChars
            ? `+${diff.insertedChars} / −${diff.deletedChars} chars vs ${ref.label}`
            : `identical to ${ref.label}`;
    });
    this.lastRenderMs = performance.now() - t0;
  }

  private onColumnsClick(ev: MouseEvent): void {
    const t = ev.target as HTMLElement;
    const tok = t.closest<HTMLElement>('.dl-tok-click');
    const col = t.closest<HTMLElement>('.dl-col');
    const it = this.current();
    if (!tok || !col || !it || tok.dataset.o === undefined) return;
    for (const s of this.ui.columns.querySelectorAll('.dl-tok-sel')) s.classList.remove('dl-tok-sel');
    tok.classList.add('dl-tok-sel');
    this.opts.onToken?.(it.problem.task_id, Number(col.dataset.model), Number(tok.dataset.o), tok.textContent ?? '');
  }
}
