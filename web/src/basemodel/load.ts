// A base model's files (as downloaded, uploaded or read from disk) loaded with
// loadBaseModel, with every error naming the file at fault in plain words. The
// server checks a base with this before registering it; a tab, before using it.
import { SafetensorsError } from '../io/safetensors.ts';
import { loadBaseModel, type BaseModel } from '../model/checkpoint.ts';
import { REQUIRED_BASE_FILES, type BaseFileName } from '../protocol/base.ts';
import { TokenizerFileError } from '../tokenizer/bpe.ts';

export type BaseFileBytes = Partial<Record<BaseFileName, Uint8Array>>;

export class BaseFileError extends Error {
  constructor(
    /** The file at fault, or null when the files do not fit together in a way no single file explains. */
    readonly file: BaseFileName | null,
    message: string,
  ) {
    super(message);
    this.name = 'BaseFileError';
  }
}

function parseJson(bytes: Uint8Array, name: BaseFileName): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new BaseFileError(name, `${name} is not UTF-8 text`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BaseFileError(name, `${name} is not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BaseFileError(name, `${name} must hold a JSON object`);
  return value;
}

/** Which file an error of loadBaseModel is about, from its type or the prefix its module gives it. */
function attribute(e: unknown): BaseFileError {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof SafetensorsError) return new BaseFileError('model.safetensors', `model.safetensors is not a valid safetensors file: ${msg.replace(/^safetensors: /, '')}`);
  if (e instanceof TokenizerFileError || /^tokenizer\.json\b/.test(msg)) return new BaseFileError('tokenizer.json', msg);
  if (/^(GPT-2 config|model config):/.test(msg)) return new BaseFileError('config.json', `config.json: ${msg.replace(/^GPT-2 config: /, '')}`);
  if (/^GPT-2 checkpoint:/.test(msg)) return new BaseFileError('model.safetensors', `model.safetensors does not match config.json: ${msg.replace(/^GPT-2 checkpoint: /, '')}`);
  return new BaseFileError(null, `the base model could not be loaded: ${msg}`);
}

/** Loads and cross-checks a base model; numClasses sizes the classification head. Throws BaseFileError. */
export function loadBaseFiles(files: BaseFileBytes, numClasses: number): BaseModel {
  for (const name of REQUIRED_BASE_FILES) {
    if (!files[name]) throw new BaseFileError(name, `${name} is missing`);
  }
  const config = parseJson(files['config.json']!, 'config.json');
  const tokenizer = parseJson(files['tokenizer.json']!, 'tokenizer.json');
  const tokenizerConfig = files['tokenizer_config.json'] ? parseJson(files['tokenizer_config.json'], 'tokenizer_config.json') : undefined;
  let loaded: BaseModel;
  try {
    loaded = loadBaseModel({ config, tokenizer, tokenizerConfig, weights: files['model.safetensors']! }, numClasses);
  } catch (e) {
    throw attribute(e);
  }
  // A NaN in a frozen weight would only show up as a diverged loss, rounds later.
  for (const [name, t] of loaded.base) {
    const i = t.data.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) throw new BaseFileError('model.safetensors', `model.safetensors holds a non-finite value (${t.data[i]}) in tensor "${name}"`);
  }
  return loaded;
}
