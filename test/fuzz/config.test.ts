/**
 * Fuzzing the configuration parsers: config.json (Llama), adapter_config.json (PEFT LoRA) and the
 * DiffLoRA authors' config.json, as JSON objects with keys set to anything, removed or added, and as
 * files of any bytes in a model or adapter folder. Each parses to values the engine can use (sizes
 * that are safe positive integers, heads that divide, an even head_dim, finite numbers) or gives one
 * InputError naming the file and the key.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { InputError } from '../../engine/errors';
import { Json, readJsonFile } from '../../engine/formats/json-fields';
import { LlamaConfig, parseLlamaConfig } from '../../engine/model/config';
import {
  AdapterConfig,
  DIFFLORA_MODEL_TYPE,
  LINEAR_TARGETS,
  lambdaInit,
  parseDiffLoraConfig,
  parseLoraConfig,
} from '../../engine/model/adapter-config';
import { readAdapterConfigJson } from '../../engine/model/adapter-weights';
import { readModelConfigJson } from '../../engine/model/load';
import { fuzzParams, valueOrError } from '../helpers/fuzz';
import { tempDir } from '../helpers/reference';

const dir = tempDir('fuzz-config');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const LLAMA: Json = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  tie_word_embeddings: true,
  vocab_size: 384,
  max_position_embeddings: 2048,
  bos_token_id: 1,
  eos_token_id: [2, 3],
};
const PEFT: Json = {
  peft_type: 'LORA',
  r: 8,
  lora_alpha: 16,
  lora_dropout: 0.05,
  use_rslora: false,
  target_modules: ['q_proj', 'v_proj'],
  layers_to_transform: [0, 1],
  base_model_name_or_path: 'base',
};
const AUTHORS: Json = {
  model_type: DIFFLORA_MODEL_TYPE,
  attention_lora_r: 8,
  attention_lora_alpha: 16,
  attention_lora_dropout: 0.1,
  learn_lambda: true,
  diff_attn_lambda: [0.1, 0.2],
  layers_to_transform: [0, 1],
  lora_negative_term_only: false,
  negative_term_lora_only: false,
  negative_term_full_dim: false,
  lora_v: true,
  lora_o: true,
  lora_mlp: false,
  groupnorm: true,
  relu_on_differential: false,
};

/** Values a key may be set to: plausible ones (so that parsing often gets far), edge numbers, and any JSON. */
const valueArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.oneof(fc.integer({ min: -2, max: 70 }), fc.constantFrom(0.5, -0, 1e-6, 1e308, 2 ** 53, 2 ** 53 + 2, 2 ** 31, -1e9)),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(
      null,
      true,
      false,
      '',
      'llama3',
      'default',
      'q_proj',
      'all-linear',
      'LORA',
      DIFFLORA_MODEL_TYPE,
      [],
      {},
      [0, 1],
      [2, 'x'],
      ['k_proj', 'o_proj'],
      { rope_type: 'llama3' },
      { type: 'yarn' },
    ),
  },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** Edits to a good object: set a known (or any) key to a value, or delete one; nested into rope_scaling too. */
function mutated(good: Json): fc.Arbitrary<Json> {
  const keys = [...Object.keys(good), 'head_dim', 'type', 'rope_type', '__proto__', 'constructor'];
  const edit = fc.oneof(
    fc.record({
      op: fc.constant('set' as const),
      key: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...keys) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
      value: valueArb,
    }),
    fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...keys) }),
    fc.record({
      op: fc.constant('nested' as const),
      key: fc.constantFrom('factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings', 'rope_type', 'type'),
      value: valueArb,
    }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    // Through JSON, as the files arrive: "__proto__" is then an own key like any other.
    const j = JSON.parse(JSON.stringify(good)) as Json;
    for (const e of edits) {
      if (e.op === 'delete') delete j[e.key];
      else if (e.op === 'set') Object.defineProperty(j, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
      else if (j.rope_scaling && typeof j.rope_scaling === 'object' && !Array.isArray(j.rope_scaling))
        (j.rope_scaling as Json)[e.key] = e.value;
    }
    return JSON.parse(JSON.stringify(j)) as Json;
  });
}

const posInt = (v: number, what: string) => assert.ok(Number.isSafeInteger(v) && v >= 1, `${what} = ${v}`);
const finite = (v: number, what: string) => assert.ok(Number.isFinite(v), `${what} = ${v}`);

