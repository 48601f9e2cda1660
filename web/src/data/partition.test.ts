import { describe, expect, it } from 'vitest';
import { labelHistogram } from './encode.ts';
import { dirichletPartition, MIN_SHARD_SIZE } from './partition.ts';
import { mulberry32 } from './rng.ts';

function randomLabels(n: number, numClasses: number, seed: number): number[] {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, () => Math.floor(rng() * numClasses));
}

// Mean over shards of the total-variation distance between shard and global label distributions.
function meanTv(labels: number[], shards: number[][], numClasses: number): number {
  const dist = (h: number[]) => h.map((c) => c / h.reduce((a, b) => a + b, 0));
  const global = dist(labelHistogram(labels, numClasses));
  const tv = shards.map((s) => {
    const p = dist(labelHistogram(s.map((i) => labels[i]), numClasses));
    return 0.5 * p.reduce((acc, x, c) => acc + Math.abs(x - global[c]), 0);
  });
  return tv.reduce((a, b) => a + b, 0) / tv.length;
}

const labels = randomLabels(3000, 3, 1);

describe('dirichletPartition', () => {
  it('is deterministic by seed', () => {
    const a = dirichletPartition(labels, 5, 0.5, 11, 3);
    expect(dirichletPartition(labels, 5, 0.5, 11, 3)).toEqual(a);
    expect(dirichletPartition(labels, 5, 0.5, 12, 3)).not.toEqual(a);
  });

  it('puts every example in exactly one shard, none below the minimum size', () => {
    for (const [k, alpha] of [[1, 0.5], [4, 0.05], [10, 0.1], [64, 0.1], [8, 1000]] as const) {
      const shards = dirichletPartition(labels, k, alpha, 3, 3);
      expect(shards).toHaveLength(k);
      const all = shards.flat().sort((a, b) => a - b);
      expect(all).toEqual(labels.map((_, i) => i));
      for (const s of shards) expect(s.length).toBeGreaterThanOrEqual(MIN_SHARD_SIZE);
    }
  });

  it('keeps every shard non-empty when there are barely enough examples', () => {
    const few = randomLabels(12, 3, 2);
    const shards = dirichletPartition(few, 12, 0.1, 1, 3);
    expect(shards.map((s) => s.length)).toEqual(new Array(12).fill(1));
    expect(dirichletPartition(few, 3, 0.01, 1, 3).every((s) => s.length >= 4)).toBe(true);
  });

  it('skews labels for small alpha, near-IID for large alpha', () => {
    const skewed = meanTv(labels, dirichletPartition(labels, 10, 0.1, 5, 3), 3);
    const iid = meanTv(labels, dirichletPartition(labels, 10, 100, 5, 3), 3);
    // Observed (seeds 5, 6): alpha 0.1 -> 0.51, 0.59; alpha 100 -> 0.041, 0.033.
    expect(skewed).toBeGreaterThan(0.3);
    expect(iid).toBeLessThan(0.06);
    expect(skewed).toBeGreaterThan(5 * iid);
  });

  it('validates its inputs', () => {
    expect(() => dirichletPartition(labels, 0, 1, 1, 3)).toThrow(/numShards/);
    expect(() => dirichletPartition(labels, 2.5, 1, 1, 3)).toThrow(/numShards/);
    expect(() => dirichletPartition(labels, 2, 0, 1, 3)).toThrow(/alpha/);
    expect(() => dirichletPartition(labels, 2, -1, 1, 3)).toThrow(/alpha/);
    expect(() => dirichletPartition([0, 1, 3], 2, 1, 1, 3)).toThrow(/label 3 at index 2/);
    expect(() => dirichletPartition([0, 1], 3, 1, 1, 3)).toThrow(/3 shards but only 2 examples/);
  });
});
