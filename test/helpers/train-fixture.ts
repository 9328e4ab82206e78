/**
 * A tiny random Llama with a real (trained here) byte-level BPE tokenizer, and a learnable synthetic
 * code task in prompt/completion JSONL: small enough that a training run takes seconds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { saveTokenizer, trainByteLevelBpe } from '../../engine/tokenizer-train/bpe';
import { makeCheckpoint } from './reference';

export const FIXTURE_VOCAB = 384;

const CORPUS = Array.from(
  { length: 60 },
  (_, i) =>
    `def scale_${i}(values, factor=${i}):\n    """Multiply every value by ${i}."""\n    return [v * ${i} for v in values]\n\n` +
    `class Box${i}:\n    def __init__(self, size):\n        self.size = size + ${i}\n`,
).join('\n');

export function tinyModel(dir: string): string {
  makeCheckpoint('base', dir, [
    '--seed',
    '5',
    '--layers',
    '2',
    '--hidden',
    '32',
    '--heads',
    '4',
    '--kv-heads',
    '2',
    '--inter',
    '64',
    '--vocab',
    String(FIXTURE_VOCAB),
    '--tie',
  ]);
  saveTokenizer(dir, trainByteLevelBpe([CORPUS], { vocabSize: FIXTURE_VOCAB, specialTokens: ['<|endoftext|>', '<|pad|>'] }));
  return dir;
}

/** prompt/completion pairs: the completion repeats a pattern the prompt announces. */
export function taskData(file: string, from: number, count: number): string {
  const lines: string[] = [];
  for (let i = from; i < from + count; i++) {
    lines.push(
      JSON.stringify({
        prompt: `def scale_${i}(values):\n    """Multiply every value by ${i}."""\n`,
        completion: `    return [v * ${i} for v in values]\n`,
      }),
    );
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}
