/**
 * New adapters for training, initialised as PEFT and the DiffLoRA authors do: A kaiming-uniform
 * (U(-1/sqrt(fan_in), 1/sqrt(fan_in))), B zero (so the untrained adapter changes nothing), except
 * B2 in negative_term_lora_only (else Q2 = K2 = 0 and no gradient flows); full-dim W2 kaiming;
 * lambda vectors N(0, 0.1); group-norm weight 1.
 */
import { Json } from '../formats/json-fields';
import { AdapterConfig, DIFFLORA_MODEL_TYPE } from '../model/adapter-config';
import { TensorSpec } from '../model/adapter-layout';
import { Adapter, assembleAdapter } from '../model/adapter-weights';
import { LlamaConfig } from '../model/config';
import { Rng } from '../util/rng';

export function initialValues(config: AdapterConfig, spec: TensorSpec, rng: Rng): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const uniform = (bound: number) => {
    for (let i = 0; i < n; i++) out[i] = (2 * rng.next() - 1) * bound;
  };
  const slot = spec.slot;
  switch (slot.kind) {
    case 'subln':
      out.fill(1);
      break;
    case 'lambda':
      for (let i = 0; i < n; i++) out[i] = 0.1 * normal(rng);
      break;
    case 'full':
      uniform(1 / Math.sqrt(spec.shape[1]));
      break;
    case 'lora':
    case 'diff': {
      const kaimingB =
        slot.kind === 'diff' && config.kind === 'difflora' && config.negativeTermLoraOnly && (slot.pair === 'q2' || slot.pair === 'k2');
      if (slot.part === 'A' || kaimingB) uniform(1 / Math.sqrt(spec.shape[1]));
      break;
    }
  }
  return out;
}

function normal(rng: Rng): number {
  const u = 1 - rng.next(),
    v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** The config file written with the adapter: PEFT's adapter_config.json, or the authors' config.json. */
export function adapterConfigJson(config: AdapterConfig, baseJson: Json, baseModel: string): Json {
  if (config.kind === 'lora') {
    return {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: baseModel,
      r: config.r,
      lora_alpha: config.alpha,
      lora_dropout: config.dropout,
      target_modules: config.targets,
      use_rslora: config.useRslora,
      bias: 'none',
      fan_in_fan_out: false,
      inference_mode: true,
      init_lora_weights: true,
      layers_to_transform: config.layers ?? null,
      layers_pattern: null,
      modules_to_save: null,
      revision: null,
      use_dora: false,
      rank_pattern: {},
      alpha_pattern: {},
    };
  }
  return {
    ...baseJson,
    model_type: DIFFLORA_MODEL_TYPE,
    architectures: ['LlamaLoraDiffTransformerForCausalLM'],
    _name_or_path: baseModel,
    attention_lora_r: config.r,
    attention_lora_alpha: config.alpha,
    attention_lora_dropout: config.dropout,
    learn_lambda: config.learnLambda,
    diff_attn_lambda: config.lambda,
    // Explicit: the authors' reader takes a missing list as layers 0..31.
    layers_to_transform: config.layers ?? [...Array(Number(baseJson.num_hidden_layers)).keys()],
    lora_negative_term_only: config.negativeTermOnly,
    negative_term_lora_only: config.negativeTermLoraOnly,
    negative_term_full_dim: config.negativeTermFullDim,
    lora_v: config.loraV,
    lora_o: config.loraO,
    lora_mlp: config.loraMlp,
    groupnorm: config.groupnorm,
    relu_on_differential: config.reluOnDifferential,
  };
}

export function createAdapter(config: AdapterConfig, base: LlamaConfig, baseJson: Json, baseModel: string, seed: number): Adapter {
  const rng = new Rng(seed);
  return assembleAdapter('(new adapter)', config, adapterConfigJson(config, baseJson, baseModel), base, (spec) =>
    initialValues(config, spec, rng),
  );
}
