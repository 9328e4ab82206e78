/** A model that cannot fit the backend (wasm's heap, native's free memory) is refused before any weight is read, with the reason. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../helpers/cli';
import { nativeSkip } from '../helpers/native';
import { tempDir } from '../helpers/reference';

/** A Llama-3.2-1B-shaped folder with only config.json: a refusal must come before the (absent) weights are touched. */
function configOnly1b(): string {
  const dir = tempDir('1b');
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      model_type: 'llama',
      hidden_size: 2048,
      intermediate_size: 8192,
      num_hidden_layers: 16,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      head_dim: 64,
      vocab_size: 128256,
      rope_theta: 500000,
      tie_word_embeddings: true,
      rms_norm_eps: 1e-5,
      rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    }),
  );
  return dir;
}

test('a Llama-3.2-1B-shaped model is refused on wasm before loading, naming the sizes and the way out', () => {
  const dir = configOnly1b();
  const out = path.join(dir, 'out.json');
  const r = runCli(['attention', '--model', dir, '--ids', '1,2,3', '--backend', 'wasm', '--quiet', '--out', out]);
  assert.equal(r.code, 1);
  const line = r.stderr.trim();
  assert.match(line, /^difflora: error: .*needs .*GiB.*wasm backend's heap is limited to 4\.00 GiB.*--backend webgpu/);
  assert.ok(!fs.existsSync(out));
});

test('a model larger than the available memory is refused on native before loading, with the numbers', { skip: nativeSkip() }, () => {
  const dir = configOnly1b();
  const out = path.join(dir, 'out.json');
  // The available-memory figure is faked (test-only variable): 1 GB, below the model's fp32 weights: its
  // 1,235,814,400 parameters (PyTorch's count of the same shape) x 4 bytes, the tied head held once on native.
  const r = runCli(['attention', '--model', dir, '--ids', '1,2,3', '--backend', 'native', '--quiet', '--out', out], {
    DIFFLORA_TEST_AVAILABLE_MEMORY: '1000000000',
  });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr.trim(),
    /^difflora: error: the model in .* needs 4\.60 GiB \(4943257600 bytes\) of fp32 weights but only 953\.7 MiB \(1000000000 bytes\) of memory is available \(DIFFLORA_TEST_AVAILABLE_MEMORY\)/,
  );
  assert.ok(!fs.existsSync(out));
});
