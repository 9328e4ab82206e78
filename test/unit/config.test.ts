/**
 * Model and adapter configurations: a good config parses to the expected values; each bad one
 * gives one InputError naming the file and the key at fault. Also the model/adapter folder checks
 * and the tokenizer's refusal of empty text.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Json } from '../../engine/formats/json-fields';
import { parseLlamaConfig } from '../../engine/model/config';
import { LINEAR_TARGETS, parseDiffLoraConfig, parseLoraConfig } from '../../engine/model/adapter-config';
import { readAdapterConfig } from '../../engine/model/adapter-weights';
import { readModelConfig } from '../../engine/model/load';
import { TextTokenizer } from '../../engine/model/tokenizer';
import { ROOT, tempDir } from '../helpers/reference';
import { expectInputError } from '../helpers/input-error';

const FILE = '/models/llama/config.json';

/** Llama 3.2 1B's config.json (abridged): GQA 32/8, llama3 rope scaling, tied embeddings. */
const LLAMA32: Json = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 64,
  hidden_act: 'silu',
  rms_norm_eps: 1e-5,
  rope_theta: 500000.0,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  tie_word_embeddings: true,
  vocab_size: 128256,
  max_position_embeddings: 131072,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  torch_dtype: 'bfloat16',
};

const withKeys = (over: Json, drop: string[] = []): Json => {
  const j: Json = { ...LLAMA32, ...over };
  for (const k of drop) delete j[k];
  return j;
};

