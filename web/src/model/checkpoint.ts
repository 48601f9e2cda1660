// A base model as Hugging Face lays it out: config.json (GPT-2), tokenizer.json
// (+ tokenizer_config.json) and model.safetensors. tabfed's own pretrained base
// (public/models/<name>/) and a user's GPT-2-format checkpoint load the same way.
import { BpeTokenizer } from '../tokenizer/bpe.ts';
import type { ModelConfig } from './config.ts';
import { loadGpt2Checkpoint } from './gpt2.ts';
import type { HostWeights } from './init.ts';

/** The files of a base model, as fetched or picked (JSON files parsed or as text). */
export interface BaseModelFiles {
  config: unknown;
  tokenizer: unknown;
  tokenizerConfig?: unknown;
  weights: Uint8Array;
}

export interface BaseModel {
  model: ModelConfig;
  base: HostWeights;
  tokenizer: BpeTokenizer;
}

function json(x: unknown, what: string): unknown {
  if (typeof x !== 'string') return x;
  try {
    return JSON.parse(x);
  } catch (e) {
    throw new Error(`${what} is not valid JSON (${(e as Error).message})`);
  }
}

/** Loads and cross-checks a base model; numClasses sizes the classification head the adapter brings. */
export function loadBaseModel(files: BaseModelFiles, numClasses: number): BaseModel {
  const { model, base } = loadGpt2Checkpoint(files.weights, json(files.config, 'config.json'), numClasses);
  const tokenizer = BpeTokenizer.fromJson(files.tokenizer, files.tokenizerConfig ?? {});
  if (tokenizer.vocabSize > model.vocabSize) {
    throw new Error(`tokenizer.json has ${tokenizer.vocabSize} ids but the model's embedding has only ${model.vocabSize} rows: they do not belong together`);
  }
  return { model, base, tokenizer };
}
