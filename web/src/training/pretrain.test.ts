import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../data/rng.ts';
import type { ModelConfig } from '../model/config.ts';
import { LmTrainer } from './lm.ts';
import { exportOptimizerState, fixedWindows, importOptimizerState, learningRateAt, sampleWindows, setLearningRate, tokenStream } from './pretrain.ts';

describe('tokenStream', () => {
  it('joins each document\'s sentences and ends every document with eos', () => {
    const ids = (s: string) => s.split(' ').map((w) => w.length + 10);
    expect([...tokenStream([['a bb', 'ccc'], ['dddd']], ids, 1)]).toEqual([11, 12, 13, 1, 14, 1]);
  });
});

describe('sampleWindows / fixedWindows', () => {
  const stream = Int32Array.from({ length: 100 }, (_, i) => i + 2);
  it('takes B windows of T consecutive ids, the same for the same (seed, step)', () => {
    const w = sampleWindows(stream, 3, 8, 5, 17);
    expect(w).toEqual(sampleWindows(stream, 3, 8, 5, 17));
    expect(w).not.toEqual(sampleWindows(stream, 3, 8, 5, 18));
    for (let b = 0; b < 3; b++) {
      const row = [...w.subarray(b * 8, b * 8 + 8)];
      expect(row).toEqual(Array.from({ length: 8 }, (_, i) => row[0] + i));
      expect(row[7]).toBeLessThanOrEqual(101);
    }
    expect(() => sampleWindows(stream.subarray(0, 4), 1, 8, 1, 0)).toThrow(/fewer than one window/);
  });
  it('cuts non-overlapping windows from the start', () => {
    expect(fixedWindows(stream, 30)).toEqual({ ids: stream.slice(0, 90), n: 3 });
    expect(fixedWindows(stream, 30, 2).n).toBe(2);
  });
});

describe('learningRateAt', () => {
  const s = { peak: 1e-3, warmupSteps: 10, totalSteps: 111, finalFraction: 0.1 };
  it('warms up linearly, peaks, then decays by a cosine to the floor', () => {
    expect(learningRateAt(0, s)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(9, s)).toBeCloseTo(1e-3, 12);
    expect(learningRateAt(10, s)).toBeCloseTo(1e-3, 12);
    expect(learningRateAt(110, s)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(60, s)).toBeCloseTo(5.5e-4, 6);
    for (let i = 11; i < 111; i++) expect(learningRateAt(i, s)).toBeLessThanOrEqual(learningRateAt(i - 1, s));
  });
});

describe('resuming from a checkpoint', () => {
  const c: ModelConfig = { vocabSize: 40, contextLength: 8, dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 4, numClasses: 2, layerNormEps: 1e-5 };
  const rng = mulberry32(3);
  const stream = Int32Array.from({ length: 400 }, () => 1 + Math.floor(rng() * 39));
  const run = async (trainer: LmTrainer, opt: tf.Optimizer, from: number, to: number) => {
    for (let s = from; s < to; s++) {
      setLearningRate(opt, 0.01 / (s + 1));
      await trainer.step(opt, sampleWindows(stream, 4, 8, 9, s), 4, 8);
    }
  };

  it('continues exactly where an uninterrupted run would be', async () => {
    const straight = LmTrainer.create(c, { seed: 1 });
    const o1 = tf.train.adam(0.01);
    await run(straight, o1, 0, 6);
    const expected = await straight.getWeights();

    const first = LmTrainer.create(c, { seed: 1 });
    const o2 = tf.train.adam(0.01);
    await run(first, o2, 0, 3);
    const weights = await first.getWeights();
    const state = await exportOptimizerState(o2, first);
    expect(state[0].name).toBe('iter');
    expect(state.slice(1).every((s) => /^(wte|wpe|ln_f|blocks)\S*\/(m|v)$/.test(s.name))).toBe(true);
    first.dispose();

    const resumed = LmTrainer.fromWeights(c, weights); // new variables, new tfjs names
    const o3 = tf.train.adam(0.01);
    await importOptimizerState(o3, resumed, state);
    await run(resumed, o3, 3, 6);
    const got = await resumed.getWeights();
    for (const [name, t] of expected) expect(got.get(name)!.data, name).toEqual(t.data);
    straight.dispose();
    resumed.dispose();
  });

  it('refuses state that names no weight of the model', async () => {
    const t = LmTrainer.create(c, { seed: 1 });
    await expect(importOptimizerState(tf.train.adam(0.01), t, [{ name: 'iter', tensor: { shape: [], data: new Float32Array([1]) } }, { name: 'nope/m', tensor: { shape: [1], data: new Float32Array(1) } }])).rejects.toThrow(
      /"nope\/m" names no weight/,
    );
    t.dispose();
  });
});