describe('parseLlamaConfig', () => {
  test('a good config parses with the expected values (llama3 rope, GQA, tied)', () => {
    assert.deepEqual(parseLlamaConfig(FILE, LLAMA32), {
      hiddenSize: 2048,
      intermediateSize: 8192,
      numLayers: 16,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 64,
      vocabSize: 128256,
      rmsNormEps: 1e-5,
      ropeTheta: 500000,
      ropeScaling: { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
      tieWordEmbeddings: true,
      maxPositions: 131072,
      bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
    });
  });

  test('defaults: kv heads = heads, head_dim = hidden / heads, no scaling, untied, single eos', () => {
    const c = parseLlamaConfig(FILE, {
      hidden_size: 64,
      intermediate_size: 96,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      vocab_size: 100,
      eos_token_id: 2,
      rope_scaling: null,
    });
    assert.equal(c.numKvHeads, 4);
    assert.equal(c.headDim, 16);
    assert.equal(c.ropeScaling, undefined);
    assert.equal(c.tieWordEmbeddings, false);
    assert.equal(c.rmsNormEps, 1e-6);
    assert.equal(c.ropeTheta, 10000);
    assert.deepEqual(c.eosTokenIds, [2]);
    assert.equal(c.bosTokenId, undefined);
    // rope_type "default" (and the legacy key "type") mean no scaling.
    assert.equal(parseLlamaConfig(FILE, withKeys({ rope_scaling: { rope_type: 'default' } })).ropeScaling, undefined);
    assert.equal(
      parseLlamaConfig(
        FILE,
        withKeys({
          rope_scaling: { type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
        }),
      ).ropeScaling?.factor,
      8,
    );
    // head_dim: null (some exports write it) falls back to hidden / heads.
    assert.equal(parseLlamaConfig(FILE, withKeys({ head_dim: null })).headDim, 64);
  });

  for (const key of ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'vocab_size']) {
    test(`missing ${key}`, () => {
      expectInputError(() => parseLlamaConfig(FILE, withKeys({}, [key])), FILE, `'${key}'`, 'is required but missing');
      expectInputError(() => parseLlamaConfig(FILE, withKeys({ [key]: null })), FILE, `'${key}'`, 'is required but missing');
    });
  }

  const WRONG: [string, unknown, string][] = [
    ['hidden_size', '2048', 'must be an integer >= 1, got "2048"'],
    ['hidden_size', 2048.5, 'must be an integer >= 1, got 2048.5'],
    ['num_hidden_layers', 0, 'must be an integer >= 1, got 0'],
    ['num_attention_heads', -32, 'must be an integer >= 1'],
    ['intermediate_size', [8192], 'must be an integer >= 1, got [8192]'],
    ['vocab_size', true, 'must be an integer >= 1, got true'],
    ['num_key_value_heads', 0, 'must be an integer >= 1'],
    ['rms_norm_eps', '1e-5', 'must be a number, got "1e-5"'],
    ['rope_theta', {}, 'must be a number'],
    ['rms_norm_eps', 0, 'must be > 0, got 0'],
    ['rms_norm_eps', -1e-5, 'must be > 0, got -0.00001'],
    ['rope_theta', 0, 'must be > 0, got 0'],
    ['rope_theta', -500000, 'must be > 0, got -500000'],
    ['tie_word_embeddings', 'true', 'must be true or false, got "true"'],
    ['eos_token_id', '128001', 'must be a list of integers, got "128001"'],
    ['eos_token_id', [128001, 'x'], 'must be a list of integers'],
    ['bos_token_id', 1.5, 'must be an integer >= 0'],
    ['max_position_embeddings', 'long', 'must be an integer >= 1'],
    ['rope_scaling', 'llama3', 'must be an object'],
    ['rope_scaling', [1], 'must be an object'],
  ];
  for (const [key, value, phrase] of WRONG) {
    test(`${key} = ${JSON.stringify(value)}`, () => {
      expectInputError(() => parseLlamaConfig(FILE, withKeys({ [key]: value })), FILE, `'${key}'`, phrase);
    });
  }

  test('integers beyond 2^53 (not the number written; found by the fuzz tier)', () => {
    expectInputError(
      () => parseLlamaConfig(FILE, withKeys({ hidden_size: 1e308 })),
      FILE,
      "'hidden_size' must be an integer >= 1, got 1e+308",
    );
    expectInputError(() => parseLlamaConfig(FILE, withKeys({ eos_token_id: 2 ** 53 })), FILE, "'eos_token_id' must be a list of integers");
    expectInputError(
      () => parseLoraConfig('/a/adapter_config.json', { peft_type: 'LORA', target_modules: ['q_proj'], r: 2 ** 53 }),
      "'r' must be an integer >= 1",
    );
  });

  test('num_key_value_heads not dividing num_attention_heads', () => {
    expectInputError(
      () => parseLlamaConfig(FILE, withKeys({ num_key_value_heads: 6 })),
      FILE,
      "'num_key_value_heads'",
      '(6) must divide num_attention_heads (32)',
    );
    expectInputError(
      () => parseLlamaConfig(FILE, withKeys({ num_key_value_heads: 64 })),
      FILE,
      "'num_key_value_heads'",
      '(64) must divide',
    );
  });

  test('odd head_dim', () => {
    expectInputError(() => parseLlamaConfig(FILE, withKeys({ head_dim: 63 })), FILE, "'head_dim'", '(63) must be even');
    // hidden / heads odd, no head_dim given
    expectInputError(
      () => parseLlamaConfig(FILE, withKeys({ hidden_size: 60, num_attention_heads: 4, num_key_value_heads: 4 }, ['head_dim'])),
      FILE,
      "'head_dim'",
      '(15) must be even',
    );
  });

  test('hidden_size not divisible by the heads and no head_dim (absent or null)', () => {
    for (const over of [{}, { head_dim: null }]) {
      const json = withKeys({ hidden_size: 2050, ...over }, 'head_dim' in over ? [] : ['head_dim']);
      expectInputError(() => parseLlamaConfig(FILE, json), FILE, "'hidden_size'", '(2050) is not divisible by num_attention_heads (32)');
    }
  });

  test('unknown rope_type (new key and legacy "type")', () => {
    expectInputError(
      () => parseLlamaConfig(FILE, withKeys({ rope_scaling: { rope_type: 'yarn', factor: 4 } })),
      FILE,
      '(rope_scaling)',
      "'rope_type'",
      "'yarn' is not supported",
      'llama3',
    );
    expectInputError(
      () => parseLlamaConfig(FILE, withKeys({ rope_scaling: { type: 'linear', factor: 2 } })),
      FILE,
      '(rope_scaling)',
      "'linear' is not supported",
    );
    expectInputError(
      () => parseLlamaConfig(FILE, withKeys({ rope_scaling: { rope_type: 3 } })),
      FILE,
      '(rope_scaling)',
      "'rope_type' must be a string",
    );
  });

  test('llama3 rope_scaling missing a field', () => {
    const { factor: _f, ...noFactor } = LLAMA32.rope_scaling as Json;
    void _f;
    expectInputError(
      () => parseLlamaConfig(FILE, withKeys({ rope_scaling: noFactor })),
      FILE,
      '(rope_scaling)',
      "'factor' is required but missing",
    );
    expectInputError(
      () => parseLlamaConfig(FILE, withKeys({ rope_scaling: { ...(LLAMA32.rope_scaling as Json), original_max_position_embeddings: 0 } })),
      "'original_max_position_embeddings'",
      'must be an integer >= 1',
    );
  });
});

describe('readModelConfig (a model folder)', () => {
  const root = tempDir('config');
  const folder = (name: string, config: unknown): string => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir);
    if (config !== undefined) fs.writeFileSync(path.join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    return dir;
  };

  test('a good folder', () => {
    assert.equal(readModelConfig(folder('good', LLAMA32)).numKvHeads, 8);
    // architectures alone identify the family
    assert.equal(readModelConfig(folder('arch', withKeys({}, ['model_type']))).numLayers, 16);
  });

  test('a non-Llama model_type', () => {
    const dir = folder('mistral', withKeys({ model_type: 'mistral', architectures: ['MistralForCausalLM'] }));
    expectInputError(() => readModelConfig(dir), path.join(dir, 'config.json'), 'model_type "mistral" is not a Llama-family model');
    const gpt = folder('gpt2', { model_type: 'gpt2', n_embd: 768 });
    expectInputError(() => readModelConfig(gpt), 'model_type "gpt2"');
  });

  test('folder missing, a file instead of a folder, config.json missing, not JSON, not an object', () => {
    expectInputError(() => readModelConfig(path.join(root, 'nope')), path.join(root, 'nope'), 'model folder not found');
    const file = path.join(root, 'afile');
    fs.writeFileSync(file, 'x');
    expectInputError(() => readModelConfig(file), file, 'not a folder');
    const empty = folder('empty', undefined);
    expectInputError(() => readModelConfig(empty), path.join(empty, 'config.json'), 'not found');
    expectInputError(() => readModelConfig(folder('notjson', '{"hidden_size": 64,')), 'notjson', 'config.json', 'not valid JSON');
    expectInputError(() => readModelConfig(folder('array', '[1, 2]')), 'array', 'config.json', 'expected a JSON object');
  });
});

