/**
 * Pretraining a small Llama-architecture model from scratch on a folder of Python source: a
 * byte-level BPE tokenizer trained on the same corpus, random init (normal(0, 0.02), norms 1), every
 * weight trained (the embedding through a differentiable lookup: see model/ops.ts), saved as an HF folder.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { DType } from '../formats/dtype';
import { writeSafetensors } from '../formats/safetensors';
import { parseLlamaConfig, LlamaConfig } from '../model/config';
import { LlamaModel } from '../model/llama';
import { TextTokenizer } from '../model/tokenizer';
import { BaseWeights, LayerWeights } from '../model/weights';
import { saveTokenizer, trainByteLevelBpe } from '../tokenizer-train/bpe';
import { Rng } from '../util/rng';
import { Param } from './adamw';
import { makeBatch, maskedCrossEntropy, meanTargetLoss, Sequence } from './loss';
import { train, TrainOptions, TrainRun, TrainResult } from './trainer';

export interface Architecture {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  vocab: number;
  ropeTheta: number;
  maxPositions: number;
}

export interface PretrainOptions {
  corpus: string;
  out: string;
  arch: Architecture;
  seqLen: number;
  /** Share of files held out for the held-out loss (chosen by a hash of the path). */
  heldOut: number;
  train: TrainOptions;
  dtype: DType;
  skipCodecTables: boolean;
  log: (line: string) => void;
}

export const SPECIAL_TOKENS = ['<|endoftext|>', '<|pad|>'];
/** Folders of the standard library that are tests, data or vendored code rather than library source. */
const SKIP_DIRS = new Set(['test', 'tests', 'idle_test', 'site-packages', 'dist-packages', '__pycache__', 'test_json', 'lib2to3']);

export function pythonFiles(root: string): string[] {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new InputError(root, 'corpus folder not found');
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && !SKIP_DIRS.has(e.name)) walk(p);
      else if (e.isFile() && e.name.endsWith('.py')) out.push(p);
    }
  };
  walk(root);
  if (out.length === 0) throw new InputError(root, 'no .py files in the corpus folder');
  return out;
}

function isHeldOut(file: string, root: string, share: number): boolean {
  const h = crypto.createHash('sha1').update(path.relative(root, file)).digest().readUInt32BE(0);
  return h / 2 ** 32 < share;
}

/**
 * A file's text, or undefined for files that would teach the wrong thing: not UTF-8, empty, and with
 * `skipCodecTables` a generated character-map codec (encodings/cp1252.py and 60 more: hex tables that
 * make up a large share of the standard library's tokens, which the first default model learned to recite).
 */
function readText(file: string, skipCodecTables: boolean): string | undefined {
  const text = fs.readFileSync(file).toString('utf8');
  if (text.includes('\uFFFD') || text.trim() === '' || (skipCodecTables && text.includes('gencodec.py'))) return undefined;
  return text;
}

/** Files joined with <|endoftext|>, cut into sequences of seqLen tokens; every token is a target. */
function chunk(tok: TextTokenizer, texts: string[], seqLen: number, eos: number): Sequence[] {
  const stream: number[] = [];
  for (const t of texts) {
    for (const id of tok.encode(t, false)) stream.push(id);
    stream.push(eos);
  }
  const seqs: Sequence[] = [];
  for (let i = 0; i + seqLen <= stream.length; i += seqLen) {
    const ids = stream.slice(i, i + seqLen);
    seqs.push({ ids, targetMask: ids.map((_, j) => (j === 0 ? 0 : 1)) });
  }
  return seqs;
}

export function llamaConfigJson(a: Architecture, eos: number): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: a.hidden,
    intermediate_size: a.intermediate,
    num_hidden_layers: a.layers,
    num_attention_heads: a.heads,
    num_key_value_heads: a.kvHeads,
    head_dim: a.hidden / a.heads,
    vocab_size: a.vocab,
    rms_norm_eps: 1e-5,
    rope_theta: a.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: true,
    max_position_embeddings: a.maxPositions,
    bos_token_id: eos,
    eos_token_id: eos,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    torch_dtype: 'float32',
  };
}

interface Named {
  name: string;
  t: tf.Variable;
  transposed: boolean;
  noDecay: boolean;
}

/** Random weights as variables, named as HF stores them (linears held [in, out], stored [out, in]). */
function initWeights(c: LlamaConfig, seed: number): { weights: BaseWeights; named: Named[] } {
  const rng = new Rng(seed);
  const named: Named[] = [];
  const normal = (shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1),
      v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = 0.02 * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    return v;
  };
  const linear = (name: string, out: number, inDim: number) => {
    const t = tf.variable(tf.tensor2d(normal([inDim, out]), [inDim, out]), true);
    named.push({ name, t, transposed: true, noDecay: false });
    return t as tf.Variable<tf.Rank.R2>;
  };
  const ones = (name: string, n: number) => {
    const t = tf.variable(tf.ones([n]), true);
    named.push({ name, t, transposed: false, noDecay: true });
    return t as tf.Variable<tf.Rank.R1>;
  };
  const D = c.hiddenSize,
    d = c.headDim;
  const embed = tf.variable(tf.tensor2d(normal([c.vocabSize, D]), [c.vocabSize, D]), true) as tf.Variable<tf.Rank.R2>;
  named.push({ name: 'model.embed_tokens.weight', t: embed, transposed: false, noDecay: false });
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    layers.push({
      inputNorm: ones(`${p}input_layernorm.weight`, D),
      postNorm: ones(`${p}post_attention_layernorm.weight`, D),
      q: linear(`${p}self_attn.q_proj.weight`, c.numHeads * d, D),
      k: linear(`${p}self_attn.k_proj.weight`, c.numKvHeads * d, D),
      v: linear(`${p}self_attn.v_proj.weight`, c.numKvHeads * d, D),
      o: linear(`${p}self_attn.o_proj.weight`, D, c.numHeads * d),
      gate: linear(`${p}mlp.gate_proj.weight`, c.intermediateSize, D),
      up: linear(`${p}mlp.up_proj.weight`, c.intermediateSize, D),
      down: linear(`${p}mlp.down_proj.weight`, D, c.intermediateSize),
    });
  }
  const norm = ones('model.norm.weight', D);
  // No lmHeadT: the tied head is the embedding transposed at each pass, so it trains with it.
  return { weights: { embed, norm, layers }, named };
}

