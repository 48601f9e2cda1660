// Label-skewed (non-IID) split of a labelled set across shards, the usual recipe
// (Hsu et al., 2019): for each class, draw shard proportions p ~ Dirichlet(alpha)
// and cut that class's shuffled indices at the cumulative proportions.
// Small alpha: each shard sees few classes; large alpha: every shard looks like the whole.
import { gamma, mulberry32, shuffleInPlace, type Rng } from './rng.ts';

/** Each shard gets at least this many examples when the data allows (n >= numShards * MIN). */
export const MIN_SHARD_SIZE = 10;
const MAX_DRAWS = 100;

export function dirichlet(rng: Rng, alpha: number, k: number): number[] {
  const g = Array.from({ length: k }, () => gamma(rng, alpha));
  const sum = g.reduce((a, b) => a + b, 0);
  // With tiny alpha every draw can underflow to 0: fall back to one random shard.
  if (!(sum > 0)) {
    const p = new Array<number>(k).fill(0);
    p[Math.floor(rng() * k)] = 1;
    return p;
  }
  return g.map((x) => x / sum);
}

/** Indices of each shard (sorted); every index in exactly one shard, no shard empty. */
export function dirichletPartition(
  labels: ArrayLike<number>,
  numShards: number,
  alpha: number,
  seed: number,
  numClasses: number,
): number[][] {
  validate(labels, numShards, alpha, numClasses);
  const rng = mulberry32(seed);
  const byClass = groupByClass(labels, numClasses);
  const minSize = Math.min(MIN_SHARD_SIZE, Math.floor(labels.length / numShards));
  let shards = draw(rng, byClass, numShards, alpha);
  // Redraw while a shard is too small; after MAX_DRAWS, move examples over instead.
  for (let i = 1; i < MAX_DRAWS && smallest(shards) < minSize; i++) shards = draw(rng, byClass, numShards, alpha);
  rebalance(shards, minSize);
  return shards.map((s) => s.sort((a, b) => a - b));
}

function validate(labels: ArrayLike<number>, numShards: number, alpha: number, numClasses: number): void {
  if (!Number.isInteger(numShards) || numShards < 1) throw new Error(`dirichletPartition: numShards must be an integer >= 1, got ${numShards}`);
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new Error(`dirichletPartition: alpha must be a positive number, got ${alpha}`);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`dirichletPartition: numClasses must be an integer >= 1, got ${numClasses}`);
  if (numShards > labels.length) throw new Error(`dirichletPartition: ${numShards} shards but only ${labels.length} examples`);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
      throw new Error(`dirichletPartition: label ${y} at index ${i} is not in [0, ${numClasses})`);
    }
  }
}

function groupByClass(labels: ArrayLike<number>, numClasses: number): number[][] {
  const out: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) out[labels[i]].push(i);
  return out;
}

function draw(rng: Rng, byClass: number[][], numShards: number, alpha: number): number[][] {
  const shards: number[][] = Array.from({ length: numShards }, () => []);
  for (const members of byClass) {
    const idx = shuffleInPlace([...members], rng);
    const p = dirichlet(rng, alpha, numShards);
    let start = 0;
    let cum = 0;
    for (let s = 0; s < numShards; s++) {
      cum += p[s];
      const end = s === numShards - 1 ? idx.length : Math.round(cum * idx.length);
      for (let j = start; j < end; j++) shards[s].push(idx[j]);
      start = Math.max(start, end);
    }
  }
  return shards;
}

const smallest = (shards: number[][]) => Math.min(...shards.map((s) => s.length));

// Move examples from the largest shard to the smallest until all have minSize.
// Terminates: the largest has more than minSize while any shard has fewer
// (n >= numShards * minSize).
function rebalance(shards: number[][], minSize: number): void {
  for (;;) {
    let lo = 0;
    let hi = 0;
    shards.forEach((s, i) => {
      if (s.length < shards[lo].length) lo = i;
      if (s.length > shards[hi].length) hi = i;
    });
    if (shards[lo].length >= minSize) return;
    shards[lo].push(shards[hi].pop()!);
  }
}
