/** Load progress on stderr: a bar on a terminal, sparse lines otherwise (logs, CI). */
import { SingleBar, Presets } from 'cli-progress';

export function loadProgress(label: string, quiet: boolean): { update: (done: number, total: number) => void; stop: () => void } {
  if (quiet) return { update: () => {}, stop: () => {} };
  if (process.stderr.isTTY) {
    const bar = new SingleBar(
      { format: `${label} [{bar}] {value}/{total}`, stream: process.stderr, clearOnComplete: true },
      Presets.shades_classic,
    );
    let started = false;
    return {
      update: (done, total) => {
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.update(done);
      },
      stop: () => started && bar.stop(),
    };
  }
  let lastPct = -1;
  return {
    update: (done, total) => {
      const pct = Math.floor((100 * done) / total / 25) * 25;
      if (pct !== lastPct) {
        lastPct = pct;
        process.stderr.write(`${label}: ${done}/${total}\n`);
      }
    },
    stop: () => {},
  };
}
