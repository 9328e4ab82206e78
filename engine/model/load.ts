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
import { baseWeightBytes, loadBaseWeights } from './weights';

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
  if (!fs.statSync(dir).isDirectory()) throw new InputError(dir, 'not a folder: --model takes the HF model folder (config.json, model.safetensors)');
  const file = path.join(dir, 'config.json');
  const json = readJsonFile(file);
  if (!isLlamaFamily(json)) {
    throw new InputError(file, `model_type ${JSON.stringify(json.model_type)} is not a Llama-family model (model_type "llama" or LlamaForCausalLM)`);
  }
  return { config: parseLlamaConfig(file, json), json };
}

export function loadModel(dir: string, backend: BackendInfo, onProgress?: (done: number, total: number) => void): LoadedModel {
  const { config, json } = readModelConfigJson(dir);
  assertFitsBackend(backend, baseWeightBytes(config), `the model in ${dir}`);
  const tokenizer = TextTokenizer.fromFolder(dir);
  // The native backend's addon is loaded already; elsewhere (wasm, cpu, webgpu) JavaScript reads.
  const reader = backend.name === 'native' ? nativeTensorReader(loadNativeAddon().addon) : undefined;
  const weights = loadBaseWeights(dir, config, onProgress, reader);
  return { dir, config, configJson: json, model: new LlamaModel(config, weights), tokenizer };
}
