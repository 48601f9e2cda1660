// Seeded, backend-independent initial values for an adapter.
import { deriveSeed, mulberry32 } from '../data/rng.ts';
import type { Weights } from '../federation/weights.ts';
import type { TensorSpec } from './spec.ts';

/**
 * peft's init: A ~ kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in));
 * B = 0, so B·A = 0 and a fresh adapter leaves the base model unchanged.
 * The head uses torch.nn.Linear's default, the same bound.
 */
export function initAdapter(spec: TensorSpec[], seed: number): Weights {
  return spec.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (s.init !== 'zeros') {
      const rng = mulberry32(deriveSeed(seed, s.name));
      const bound = 1 / Math.sqrt(s.fanIn);
      for (let i = 0; i < size; i++) data[i] = (2 * rng() - 1) * bound;
    }
    return { name: s.name, shape: [...s.shape], data };
  });
}
