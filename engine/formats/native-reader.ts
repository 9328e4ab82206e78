/**
 * The native backend's tensor reader: the addon reads a tensor's bytes by offset and widens them to
 * float32 straight into the result (transposing there when asked), so no intermediate copy of a
 * tensor exists. Same values, bit for bit, as the JavaScript reader (readTensorFloat32).
 */
import * as fs from 'fs';
import type { NativeAddon } from '../backends/native-addon';
import { errMessage } from '../backends/runtime';
import { InputError } from '../errors';
import { fileEndedError, matrixShape, openOrFail, TensorReader } from './safetensors';

export function nativeTensorReader(addon: NativeAddon): TensorReader {
  return (entry, transpose = false) => {
    const [rows, cols] = matrixShape(entry, transpose);
    const out = new Float32Array(rows * cols);
    const fd = openOrFail(entry.file);
    try {
      let got: number;
      try {
        got = addon.readTensor(fd, entry.offset, entry.dtype, out, rows, cols, transpose);
      } catch (e) {
        throw new InputError(`${entry.file}: tensor '${entry.name}'`, `cannot read the data (${errMessage(e)})`);
      }
      if (got < entry.byteLength) throw fileEndedError(entry);
    } finally {
      fs.closeSync(fd);
    }
    return out;
  };
}
