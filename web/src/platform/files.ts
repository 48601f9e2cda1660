// Base model folders on disk, for Node scripts and tests (no tfjs here: importing
// this module has no side effects).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBaseFiles, type BaseFileBytes } from '../basemodel/load.ts';
import type { BaseModel } from '../model/checkpoint.ts';
import { BASE_FILE_NAMES } from '../protocol/base.ts';

/** The files of a base model folder that are there (config.json, tokenizer.json, tokenizer_config.json, model.safetensors). */
export function readBaseModelDir(dir: string): BaseFileBytes {
  const files: BaseFileBytes = {};
  for (const name of BASE_FILE_NAMES) {
    const path = join(dir, name);
    // A copy: a Buffer's byteOffset may not be 4-aligned, and float views need it.
    if (existsSync(path)) files[name] = new Uint8Array(readFileSync(path));
  }
  return files;
}

/** Reads and loads a base model folder, with the same checks and errors as the server and the tab. */
export function loadBaseModelDir(dir: string, numClasses: number): BaseModel {
  return loadBaseFiles(readBaseModelDir(dir), numClasses);
}

/** Where the models that ship with tabfed live (public/models/<name>/). */
export const SHIPPED_MODELS_DIR = fileURLToPath(new URL('../../../public/models/', import.meta.url));
