// Examples to the flat typed arrays the trainer consumes.
import type { EncodedSet } from '../training/types.ts';
import type { Example } from './synthetic.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';

export function encodeExamples(examples: readonly Example[], tok: TextTokenizer, seqLen: number): EncodedSet {
  const n = examples.length;
  const ids = new Int32Array(n * seqLen); // [n, seqLen], row-major
  const labels = new Int32Array(n);
  examples.forEach((e, i) => {
    ids.set(tok.encode(e.text, seqLen), i * seqLen);
    labels[i] = e.label;
  });
  return { ids, labels, n, seqLen, padId: tok.padId };
}

/** Count of each class: [numClasses]. */
export function labelHistogram(labels: ArrayLike<number>, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) throw new Error(`labelHistogram: label ${y} at index ${i} is not in [0, ${numClasses})`);
    counts[y]++;
  }
  return counts;
}
