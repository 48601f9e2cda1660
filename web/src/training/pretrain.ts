// Causal-LM pretraining of the base model: the data stream, the batches, the
// learning-rate schedule, and a checkpoint (weights + Adam state) that resumes
// bit for bit. Platform-neutral: the CLI (server/tools/pretrain.ts) does files.
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, mulberry32 } from '../data/rng.ts';
import type { HostTensor, HostWeights } from '../model/init.ts';
import type { LmTrainer } from './lm.ts';

/** Documents (each a list of sentences) as one id stream, documents separated by eosId. */
export function tokenStream(docs: readonly (readonly string[])[], ids: (text: string) => number[], eosId: number): Int32Array {
  const parts: number[][] = [];
  let n = 0;
  for (const doc of docs) {
    const d = ids(doc.join(' '));
    d.push(eosId);
    parts.push(d);
    n += d.length;
  }
  const out = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * B windows of T ids at random offsets of the stream. The offsets depend only on
 * (seed, step), so a resumed run sees exactly the batches it would have seen.
 */
export function sampleWindows(stream: Int32Array, B: number, T: number, seed: number, step: number): Int32Array {
  if (stream.length < T) throw new Error(`sampleWindows: the stream has ${stream.length} ids, fewer than one window of ${T}`);
  const rng = mulberry32(deriveSeed(seed, `batch/${step}`));
  const out = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const start = Math.floor(rng() * (stream.length - T + 1));
    out.set(stream.subarray(start, start + T), b * T);
  }
  return out;
}

/** Consecutive non-overlapping windows from the start of the stream (at most max of them). */
export function fixedWindows(stream: Int32Array, T: number, max = Infinity): { ids: Int32Array; n: number } {
  const n = Math.min(Math.floor(stream.length / T), max);
  return { ids: stream.slice(0, n * T), n };
}

export interface Schedule {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
  /** The rate at the last step, as a fraction of the peak. */
  finalFraction: number;
}

/** Linear warm-up to the peak, then cosine decay to peak * finalFraction. Steps count from 0. */
export function learningRateAt(step: number, s: Schedule): number {
  if (step < s.warmupSteps) return (s.peak * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - 1 - s.warmupSteps);
  const t = Math.min(1, (step - s.warmupSteps) / span);
  const floor = s.peak * s.finalFraction;
  return floor + 0.5 * (s.peak - floor) * (1 + Math.cos(Math.PI * t));
}

/** Sets an Adam (or SGD, ...) optimizer's rate in place: tfjs reads `learningRate` on every step. */
export function setLearningRate(optimizer: tf.Optimizer, rate: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = rate;
}

/**
 * Adam's state with its keys in weight names ("iter", "<weight>/m", "<weight>/v",
 * in the optimizer's own order), so it outlives tfjs's per-process variable names.
 */
export async function exportOptimizerState(optimizer: tf.Optimizer, trainer: LmTrainer): Promise<{ name: string; tensor: HostTensor }[]> {
  const toWeight = new Map([...trainer.variableNames()].map(([w, v]) => [v, w]));
  const out: { name: string; tensor: HostTensor }[] = [];
  for (const { name, tensor } of await optimizer.getWeights()) {
    let key = name;
    if (name !== 'iter') {
      const slash = name.lastIndexOf('/');
      const w = toWeight.get(name.slice(0, slash));
      if (!w) throw new Error(`optimizer state "${name}" belongs to no weight of this trainer`);
      key = `${w}${name.slice(slash)}`;
    }
    out.push({ name: key, tensor: { shape: [...tensor.shape], data: Float32Array.from(await tensor.data()) } });
  }
  return out;
}

export async function importOptimizerState(optimizer: tf.Optimizer, trainer: LmTrainer, state: { name: string; tensor: HostTensor }[]): Promise<void> {
  const toVar = trainer.variableNames();
  const named = state.map(({ name, tensor }) => {
    if (name === 'iter') return { name, tensor: tf.scalar(tensor.data[0], 'int32') };
    const slash = name.lastIndexOf('/');
    const v = toVar.get(name.slice(0, slash));
    if (!v) throw new Error(`optimizer state "${name}" names no weight of this model`);
    return { name: `${v}${name.slice(slash)}`, tensor: tf.tensor(tensor.data, tensor.shape, 'float32') };
  });
  if (named[0]?.name !== 'iter') throw new Error('optimizer state must start with "iter"');
  await optimizer.setWeights(named);
  tf.dispose(named.map((n) => n.tensor));
}
