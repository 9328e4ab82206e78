/** The paper's attention analyses over each model asked: attention on the first token, the needle probe. */
import type { PackedLayerMaps } from '../../protocol/attention';
import type { BosAnalysis, LayerHeadValues, NeedleAnalysis } from '../../protocol/analysis';
import { InputError } from '../errors';
import { LoadedModel } from '../model/load';
import { tokenSpans } from '../model/token-spans';
import { yieldToEventLoop } from '../util/yield';
import { bosMass, DEFAULT_BOS_TEXT, needlePrompt, spanMass, tokenRange } from './attention-measures';
import { Cancelled, emit, isCancelled, RunContext } from './context';
import { generateCompletions } from './generate';
import { Target } from './models';

export type AnalysisOptions =
  /** text: default a built-in code sample. */
  | { kind: 'bos'; text?: string }
  /** length: prompt length in tokens (about); depth: where the needle goes (0..1). */
  | { kind: 'needle'; length?: number; depth?: number };

export type Analysis = { kind: 'bos'; result: BosAnalysis } | { kind: 'needle'; result: NeedleAnalysis };

export const NEEDLE_DEFAULTS = { length: 400, depth: 0.5 } as const;

function encode(m: LoadedModel, text: string): number[] {
  if (typeof text !== 'string' || text.length === 0) throw new InputError('text', 'empty text: nothing to look at');
  if (!m.tokenizer) throw new InputError(m.dir, 'no tokenizer.json: the analyses work on text');
  const ids = m.tokenizer.encode(text);
  m.model.checkIds([ids]);
  return ids;
}

/** Runs each target over `ids` and reduces every layer's maps to one value per head. */
async function perHead(
  m: LoadedModel,
  targets: Target[],
  ids: number[],
  reduce: (maps: PackedLayerMaps) => Float32Array,
  ctx: RunContext,
): Promise<LayerHeadValues[]> {
  const { numLayers, numHeads } = m.config;
  const out: LayerHeadValues[] = [];
  for (const x of targets) {
    await emit(ctx, { type: 'step', message: x.label });
    const values = new Float32Array(numLayers * numHeads).fill(NaN);
    const logits = await m.model.forwardCapture([ids], x.adapter, {
      onMaps: async (maps) => {
        if (isCancelled(ctx)) throw new Cancelled();
        values.set(reduce(maps), maps.layer * numHeads);
        await yieldToEventLoop();
      },
    });
    logits.dispose();
    out.push({ label: x.label, kind: x.kind, numLayers, numHeads, values, map: x.kind === 'difflora' ? 'differential' : 'positive' });
  }
  return out;
}

export async function analyze(m: LoadedModel, targets: Target[], o: AnalysisOptions, ctx: RunContext = {}): Promise<Analysis> {
  if (o.kind === 'bos') {
    const text = o.text ?? DEFAULT_BOS_TEXT;
    const ids = encode(m, text);
    const models = await perHead(m, targets, ids, bosMass, ctx);
    const firstTokenIsBos = m.config.bosTokenId !== undefined && ids[0] === m.config.bosTokenId;
    return {
      kind: 'bos',
      result: {
        text,
        numTokens: ids.length,
        note: `queries 1..${ids.length - 1}, mass on token 0 ${JSON.stringify(m.tokenizer!.labels([ids[0]])[0])}`,
        firstTokenIsBos,
        models,
      },
    };
  }
  const depth = o.depth ?? NEEDLE_DEFAULTS.depth;
  // Tokens of filler text, about 4 characters each.
  const needle = needlePrompt((o.length ?? NEEDLE_DEFAULTS.length) * 4, depth, 0);
  const ids = encode(m, needle.text);
  const tokens = tokenSpans(m.tokenizer!, needle.text, ids);
  const range = tokenRange(tokens, needle.start, needle.end);
  if (!range) throw new InputError('needle', "the tokenizer gives no character offsets, so the needle's tokens cannot be found");
  const values = await perHead(m, targets, ids, (maps) => spanMass(maps, range.tokenStart, range.tokenEnd), ctx);
  const models: NeedleAnalysis['models'] = [];
  for (const [i, x] of targets.entries()) {
    await emit(ctx, { type: 'step', message: `${x.label}: answering` });
    const [g] = await generateCompletions(m, [x], { prompt: ids, maxNewTokens: 8, stop: ['\n'] }, ctx);
    const answer = g.completion ?? m.tokenizer!.decode(g.ids, true);
    models.push({ ...values[i], answer, correct: answer.includes(needle.value) });
  }
  return {
    kind: 'needle',
    result: {
      text: needle.text,
      needleStart: needle.start,
      needleEnd: needle.end,
      needle: needle.value,
      numTokens: ids.length,
      depth,
      models,
    },
  };
}
