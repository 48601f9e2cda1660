import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { presetConfig, type ModelConfig } from '../model/config.ts';
import { initBaseWeights } from '../model/init.ts';
import { gelu, geluTanh, oneHotFloat } from '../model/ops.ts';
import { attentionCore, hidden, type Adapter, type TensorMap } from '../model/transformer.ts';
import { causalAttention, LmTrainer, lmTargets, transpose2d, type AttentionMode } from './lm.ts';

const cfg: ModelConfig = { ...presetConfig('tiny'), vocabSize: 97, contextLength: 16, dModel: 32, nLayers: 2, nHeads: 4 };
const noLora: Adapter = { lora: { rank: 1, alpha: 1, dropout: 0, targets: ['q'] }, tensors: new Map() };

/** B rows of T ids in [1, V); row r keeps its first T - r tokens, the rest are pads (0). */
function batch(B: number, T: number, seed = 1, pad = true): Int32Array {
  const ids = new Int32Array(B * T);
  for (let r = 0; r < B; r++) {
    for (let t = 0; t < T; t++) ids[r * T + t] = pad && t >= T - r ? 0 : 1 + ((r * 131 + t * 17 + seed * 7919 + ((t * t * seed) % 11)) % (cfg.vocabSize - 1));
  }
  return ids;
}

/** The reference: hidden() from transformer.ts, tied head, masked mean cross-entropy, tfjs autodiff. */
function referenceLoss(c: ModelConfig, base: TensorMap, ids: Int32Array, idsT: tf.Tensor2D, B: number, T: number): tf.Scalar {
  const h = tf.reshape(hidden(c, base, noLora, idsT), [B * T, c.dModel]) as tf.Tensor2D;
  const logits = tf.matMul(h, tf.transpose(base.get('wte')!) as tf.Tensor2D);
  const { targets, mask, count } = lmTargets(ids, B, T);
  const picked = tf.sum(tf.mul(tf.logSoftmax(logits), oneHotFloat(tf.tensor1d(targets, 'int32'), c.vocabSize)), -1);
  return tf.neg(tf.div(tf.sum(tf.mul(picked, tf.tensor1d(mask))), Math.max(count, 1)));
}