describe('parseLoraConfig', () => {
  const AF = '/adapters/lora/adapter_config.json';
  const PEFT: Json = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: 16,
    lora_alpha: 32,
    lora_dropout: 0.05,
    use_rslora: false,
    target_modules: ['q_proj', 'v_proj'],
    base_model_name_or_path: 'meta-llama/Llama-3.2-1B',
    layers_to_transform: null,
  };

  test('a good config', () => {
    assert.deepEqual(parseLoraConfig(AF, PEFT), {
      kind: 'lora',
      r: 16,
      alpha: 32,
      dropout: 0.05,
      useRslora: false,
      targets: ['q_proj', 'v_proj'],
      layers: undefined,
      baseModel: 'meta-llama/Llama-3.2-1B',
    });
    assert.deepEqual(parseLoraConfig(AF, { ...PEFT, target_modules: 'all-linear' }).targets, [...LINEAR_TARGETS]);
    assert.deepEqual(
      parseLoraConfig(AF, { ...PEFT, target_modules: ['model.layers.0.self_attn.k_proj', 'k_proj'], layers_to_transform: 3 }).targets,
      ['k_proj'],
    );
    assert.deepEqual(parseLoraConfig(AF, { ...PEFT, layers_to_transform: 3 }).layers, [3]);
  });

  test('bad peft_type', () => {
    expectInputError(() => parseLoraConfig(AF, { ...PEFT, peft_type: 'IA3' }), AF, "'peft_type'", "'IA3' is not supported (only LORA)");
    expectInputError(() => parseLoraConfig(AF, { ...PEFT, peft_type: 7 }), AF, "'peft_type' must be a string");
  });

  test('a target module that is not a Llama linear layer', () => {
    expectInputError(
      () => parseLoraConfig(AF, { ...PEFT, target_modules: ['q_proj', 'lm_head'] }),
      AF,
      "'target_modules'",
      "'lm_head' is not a Llama linear layer",
      'q_proj, k_proj',
    );
    expectInputError(() => parseLoraConfig(AF, { ...PEFT, target_modules: ['c_attn'] }), AF, "'c_attn'");
  });

  test('target_modules missing, empty or of the wrong type', () => {
    const { target_modules: _t, ...none } = PEFT;
    void _t;
    expectInputError(() => parseLoraConfig(AF, none), AF, "'target_modules'", 'missing or empty');
    expectInputError(() => parseLoraConfig(AF, { ...PEFT, target_modules: [] }), AF, "'target_modules'", 'missing or empty');
    expectInputError(() => parseLoraConfig(AF, { ...PEFT, target_modules: [1, 2] }), AF, "'target_modules' must be a list of strings");
  });

  test('r, lora_alpha, use_rslora, layers_to_transform of the wrong type', () => {
    expectInputError(() => parseLoraConfig(AF, { ...PEFT, r: 0 }), AF, "'r' must be an integer >= 1, got 0");
    expectInputError(() => parseLoraConfig(AF, { ...PEFT, r: '16' }), AF, "'r'");
    expectInputError(() => parseLoraConfig(AF, { ...PEFT, lora_alpha: '32' }), AF, "'lora_alpha' must be a number");
    expectInputError(() => parseLoraConfig(AF, { ...PEFT, use_rslora: 1 }), AF, "'use_rslora' must be true or false");
    expectInputError(
      () => parseLoraConfig(AF, { ...PEFT, layers_to_transform: ['0'] }),
      AF,
      "'layers_to_transform' must be a list of integers",
    );
  });
});

