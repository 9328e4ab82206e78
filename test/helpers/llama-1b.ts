/**
 * A Llama-3.2-1B-shaped checkpoint with random weights (bf16, 2.47 GB), written once by
 * test/bench/make_big_checkpoint.py into the benchmarks' cache and reused by tests and benchmarks.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from './reference';

export const LLAMA_1B_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  use_cache: true,
  vocab_size: 128256,
};

export const BENCH_CACHE = process.env.DIFFLORA_BENCH_CACHE ?? path.join(ROOT, '.cache', 'bench');
export const LLAMA_1B_DIR = path.join(BENCH_CACHE, 'llama-3.2-1b-shape-bf16');

/** The cached checkpoint's folder, written first if missing or of another shape. */
export function llama1b(python: string): string {
  const cfgPath = path.join(LLAMA_1B_DIR, 'config.json');
  const have =
    fs.existsSync(cfgPath) && fs.existsSync(path.join(LLAMA_1B_DIR, 'model.safetensors'))
      ? (JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as Record<string, unknown>)
      : undefined;
  const same = have && Object.entries(LLAMA_1B_CONFIG).every(([k, v]) => JSON.stringify(have[k]) === JSON.stringify(v));
  if (same) return LLAMA_1B_DIR;
  fs.mkdirSync(BENCH_CACHE, { recursive: true });
  const cfgFile = path.join(BENCH_CACHE, 'llama-3.2-1b-shape.config.json');
  fs.writeFileSync(cfgFile, `${JSON.stringify(LLAMA_1B_CONFIG, null, 2)}\n`);
  const r = spawnSync(
    python,
    [
      path.join(ROOT, 'test', 'bench', 'make_big_checkpoint.py'),
      '--config',
      cfgFile,
      '--out',
      LLAMA_1B_DIR,
      '--seed',
      '0',
      '--dtype',
      'BF16',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`make_big_checkpoint.py failed:\n${r.stderr}`);
  return LLAMA_1B_DIR;
}
