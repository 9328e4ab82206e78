/** The `difflora.*` settings, read fresh each time (users change them while the extension runs). */
import * as path from 'path';
import * as vscode from 'vscode';
import type { AdapterRef } from '../protocol/engine';

export interface Settings {
  /** The base model folder; empty = the embedded default model. */
  modelPath: string;
  adapters: AdapterRef[];
  backend: string;
  /** BLAS threads of the native backend; 0 = the engine's default. */
  threads: number;
  /** Node for the local engine; empty = VS Code's own (ELECTRON_RUN_AS_NODE). */
  nodePath: string;
  /** ws://host:port of a remote engine; empty = start a local one. */
  engineUrl: string;
}

export function readSettings(extensionPath: string): Settings {
  const c = vscode.workspace.getConfiguration('difflora');
  const raw = c.get<unknown[]>('adapters') ?? [];
  const adapters = raw.flatMap((a, i): AdapterRef[] => {
    if (typeof a === 'string' && a) return [{ label: path.basename(a), path: resolvePath(a) }];
    const o = a as Partial<AdapterRef> | null;
    return o && typeof o.path === 'string'
      ? [{ label: typeof o.label === 'string' && o.label ? o.label : `adapter ${i + 1}`, path: resolvePath(o.path) }]
      : [];
  });
  return {
    modelPath: resolvePath(c.get<string>('modelPath') || defaultModelPath(extensionPath)),
    adapters,
    backend: c.get<string>('backend') ?? 'auto',
    threads: c.get<number>('threads') ?? 0,
    nodePath: c.get<string>('nodePath') ?? '',
    engineUrl: c.get<string>('engineUrl') ?? '',
  };
}

/** Relative paths in settings are relative to the first workspace folder. */
function resolvePath(p: string): string {
  const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return path.isAbsolute(p) || !ws ? p : path.join(ws, p);
}

export function defaultModelPath(extensionPath: string): string {
  return path.join(extensionPath, 'media', 'default-model');
}

export async function saveModelSelection(modelPath: string, adapters: AdapterRef[], extensionPath: string): Promise<void> {
  const c = vscode.workspace.getConfiguration('difflora');
  await c.update('modelPath', modelPath === defaultModelPath(extensionPath) ? '' : modelPath, vscode.ConfigurationTarget.Global);
  await c.update('adapters', adapters, vscode.ConfigurationTarget.Global);
}
