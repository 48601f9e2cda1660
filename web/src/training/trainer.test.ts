import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { presetConfig } from '../model/config.ts';
import { markerTask } from '../model/testing.ts';
import { LoraTrainer } from './trainer.ts';
import { makeBatch } from './batches.ts';
import { fastMatMulGradientActive } from '../model/ops.ts';

const cfg = presetConfig('tiny');
const lora = { rank: 4, alpha: 8, dropout: 0, targets: ['q', 'v'] as ('q' | 'v')[] };

describe('LoraTrainer', () => {
  it('only adapter and head variables change after a step; the base stays frozen', async () => {
    const t = LoraTrainer.create(cfg, lora, { modelSeed: 1 });
    const before = await t.getAdapter();
    const baseBefore = (t as unknown as { base: Map<string, tf.Tensor> }).base.get('blocks.0.q.w')!.dataSync().slice();
    await t.train(markerTask(64, 16, cfg.vocabSize, 1), { steps: 2, batchSize: 8, learningRate: 0.01, seed: 1 });
    const after = await t.getAdapter();
    for (let i = 0; i < before.length; i++) {
      const changed = before[i].data.some((v, j) => v !== after[i].data[j]);
      expect(changed, before[i].name).toBe(true);
    }
    const baseAfter = (t as unknown as { base: Map<string, tf.Tensor> }).base.get('blocks.0.q.w')!.dataSync();
    expect(Array.from(baseAfter)).toEqual(Array.from(baseBefore));
    // Base tensors are not variables, so no optimizer can ever touch them.
    const varCount = Object.keys(tf.engine().registeredVariables).length;
    expect(varCount).toBeGreaterThanOrEqual(before.length);
    t.dispose();
  });

  it('never computes a frozen base weight gradient', async () => {
    const t = LoraTrainer.create(cfg, lora, { modelSeed: 1 });
    const set = markerTask(16, 16, cfg.vocabSize, 2);
    const batch = makeBatch(set, [0, 1, 2]); // N = 3 x 16 tokens: no activation shares a weight's shape
    const opt = tf.train.sgd(0.01);
    const d = cfg.dModel;
    const h = cfg.mlpRatio * d;
    const info = await tf.profile(() => {
      t.step(opt, batch).dispose();
    });
    const frozen = new Set([`${d},${d}`, `${d},${h}`, `${h},${d}`, `${cfg.vocabSize},${d}`]);
    const weightGrads = info.kernels.filter((k) => k.name === 'BatchMatMul' && k.outputShapes.some((s) => frozen.has(s.slice(-2).join())));
    expect(weightGrads.map((k) => k.outputShapes)).toEqual([]);
    // The profile did see the adapter's own weight gradients, so the check can fail.
    expect(info.kernels.some((k) => k.name === 'BatchMatMul' && k.outputShapes.some((s) => s.join() === `${d},${lora.rank}`))).toBe(true);
    opt.dispose();
    t.dispose();
  });

  it('does not leak tensors: tf.memory().numTensors is flat after step 1', async () => {
    const t = LoraTrainer.create(cfg, lora, { modelSeed: 1 });
    const set = markerTask(64, 16, cfg.vocabSize, 3);
    const counts: number[] = [];
    await t.train(set, { steps: 5, batchSize: 8, learningRate: 0.01, seed: 2 }, () => {
      counts.push(tf.memory().numTensors);
    });
    expect(new Set(counts.slice(1)).size).toBe(1);
    const afterTrain = tf.memory().numTensors;
    await t.evaluate(set);
    expect(tf.memory().numTensors).toBe(afterTrain);
    t.dispose();
  });

  it('learns a token-level task (loss falls, accuracy rises)', async () => {
    const t = LoraTrainer.create(cfg, lora, { modelSeed: 1 });
    const train = markerTask(256, 16, cfg.vocabSize, 4);
    const test = markerTask(128, 16, cfg.vocabSize, 5);
    const before = await t.evaluate(test);
    const report = await t.train(train, { steps: 60, batchSize: 16, learningRate: 0.02, seed: 3 });
    const after = await t.evaluate(test);
    expect(report.steps).toBe(60);
    expect(after.loss).toBeLessThan(before.loss);
    expect(after.accuracy).toBeGreaterThan(before.accuracy + 0.2);
    t.dispose();
  });

  it('training is deterministic by seed', async () => {
    const run = async () => {
      const t = LoraTrainer.create(cfg, lora, { modelSeed: 1 });
      await t.train(markerTask(64, 16, cfg.vocabSize, 6), { steps: 3, batchSize: 8, learningRate: 0.01, seed: 9 });
      const w = await t.getAdapter();
      t.dispose();
      return w;
    };
    const [a, b] = [await run(), await run()];
    a.forEach((t, i) => expect(Array.from(t.data)).toEqual(Array.from(b[i].data)));
  });

  it('setAdapter rejects a mismatched adapter and changes nothing', async () => {
    const t = LoraTrainer.create(cfg, lora, { modelSeed: 1 });
    const good = await t.getAdapter();
    const bad = good.map((w) => ({ ...w, data: new Float32Array(w.data.length).fill(7) }));
    bad[bad.length - 1] = { name: 'head.bias', shape: [4], data: new Float32Array(4) };
    expect(() => t.setAdapter(bad)).toThrow(/head.bias/);
    const now = await t.getAdapter();
    now.forEach((w, i) => expect(Array.from(w.data)).toEqual(Array.from(good[i].data)));
    t.dispose();
  });

  it('re-installs the wasm-friendly matMul gradient when a later import replaced it', () => {
    // What importing tfjs-core's register_all_gradients after the model does.
    const stock = tf.getGradient(tf.BatchMatMul)!;
    tf.registerGradient({ kernelName: tf.BatchMatMul, inputsToSave: ['a', 'b'], gradFunc: (dy) => ({ a: () => dy as tf.Tensor, b: () => dy as tf.Tensor }) });
    expect(fastMatMulGradientActive()).toBe(false);
    const t = LoraTrainer.create(cfg, lora, { modelSeed: 1 });
    expect(fastMatMulGradientActive()).toBe(true);
    expect(stock).toBeTruthy();
    t.dispose();
  });
});
