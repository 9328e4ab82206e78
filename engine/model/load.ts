/** Opening a model folder (config, weights, tokenizer) on the chosen backend. */
import * as fs from 'fs';
import * as path from 'path';
import { assertFitsBackend, BackendInfo } from '../backend';
import { InputError } from '../errors';
import { loadNativeAddon } from '../backends/native-addon';
import { Json, readJsonFile } from '../formats/json-fields';
import { nativeTensorReader } from '../formats/native-reader';
import { isLlamaFamily, LlamaConfig, parseLlamaConfig } from './config';
import { LlamaModel } from './llama';
import { TextTokenizer } from './tokenizer';
import { baseWeightBytes, loadBaseWeights, WeightOptions } from './weights';

export interface LoadedModel {
  dir: string;
  config: LlamaConfig;
  /** config.json as read: new DiffLoRA adapters copy its keys, as the authors' format does. */
  configJson: Json;
  model: LlamaModel;
  tokenizer?: TextTokenizer;
}

export function readModelConfig(dir: string): LlamaConfig {
  return readModelConfigJson(dir).config;
}

export function readModelConfigJson(dir: string): { config: LlamaConfig; json: Json } {
  if (!fs.existsSync(dir)) throw new InputError(dir, 'model folder not found');
  if (!fs.statSync(dir).isDirectory())
    throw new InputError(dir, 'not a folder: --model takes the HF model folder (config.json, model.safetensors)');
  const file = path.join(dir, 'config.json');
  const json = readJsonFile(file);
  if (!isLlamaFamily(json)) {
    throw new InputError(
      file,
      `model_type ${JSON.stringify(json.model_type)} is not a Llama-family model (model_type "llama" or LlamaForCausalLM)`,
    );
  }
  return { config: parseLlamaConfig(file, json), json };
}

export function loadModel(dir: string, backend: BackendInfo, onProgress?: (done: number, total: number) => void): LoadedModel {
  const { config, json } = readModelConfigJson(dir);
  // On native the addon (loaded already) reads the files, and BLAS multiplies by the tied head
  // transposed (memory first: see BaseWeights.lmHeadT); elsewhere JavaScript reads, and a transposed
  // copy of the head is much faster than a transposed matMul.
  const native = backend.name === 'native';
  const options: WeightOptions = native ? { reader: nativeTensorReader(loadNativeAddon().addon) } : { tiedHeadCopy: true };
  assertFitsBackend(backend, baseWeightBytes(config, options), `the model in ${dir}`);
  const tokenizer = TextTokenizer.fromFolder(dir);
  const weights = loadBaseWeights(dir, config, onProgress, options);
  return { dir, config, configJson: json, model: new LlamaModel(config, weights), tokenizer };
}
