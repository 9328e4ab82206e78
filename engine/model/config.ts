/** The Llama-family architecture, parsed and checked from an HF `config.json`. */
import { Fields, Json } from '../formats/json-fields';

export interface RopeLlama3Scaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

export interface LlamaConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling?: RopeLlama3Scaling;
  tieWordEmbeddings: boolean;
  maxPositions: number;
  bosTokenId?: number;
  eosTokenIds: number[];
}

export function parseLlamaConfig(file: string, json: Json): LlamaConfig {
  const f = new Fields(file, json);
  const hiddenSize = f.int('hidden_size', undefined, 1);
  const numHeads = f.int('num_attention_heads', undefined, 1);
  const numKvHeads = f.int('num_key_value_heads', numHeads, 1);
  if (numHeads % numKvHeads !== 0) {
    f.failWith('num_key_value_heads', `(${numKvHeads}) must divide num_attention_heads (${numHeads})`);
  }
  if ((json.head_dim === undefined || json.head_dim === null) && hiddenSize % numHeads !== 0) {
    f.failWith('hidden_size', `(${hiddenSize}) is not divisible by num_attention_heads (${numHeads}) and no head_dim is given`);
  }
  const headDim = f.int('head_dim', hiddenSize / numHeads, 2);
  if (headDim % 2 !== 0) f.failWith('head_dim', `(${headDim}) must be even for rotary embeddings`);
  // Both divide or exponentiate: zero or a negative value gives NaN or Infinity in every layer.
  const rmsNormEps = f.num('rms_norm_eps', 1e-6);
  if (rmsNormEps <= 0) f.failWith('rms_norm_eps', `must be > 0, got ${rmsNormEps}`);
  const ropeTheta = f.num('rope_theta', 10000);
  if (ropeTheta <= 0) f.failWith('rope_theta', `must be > 0, got ${ropeTheta}`);
  const eos = json.eos_token_id;
  const eosTokenIds = eos === undefined || eos === null ? [] : (f.intList('eos_token_id') ?? []);
  return {
    hiddenSize,
    intermediateSize: f.int('intermediate_size', undefined, 1),
    numLayers: f.int('num_hidden_layers', undefined, 1),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: f.int('vocab_size', undefined, 1),
    rmsNormEps,
    ropeTheta,
    ropeScaling: parseRopeScaling(f),
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    maxPositions: f.int('max_position_embeddings', 2048, 1),
    bosTokenId: json.bos_token_id === undefined || json.bos_token_id === null ? undefined : f.int('bos_token_id'),
    eosTokenIds,
  };
}

function parseRopeScaling(f: Fields): RopeLlama3Scaling | undefined {
  const s = f.object('rope_scaling');
  if (!s) return undefined;
  const type = s.str('rope_type', typeof s.json.type === 'string' ? (s.json.type as string) : 'default');
  if (type === 'default') return undefined;
  if (type !== 'llama3') s.failWith('rope_type', `'${type}' is not supported (supported: llama3, default)`);
  return {
    factor: s.num('factor'),
    lowFreqFactor: s.num('low_freq_factor'),
    highFreqFactor: s.num('high_freq_factor'),
    originalMaxPositions: s.int('original_max_position_embeddings', undefined, 1),
  };
}

export function isLlamaFamily(json: Json): boolean {
  return json.model_type === 'llama' || (Array.isArray(json.architectures) && json.architectures.includes('LlamaForCausalLM'));
}
