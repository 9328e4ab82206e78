/** Opening a model folder (config, weights, tokenizer) on the chosen backend. */
import * as fs from 'fs';
import * as path from 'path';
import { assertFitsBackend, BackendInfo } from '../backend';
import { InputError } from '../errors';
import { readJsonFile } from '../formats/json-fields';
import { isLlamaFamily, LlamaConfig, parseLlamaConfig } from './config';
import { LlamaModel } from './llama';
import { TextTokenizer } from './tokenizer';
import { baseWeightBytes, loadBaseWeights } from './weights';

export interface LoadedModel {
  dir: string;
  config: LlamaConfig;
  model: LlamaModel;
  tokenizer?: TextTokenizer;
}

export function readModelConfig(dir: string): LlamaConfig {
  if (!fs.existsSync(dir)) throw new InputError(dir, 'model folder not found');
  if (!fs.statSync(dir).isDirectory()) throw new InputError(dir, 'not a folder: --model takes the HF model folder (config.json, model.safetensors)');
  const file = path.join(dir, 'config.json');
  const json = readJsonFile(file);
  if (!isLlamaFamily(json)) {
    throw new InputError(file, `model_type ${JSON.stringify(json.model_type)} is not a Llama-family model (model_type "llama" or LlamaForCausalLM)`);
  }
  return parseLlamaConfig(file, json);
}

export function loadModel(dir: string, backend: BackendInfo, onProgress?: (done: number, total: number) => void): LoadedModel {
  const config = readModelConfig(dir);
  assertFitsBackend(backend, baseWeightBytes(config), `the model in ${dir}`);
  const tokenizer = TextTokenizer.fromFolder(dir);
  const weights = loadBaseWeights(dir, config, onProgress);
  return { dir, config, model: new LlamaModel(config, weights), tokenizer };
}
