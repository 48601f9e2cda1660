// Tiny but real base-model checkpoints for tests: a byte-level BPE tokenizer
// trained on the built-in dataset and a seeded GPT-2-architecture model, as the
// Hugging Face files a server registers and a tab downloads.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateDataset } from '../data/synthetic.ts';
import { writeSafetensors } from '../io/safetensors.ts';
import type { BaseFileName } from '../protocol/base.ts';
import { trainByteLevelBpe, type TokenizerFiles } from '../tokenizer/train.ts';
import type { ModelConfig } from './config.ts';
import { modelToGpt2Config, toGpt2 } from './gpt2.ts';
import { initBaseWeights } from './init.ts';

export interface TinyBaseOptions {
  /** Seed of the weights (default 1). */
  seed?: number;
  /** Ids of the tokenizer (default 300). */
  tokenizerVocab?: number;
  /** Rows of the model's embedding (default: the tokenizer's ids); fewer makes a mismatched pair. */
  modelVocab?: number;
  contextLength?: number;
  dModel?: number;
  nLayers?: number;
  nHeads?: number;
}

export type BaseFiles = Record<BaseFileName, Uint8Array>;

const tokenizers = new Map<number, TokenizerFiles>();

/** A byte-level BPE tokenizer of the built-in dataset's training sentences (memoized: training takes a moment). */
export function tinyTokenizer(vocabSize: number, modelMaxLength = 64): TokenizerFiles {
  let t = tokenizers.get(vocabSize);
  if (!t) {
    t = trainByteLevelBpe(
      generateDataset(7).train.map((e) => e.text),
      { vocabSize, modelMaxLength },
    );
    tokenizers.set(vocabSize, t);
  }
  return t;
}

const utf8 = (x: unknown) => new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n');

/** The four files of a tiny GPT-2-style base (1 layer, d 16 by default) and its model config. */
export function tinyBaseFiles(opts: TinyBaseOptions = {}): { files: BaseFiles; model: ModelConfig } {
  const tok = tinyTokenizer(opts.tokenizerVocab ?? 300, opts.contextLength ?? 64);
  const model: ModelConfig = {
    vocabSize: opts.modelVocab ?? opts.tokenizerVocab ?? 300,
    contextLength: opts.contextLength ?? 64,
    dModel: opts.dModel ?? 16,
    nLayers: opts.nLayers ?? 1,
    nHeads: opts.nHeads ?? 2,
    mlpRatio: 4,
    numClasses: 3,
    layerNormEps: 1e-5,
  };
  const weights = writeSafetensors(toGpt2(initBaseWeights(model, opts.seed ?? 1), model), { format: 'pt' });
  return {
    model,
    files: {
      'config.json': utf8(modelToGpt2Config(model)),
      'tokenizer.json': utf8(tok.tokenizer),
      'tokenizer_config.json': utf8(tok.config),
      'model.safetensors': weights,
    },
  };
}

/** Writes files into dir (created); returns dir. */
export function writeBaseDir(dir: string, files: Partial<BaseFiles>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return dir;
}
