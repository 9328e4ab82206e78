/** What the commands print on stderr while the engine API works: its log, load and training progress; and Ctrl-C. */
import type { RunContext } from '../api';
import { loadProgress } from './progress';
import { trainProgress } from './train-progress';

export function stderrLog(quiet: boolean | undefined): (line: string) => void {
  return (line) => {
    if (!quiet) process.stderr.write(`${line}\n`);
  };
}

/** SIGINT / SIGTERM ask the work to stop at its next step (after a checkpoint); a second one exits now. */
export function cancelOnSignals(log: (l: string) => void): { readonly isCancellationRequested: boolean } {
  const signal = { isCancellationRequested: false };
  const stop = () => {
    if (signal.isCancellationRequested) process.exit(130);
    signal.isCancellationRequested = true;
    log('stopping after this step (checkpoint, then exit); again to quit now');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return signal;
}

/**
 * A RunContext that prints: log lines, a weights bar, and (with `train`, the bar's label) training
 * progress. `loaded()` ends the weights bar (the model is open), `stop()` every bar. `cancel`: stop on Ctrl-C.
 */
export function printingContext(o: { quiet?: boolean; train?: string; cancel?: boolean }): RunContext & { loaded(): void; stop(): void } {
  const log = stderrLog(o.quiet);
  let load: ReturnType<typeof loadProgress> | undefined;
  const train = o.train === undefined ? undefined : trainProgress(o.train, !!o.quiet);
  return {
    cancel: o.cancel ? cancelOnSignals(log) : undefined,
    onEvent: (e) => {
      if (e.type === 'log') log(e.message);
      else if (e.type === 'load') {
        load ??= loadProgress('loading weights', !!o.quiet);
        load.update(e.done, e.total);
      } else if (e.type === 'train') train?.onEvent(e.event);
    },
    loaded: () => {
      load?.stop();
      load = undefined;
    },
    stop: () => {
      load?.stop();
      train?.stop();
    },
  };
}