function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe('LmTrainer', () => {
  for (const mode of ['loop', 'batched'] as AttentionMode[]) {
    it(`${mode} attention: loss, logits and every gradient match hidden() + autodiff within 1e-4`, () => {
      const host = initBaseWeights(cfg, 3);
      // Sharper attention than at init (q, k x 8), so the softmax gradient really is exercised.
      for (const [name, t] of host) if (/\.(q|k)\.w$/.test(name)) t.data = t.data.map((x) => x * 8);
      const trainer = LmTrainer.fromWeights(cfg, host, { attention: mode });
      const B = 3;
      const T = 12; // < contextLength: the position table is sliced, its tail gets zero gradient
      const ids = batch(B, T);
      tf.tidy(() => {
        const names = [...host.keys()];
        // Outside the differentiated function: embed()'s gradient reads the ids tensor after it returns.
        const idsT = tf.tensor2d(ids, [B, T], 'int32');
        const tensors = names.map((n) => tf.tensor(host.get(n)!.data, host.get(n)!.shape));
        const ref = tf.grads((...ts: tf.Tensor[]) => referenceLoss(cfg, new Map(names.map((n, i) => [n, ts[i]])), ids, idsT, B, T));
        const refGrads = ref(tensors);
        const refLoss = referenceLoss(cfg, new Map(names.map((n, i) => [n, tensors[i]])), ids, idsT, B, T);
        const { loss, grads } = trainer.lossAndGrads(ids, B, T);
        expect(Math.abs(loss.dataSync()[0] - refLoss.dataSync()[0])).toBeLessThan(1e-4);
        expect(loss.dataSync()[0]).toBeGreaterThan(Math.log(cfg.vocabSize) - 0.5);
        names.forEach((n, i) => {
          const g = grads.get(n);
          expect(g, n).toBeDefined();
          expect(g!.shape, n).toEqual(refGrads[i].shape);
          // Within 1e-4, and within 1e-4 of the gradient's own scale (some are ~1e-4 in all).
          const scale = tf.max(tf.abs(refGrads[i])).dataSync()[0];
          expect(maxAbs(g!, refGrads[i]), n).toBeLessThan(Math.min(1e-4, 1e-4 * scale + 1e-9));
        });
        // A gradient that is not all ~0 on every tensor that matters (keys' bias aside).
        expect(tf.max(tf.abs(grads.get('blocks.0.q.w')!)).dataSync()[0]).toBeGreaterThan(1e-6);
        const h = tf.reshape(hidden(cfg, new Map(names.map((n, i) => [n, tensors[i]])), noLora, idsT), [B * T, cfg.dModel]) as tf.Tensor2D;
        const refLogits = tf.reshape(tf.matMul(h, tf.transpose(tensors[0]) as tf.Tensor2D), [B, T, cfg.vocabSize]);
        const logits = trainer.logits(ids, B, T);
        expect(maxAbs(logits, refLogits)).toBeLessThan(1e-4);
        logits.dispose();
      });
      trainer.dispose();
    });
  }

  for (const backend of ['wasm', 'cpu']) {
    it(`causalAttention (${backend === 'wasm' ? 'per-head loop' : 'batched'}) matches transformer.ts's attention and its gradients within 1e-4`, async () => {
      await tf.setBackend(backend);
      try {
        tf.tidy(() => {
          const [B, T, H, d] = [3, 7, 4, 16];
          const [q, k, v, r] = [0, 1, 2, 3].map((i) => tf.randomNormal([B * T, d], 0, 1.5, 'float32', i + 1) as tf.Tensor2D);
          const f = (attn: typeof causalAttention) => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attn(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, B, T, H), r)));
          expect(maxAbs(causalAttention(q, k, v, B, T, H), attentionCore(q, k, v, B, T, H))).toBeLessThan(1e-5);
          const got = f(causalAttention)([q, k, v]);
          const want = f(attentionCore)([q, k, v]);
          got.forEach((g, i) => expect(maxAbs(g, want[i])).toBeLessThan(1e-4));
          expect(tf.max(tf.abs(want[1])).dataSync()[0]).toBeGreaterThan(1e-2);
        });
      } finally {
        await tf.setBackend('wasm');
      }
    });
  }

  it('gelu (sigmoid form) and transpose2d match the tanh-form GELU and tf.transpose', () => {
    tf.tidy(() => {
      const u = tf.mul(tf.randomNormal([64, 40], 0, 1, 'float32', 9), 3);
      expect(maxAbs(gelu(u), geluTanh(u))).toBeLessThan(1e-5);
      const [ga] = tf.grads((x: tf.Tensor) => tf.sum(gelu(x)))([u]);
      const [gb] = tf.grads((x: tf.Tensor) => tf.sum(geluTanh(x)))([u]);
      expect(maxAbs(ga, gb)).toBeLessThan(1e-5);
      for (const shape of [[64, 40], [96, 7], [10, 3]]) {
        const x = tf.randomNormal(shape, 0, 1, 'float32', 3);
        expect(transpose2d(x).shape).toEqual([shape[1], shape[0]]);
        expect(maxAbs(transpose2d(x), tf.transpose(x))).toBe(0);
      }
    });
  });

  it('is causal: logits at position t do not depend on tokens after t', () => {
    const trainer = LmTrainer.create(cfg, { seed: 2 });
    const T = 10;
    const a = batch(2, T, 3, false);
    const b = a.slice();
    b[6] = (b[6] % (cfg.vocabSize - 1)) + 1 === b[6] ? b[6] + 1 : (b[6] % (cfg.vocabSize - 1)) + 1; // row 0, position 6
    b[T + 9] = 1 + (b[T + 9] % (cfg.vocabSize - 2)); // row 1, last position
    const la = trainer.logits(a, 2, T).arraySync();
    const lb = trainer.logits(b, 2, T).arraySync();
    for (let t = 0; t < 6; t++) for (let v = 0; v < cfg.vocabSize; v++) expect(lb[0][t][v]).toBeCloseTo(la[0][t][v], 5);
    for (let t = 0; t < 9; t++) for (let v = 0; v < cfg.vocabSize; v++) expect(lb[1][t][v]).toBeCloseTo(la[1][t][v], 5);
    expect(Math.abs(lb[0][6][0] - la[0][6][0]) + Math.abs(lb[0][7][1] - la[0][7][1])).toBeGreaterThan(1e-6);
    trainer.dispose();
  });

  it('pad targets do not contribute: a padded row gives the loss and gradients of its unpadded prefix', () => {
    const trainer = LmTrainer.create(cfg, { seed: 4 });
    const full = batch(1, 9, 5, false);
    const padded = new Int32Array(14);
    padded.set(full);
    tf.tidy(() => {
      const a = trainer.lossAndGrads(full, 1, 9);
      const b = trainer.lossAndGrads(padded, 1, 14);
      expect(Math.abs(a.loss.dataSync()[0] - b.loss.dataSync()[0])).toBeLessThan(1e-5);
      for (const [name, g] of a.grads) expect(maxAbs(g, b.grads.get(name)!), name).toBeLessThan(1e-5);
      // The explicit mean: -log softmax(logits)[t, ids[t+1]] over the 8 real targets.
      const logp = tf.logSoftmax(tf.reshape(trainer.logits(padded, 1, 14), [14, cfg.vocabSize])).arraySync() as number[][];
      let sum = 0;
      for (let t = 0; t < 8; t++) sum -= logp[t][full[t + 1]];
      expect(b.loss.dataSync()[0]).toBeCloseTo(sum / 8, 4);
    });
    expect(lmTargets(padded, 1, 14).count).toBe(8);
    trainer.dispose();
  });

  it('overfits a few sequences, without leaking tensors', async () => {
    const trainer = LmTrainer.create(cfg, { seed: 6 });
    const B = 4;
    const T = 16;
    const ids = batch(B, T, 7);
    const before = await trainer.evaluate(ids, B, T, 3);
    expect(before.perplexity).toBeCloseTo(Math.exp(before.loss), 6);
    expect(before.tokens).toBe(lmTargets(ids, B, T).count);
    const optimizer = tf.train.adam(1e-2);
    const losses: number[] = [];
    let tensorsAfterFirst = 0;
    for (let s = 0; s < 30; s++) {
      losses.push(await trainer.step(optimizer, ids, B, T));
      if (s === 0) tensorsAfterFirst = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(tensorsAfterFirst);
    expect(losses[0]).toBeCloseTo(before.loss, 4);
    expect(losses[29]).toBeLessThan(losses[0] * 0.5);
    const after = await trainer.evaluate(ids, B, T);
    expect(after.loss).toBeLessThan(before.loss * 0.5);
    // Weights read back rebuild the same model.
    const copy = LmTrainer.fromWeights(cfg, await trainer.getWeights());
    expect((await copy.evaluate(ids, B, T)).loss).toBeCloseTo(after.loss, 5);
    copy.dispose();
    optimizer.dispose();
    trainer.dispose();
  });

  it('rejects bad shapes and use after dispose', async () => {
    const trainer = LmTrainer.create(cfg, { seed: 1 });
    const optimizer = tf.train.adam(1e-3);
    await expect(trainer.step(optimizer, new Int32Array(10), 2, 4)).rejects.toThrow(/expected 2 x 4/);
    await expect(trainer.step(optimizer, new Int32Array(2 * 17), 2, 17)).rejects.toThrow(/context length/);
    trainer.dispose();
    await expect(trainer.step(optimizer, batch(1, 4), 1, 4)).rejects.toThrow(/disposed/);
    optimizer.dispose();
  });
});
