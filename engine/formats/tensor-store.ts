/** The tensors of a checkpoint folder: one `*.safetensors` file or shards listed by an index. */
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { readJsonFile } from './json-fields';
import { readSafetensorsHeader, readTensorFloat32, TensorEntry, TensorReader } from './safetensors';

export class TensorStore {
  private constructor(
    readonly where: string,
    private readonly entries: Map<string, TensorEntry>,
    private readonly reader: TensorReader,
  ) {}

  /** Opens `dir/<single>` or, when absent, the shards named by `dir/<single>.index.json`. */
  static openFolder(dir: string, single: string, reader: TensorReader = readTensorFloat32): TensorStore {
    const file = path.join(dir, single);
    if (fs.existsSync(file)) return new TensorStore(file, readSafetensorsHeader(file).tensors, reader);
    const indexFile = `${file}.index.json`;
    if (!fs.existsSync(indexFile)) throw new InputError(dir, `neither ${single} nor ${single}.index.json found`);
    const index = readJsonFile(indexFile);
    const weightMap = index.weight_map as Record<string, string>;
    if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap))
      throw new InputError(indexFile, "missing 'weight_map' (an object: tensor name -> shard file)");
    for (const [name, shard] of Object.entries(weightMap)) {
      if (typeof shard !== 'string')
        throw new InputError(indexFile, `weight_map entry for tensor '${name}' is not a file name: ${JSON.stringify(shard)}`);
    }
    const entries = new Map<string, TensorEntry>();
    for (const shard of new Set(Object.values(weightMap))) {
      const shardFile = path.join(dir, shard);
      if (!fs.existsSync(shardFile) || !fs.statSync(shardFile).isFile()) {
        const first = Object.keys(weightMap).find((n) => weightMap[n] === shard);
        throw new InputError(
          indexFile,
          `shard ${JSON.stringify(shard)} (listed for tensor '${first}') ${fs.existsSync(shardFile) ? 'is not a file' : 'not found'} in ${dir}`,
        );
      }
      for (const [name, entry] of readSafetensorsHeader(path.join(dir, shard)).tensors) entries.set(name, entry);
    }
    for (const [name, shard] of Object.entries(weightMap)) {
      if (!entries.has(name)) throw new InputError(indexFile, `tensor '${name}' is mapped to ${shard} but that shard does not contain it`);
    }
    return new TensorStore(indexFile, entries, reader);
  }

  static openFile(file: string, reader: TensorReader = readTensorFloat32): TensorStore {
    return new TensorStore(file, readSafetensorsHeader(file).tensors, reader);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  totalBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.byteLength;
    return n;
  }

  /** Reads a tensor as float32, checking its shape when `expectShape` is given. */
  read(name: string, expectShape?: number[]): Float32Array {
    return this.reader(this.entry(name, expectShape));
  }

  /** Reads a [rows, cols] tensor as float32 [cols, rows]. */
  readTransposed(name: string, rows: number, cols: number): Float32Array {
    return this.reader(this.entry(name, [rows, cols]), true);
  }

  private entry(name: string, expectShape?: number[]): TensorEntry {
    const entry = this.entries.get(name);
    if (!entry) throw new InputError(this.where, `missing tensor '${name}'`);
    if (expectShape && (entry.shape.length !== expectShape.length || entry.shape.some((d, i) => d !== expectShape[i]))) {
      throw new InputError(
        `${entry.file}: tensor '${name}'`,
        `shape [${entry.shape.join(', ')}] disagrees with the configuration, which implies [${expectShape.join(', ')}]`,
      );
    }
    return entry;
  }

  shape(name: string): number[] | undefined {
    return this.entries.get(name)?.shape;
  }
}
