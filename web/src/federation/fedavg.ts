// FedAvg (McMahan et al., 2017): the average of client weights, each weighted by
// its number of training examples. A pure function on typed arrays.
import { sizeOf, type Weights } from './weights.ts';

export interface FitResult {
  weights: Weights;
  numExamples: number;
}

export function fedAvg(results: readonly FitResult[]): Weights {
  if (results.length === 0) throw new Error('fedAvg needs at least one result');
  const total = results.reduce((n, r) => n + r.numExamples, 0);
  for (const r of results) {
    if (!Number.isInteger(r.numExamples) || r.numExamples <= 0) {
      throw new Error(`fedAvg: numExamples must be a positive integer, got ${r.numExamples}`);
    }
  }
  const ref = results[0].weights;
  for (const r of results) {
    if (r.weights.length !== ref.length) throw new Error('fedAvg: results have different tensor counts');
    r.weights.forEach((t, i) => {
      if (t.name !== ref[i].name || t.shape.join(',') !== ref[i].shape.join(',')) {
        throw new Error(`fedAvg: tensor ${i} is "${t.name}" [${t.shape}] in one result and "${ref[i].name}" [${ref[i].shape}] in another`);
      }
      if (t.data.length !== sizeOf(t.shape)) throw new Error(`fedAvg: tensor "${t.name}" holds ${t.data.length} values for shape [${t.shape}]`);
    });
  }
  return ref.map((t, i) => {
    // Accumulate in float64: many small weighted terms lose precision in float32.
    const acc = new Float64Array(t.data.length);
    for (const r of results) {
      const w = r.numExamples / total;
      const src = r.weights[i].data;
      for (let j = 0; j < acc.length; j++) acc[j] += w * src[j];
    }
    return { name: t.name, shape: [...t.shape], data: Float32Array.from(acc) };
  });
}
