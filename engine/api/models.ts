/**
 * Opening a base model and an adapter for one call, the models a multi-model call runs over, and the
 * loading a long-lived caller (the server) does itself: a base model, then adapters on it.
 */
import type { ModelKind } from '../../protocol/attention';
import { BackendInfo, BackendName, initBackend } from '../backend';
import { Adapter, disposeAdapter, loadAdapter } from '../model/adapter-weights';
import { LoadedModel, loadModel } from '../model/load';
import { emit, logTo, RunContext } from './context';

/** One model a call runs: the base (no adapter) or the base with an adapter. */
export interface Target {
  label: string;
  kind: ModelKind;
  adapter?: Adapter;
}

export function kindOf(a: Adapter | undefined): ModelKind {
  return !a ? 'base' : a.config.kind === 'lora' ? 'lora' : 'difflora';
}

export interface OpenOptions {
  model: string;
  adapter?: string;
  backend: BackendName | 'auto';
}

export interface Opened {
  backend: BackendInfo;
  m: LoadedModel;
  /** The base, or the base with the adapter when one was given. */
  target: Target;
}

export async function openModel(o: OpenOptions, ctx: RunContext = {}): Promise<Opened> {
  const backend = await initBackend(o.backend, logTo(ctx));
  const m = loadModel(o.model, backend, (done, total) => void emit(ctx, { type: 'load', done, total }));
  const adapter = o.adapter ? loadAdapter(o.adapter, m.config) : undefined;
  return { backend, m, target: { label: adapter ? 'adapter' : 'base', kind: kindOf(adapter), adapter } };
}

// What a long-lived caller (the server) loads and frees itself, as the model code names it.
export { disposeAdapter, loadAdapter, loadModel, type Adapter, type LoadedModel };
