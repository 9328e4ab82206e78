/** Training progress on stderr: a bar with loss, throughput and ETA on a terminal; lines otherwise. */
import { Presets, SingleBar } from 'cli-progress';
import type { TrainEvent } from '../../protocol/training';

export function trainProgress(label: string, quiet: boolean): { onEvent: (e: TrainEvent) => void; stop: () => void } {
  if (quiet) return { onEvent: () => {}, stop: () => {} };
  const tty = !!process.stderr.isTTY;
  const bar = tty
    ? new SingleBar(
        {
          format: `${label} [{bar}] {value}/{total} loss {loss} | {tps} tok/s | lr {lr} | ETA {eta_formatted}`,
          stream: process.stderr,
          etaBuffer: 20,
        },
        Presets.shades_classic,
      )
    : undefined;
  let started = false;
  return {
    onEvent: (e) => {
      if (e.type === 'checkpoint') {
        if (!tty) process.stderr.write(`${label}: checkpoint at step ${e.step}\n`);
        return;
      }
      if (e.type !== 'step') return;
      const payload = { loss: e.loss.toFixed(4), tps: Math.round(e.tokensPerSec), lr: e.lr.toExponential(2) };
      if (bar) {
        if (!started) {
          bar.start(e.totalSteps, 0, payload);
          started = true;
        }
        bar.update(e.step, payload);
      } else if (e.step === 1 || e.step % 10 === 0 || e.step === e.totalSteps) {
        const lam = e.lambdas ? ` lambda ${e.lambdas.map((l) => l.toFixed(3)).join(',')}` : '';
        process.stderr.write(
          `${label}: step ${e.step}/${e.totalSteps} loss ${payload.loss} ${payload.tps} tok/s lr ${payload.lr} grad-norm ${e.gradNorm.toFixed(3)} ETA ${Math.round(e.etaSec)}s${lam}\n`,
        );
      }
    },
    stop: () => {
      if (bar && started) bar.stop();
    },
  };
}
