/** Attention maps (positive, negative, differential) per layer and head, for each model asked. */
import { yieldToEventLoop } from '../util/yield';
import { CaptureRequest } from '../model/llama';
import { LoadedModel } from '../model/load';
import { Cancelled, emit, isCancelled, RunContext } from './context';
import { Target } from './models';

export interface AttentionOptions {
  ids: number[];
  /** Default: all. */
  layers?: number[];
  heads?: number[];
  /** Also return each model's logits (T x vocab). */
  logits?: boolean;
}

export interface AttentionOutcome {
  /** Milliseconds from the call to each model's first and last layer. */
  timings: { label: string; firstLayerMs: number; doneMs: number }[];
  logits?: Float32Array[];
}

/** Emits `model`, then its `maps` layer by layer (each awaited), for each target in order. */
export async function attention(m: LoadedModel, targets: Target[], o: AttentionOptions, ctx: RunContext = {}): Promise<AttentionOutcome> {
  m.model.checkIds([o.ids]);
  const t0 = Date.now();
  const out: AttentionOutcome = { timings: [], logits: o.logits ? [] : undefined };
  for (const [index, x] of targets.entries()) {
    await emit(ctx, { type: 'model', index, label: x.label });
    let first = -1;
    const capture: CaptureRequest = {
      layers: o.layers,
      heads: o.heads,
      onMaps: async (maps) => {
        if (isCancelled(ctx)) throw new Cancelled();
        if (first < 0) first = Date.now() - t0;
        await emit(ctx, { type: 'maps', index, maps });
        await yieldToEventLoop();
      },
    };
    if (out.logits) {
      const logits = await m.model.forwardCapture([o.ids], x.adapter, capture);
      try {
        out.logits.push((await logits.data()) as Float32Array);
      } finally {
        logits.dispose();
      }
    } else {
      await m.model.captureMaps([o.ids], x.adapter, capture); // no logits: stop after the last layer asked
    }
    out.timings.push({ label: x.label, firstLayerMs: first, doneMs: Date.now() - t0 });
  }
  return out;
}
