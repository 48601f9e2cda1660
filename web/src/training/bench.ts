// Training-speed measurement shared by the Node bench and the in-browser bench page.
import * as tf from '@tensorflow/tfjs-core';
import { encodeWeights } from '../federation/weights.ts';
import { presetConfig, type ModelConfig, type PresetName } from '../model/config.ts';
import { initBaseWeights, type HostWeights } from '../model/init.ts';
import { markerTask } from '../model/testing.ts';
import type { LoraConfig } from '../adapters/spec.ts';
import { makeBatch } from './batches.ts';
import { LoraTrainer } from './trainer.ts';
import { LmTrainer } from './lm.ts';
import { mulberry32 } from '../data/rng.ts';

/** A loaded base model to bench instead of a preset's seeded random base. */
export interface BenchBase {
  name: string;
  model: ModelConfig;
  weights: HostWeights;
}

export interface BenchOptions {
  preset: PresetName;
  /** When given, the preset is ignored. */
  base?: BenchBase;
  lora: LoraConfig;
  batchSize: number;
  seqLen: number;
  warmup: number;
  steps: number;
}

export interface BenchResult {
  backend: string;
  /** The preset's name, or the base model's. */
  model: string;
  rank: number;
  batchSize: number;
  seqLen: number;
  msPerStep: number;
  tokensPerSec: number;
  baseParams: number;
  adapterParams: number;
  adapterBytes: number;
  numTensorsGrowth: number;
  /** Bytes of every live tfjs tensor after the timed steps (base, adapter, Adam state). */
  tensorBytes: number;
}

export const DEFAULT_BENCH: BenchOptions = {
  preset: 'small',
  lora: { rank: 8, alpha: 16, dropout: 0, targets: ['q', 'v'] },
  batchSize: 16,
  seqLen: 32,
  // wasm code tiers up over the first steps: time only after it settles.
  warmup: 4,
  steps: 8,
};

/** Times full LoRA steps (forward, backward, Adam) on whichever tfjs backend is active. */
export async function benchTraining(o: BenchOptions): Promise<BenchResult> {
  const cfg = o.base?.model ?? presetConfig(o.preset);
  const weights = o.base?.weights ?? initBaseWeights(cfg, 1);
  const trainer = LoraTrainer.fromBase(cfg, o.lora, weights, 1);
  // Every example filled to seqLen, so each batch really is batchSize x seqLen tokens.
  const set = markerTask(o.batchSize * 4, o.seqLen, cfg.vocabSize, 1);
  for (let i = 0; i < set.ids.length; i++) if (set.ids[i] === 0) set.ids[i] = 6 + (i % 100);
  const optimizer = tf.train.adam(1e-3);
  const batch = makeBatch(set, Array.from({ length: o.batchSize }, (_, i) => i));
  try {
    for (let i = 0; i < o.warmup; i++) await readAndDispose(trainer.step(optimizer, batch));
    const tensorsBefore = tf.memory().numTensors;
    const t0 = performance.now();
    for (let i = 0; i < o.steps; i++) await readAndDispose(trainer.step(optimizer, batch));
    const msPerStep = (performance.now() - t0) / o.steps;
    return {
      backend: tf.getBackend(),
      model: o.base?.name ?? o.preset,
      rank: o.lora.rank,
      batchSize: o.batchSize,
      seqLen: batch.len,
      msPerStep,
      tokensPerSec: (o.batchSize * batch.len * 1000) / msPerStep,
      baseParams: trainer.baseParams,
      adapterParams: trainer.adapterParams,
      adapterBytes: encodeWeights(await trainer.getAdapter()).data.byteLength,
      numTensorsGrowth: tf.memory().numTensors - tensorsBefore,
      tensorBytes: tf.memory().numBytes,
    };
  } finally {
    optimizer.dispose();
    trainer.dispose();
  }
}

async function readAndDispose(t: tf.Tensor): Promise<void> {
  await t.data();
  t.dispose();
}

// ---------------------------------------------------------------------------
// One causal-LM training step (every base weight trained): the pretraining path.

/** The reference config for timing a causal-LM step. */
export const REFERENCE_LM: ModelConfig = {
  vocabSize: 4096,
  contextLength: 128,
  dModel: 128,
  nLayers: 4,
  nHeads: 4,
  mlpRatio: 4,
  numClasses: 3,
  layerNormEps: 1e-5,
};

export interface LmBenchResult {
  params: number;
  batchSize: number;
  msPerStep: number;
  tokensPerSec: number;
  loss: number;
}

export function randomIds(B: number, T: number, vocab: number, seed: number): Int32Array {
  const rng = mulberry32(seed);
  return Int32Array.from({ length: B * T }, () => 1 + Math.floor(rng() * (vocab - 1)));
}

/**
 * Times forward + backward + Adam of a causal LM over batchSize full-context
 * sequences; `inspect` sees the warm trainer after the timed steps (profiling).
 */
export async function benchLmStep(
  c: ModelConfig,
  o: { batchSize: number; steps: number; warmup: number },
  inspect?: (trainer: LmTrainer, optimizer: tf.Optimizer) => Promise<void>,
): Promise<LmBenchResult> {
  const B = o.batchSize;
  const T = c.contextLength;
  const trainer = LmTrainer.create(c, { seed: 1 });
  const optimizer = tf.train.adam(1e-3);
  let loss = 0;
  try {
    // wasm code tiers up over the first steps: time only after it settles.
    for (let i = 0; i < o.warmup; i++) loss = await trainer.step(optimizer, randomIds(B, T, c.vocabSize, 100 + i), B, T);
    const batches = Array.from({ length: o.steps }, (_, i) => randomIds(B, T, c.vocabSize, i));
    const t0 = performance.now();
    for (const ids of batches) loss = await trainer.step(optimizer, ids, B, T);
    const msPerStep = (performance.now() - t0) / o.steps;
    await inspect?.(trainer, optimizer);
    return { params: trainer.params, batchSize: B, msPerStep, tokensPerSec: (B * T * 1000) / msPerStep, loss };
  } finally {
    optimizer.dispose();
    trainer.dispose();
  }
}
