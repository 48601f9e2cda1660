// Seeded, backend-independent initial base weights (GPT-2's scheme).
import { deriveSeed, mulberry32, normal } from '../data/rng.ts';
import type { ModelConfig } from './config.ts';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export type HostWeights = Map<string, HostTensor>;

/** Names and shapes of every base tensor, in a fixed order. */
export function baseShapes(c: ModelConfig): [string, number[]][] {
  const d = c.dModel;
  const h = c.mlpRatio * d;
  const out: [string, number[]][] = [
    ['wte', [c.vocabSize, d]],
    ['wpe', [c.contextLength, d]],
  ];
  for (let i = 0; i < c.nLayers; i++) {
    const p = `blocks.${i}`;
    out.push([`${p}.ln1.g`, [d]], [`${p}.ln1.b`, [d]]);
    for (const m of ['q', 'k', 'v', 'o']) out.push([`${p}.${m}.w`, [d, d]], [`${p}.${m}.b`, [d]]);
    out.push([`${p}.ln2.g`, [d]], [`${p}.ln2.b`, [d]]);
    out.push([`${p}.fc_in.w`, [d, h]], [`${p}.fc_in.b`, [h]], [`${p}.fc_out.w`, [h, d]], [`${p}.fc_out.b`, [d]]);
  }
  out.push(['ln_f.g', [d]], ['ln_f.b', [d]]);
  return out;
}

/**
 * N(0, 0.02) weights and embeddings; residual projections (o, fc_out) scaled by
 * 1/sqrt(2 * nLayers) as in GPT-2; LayerNorm gains 1, biases 0.
 */
export function initBaseWeights(c: ModelConfig, seed: number): HostWeights {
  const out: HostWeights = new Map();
  for (const [name, shape] of baseShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name.endsWith('.g')) data.fill(1);
    else if (!name.endsWith('.b')) {
      const residual = name.endsWith('.o.w') || name.endsWith('.fc_out.w');
      const std = residual ? 0.02 / Math.sqrt(2 * c.nLayers) : 0.02;
      const rng = mulberry32(deriveSeed(seed, name));
      for (let i = 0; i < size; i++) data[i] = normal(rng) * std;
    }
    out.set(name, { shape, data });
  }
  return out;
}
