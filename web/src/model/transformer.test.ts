import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { adapterSpec } from '../adapters/spec.ts';
import { initAdapter } from '../adapters/init.ts';
import { presetConfig, baseParameterCount } from './config.ts';
import { initBaseWeights, type HostWeights } from './init.ts';
import { forward, hidden, type Adapter, type TensorMap } from './transformer.ts';
import { embed, transposeLast2 } from './ops.ts';

const cfg = presetConfig('tiny');
const lora = { rank: 4, alpha: 8, dropout: 0, targets: ['q', 'v'] as ('q' | 'v')[] };

function toMap(h: HostWeights): TensorMap {
  return new Map([...h].map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
}

function ids(b: number, t: number, seed = 1): tf.Tensor2D {
  const a = new Int32Array(b * t).map((_, i) => 3 + ((i * 7919 + seed * 104729) % (cfg.vocabSize - 3)));
  for (let r = 0; r < b; r++) for (let k = t - r; k < t; k++) a[r * t + k] = 0; // ragged right padding
  return tf.tensor2d(a, [b, t], 'int32');
}

describe('transformer', () => {
  it('presets have the promised sizes', () => {
    const small = baseParameterCount(presetConfig('small'));
    expect(small).toBeGreaterThan(1e6);
    expect(small).toBeLessThan(3e6);
    expect(presetConfig('small').contextLength).toBeGreaterThanOrEqual(128);
  });

  it('init is deterministic by seed', () => {
    const a = initBaseWeights(cfg, 5).get('blocks.0.q.w')!.data;
    const b = initBaseWeights(cfg, 5).get('blocks.0.q.w')!.data;
    const c = initBaseWeights(cfg, 6).get('blocks.0.q.w')!.data;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('pools over the tokens that are not padId, whatever id pads', () => {
    tf.tidy(() => {
      const base = toMap(initBaseWeights(cfg, 1));
      const adapter: Adapter = { lora, tensors: toMap(new Map(initAdapter(adapterSpec(cfg, lora), 2).map((w) => [w.name, w]))) };
      const zeroPadded = ids(3, 8);
      // The same rows padded with id 5 (GPT-2 pads with its end-of-text id; its id 0 is a real token).
      const padWith5 = tf.tensor2d(Int32Array.from(zeroPadded.dataSync(), (v) => (v === 0 ? 5 : v)), [3, 8], 'int32');
      const a = forward(cfg, base, adapter, zeroPadded).arraySync();
      const b = forward(cfg, base, adapter, padWith5, { padId: 5 }).arraySync();
      const wrong = forward(cfg, base, adapter, padWith5).arraySync(); // pads counted as tokens
      a.flat().forEach((v, i) => expect(b.flat()[i]).toBeCloseTo(v, 5));
      expect(Math.max(...wrong.flat().map((v, i) => Math.abs(v - a.flat()[i])))).toBeGreaterThan(1e-4);
    });
  });

  it('forward gives [B, C] logits and is causal', () => {
    tf.tidy(() => {
      const base = toMap(initBaseWeights(cfg, 1));
      const adapter: Adapter = { lora, tensors: new Map(initAdapter(adapterSpec(cfg, lora), 1).map((w) => [w.name, tf.tensor(w.data, w.shape)])) };
      const x = ids(3, 10);
      expect(forward(cfg, base, adapter, x).shape).toEqual([3, cfg.numClasses]);
      // Changing the last token must not change earlier positions' hidden states.
      const a = x.arraySync();
      a[0][9] = (a[0][9] + 1) % cfg.vocabSize || 5;
      const h1 = hidden(cfg, base, adapter, x).arraySync()[0];
      const h2 = hidden(cfg, base, adapter, tf.tensor2d(a, [3, 10], 'int32')).arraySync()[0];
      for (let t = 0; t < 9; t++) for (let d = 0; d < cfg.dModel; d++) expect(h2[t][d]).toBeCloseTo(h1[t][d], 5);
      expect(Math.abs(h2[9][0] - h1[9][0]) + Math.abs(h2[9][1] - h1[9][1])).toBeGreaterThan(0);
    });
  });

  it('rejects sequences longer than the context', () => {
    tf.tidy(() => {
      const base = toMap(initBaseWeights(cfg, 1));
      const adapter: Adapter = { lora, tensors: new Map(initAdapter(adapterSpec(cfg, lora), 1).map((w) => [w.name, tf.tensor(w.data, w.shape)])) };
      expect(() => forward(cfg, base, adapter, ids(1, cfg.contextLength + 1))).toThrow(/context length/);
    });
  });
});

describe('ops', () => {
  it('matMul gradients on wasm (explicit transposes) match the cpu backend for every transpose mode', async () => {
    const a = [[1, 2, 3], [4, 5, 6]];
    const results: Record<string, number[][]> = {};
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
        const out = tf.tidy(() => {
          const A = ta ? tf.transpose(tf.tensor2d(a)) : tf.tensor2d(a); // logical [2, 3]
          const B = tb ? tf.tensor2d([[1, -1, 2], [0, 3, 1]]) : tf.tensor2d([[1, 0], [-1, 3], [2, 1]]); // logical [3, 2]
          const w = tf.tensor2d([[1, 2], [3, 4]]);
          const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb), w)));
          const [ga, gb] = g([A, B]);
          return [...ga.dataSync(), ...gb.dataSync()];
        });
        results[`${backend}-${ta}-${tb}`] = [out];
      }
    }
    await tf.setBackend('wasm');
    for (const mode of ['false-false', 'false-true', 'true-false', 'true-true']) {
      expect(results[`wasm-${mode}`]).toEqual(results[`cpu-${mode}`]);
    }
  });

  it('embedding gradient (one-hot matmul) counts token occurrences', () => {
    tf.tidy(() => {
      const table = tf.tensor2d([[1, 1], [2, 2], [3, 3], [4, 4]]);
      const idx = tf.tensor2d([[1, 3, 1]], [1, 3], 'int32');
      const g = tf.grad((t: tf.Tensor) => tf.sum(embed(t as tf.Tensor2D, idx)))(table);
      expect(Array.from(g.dataSync())).toEqual([0, 0, 2, 2, 0, 0, 1, 1]);
      expect(transposeLast2(tf.zeros([2, 3, 4])).shape).toEqual([2, 4, 3]);
    });
  });
});
