/**
 * "DiffLoRA: Show Diagnostics": one log line with what a long session could leak, on both sides: the
 * engine's state, live tensors and memory (engine/status), and in the extension host its handles
 * (timers, pipes, sockets) by kind, its child processes and the DiffLoRA panels open.
 */
import * as fs from 'fs';
import { Rpc } from '../protocol/engine';
import { EngineHost } from './engine/engine-host';
import { openPanelCount } from './panels/panel-host';

/** Child processes of this process (Linux: /proc/self/task/<tid>/children), or undefined elsewhere. */
function childProcessCount(): number | undefined {
  try {
    return fs
      .readdirSync('/proc/self/task')
      .reduce((n, tid) => n + fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).length, 0);
  } catch {
    return undefined;
  }
}

export async function diagnosticsLine(engine: EngineHost): Promise<string> {
  const handles = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) handles.set(r, (handles.get(r) ?? 0) + 1);
  const s = await engine.request(Rpc.status, {});
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;
  return [
    `diagnostics: engine ${s.busy ? `busy (${s.busy.method}, ${s.busy.sinceMs} ms)` : 'idle'}, ${s.queued} queued, ${s.numTensors} tensors, RSS ${mb(s.rssBytes)}`,
    `extension host: handles ${[...handles]
      .sort()
      .map(([k, n]) => `${k}=${n}`)
      .join(' ')}, child processes ${childProcessCount() ?? 'n/a'}, panels ${openPanelCount()}, RSS ${mb(process.memoryUsage.rss())}`,
  ].join('; ');
}
