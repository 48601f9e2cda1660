// FedAvg against hand-computed references, Prepare / Execute / Assert (like Flower's aggregate tests).
import { describe, expect, it } from 'vitest';
import { fedAvg, type FitResult } from './fedavg.ts';
import type { Weights } from './weights.ts';

const weights = (w: number[], b: number[]): Weights => [
  { name: 'w', shape: [2, 2], data: new Float32Array(w) },
  { name: 'b', shape: [2], data: new Float32Array(b) },
];

describe('fedAvg', () => {
  it('averages weighted by numExamples', () => {
    // Prepare
    const results: FitResult[] = [
      { weights: weights([1, 2, 3, 4], [0, 1]), numExamples: 1 },
      { weights: weights([3, 6, 9, 12], [4, -1]), numExamples: 3 },
    ];
    // Execute
    const out = fedAvg(results);
    // Assert: (1*1 + 3*3)/4 = 2.5, (1*2 + 3*6)/4 = 5, ...; (0 + 12)/4 = 3, (1 - 3)/4 = -0.5
    expect(out.map((t) => t.name)).toEqual(['w', 'b']);
    expect(out.map((t) => t.shape)).toEqual([[2, 2], [2]]);
    expect(Array.from(out[0].data)).toEqual([2.5, 5, 7.5, 10]);
    expect(Array.from(out[1].data)).toEqual([3, -0.5]);
  });

  it('is not the unweighted mean', () => {
    // Prepare
    const results: FitResult[] = [
      { weights: weights([0, 0, 0, 0], [0, 0]), numExamples: 90 },
      { weights: weights([10, 10, 10, 10], [10, 10]), numExamples: 10 },
    ];
    // Execute
    const out = fedAvg(results);
    // Assert: 1, where the plain mean would say 5
    expect(Array.from(out[0].data)).toEqual([1, 1, 1, 1]);
    expect(out[0].data[0]).not.toBe(5);
  });

  it('returns a copy of a single result', () => {
    const only = weights([1, 2, 3, 4], [5, 6]);
    const out = fedAvg([{ weights: only, numExamples: 7 }]);
    expect(out).toEqual(only);
    expect(out[0].data).not.toBe(only[0].data);
  });

  it('keeps float32 precision over many clients', () => {
    const results = Array.from({ length: 1000 }, (_, i) => ({ weights: weights([0.1, 0.2, 0.3, i % 2], [1e-3, 1e3]), numExamples: 1 + (i % 5) }));
    const out = fedAvg(results);
    expect(out[0].data[0]).toBeCloseTo(0.1, 6);
    expect(out[1].data[1]).toBeCloseTo(1000, 3);
  });

  it('throws on mismatched names, shapes, tensor counts or data lengths', () => {
    const good = { weights: weights([1, 2, 3, 4], [5, 6]), numExamples: 1 };
    const renamed = { weights: [{ ...good.weights[0], name: 'x' }, good.weights[1]], numExamples: 1 };
    const reshaped = { weights: [{ ...good.weights[0], shape: [4, 1] }, good.weights[1]], numExamples: 1 };
    const shorter = { weights: [good.weights[0]], numExamples: 1 };
    const truncated = { weights: [good.weights[0], { ...good.weights[1], data: new Float32Array(1) }], numExamples: 1 };

    expect(() => fedAvg([good, renamed])).toThrow(/"x"/);
    expect(() => fedAvg([good, reshaped])).toThrow(/\[4,1\]/);
    expect(() => fedAvg([good, shorter])).toThrow(/tensor counts/);
    expect(() => fedAvg([good, truncated])).toThrow(/1 values for shape \[2\]/);
  });

  it('throws on bad example counts and on no results', () => {
    const w = weights([1, 2, 3, 4], [5, 6]);
    for (const numExamples of [0, -1, 1.5, NaN, Infinity]) {
      expect(() => fedAvg([{ weights: w, numExamples }])).toThrow(/numExamples/);
    }
    expect(() => fedAvg([])).toThrow(/at least one/);
  });
});
