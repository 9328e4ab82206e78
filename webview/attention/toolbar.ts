/**
 * The attention panel's toolbar: model, map (mode), difference operands, colour range and ramp, exports.
 * It owns no state: render() reflects the panel's state, and user input goes to the handlers.
 */
import type { Gamma } from '../colors';
import { el } from '../dom';
import { KIND_LABEL, type Mode } from './source';
import { operandValue, parseOperand, type PanelState, type RangeMode } from './state';
import type { ModelStore, Operand } from './store';

export interface ToolbarHandlers {
  onModel(model: number): void;
  onMode(mode: Mode): void;
  onDifference(a: Operand, b: Operand): void;
  onBeside(models: number[]): void;
  onRange(range: RangeMode): void;
  onGamma(gamma: Gamma): void;
  onExport(what: 'png' | 'head' | 'all'): void;
}

export interface ToolbarView {
  title: string;
  models: readonly ModelStore[];
  state: PanelState;
  /** The (model, kind) pairs a difference can use. */
  operands: Operand[];
}

const MODE_TEXT: Record<Mode, [string, string]> = {
  positive: ['Positive A₁', 'softmax(Q₁K₁ᵀ/√d): the first (positive) attention term'],
  negative: ['Negative λA₂', 'λ · softmax(Q₂K₂ᵀ/√d): the subtracted term (DiffLoRA only)'],
  differential: ['Differential A', 'A = A₁ − λA₂: what a DiffLoRA layer applies to V (can be negative)'],
  difference: ['Difference', 'One map minus another, e.g. DiffLoRA minus base (diverging scale centred on 0)'],
};

export class Toolbar {
  readonly title: HTMLElement;
  readonly status: HTMLElement;
  private readonly model: HTMLSelectElement;
  private readonly modeButtons = new Map<Mode, HTMLButtonElement>();
  private readonly diffBox: HTMLElement;
  private readonly a: HTMLSelectElement;
  private readonly b: HTMLSelectElement;
  private readonly beside: HTMLElement;
  private readonly range: HTMLSelectElement;
  private readonly mapsOption: HTMLOptionElement;
  private readonly gamma: HTMLSelectElement;

  constructor(parent: HTMLElement, h: ToolbarHandlers) {
    const bar = el('header', 'dl-toolbar', undefined, parent);
    const brand = el('div', 'dl-brand', undefined, bar);
    el('span', 'dl-logo', 'DiffLoRA Lens', brand);
    this.title = el('span', 'dl-title', '', brand);
    this.status = el('span', 'dl-status', '', brand);
    this.status.setAttribute('role', 'status');
    const controls = el('div', 'dl-controls', undefined, bar);
    const group = (label: string) => {
      const g = el('label', 'dl-group', undefined, controls);
      el('span', 'dl-group-label', label, g);
      return g;
    };
    this.model = el('select', 'dl-select dl-model', undefined, group('Model'));
    this.model.title = 'Model whose maps are shown';
    this.beside = el('div', 'dl-beside', undefined, controls);
    this.beside.title = 'Show other models beside this one: same layer, head, zoom and hover, one colour scale';
    this.beside.addEventListener('change', () =>
      h.onBeside([...this.beside.querySelectorAll<HTMLInputElement>('input:checked')].map((x) => Number(x.value))),
    );
    const seg = el('div', 'dl-seg', undefined, controls);
    seg.setAttribute('role', 'radiogroup');
    seg.setAttribute('aria-label', 'Map');
    for (const m of ['positive', 'negative', 'differential', 'difference'] as Mode[]) {
      const b = el('button', 'dl-seg-btn', MODE_TEXT[m][0], seg);
      b.type = 'button';
      b.title = MODE_TEXT[m][1];
      b.dataset.mode = m;
      b.setAttribute('role', 'radio');
      b.addEventListener('click', () => h.onMode(m));
      this.modeButtons.set(m, b);
    }
    this.diffBox = el('div', 'dl-diffbox', undefined, controls);
    this.a = el('select', 'dl-select dl-op-a', undefined, this.diffBox);
    el('span', 'dl-minus', '−', this.diffBox);
    this.b = el('select', 'dl-select dl-op-b', undefined, this.diffBox);
    this.a.title = 'Minuend';
    this.b.title = 'Subtrahend';
    this.range = el('select', 'dl-select dl-range', undefined, group('Colour'));
    for (const [v, t] of [
      ['head', 'per head'],
      ['head-max', 'per head, full'],
      ['shared', 'shared'],
      ['maps', 'as the maps'],
    ]) {
      const o = el('option', undefined, t, this.range);
      o.value = v;
    }
    this.mapsOption = this.range.options[3];
    this.range.title =
      'Per head: each map scaled to the 99.5th percentile of its values outside the first-token column (larger values, e.g. an attention sink, saturate). Per head, full: min to max. Shared: one range for every head, so heads compare. As the maps (difference): the range of the two maps subtracted, so a small change stays faint.';
    this.gamma = el('select', 'dl-select dl-gamma', undefined, controls);
    for (const [v, t] of [
      ['sqrt', '√ scale'],
      ['linear', 'linear'],
    ]) {
      const o = el('option', undefined, t, this.gamma);
      o.value = v;
    }
    this.gamma.title = 'Colour ramp: square root (shows small weights) or linear';
    const exports = el('div', 'dl-exports', undefined, controls);
    const btn = (text: string, tip: string, what: 'png' | 'head' | 'all') => {
      const x = el('button', 'dl-btn', text, exports);
      x.type = 'button';
      x.title = tip;
      x.addEventListener('click', () => h.onExport(what));
    };
    btn('PNG', 'Export the current view as a PNG image', 'png');
    btn('JSON', "Export the selected head's map (numbers, with its tokens) as JSON", 'head');
    btn('All maps', 'Export every captured map (base64 float32) as JSON', 'all');

    this.model.addEventListener('change', () => h.onModel(Number(this.model.value)));
    this.a.addEventListener('change', () => h.onDifference(parseOperand(this.a.value), parseOperand(this.b.value)));
    this.b.addEventListener('change', () => h.onDifference(parseOperand(this.a.value), parseOperand(this.b.value)));
    this.range.addEventListener('change', () => h.onRange(this.range.value as RangeMode));
    this.gamma.addEventListener('change', () => h.onGamma(this.gamma.value as Gamma));
  }

