/** Completions of one prompt by each model asked, greedy or sampled. */
import { InputError } from '../errors';
import { generate as decode } from '../model/generate';
import { LoadedModel } from '../model/load';
import { Cancelled, isCancelled, RunContext, withDefaults } from './context';
import { Target } from './models';

export interface GenerateOptions {
  prompt: number[];
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  seed: number;
  stop: (string | RegExp)[];
  /** false: recompute the whole sequence at each step (the two must agree). */
  useCache: boolean;
}

export const GENERATE_DEFAULTS: Omit<GenerateOptions, 'prompt'> = {
  maxNewTokens: 64,
  temperature: 0,
  topP: 1,
  seed: 0,
  stop: [],
  useCache: true,
};

export interface Completion {
  label: string;
  ids: number[];
  /** Undefined without a tokenizer. */
  completion?: string;
  /** 'context': the model's context (max_position_embeddings) ended before maxNewTokens. */
  stopReason: 'eos' | 'stop' | 'length' | 'context' | 'cancelled';
}

/** Options left out (or undefined) take GENERATE_DEFAULTS. */
export async function generateCompletions(
  m: LoadedModel,
  targets: Target[],
  o: { [K in keyof GenerateOptions]?: GenerateOptions[K] } & { prompt: number[] },
  ctx: RunContext = {},
): Promise<Completion[]> {
  const opts = withDefaults<GenerateOptions>({ ...GENERATE_DEFAULTS, prompt: o.prompt }, o);
  m.model.checkIds([opts.prompt]);
  // Positions past max_position_embeddings are outside what the model was trained on: stop there.
  const room = m.config.maxPositions - opts.prompt.length;
  if (room <= 0) {
    throw new InputError(
      'prompt',
      `${opts.prompt.length} tokens fill the model's context of ${m.config.maxPositions} positions (max_position_embeddings in ${m.dir}/config.json): no room to generate`,
    );
  }
  const maxNewTokens = Math.min(opts.maxNewTokens, room);
  const tok = m.tokenizer;
  const out: Completion[] = [];
  for (const x of targets) {
    const g = await decode(m.model, x.adapter, opts.prompt, {
      ...opts,
      maxNewTokens,
      eosIds: m.config.eosTokenIds,
      decode: tok && ((ids) => tok.decode(ids, true)),
      isCancelled: () => isCancelled(ctx),
    });
    if (g.stopReason === 'cancelled') throw new Cancelled();
    const stopReason = g.stopReason === 'length' && maxNewTokens < opts.maxNewTokens ? 'context' : g.stopReason;
    out.push({ label: x.label, ids: g.ids, completion: g.completion, stopReason });
  }
  return out;
}
