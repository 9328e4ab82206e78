/** Autoregressive decoding with or without the KV cache (the two must give the same tokens). */
import { Rng } from '../util/rng';
import { yieldToEventLoop } from '../util/yield';
import { Adapter } from './adapter-weights';
import { KVCache, LlamaModel } from './llama';
import { SamplingOptions, sampleToken } from './sampling';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  seed: number;
  /** Stop strings, or patterns (e.g. /\n(?=\S)/ for "the next top-level statement"); the text is cut before the match. */
  stop: (string | RegExp)[];
  useCache: boolean;
  /** Token ids that end generation (the model's EOS). */
  eosIds: number[];
  /** Turns ids into text for stop-string checks; without it only EOS and max tokens stop. */
  decode?: (ids: number[]) => string;
  onToken?: (id: number) => void;
  isCancelled?: () => boolean;
}

export interface GenerateResult {
  ids: number[];
  completion?: string;
  stopReason: 'eos' | 'stop' | 'length' | 'cancelled';
}

export async function generate(
  model: LlamaModel,
  adapter: Adapter | undefined,
  prompt: number[],
  opts: GenerateOptions,
): Promise<GenerateResult> {
  const rng = new Rng(opts.seed);
  const cache = opts.useCache ? new KVCache() : undefined;
  const ids: number[] = [];
  let stopReason: GenerateResult['stopReason'] = 'length';
  let completion: string | undefined;
  try {
    let input = prompt;
    while (ids.length < opts.maxNewTokens) {
      await yieldToEventLoop();
      if (opts.isCancelled?.()) {
        stopReason = 'cancelled';
        break;
      }
      const logits = model.forward([input], adapter, { cache, lastOnly: true });
      // Asynchronous read: webgpu cannot read back synchronously in Node.
      const next = sampleToken((await logits.data()) as Float32Array, opts, rng);
      logits.dispose();
      if (opts.eosIds.includes(next)) {
        stopReason = 'eos';
        break;
      }
      ids.push(next);
      opts.onToken?.(next);
      if (opts.decode && opts.stop.length) {
        const text = opts.decode(ids);
        const cut = firstStop(text, opts.stop);
        if (cut >= 0) {
          completion = text.slice(0, cut);
          stopReason = 'stop';
          break;
        }
      }
      input = cache ? [next] : [...prompt, ...ids];
    }
  } finally {
    cache?.dispose();
  }
  if (completion === undefined && opts.decode) completion = opts.decode(ids);
  return { ids, completion, stopReason };
}

function firstStop(text: string, stops: (string | RegExp)[]): number {
  let cut = -1;
  for (const s of stops) {
    const i = typeof s === 'string' ? text.indexOf(s) : text.search(s);
    if (i >= 0 && (cut < 0 || i < cut)) cut = i;
  }
  return cut;
}
