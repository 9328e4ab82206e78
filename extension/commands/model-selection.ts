/** "Select Model and Adapters", "Load Adapter" (from a training run) and "Attach to Remote Engine". */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { AdapterRef } from '../../protocol/engine';
import { EngineHost } from '../engine/engine-host';
import { defaultModelPath, readSettings, saveModelSelection } from '../settings';
import { RunRegistry } from '../views/runs';

/** A label for an adapter folder from its config: "LoRA", "DiffLoRA" (numbered when taken). */
function adapterLabel(dir: string, taken: string[]): string {
  const kind = fs.existsSync(path.join(dir, 'adapter_config.json')) ? 'LoRA' : 'DiffLoRA';
  let label = kind;
  for (let i = 2; taken.includes(label); i++) label = `${kind} ${i}`;
  return label;
}

async function browseFolder(title: string): Promise<string | undefined> {
  const uri = await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, canSelectMany: false, title });
  return uri?.[0]?.fsPath;
}

export async function selectModel(ctx: vscode.ExtensionContext, engine: EngineHost, runs: RunRegistry): Promise<void> {
  const s = readSettings(ctx.extensionPath);
  const embedded = defaultModelPath(ctx.extensionPath);
  const modelPick = await vscode.window.showQuickPick(
    [
      { label: 'Embedded default model', description: 'media/default-model (2M-parameter code model)', path: embedded },
      ...(s.modelPath !== embedded ? [{ label: path.basename(s.modelPath), description: s.modelPath, path: s.modelPath }] : []),
      { label: '$(folder-opened) Browse for a Hugging Face folder…', description: '', path: '' },
    ],
    { title: 'DiffLoRA: base model' },
  );
  if (!modelPick) return;
  const model = modelPick.path || (await browseFolder('Base model folder (config.json, model.safetensors, tokenizer.json)'));
  if (!model) return;
  const known = new Map<string, AdapterRef>();
  for (const a of s.adapters) known.set(a.path, a);
  for (const r of runs.all())
    if (r.status === 'finished' && !known.has(r.out))
      known.set(r.out, {
        label: adapterLabel(
          r.out,
          [...known.values()].map((x) => x.label),
        ),
        path: r.out,
      });
  const items = [...known.values()].map((a) => ({
    label: a.label,
    description: a.path,
    picked: s.adapters.some((x) => x.path === a.path),
    ref: a as AdapterRef | undefined,
  }));
  items.push({ label: '$(folder-opened) Add an adapter folder…', description: '', picked: false, ref: undefined });
  const picks = await vscode.window.showQuickPick(items, { title: 'DiffLoRA: adapters to compare with the base', canPickMany: true });
  if (!picks) return;
  const adapters = picks.flatMap((p) => (p.ref ? [p.ref] : []));
  if (picks.some((p) => !p.ref)) {
    const dir = await browseFolder('Adapter folder (PEFT LoRA or DiffLoRA)');
    if (dir)
      adapters.push({
        label: adapterLabel(
          dir,
          adapters.map((a) => a.label),
        ),
        path: dir,
      });
  }
  await saveModelSelection(model, adapters, ctx.extensionPath);
  await withLoading(engine);
}

export async function loadAdapter(
  ctx: vscode.ExtensionContext,
  engine: EngineHost,
  dir: string | vscode.Uri | { path?: string },
): Promise<void> {
  const p = typeof dir === 'string' ? dir : dir instanceof vscode.Uri ? dir.fsPath : dir?.path;
  if (!p) return;
  const s = readSettings(ctx.extensionPath);
  if (!s.adapters.some((a) => a.path === p))
    s.adapters.push({
      label: adapterLabel(
        p,
        s.adapters.map((a) => a.label),
      ),
      path: p,
    });
  await saveModelSelection(s.modelPath, s.adapters, ctx.extensionPath);
  await withLoading(engine);
}

async function withLoading(engine: EngineHost): Promise<void> {
  const r = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'DiffLoRA: loading the model and adapters' },
    () => engine.reload(),
  );
  void vscode.window.showInformationMessage(
    `DiffLoRA: ${path.basename(r.model)} loaded with ${r.models.map((m) => `${m.label} (${m.kind})`).join(', ')}.`,
  );
}

export async function attachRemote(engine: EngineHost): Promise<void> {
  const url = await vscode.window.showInputBox({
    title: 'DiffLoRA: remote engine URL (start it there with: difflora serve --port 7070)',
    value: 'ws://127.0.0.1:7070',
    validateInput: (v) => (/^wss?:\/\/[^/\s]+/.test(v) ? undefined : 'a ws:// or wss:// URL'),
  });
  if (!url) return;
  const token = await vscode.window.showInputBox({
    title: "DiffLoRA: the engine's token (printed by difflora serve)",
    password: true,
    ignoreFocusOut: true,
  });
  if (!token) return;
  await engine.setRemote(url, token);
  await engine.restart();
  const r = await engine.ready();
  void vscode.window.showInformationMessage(`DiffLoRA: attached to ${url} (${r.models.length} models loaded).`);
}
