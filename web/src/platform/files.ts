// Base model folders on disk, for Node scripts and tests (no tfjs here: importing
// this module has no side effects).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_MODEL_FILES, type BaseModelFiles } from '../model/checkpoint.ts';

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
