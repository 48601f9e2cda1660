// Turning an EncodedSet into batches of token ids.
import { mulberry32, shuffleInPlace } from '../data/rng.ts';
import { PAD_ID, type EncodedSet } from './types.ts';

export interface Batch {
  ids: Int32Array; // [size * len]
  labels: Int32Array; // [size]
  size: number;
  len: number;
  /** The id that pads ids: the model pools over the other tokens only. */
  padId: number;
}

/**
 * Gathers examples into a batch, cut to the longest real sequence (rounded up to 8
 * so a few shapes recur). Causal attention, right padding and masked pooling make
 * the cut exact: pads never influence real tokens. `fullLength` keeps every batch
 * at seqLen, for GPU backends where each new shape compiles new shaders.
 */
export function makeBatch(set: EncodedSet, indices: ArrayLike<number>, fullLength = false): Batch {
  const T = set.seqLen;
  const padId = set.padId ?? PAD_ID;
  let longest = 1;
  for (let k = 0; k < indices.length; k++) {
    const row = indices[k] * T;
    let n = T;
    while (n > 0 && set.ids[row + n - 1] === padId) n--;
    longest = Math.max(longest, n);
  }
  const len = fullLength ? T : Math.min(T, Math.ceil(longest / 8) * 8);
  const ids = new Int32Array(indices.length * len);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    ids.set(set.ids.subarray(indices[k] * T, indices[k] * T + len), k * len);
    labels[k] = set.labels[indices[k]];
  }
  return { ids, labels, size: indices.length, len, padId };
}

/** Index batches for `steps` steps: reshuffled epochs, seeded. */
export function sampleBatches(n: number, batchSize: number, steps: number, seed: number): number[][] {
  if (n < 1) throw new Error('cannot train on an empty set');
  const rng = mulberry32(seed);
  const size = Math.min(batchSize, n);
  const out: number[][] = [];
  let order: number[] = [];
  for (let s = 0; s < steps; s++) {
    if (order.length < size) order = order.concat(shuffleInPlace([...Array(n).keys()], rng));
    out.push(order.splice(0, size));
  }
  return out;
}
