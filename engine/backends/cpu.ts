/** The cpu backend: tfjs's pure JavaScript reference kernels. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { BackendInfo, setBackendOrThrow } from './common';

export async function initCpu(log: (line: string) => void): Promise<BackendInfo> {
  await setBackendOrThrow('cpu', log);
  // The cpu backend prints a "you are running TensorFlow.js in Node.js, install tfjs-node" banner on
  // first use; it was chosen on purpose here.
  const b = tf.backend() as unknown as { firstUse?: boolean };
  if (b && typeof b.firstUse === 'boolean') b.firstUse = false;
  return { name: 'cpu', detail: 'pure JavaScript reference (slow)' };
}
