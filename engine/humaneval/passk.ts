/**
 * pass@k with the unbiased estimator of Chen et al. (2021): for a task with n samples of which c pass,
 * pass@k = 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1..n} (1 - k/i) (no huge binomials).
 * The score of a set is the mean over its tasks, reported only when every task has n >= k (as
 * openai/human-eval does). The formula itself is the protocol's (the compare panel computes it too).
 */
import { passAtK as estimate } from '../../protocol/compare';

export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || n < 0 || c < 0 || c > n || k < 1) {
    throw new RangeError(`pass@k needs integers 0 <= c <= n and k >= 1 (n=${n}, c=${c}, k=${k})`);
  }
  if (k > n) throw new RangeError(`pass@${k} is undefined with n=${n} samples`);
  return estimate(n, c, k);
}

export interface TaskCount {
  task_id: string;
  /** samples */
  n: number;
  /** passing samples */
  c: number;
}

/** Per-task counts from results, in first-seen task order. */
export function countByTask(results: { task_id: string; passed: boolean }[]): TaskCount[] {
  const by = new Map<string, TaskCount>();
  for (const r of results) {
    let t = by.get(r.task_id);
    if (!t) by.set(r.task_id, (t = { task_id: r.task_id, n: 0, c: 0 }));
    t.n++;
    if (r.passed) t.c++;
  }
  return [...by.values()];
}

/** {"pass@1": x, ...}: the mean over tasks, for each k that every task has enough samples for. */
export function passAtKTable(counts: TaskCount[], ks: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  if (counts.length === 0) return out;
  for (const k of ks) {
    if (counts.some((t) => t.n < k)) continue;
    out[`pass@${k}`] = counts.reduce((s, t) => s + passAtK(t.n, t.c, k), 0) / counts.length;
  }
  return out;
}
