/**
 * The engine (its CLI, as a process) against the independent numpy reference, on random checkpoints
 * written in the exact HF / PEFT / authors' formats: logits and every attention map within 1e-4.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { runCliOk } from '../helpers/cli';
import { assertMatchesReference } from '../helpers/compare';
import { cpuBackends } from '../helpers/native';
import { AttentionJson, makeCheckpoint, maxAbsDiff, reference, tempDir } from '../helpers/reference';

const IDS = [1, 17, 42, 5, 99, 23, 64, 8, 77, 31, 2, 50, 13];
const BACKENDS = process.env.DIFFLORA_TEST_BACKENDS?.split(',') ?? cpuBackends();

/** GQA with H/G = 4, head_dim != hidden/heads, llama3 rope scaling, tied embeddings. */
const BASE_GQA = [
  '--seed',
  '1',
  '--layers',
  '3',
  '--hidden',
  '64',
  '--heads',
  '8',
  '--kv-heads',
  '2',
  '--head-dim',
  '16',
  '--rope-llama3',
  '--tie',
];
/** Untied head, plain RoPE, bf16, two shards. */
const BASE_BF16 = ['--seed', '2', '--layers', '2', '--hidden', '48', '--heads', '4', '--kv-heads', '4', '--dtype', 'BF16', '--shards', '2'];

interface Case {
  name: string;
  base: 'gqa' | 'bf16';
  adapter?: { kind: 'lora' | 'difflora'; args: string[] };
}

const CASES: Case[] = [
  { name: 'base (GQA 4, llama3 rope, tied)', base: 'gqa' },
  { name: 'base (bf16, sharded, untied)', base: 'bf16' },
  {
    name: 'LoRA q,k,v,o + MLP',
    base: 'gqa',
    adapter: { kind: 'lora', args: ['--r', '4', '--alpha', '8', '--targets', 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj'] },
  },
  {
    name: 'LoRA rsLoRA on q,v',
    base: 'bf16',
    adapter: { kind: 'lora', args: ['--r', '4', '--alpha', '16', '--targets', 'q_proj,v_proj', '--rslora'] },
  },
  {
    name: 'DiffLoRA-64 style: negative term only, fixed lambda',
    base: 'gqa',
    adapter: { kind: 'difflora', args: ['--negative-term-only', '--lambda', '0.1'] },
  },
  { name: 'DiffLoRA-32 style: both terms, fixed lambda', base: 'gqa', adapter: { kind: 'difflora', args: ['--lambda', '0.1'] } },
  {
    name: 'DiffLoRA: negative term adapter-only (no base weight)',
    base: 'gqa',
    adapter: { kind: 'difflora', args: ['--negative-term-lora-only', '--negative-term-only'] },
  },
  { name: 'DiffLoRA: full-dim negative term', base: 'gqa', adapter: { kind: 'difflora', args: ['--full-dim'] } },
  { name: 'DiffLoRA: per-layer fixed lambda list', base: 'gqa', adapter: { kind: 'difflora', args: ['--lambda-list', '0.1,0.3,0.5'] } },
  {
    name: 'DiffLoRA: learned lambda, layer-rule init',
    base: 'gqa',
    adapter: { kind: 'difflora', args: ['--learn-lambda', '--lambda', '0'] },
  },
  {
    name: 'DiffLoRA: learned lambda init 0.1 + group norm',
    base: 'gqa',
    adapter: { kind: 'difflora', args: ['--learn-lambda', '--lambda', '0.1', '--groupnorm'] },
  },
  {
    name: 'DiffLoRA: ReLU on differential, layers_to_transform 0,2',
    base: 'gqa',
    adapter: { kind: 'difflora', args: ['--relu', '--layers-to-transform', '0,2', '--lambda', '0.4'] },
  },
  { name: 'DiffLoRA: adapters on v, o and MLP', base: 'gqa', adapter: { kind: 'difflora', args: ['--lora-v', '--lora-o', '--lora-mlp'] } },
  { name: 'DiffLoRA on a bf16 sharded base', base: 'bf16', adapter: { kind: 'difflora', args: ['--learn-lambda', '--groupnorm'] } },
];

describe('engine vs numpy reference', () => {
  const dir = tempDir('numerics');
  const bases: Record<string, string> = {};
  before(() => {
    bases.gqa = makeCheckpoint('base', path.join(dir, 'gqa'), BASE_GQA);
    bases.bf16 = makeCheckpoint('base', path.join(dir, 'bf16'), BASE_BF16);
  });

  CASES.forEach((c, i) => {
    test(c.name, () => {
      const base = bases[c.base];
      const adapter =
        c.adapter &&
        makeCheckpoint(c.adapter.kind, path.join(dir, `adapter${i}`), ['--base', base, '--seed', String(10 + i), ...c.adapter.args]);
      const ref = reference(base, adapter, IDS);
      const diffLayers = ref.layers.filter((l) => l.lambda !== undefined).length;
      if (c.adapter?.kind === 'difflora') assert.ok(diffLayers > 0, 'the reference shows differential layers');
      for (const backend of BACKENDS) {
        const out = path.join(dir, `ours${i}-${backend}.json`);
        const args = ['attention', '--model', base, '--ids', IDS.join(','), '--logits', '--backend', backend, '--quiet', '--out', out];
        if (adapter) args.push('--adapter', adapter);
        runCliOk(args);
        assertMatchesReference(JSON.parse(fs.readFileSync(out, 'utf8')), ref);
      }
    });
  });

  test('--layers and --heads select a subset with the same values', () => {
    const adapter = makeCheckpoint('difflora', path.join(dir, 'subset'), ['--base', bases.gqa, '--seed', '3']);
    const ref = reference(bases.gqa, adapter, IDS);
    const out = path.join(dir, 'subset.json');
    runCliOk([
      'attention',
      '--model',
      bases.gqa,
      '--adapter',
      adapter,
      '--ids',
      IDS.join(','),
      '--layers',
      '1-2',
      '--heads',
      '0,5',
      '--quiet',
      '--out',
      out,
    ]);
    const ours: AttentionJson = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.deepEqual(
      ours.layers.map((l) => l.layer),
      [1, 2],
    );
    assert.equal(ours.logits, undefined);
    for (const l of ours.layers) {
      assert.deepEqual(
        l.heads.map((h) => h.head),
        [0, 5],
      );
      for (const h of l.heads) {
        const r = ref.layers[l.layer].heads[h.head];
        assert.ok(maxAbsDiff(h.differential as number[][], r.differential as number[][]) <= 1e-4);
      }
    }
  });
});
