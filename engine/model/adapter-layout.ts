/**
 * Every tensor of an adapter checkpoint: its name in the PEFT or the authors' format, its stored
 * shape ([out, in] for matrices) and where it lives in a LayerAdapter. Loading, saving and (later)
 * initialising for training all walk this one list, so names and shapes are written down once.
 */
import { AdapterConfig, DiffLoraConfig, LinearTarget, LoraConfig, layerIsAdapted } from './adapter-config';
import { LlamaConfig } from './config';

export type DiffPair = 'q1' | 'k1' | 'q2' | 'k2';
export type LambdaPart = 'q1' | 'k1' | 'q2' | 'k2';

export type Slot =
  | { kind: 'lora'; target: LinearTarget; part: 'A' | 'B' }
  | { kind: 'diff'; pair: DiffPair; part: 'A' | 'B' }
  | { kind: 'full'; which: 'q2Full' | 'k2Full' }
  | { kind: 'lambda'; part: LambdaPart }
  | { kind: 'subln' };

export interface TensorSpec {
  name: string;
  /** As stored: [out, in] for matrices (A: [r, in], B: [out, r]), [d] for vectors. */
  shape: number[];
  layer: number;
  slot: Slot;
}

const MODULE_OF: Record<LinearTarget, string> = {
  q_proj: 'self_attn',
  k_proj: 'self_attn',
  v_proj: 'self_attn',
  o_proj: 'self_attn',
  gate_proj: 'mlp',
  up_proj: 'mlp',
  down_proj: 'mlp',
};

export function linearShape(c: LlamaConfig, t: LinearTarget): { out: number; in: number } {
  const D = c.hiddenSize,
    I = c.intermediateSize,
    qd = c.numHeads * c.headDim,
    kvd = c.numKvHeads * c.headDim;
  switch (t) {
    case 'q_proj':
      return { out: qd, in: D };
    case 'k_proj':
    case 'v_proj':
      return { out: kvd, in: D };
    case 'o_proj':
      return { out: D, in: qd };
    case 'gate_proj':
    case 'up_proj':
      return { out: I, in: D };
    case 'down_proj':
      return { out: D, in: I };
  }
}

export function adapterTensorSpecs(config: AdapterConfig, base: LlamaConfig): TensorSpec[] {
  return config.kind === 'lora' ? peftSpecs(config, base) : diffSpecs(config, base);
}

function peftSpecs(c: LoraConfig, base: LlamaConfig): TensorSpec[] {
  const specs: TensorSpec[] = [];
  for (let layer = 0; layer < base.numLayers; layer++) {
    if (!layerIsAdapted(c.layers, layer)) continue;
    for (const target of c.targets) {
      const { out, in: inDim } = linearShape(base, target);
      const prefix = `base_model.model.model.layers.${layer}.${MODULE_OF[target]}.${target}`;
      specs.push({ name: `${prefix}.lora_A.weight`, shape: [c.r, inDim], layer, slot: { kind: 'lora', target, part: 'A' } });
      specs.push({ name: `${prefix}.lora_B.weight`, shape: [out, c.r], layer, slot: { kind: 'lora', target, part: 'B' } });
    }
  }
  return specs;
}

/**
 * The authors' layout. Their A matrices read the hidden state, so in-features are D (their code
 * declares H*d, which only equals D on standard Llama shapes and crashes otherwise).
 */
function diffSpecs(c: DiffLoraConfig, base: LlamaConfig): TensorSpec[] {
  const D = base.hiddenSize,
    d = base.headDim,
    r = c.r;
  const qd = base.numHeads * d,
    kvd = base.numKvHeads * d;
  const specs: TensorSpec[] = [];
  for (let layer = 0; layer < base.numLayers; layer++) {
    if (!layerIsAdapted(c.layers, layer)) continue;
    const attn = `model.layers.${layer}.self_attn.`;
    const pair = (stem: string, suffix: string, inDim: number, outDim: number, slotOf: (part: 'A' | 'B') => Slot) => {
      specs.push({ name: `${stem}_A${suffix}.weight`, shape: [r, inDim], layer, slot: slotOf('A') });
      specs.push({ name: `${stem}_B${suffix}.weight`, shape: [outDim, r], layer, slot: slotOf('B') });
    };
    const diff =
      (p: DiffPair) =>
      (part: 'A' | 'B'): Slot => ({ kind: 'diff', pair: p, part });
    const lora =
      (target: LinearTarget) =>
      (part: 'A' | 'B'): Slot => ({ kind: 'lora', target, part });
    if (!c.negativeTermOnly) {
      pair(`${attn}wq_lora`, '1', D, qd, diff('q1'));
      pair(`${attn}wk_lora`, '1', D, kvd, diff('k1'));
    }
    if (c.negativeTermFullDim) {
      specs.push({ name: `${attn}wq_2.weight`, shape: [qd, D], layer, slot: { kind: 'full', which: 'q2Full' } });
      specs.push({ name: `${attn}wk_2.weight`, shape: [kvd, D], layer, slot: { kind: 'full', which: 'k2Full' } });
    } else {
      pair(`${attn}wq_lora`, '2', D, qd, diff('q2'));
      pair(`${attn}wk_lora`, '2', D, kvd, diff('k2'));
    }
    if (c.learnLambda) {
      // Plain nn.Parameters in the authors' module: no ".weight" suffix.
      for (const part of ['q1', 'k1', 'q2', 'k2'] as const)
        specs.push({ name: `${attn}lambda_${part}`, shape: [d], layer, slot: { kind: 'lambda', part } });
    }
    if (c.groupnorm) specs.push({ name: `${attn}subln.weight`, shape: [d], layer, slot: { kind: 'subln' } });
    if (c.loraV) pair(`${attn}wv_lora`, '', D, kvd, lora('v_proj'));
    // The authors' o adapter reads the layer input X (width D), not the attention output.
    if (c.loraO) pair(`${attn}wo_lora`, '', D, D, lora('o_proj'));
    if (c.loraMlp) {
      for (const t of ['gate_proj', 'up_proj', 'down_proj'] as const) {
        const { out, in: inDim } = linearShape(base, t);
        pair(`model.layers.${layer}.mlp.${t}_lora`, '', inDim, out, lora(t));
      }
    }
  }
  return specs;
}
