/**
 * The per-head metrics card's charts: attention on the first token and mean row entropy per head (one
 * series per model, on its effective or positive maps), and λ per layer for DiffLoRA models.
 */
import type { MapKind } from '../../protocol/attention';
import { MetricChart, type Series } from '../charts';
import { MODEL_COLORS } from '../colors';
import { el } from '../dom';
import { KIND_SHORT } from './source';
import type { PanelState } from './state';
import type { ModelStore } from './store';

export class MetricCharts {
  private readonly bos: MetricChart;
  private readonly entropy: MetricChart;
  private readonly lambda: MetricChart;

  /** `legendHost` gets one swatch per model; a click on a head's dot calls `onSelect`. */
  constructor(
    host: HTMLElement,
    private readonly legendHost: HTMLElement,
    onSelect: (s: { model: number; layer: number; head: number }) => void,
  ) {
    this.bos = new MetricChart(host, 'Attention on the first token (BOS), mean over queries', {
      emptyText: 'Waiting for maps…',
      yMin: 0,
      onSelect,
    });
    this.entropy = new MetricChart(host, 'Mean row entropy (bits)', { emptyText: 'Computing…', unit: ' bits', yMin: 0, onSelect });
    this.lambda = new MetricChart(host, 'λ per layer (DiffLoRA)', { emptyText: 'No λ: only DiffLoRA models have one.' });
  }

  /** `width`: the card's; `version` changes whenever a metric does (the charts skip identical redraws). */
  render(models: readonly ModelStore[], st: PanelState, width: number, version: number): void {
    const kindFor = (s: ModelStore): MapKind =>
      st.metricMaps === 'effective' && s.kinds.has('differential') ? 'differential' : 'positive';
    const color = (i: number) => MODEL_COLORS[i % MODEL_COLORS.length];
    const series = (f: (s: ModelStore) => ArrayLike<number>, perHead = true): Series[] =>
      models.map((s, model) => ({
        model,
        label: `${s.meta.label} ${s.meta.kind === 'difflora' ? KIND_SHORT[kindFor(s)] : ''}`.trim(),
        color: color(model),
        numLayers: s.numLayers,
        numHeads: perHead ? s.numHeads : 1,
        values: f(s),
      }));
    const sel = { model: st.mode === 'difference' ? st.a.model : st.model, layer: st.layer, head: st.head };
    const per = width >= 780 ? 3 : width >= 470 ? 2 : 1;
    const w = Math.max(200, Math.floor((width - 16 * (per - 1)) / per) - 2);
    const v = version * 2 + (st.metricMaps === 'effective' ? 1 : 0);
    this.bos.render(
      series((s) => s.stats[kindFor(s)].bos),
      sel,
      w,
      v,
    );
    this.entropy.render(
      series((s) => s.stats[kindFor(s)].entropy),
      sel,
      w,
      v,
    );
    this.lambda.render(
      series((s) => s.lambda, false).filter((x) => Array.from(x.values).some((y) => y === y)),
      undefined,
      w,
      v,
    );
    this.legendHost.replaceChildren();
    models.forEach((s, i) => {
      const item = el('span', 'dl-key', undefined, this.legendHost);
      el('span', 'dl-swatch', undefined, item).style.background = color(i);
      el('span', undefined, s.meta.label, item);
    });
  }
}