  render(v: ToolbarView): void {
    const st = v.state;
    this.title.textContent = v.title;
    // Model options (text only).
    const labels = v.models.map((s) => `${s.meta.label} (${s.meta.kind})`);
    if (this.model.options.length !== labels.length || labels.some((l, i) => this.model.options[i].text !== l)) {
      this.model.replaceChildren(
        ...labels.map((l, i) => {
          const o = document.createElement('option');
          o.value = String(i);
          o.text = l;
          return o;
        }),
      );
    }
    this.model.value = String(st.model);
    this.model.disabled = v.models.length < 2;
    const store = v.models[st.model];
    for (const [m, b] of this.modeButtons) {
      const available = m === 'difference' ? v.operands.length >= 2 : !!store && store.has(m);
      b.disabled = !available;
      b.classList.toggle('dl-active', st.mode === m);
      b.setAttribute('aria-checked', String(st.mode === m));
    }
    const diffMode = st.mode === 'difference';
    this.diffBox.hidden = !diffMode;
    this.model.parentElement!.hidden = diffMode;
    if (diffMode) {
      const opt = (o: Operand) => {
        const e = document.createElement('option');
        const s = v.models[o.model];
        e.value = operandValue(o);
        e.text = `${s.meta.label} · ${s.meta.kind === 'difflora' ? KIND_LABEL[o.kind] : 'A'}`;
        return e;
      };
      this.a.replaceChildren(...v.operands.map(opt));
      this.b.replaceChildren(...v.operands.map(opt));
      this.a.value = operandValue(st.a);
      this.b.value = operandValue(st.b);
    }
    this.renderBeside(v);
    this.mapsOption.hidden = this.mapsOption.disabled = !diffMode;
    this.range.value = st.range;
    this.gamma.value = st.gamma;
  }

  /** One checkbox per other model; hidden with fewer than two models and in difference mode. */
  private renderBeside(v: ToolbarView): void {
    const st = v.state;
    const others = v.models.map((s, i) => ({ s, i })).filter((x) => x.i !== st.model);
    this.beside.hidden = others.length === 0 || st.mode === 'difference';
    const key = `${st.model}|${others.map((x) => x.s.meta.label).join('\u0000')}`;
    if (this.beside.dataset.key !== key) {
      this.beside.dataset.key = key;
      this.beside.replaceChildren();
      el('span', 'dl-group-label', 'Beside', this.beside);
      for (const { s, i } of others) {
        const l = el('label', 'dl-check', undefined, this.beside);
        const box = el('input', undefined, undefined, l);
        box.type = 'checkbox';
        box.value = String(i);
        el('span', undefined, s.meta.label, l);
      }
    }
    for (const box of this.beside.querySelectorAll<HTMLInputElement>('input')) box.checked = st.beside.includes(Number(box.value));
  }
}
