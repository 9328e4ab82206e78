/** A model that cannot fit the wasm heap is refused before any weight is read, with the reason. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/reference';

test('a Llama-3.2-1B-shaped model is refused on wasm before loading, naming the sizes and the way out', () => {
  const dir = tempDir('1b');
  // Only config.json: the refusal must come before the (absent) weights are touched.
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
    num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, rope_theta: 500000, tie_word_embeddings: true, rms_norm_eps: 1e-5,
    rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
  }));
  const out = path.join(dir, 'out.json');
  const r = runCli(['attention', '--model', dir, '--ids', '1,2,3', '--backend', 'wasm', '--quiet', '--out', out]);
  assert.equal(r.code, 1);
  const line = r.stderr.trim();
  assert.match(line, /^difflora: error: .*needs .*GiB.*wasm backend's heap is limited to 4\.00 GiB.*--backend webgpu/);
  assert.ok(!fs.existsSync(out));
});