describe('parseDiffLoraConfig', () => {
  const DF = '/adapters/difflora/config.json';
  const AUTHORS: Json = {
    model_type: 'llama_lora_diff_transformer',
    _name_or_path: 'meta-llama/Meta-Llama-3-8B',
    attention_lora_r: 32,
    attention_lora_alpha: 64,
    attention_lora_dropout: 0.1,
    learn_lambda: true,
    diff_attn_lambda: 0.0,
    layers_to_transform: [0, 1],
    lora_negative_term_only: false,
    negative_term_lora_only: false,
    negative_term_full_dim: false,
    lora_v: false,
    lora_o: true,
    lora_mlp: false,
    groupnorm: true,
    relu_on_differential: false,
  };

  test("a good config, and the authors' defaults", () => {
    const c = parseDiffLoraConfig(DF, AUTHORS);
    assert.equal(c.kind, 'difflora');
    assert.equal(c.r, 32);
    assert.equal(c.alpha, 64);
    assert.equal(c.learnLambda, true);
    assert.equal(c.lambda, 0);
    assert.deepEqual(c.layers, [0, 1]);
    assert.equal(c.loraO, true);
    assert.equal(c.baseModel, 'meta-llama/Meta-Llama-3-8B');
    const d = parseDiffLoraConfig(DF, { model_type: 'llama_lora_diff_transformer' });
    assert.equal(d.r, 32);
    assert.equal(d.groupnorm, true);
    assert.equal(d.layers?.length, 32);
    assert.deepEqual(parseDiffLoraConfig(DF, { ...AUTHORS, diff_attn_lambda: [0.1, 0.2] }).lambda, [0.1, 0.2]);
  });

  test('negative_term_lora_only with negative_term_full_dim', () => {
    expectInputError(
      () => parseDiffLoraConfig(DF, { ...AUTHORS, negative_term_lora_only: true, negative_term_full_dim: true }),
      DF,
      "'negative_term_lora_only'",
      "'negative_term_full_dim'",
      'cannot both be true',
    );
  });

  test('diff_attn_lambda of the wrong type', () => {
    for (const v of ['0.1', [0.1, '0.2'], { layer0: 0.1 }, true]) {
      expectInputError(
        () => parseDiffLoraConfig(DF, { ...AUTHORS, diff_attn_lambda: v }),
        DF,
        "'diff_attn_lambda'",
        'must be a number or a list of numbers',
      );
    }
  });

  test('wrong model_type, and other keys of the wrong type', () => {
    expectInputError(
      () => parseDiffLoraConfig(DF, { ...AUTHORS, model_type: 'llama' }),
      DF,
      "'model_type'",
      "'llama_lora_diff_transformer'",
      '"llama"',
    );
    expectInputError(() => parseDiffLoraConfig(DF, { ...AUTHORS, learn_lambda: 'yes' }), DF, "'learn_lambda' must be true or false");
    expectInputError(() => parseDiffLoraConfig(DF, { ...AUTHORS, attention_lora_r: 0 }), DF, "'attention_lora_r' must be an integer >= 1");
    expectInputError(() => parseDiffLoraConfig(DF, { ...AUTHORS, groupnorm: 'false' }), DF, "'groupnorm'");
  });
});

