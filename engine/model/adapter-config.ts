/** Adapter configurations: PEFT LoRA (`adapter_config.json`) and the DiffLoRA authors' `config.json`. */
import { InputError } from '../errors';
import { Fields, Json } from '../formats/json-fields';

export const LINEAR_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LinearTarget = (typeof LINEAR_TARGETS)[number];

export interface LoraConfig {
  kind: 'lora';
  r: number;
  alpha: number;
  dropout: number;
  useRslora: boolean;
  targets: LinearTarget[];
  /** Layers that carry adapters; undefined = all. */
  layers?: number[];
  baseModel?: string;
}

export interface DiffLoraConfig {
  kind: 'difflora';
  r: number;
  alpha: number;
  dropout: number;
  learnLambda: boolean;
  /** Fixed lambda (scalar or per layer), or the learned lambda's init (0 = the per-layer rule). */
  lambda: number | number[];
  /** Layers with differential attention; undefined = all. */
  layers?: number[];
  /** Only the negative term gets adapters (Q1 = X W_q^T): the paper's DiffLoRA-64. */
  negativeTermOnly: boolean;
  /** Q2/K2 are the adapters alone, without the base projection. */
  negativeTermLoraOnly: boolean;
  /** Q2/K2 are full trainable matrices. */
  negativeTermFullDim: boolean;
  loraV: boolean;
  loraO: boolean;
  loraMlp: boolean;
  groupnorm: boolean;
  reluOnDifferential: boolean;
  baseModel?: string;
}

export type AdapterConfig = LoraConfig | DiffLoraConfig;

export const DIFFLORA_MODEL_TYPE = 'llama_lora_diff_transformer';

export function loraScale(c: { r: number; alpha: number; useRslora?: boolean }): number {
  return c.useRslora ? c.alpha / Math.sqrt(c.r) : c.alpha / c.r;
}

export function parseLoraConfig(file: string, json: Json): LoraConfig {
  const f = new Fields(file, json);
  const peftType = f.str('peft_type', 'LORA');
  if (peftType !== 'LORA') f.failWith('peft_type', `'${peftType}' is not supported (only LORA)`);
  const raw = f.strList('target_modules') ?? [];
  if (raw.length === 0) f.failWith('target_modules', 'is required but missing or empty');
  const targets = raw.includes('all-linear')
    ? [...LINEAR_TARGETS]
    : raw.map((t) => {
        const short = t.split('.').pop() as LinearTarget;
        if (!LINEAR_TARGETS.includes(short))
          f.failWith('target_modules', `'${t}' is not a Llama linear layer (${LINEAR_TARGETS.join(', ')})`);
        return short;
      });
  return {
    kind: 'lora',
    r: f.int('r', 8, 1),
    alpha: f.num('lora_alpha', 8),
    dropout: f.num('lora_dropout', 0),
    useRslora: f.bool('use_rslora', false),
    targets: [...new Set(targets)],
    layers: f.intList('layers_to_transform'),
    baseModel: typeof json.base_model_name_or_path === 'string' ? json.base_model_name_or_path : undefined,
  };
}

export function parseDiffLoraConfig(file: string, json: Json): DiffLoraConfig {
  const f = new Fields(file, json);
  if (json.model_type !== DIFFLORA_MODEL_TYPE) {
    f.failWith('model_type', `must be '${DIFFLORA_MODEL_TYPE}' for a DiffLoRA adapter, got ${JSON.stringify(json.model_type)}`);
  }
  // Missing keys take the defaults of the authors' config class, so their files read as they meant them.
  const c: DiffLoraConfig = {
    kind: 'difflora',
    r: f.int('attention_lora_r', 32, 1),
    alpha: f.num('attention_lora_alpha', 64),
    dropout: f.num('attention_lora_dropout', 0.1),
    learnLambda: f.bool('learn_lambda', false),
    lambda: f.numOrList('diff_attn_lambda', 0),
    layers: f.intList('layers_to_transform') ?? [...Array(32).keys()],
    negativeTermOnly: f.bool('lora_negative_term_only', false),
    negativeTermLoraOnly: f.bool('negative_term_lora_only', false),
    negativeTermFullDim: f.bool('negative_term_full_dim', false),
    loraV: f.bool('lora_v', false),
    loraO: f.bool('lora_o', false),
    loraMlp: f.bool('lora_mlp', false),
    groupnorm: f.bool('groupnorm', true),
    reluOnDifferential: f.bool('relu_on_differential', false),
    baseModel: typeof json._name_or_path === 'string' ? json._name_or_path : undefined,
  };
  if (c.negativeTermLoraOnly && c.negativeTermFullDim) {
    throw new InputError(file, "'negative_term_lora_only' and 'negative_term_full_dim' cannot both be true");
  }
  return c;
}

/**
 * lambda_init of layer l: the configured value; for a learned lambda configured as 0, the
 * Differential Transformer's depth rule. A fixed lambda is its own lambda_init.
 */
export function lambdaInit(c: DiffLoraConfig, layer: number): number {
  const v = Array.isArray(c.lambda) ? c.lambda[layer] : c.lambda;
  if (v === undefined) throw new InputError('diff_attn_lambda', `has no value for layer ${layer}`);
  return c.learnLambda && v === 0 ? 0.8 - 0.6 * Math.exp(-0.3 * layer) : v;
}

export function layerIsAdapted(layers: number[] | undefined, layer: number): boolean {
  return layers === undefined || layers.includes(layer);
}
