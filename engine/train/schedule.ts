/** Learning rate: linear warmup from 0, then linear or cosine decay to 0 at the last step, or constant. */
export type ScheduleKind = 'linear' | 'cosine' | 'constant';

export function learningRate(step: number, total: number, peak: number, warmup: number, kind: ScheduleKind): number {
  // `step` counts from 0: the first update uses lr(0). Matches HF get_{linear,cosine}_schedule_with_warmup.
  if (step < warmup) return (peak * step) / Math.max(1, warmup);
  if (kind === 'constant') return peak;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (kind === 'linear') return peak * Math.max(0, 1 - progress);
  return peak * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress)));
}