describe('readAdapterConfig (an adapter folder)', () => {
  const root = tempDir('adapter-config');

  test('folder missing, a file, neither config, a model config instead of an adapter config', () => {
    expectInputError(() => readAdapterConfig(path.join(root, 'nope')), path.join(root, 'nope'), 'adapter folder not found');
    const file = path.join(root, 'afile');
    fs.writeFileSync(file, '');
    expectInputError(() => readAdapterConfig(file), file, 'not a folder');
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    expectInputError(() => readAdapterConfig(empty), empty, 'not an adapter folder', 'adapter_config.json', 'config.json');
    const model = path.join(root, 'model');
    fs.mkdirSync(model);
    fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify(LLAMA32));
    expectInputError(() => readAdapterConfig(model), path.join(model, 'config.json'), 'model_type "llama" is not an adapter');
    const bad = path.join(root, 'bad');
    fs.mkdirSync(bad);
    fs.writeFileSync(path.join(bad, 'adapter_config.json'), '{"r": 8');
    expectInputError(() => readAdapterConfig(bad), path.join(bad, 'adapter_config.json'), 'not valid JSON');
  });
});

describe('TextTokenizer', () => {
  const llama3 = path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-llama3', 'models');

  test(
    'empty text is refused; other text tokenizes',
    { skip: !fs.existsSync(path.join(llama3, 'tokenizer.json')) && 'no llama3 tokenizer in node_modules' },
    () => {
      const tok = TextTokenizer.fromFolder(llama3);
      assert.ok(tok);
      expectInputError(() => tok.encode(''), 'empty text');
      assert.ok(tok.encode(' ').length >= 1);
      assert.equal(tok.decode(tok.encode('hello world', false)), 'hello world');
    },
  );

  test('no tokenizer.json: undefined; a broken tokenizer.json: an error naming the file', () => {
    const root = tempDir('tokenizer');
    assert.equal(TextTokenizer.fromFolder(root), undefined);
    fs.writeFileSync(path.join(root, 'tokenizer.json'), '{"model": ');
    expectInputError(() => TextTokenizer.fromFolder(root), path.join(root, 'tokenizer.json'), 'not valid JSON');
    fs.writeFileSync(path.join(root, 'tokenizer.json'), '{}');
    expectInputError(() => TextTokenizer.fromFolder(root), path.join(root, 'tokenizer.json'), 'cannot build the tokenizer');
  });
});
