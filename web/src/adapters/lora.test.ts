import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { presetConfig } from '../model/config.ts';
import { initBaseWeights } from '../model/init.ts';
import { forward, type Adapter, type TensorMap } from '../model/transformer.ts';
import { initAdapter } from './init.ts';
import { mergeLora } from './lora.ts';
import { adapterSpec, validateLoraConfig, type LoraConfig } from './spec.ts';

const cfg = presetConfig('tiny');
const all: LoraConfig = { rank: 4, alpha: 12, dropout: 0, targets: ['q', 'k', 'v', 'o', 'fc_in', 'fc_out'] };

function setup(l: LoraConfig, randomB: boolean) {
  const base: TensorMap = new Map([...initBaseWeights(cfg, 3)].map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
  const weights = initAdapter(adapterSpec(cfg, l), 3);
  if (randomB) for (const w of weights) if (w.name.endsWith('lora_B')) w.data = w.data.map((_, i) => Math.sin(i * 1.7) * 0.3);
  const adapter: Adapter = { lora: l, tensors: new Map(weights.map((w) => [w.name, tf.tensor(w.data, w.shape)])) };
  const ids = tf.tensor2d(
    Array.from({ length: 4 * 12 }, (_, i) => (i % 12 > 9 - (i % 3) ? 0 : 3 + ((i * 31) % 900))),
    [4, 12],
    'int32',
  );
  return { base, adapter, ids };
}

/** The same model with every LoRA pair merged into its base weight, and no LoRA left. */
function merged(base: TensorMap, adapter: Adapter): { base: TensorMap; adapter: Adapter } {
  const out = new Map(base);
  for (const [name, A] of adapter.tensors) {
    if (!name.endsWith('lora_A')) continue;
    const prefix = name.slice(0, -'.lora_A'.length);
    const B = adapter.tensors.get(`${prefix}.lora_B`)!;
    out.set(`${prefix}.w`, mergeLora(base.get(`${prefix}.w`)!, { A, B }, adapter.lora));
  }
  const head = new Map([...adapter.tensors].filter(([n]) => n.startsWith('head.')));
  return { base: out, adapter: { lora: adapter.lora, tensors: head } };
}

describe('LoRA', () => {
  it('forward equals the forward with merged W + (alpha/r)·A·B, within 1e-5', () => {
    tf.tidy(() => {
      const { base, adapter, ids } = setup(all, true);
      const m = merged(base, adapter);
      const a = forward(cfg, base, adapter, ids).dataSync();
      const b = forward(cfg, m.base, m.adapter, ids).dataSync();
      const plain = forward(cfg, base, m.adapter, ids).dataSync();
      let diff = 0;
      let effect = 0;
      for (let i = 0; i < a.length; i++) {
        diff = Math.max(diff, Math.abs(a[i] - b[i]));
        effect = Math.max(effect, Math.abs(a[i] - plain[i]));
      }
      expect(diff).toBeLessThan(1e-5);
      expect(effect).toBeGreaterThan(1e-3); // the adapter really changes the output
    });
  });

  it('a fresh adapter (B = 0) is a no-op', () => {
    tf.tidy(() => {
      const { base, adapter, ids } = setup(all, false);
      const head = new Map([...adapter.tensors].filter(([n]) => n.startsWith('head.')));
      const a = forward(cfg, base, adapter, ids).dataSync();
      const b = forward(cfg, base, { lora: all, tensors: head }, ids).dataSync();
      for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 6);
    });
  });

  it('A is Kaiming-uniform, B is zero, names follow the targets', () => {
    const spec = adapterSpec(cfg, { rank: 2, alpha: 4, dropout: 0, targets: ['v', 'q'] });
    expect(spec.map((s) => s.name)).toEqual([
      'blocks.0.q.lora_A', 'blocks.0.q.lora_B', 'blocks.0.v.lora_A', 'blocks.0.v.lora_B',
      'blocks.1.q.lora_A', 'blocks.1.q.lora_B', 'blocks.1.v.lora_A', 'blocks.1.v.lora_B',
      'head.weight', 'head.bias',
    ]);
    const w = initAdapter(spec, 9);
    const A = w[0].data;
    const bound = 1 / Math.sqrt(cfg.dModel);
    expect(Math.max(...A.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...A.map(Math.abs))).toBeGreaterThan(bound * 0.8);
    expect(w[1].data.every((x) => x === 0)).toBe(true);
  });

  it('invalid configs raise at construction', () => {
    expect(() => validateLoraConfig({ rank: 0, alpha: 1, dropout: 0, targets: ['q'] })).toThrow(/rank/);
    expect(() => validateLoraConfig({ rank: 2, alpha: 1, dropout: 1, targets: ['q'] })).toThrow(/dropout/);
    expect(() => validateLoraConfig({ rank: 2, alpha: 1, dropout: 0, targets: [] })).toThrow(/target/);
    expect(() => validateLoraConfig({ rank: 2, alpha: 1, dropout: 0, targets: ['x' as 'q'] })).toThrow(/unknown LoRA target/);
    expect(() => validateLoraConfig({ rank: cfg.dModel + 1, alpha: 1, dropout: 0, targets: ['q'] }, cfg)).toThrow(/exceeds dModel/);
  });
});
