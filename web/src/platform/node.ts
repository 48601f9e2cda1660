// Node scripts (tsx): tfjs on the wasm backend. tfjs-core's ESM gradient module
// uses directory imports that Node's ESM loader rejects, so it goes through require.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_MODEL_FILES, type BaseModelFiles } from '../model/checkpoint.ts';

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

/** Reads a base model folder (config.json, tokenizer.json, tokenizer_config.json, model.safetensors) from disk. */
export function readBaseModelDir(dir: string): BaseModelFiles {
  const text = (f: string) => readFileSync(join(dir, f), 'utf8');
  const cfgPath = join(dir, BASE_MODEL_FILES.tokenizerConfig);
  return {
    config: text(BASE_MODEL_FILES.config),
    tokenizer: text(BASE_MODEL_FILES.tokenizer),
    tokenizerConfig: existsSync(cfgPath) ? text(BASE_MODEL_FILES.tokenizerConfig) : undefined,
    weights: new Uint8Array(readFileSync(join(dir, BASE_MODEL_FILES.weights))),
  };
}

/** Where the models that ship with tabfed live (public/models/<name>/). */
export const SHIPPED_MODELS_DIR = fileURLToPath(new URL('../../../public/models/', import.meta.url));
