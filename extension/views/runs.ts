/** Training runs started from VS Code, remembered across sessions (global state). */
import * as vscode from 'vscode';
import type { ModelKind } from '../../protocol/attention';

export interface RunRecord {
  out: string;
  method: string;
  status: 'running' | 'cancelled' | 'finished' | 'failed';
  steps?: number;
  finalLoss?: number;
  kind?: ModelKind;
  updated?: string;
}

const KEY = 'difflora.runs';

export class RunRegistry {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly state: vscode.Memento) {}

  all(): RunRecord[] {
    return this.state.get<RunRecord[]>(KEY, []);
  }

  update(r: RunRecord): void {
    const rest = this.all().filter((x) => x.out !== r.out);
    void this.state.update(KEY, [{ ...r, updated: new Date().toISOString() }, ...rest].slice(0, 50));
    this.changed.fire();
  }
}
