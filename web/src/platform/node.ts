// Node scripts (tsx): tfjs on the wasm backend. tfjs-core's ESM gradient module
// uses directory imports that Node's ESM loader rejects, so it goes through require.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
require('@tensorflow/tfjs-core/dist/register_all_gradients');

export async function initNodeTf(backend: 'wasm' | 'cpu' = 'wasm'): Promise<string> {
  const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setWasmPaths(wasmDir + '/');
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend "${backend}" failed to start`);
  await tf.ready();
  return tf.getBackend();
}