function checkLlama(c: LlamaConfig): void {
  for (const k of [
    'hiddenSize',
    'intermediateSize',
    'numLayers',
    'numHeads',
    'numKvHeads',
    'headDim',
    'vocabSize',
    'maxPositions',
  ] as const)
    posInt(c[k], k);
  assert.equal(c.numHeads % c.numKvHeads, 0);
  assert.equal(c.headDim % 2, 0);
  finite(c.rmsNormEps, 'rmsNormEps');
  finite(c.ropeTheta, 'ropeTheta');
  if (c.ropeScaling) for (const [k, v] of Object.entries(c.ropeScaling)) finite(v, k);
  assert.ok(
    c.eosTokenIds.every((i) => Number.isSafeInteger(i)),
    `eos ${c.eosTokenIds}`,
  );
  assert.ok(c.bosTokenId === undefined || (Number.isSafeInteger(c.bosTokenId) && c.bosTokenId >= 0));
  assert.equal(typeof c.tieWordEmbeddings, 'boolean');
}

function checkAdapter(c: AdapterConfig): void {
  posInt(c.r, 'r');
  finite(c.alpha, 'alpha');
  finite(c.dropout, 'dropout');
  if (c.layers)
    assert.ok(
      c.layers.every((l) => Number.isSafeInteger(l)),
      `layers ${c.layers}`,
    );
  if (c.kind === 'lora') {
    assert.ok(c.targets.length > 0 && c.targets.every((t) => (LINEAR_TARGETS as readonly string[]).includes(t)), `targets ${c.targets}`);
  } else {
    const lambdas = Array.isArray(c.lambda) ? c.lambda : [c.lambda];
    assert.ok(lambdas.every(Number.isFinite));
    assert.ok(!(c.negativeTermLoraOnly && c.negativeTermFullDim));
    for (const layer of [0, 1]) valueOrError(() => lambdaInit(c, layer), InputError, 'diff_attn_lambda');
  }
}

/** The error names the file and, in quotes, the key at fault. */
const NAMES_KEY = /'[^']+'/;

describe('fuzz: model and adapter configurations', () => {
  test('config.json with keys set to anything, removed or added', () => {
    const FILE = '/models/m/config.json';
    fc.assert(
      fc.property(mutated(LLAMA), (j) => {
        const r = valueOrError(() => parseLlamaConfig(FILE, j), InputError, FILE, NAMES_KEY);
        if (r.value) checkLlama(r.value);
      }),
      fuzzParams(1500),
    );
  });

  test('adapter_config.json (PEFT LoRA) with keys set to anything, removed or added', () => {
    const FILE = '/adapters/a/adapter_config.json';
    fc.assert(
      fc.property(mutated(PEFT), (j) => {
        const r = valueOrError(() => parseLoraConfig(FILE, j), InputError, FILE, NAMES_KEY);
        if (r.value) checkAdapter(r.value);
      }),
      fuzzParams(1500),
    );
  });

  test("the DiffLoRA authors' config.json with keys set to anything, removed or added", () => {
    const FILE = '/adapters/d/config.json';
    fc.assert(
      fc.property(mutated(AUTHORS), (j) => {
        const r = valueOrError(() => parseDiffLoraConfig(FILE, j), InputError, FILE, NAMES_KEY);
        if (r.value) checkAdapter(r.value);
      }),
      fuzzParams(1500),
    );
  });

  test("any bytes as config.json, adapter_config.json or the authors' config.json in a folder", () => {
    const good = fc.constantFrom(LLAMA, PEFT, AUTHORS).map((j) => Buffer.from(JSON.stringify(j, null, 2)));
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)),
      fc.json({ maxDepth: 2 }).map((s) => Buffer.from(s)),
      fc
        .tuple(good, fc.nat(), fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 }))
        .map(([b, cut, edits]) => {
          const c = Buffer.from(b.subarray(0, cut % (b.length + 1)));
          for (const { at, byte } of edits) if (c.length) c[at % c.length] = byte;
          return c;
        }),
    );
    let n = 0;
    fc.assert(
      fc.property(bytesArb, fc.constantFrom('config.json', 'adapter_config.json'), fc.boolean(), (bytes, name, asFolder) => {
        const folder = path.join(dir, `c${n++}`);
        fs.mkdirSync(folder);
        const file = path.join(folder, name);
        if (asFolder) fs.mkdirSync(file);
        else fs.writeFileSync(file, bytes);
        try {
          valueOrError(() => readJsonFile(file), InputError, file);
          if (name === 'config.json') {
            const m = valueOrError(() => readModelConfigJson(folder), InputError, folder);
            if (m.value) checkLlama(m.value.config);
          }
          const a = valueOrError(() => readAdapterConfigJson(folder), InputError, folder);
          if (a.value) checkAdapter(a.value.config);
        } finally {
          fs.rmSync(folder, { recursive: true });
        }
      }),
      fuzzParams(400),
    );
  });
});