export function saveModelFolder(dir: string, configJson: Record<string, unknown>, named: Named[], dtype: DType): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = named.map(({ name, t, transposed }) => {
    const stored = transposed ? tf.transpose(t) : t;
    const out = { name, shape: stored.shape, data: stored.dataSync() as Float32Array };
    if (stored !== t) stored.dispose();
    return out;
  });
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, dtype, { format: 'pt' });
  const torchDtype = dtype === 'BF16' ? 'bfloat16' : dtype === 'F16' ? 'float16' : 'float32';
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify({ ...configJson, torch_dtype: torchDtype }, null, 2)}\n`);
}

export interface PretrainResult extends TrainResult {
  heldOutLoss: number;
  tokensSeen: number;
  trainTokens: number;
  heldOutTokens: number;
  parameters: number;
}

export async function pretrain(o: PretrainOptions, run: TrainRun): Promise<PretrainResult> {
  const files = pythonFiles(o.corpus);
  const texts = files
    .map((f) => ({ f, text: readText(f, o.skipCodecTables) }))
    .filter((x): x is { f: string; text: string } => x.text !== undefined);
  const trainTexts = texts.filter((x) => !isHeldOut(x.f, o.corpus, o.heldOut)).map((x) => x.text);
  const heldTexts = texts.filter((x) => isHeldOut(x.f, o.corpus, o.heldOut)).map((x) => x.text);
  o.log(
    `corpus: ${files.length} files, ${texts.length} used (UTF-8, not empty${o.skipCodecTables ? ', not generated codec tables' : ''}): ${trainTexts.length} for training, ${heldTexts.length} held out`,
  );

  fs.mkdirSync(o.out, { recursive: true });
  if (!run.resume || !fs.existsSync(path.join(o.out, 'tokenizer.json'))) {
    o.log(`training a byte-level BPE tokenizer, vocabulary ${o.arch.vocab}`);
    saveTokenizer(
      o.out,
      trainByteLevelBpe(trainTexts, { vocabSize: o.arch.vocab, specialTokens: SPECIAL_TOKENS, modelMaxLength: o.arch.maxPositions }),
    );
  }
  const tok = TextTokenizer.fromFolder(o.out) as TextTokenizer;
  const eos = tok.idOf(SPECIAL_TOKENS[0]) as number;
  const pad = tok.idOf(SPECIAL_TOKENS[1]) as number;
  const trainSeqs = chunk(tok, trainTexts, o.seqLen, eos);
  const heldSeqs = chunk(tok, heldTexts, o.seqLen, eos);
  o.log(`tokens: ${trainSeqs.length * o.seqLen} for training, ${heldSeqs.length * o.seqLen} held out (sequences of ${o.seqLen})`);

  const configJson = llamaConfigJson(o.arch, eos);
  const config = parseLlamaConfig('(pretrain)', configJson);
  const { weights, named } = initWeights(config, o.train.seed);
  const model = new LlamaModel(config, weights);
  const params: Param[] = named.map((n) => ({ name: n.name, variable: n.t, noDecay: n.noDecay }));
  const parameters = named.reduce((a, n) => a + n.t.size, 0);
  o.log(
    `model: ${parameters} parameters (${o.arch.layers} layers, hidden ${o.arch.hidden}, ${o.arch.heads} heads / ${o.arch.kvHeads} KV heads)`,
  );

  const result = await train(
    {
      params,
      loss: (batch, normaliser, pass) =>
        tf.tidy(() =>
          maskedCrossEntropy(model.forward(batch.ids, undefined, { training: { ...pass, trainEmbeddings: true } }), batch, normaliser),
        ),
    },
    trainSeqs,
    { ...o.train, padId: pad },
    run,
  );

  const heldOutLoss = await meanTargetLoss(
    (ids) => model.forward(ids, undefined),
    heldSeqs.slice(0, 64).map((s) => makeBatch([s], pad)),
  );
  if (!result.cancelled) {
    saveModelFolder(o.out, configJson, named, o.dtype);
    o.log(`saved ${o.out} (held-out loss ${heldOutLoss.toFixed(4)})`);
  }
  const tokensSeen = result.steps * o.train.microBatchSize * o.train.gradAccum * o.seqLen;
  return {
    ...result,
    heldOutLoss,
    tokensSeen,
    trainTokens: trainSeqs.length * o.seqLen,
    heldOutTokens: heldSeqs.length * o.seqLen,
    parameters,
  };
}
