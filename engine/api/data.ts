/**
 * Training data: what a JSONL dataset becomes once tokenized for training, and the datasets the engine
 * makes (signature + docstring -> body pairs from a folder of Python, or from MBPP).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { DataSummaryResult } from '../../protocol/engine';
import { DatasetOptions, loadJsonlDataset } from '../data/examples';
import { extractFolder, ExtractOptions, ExtractReport } from '../data/extract';
import { InputError } from '../errors';
import { LoadedModel } from '../model/load';

export { convertMbpp } from '../data/mbpp';

export interface DataSummaryOptions {
  /** A JSONL file (messages, prompt/completion or text records). */
  data: string;
  /** As the training run would: its maxLength and onTooLong. */
  maxLength: number;
  onTooLong: DatasetOptions['onTooLong'];
}

/** How many examples a training run would keep from `data` with this tokenizer; bad lines are skipped and counted. */
export function dataSummary(m: LoadedModel, o: DataSummaryOptions): DataSummaryResult {
  if (!m.tokenizer) throw new InputError(m.dir, 'no tokenizer.json: a dataset is read as text');
  const r = loadJsonlDataset(o.data, m.tokenizer, { maxLength: o.maxLength, onBadLine: 'skip', onTooLong: o.onTooLong });
  return {
    format: r.format,
    kept: r.examples.length,
    truncated: r.truncated,
    maxLength: o.maxLength,
    skipped: r.skipped.length,
    skippedFirst: r.skipped.slice(0, 5),
  };
}

export interface ExtractPairsOptions extends ExtractOptions {
  /** A folder of Python sources. */
  folder: string;
  /** The JSONL written; its folder is made when missing. */
  out: string;
}

/** Every (signature + docstring -> body) pair of `folder`, written to `out`, with a one-line summary. */
export function extractPairs(o: ExtractPairsOptions): Promise<ExtractReport & { summary: string }> {
  const { folder, out, ...opts } = o;
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  return extractFolder(folder, out, opts);
}
