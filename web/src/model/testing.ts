// Shared helpers for model and training tests.
import type { EncodedSet } from '../training/types.ts';
import { mulberry32 } from '../data/rng.ts';

/**
 * A toy task where the label is which of three marker tokens (3, 4, 5) occurs,
 * among random filler tokens (>= 6): learnable, but only by looking at tokens.
 */
export function markerTask(n: number, seqLen: number, vocab: number, seed: number): EncodedSet {
  const rng = mulberry32(seed);
  const ids = new Int32Array(n * seqLen);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const len = 6 + Math.floor(rng() * (seqLen - 6));
    const label = Math.floor(rng() * 3);
    labels[i] = label;
    for (let t = 0; t < len; t++) ids[i * seqLen + t] = 6 + Math.floor(rng() * (vocab - 6));
    ids[i * seqLen + Math.floor(rng() * len)] = 3 + label;
  }
  return { ids, labels, n, seqLen };
}
