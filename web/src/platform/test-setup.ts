// vitest: tfjs on the wasm backend in Node (tfjs-node cannot install here).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
setWasmPaths(wasmDir + '/');
await tf.setBackend('wasm');
await tf.ready();
