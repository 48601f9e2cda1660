import { describe, expect, it } from 'vitest';
import { encodeExamples, labelHistogram } from './encode.ts';
import { WordTokenizer } from './tokenizer.ts';

describe('encodeExamples', () => {
  it('lays out [n, seqLen] ids and the labels', () => {
    const tok = WordTokenizer.builtin(1024);
    const set = encodeExamples([{ text: 'profit rose .', label: 2 }, { text: 'costs rose .', label: 0 }], tok, 4);
    expect(set.n).toBe(2);
    expect(set.seqLen).toBe(4);
    expect([...set.labels]).toEqual([2, 0]);
    expect([...set.ids]).toEqual([...tok.encode('profit rose .', 4), ...tok.encode('costs rose .', 4)]);
    expect(encodeExamples([], tok, 4)).toEqual({ ids: new Int32Array(0), labels: new Int32Array(0), n: 0, seqLen: 4, padId: 0 });
  });
});

describe('labelHistogram', () => {
  it('counts each class and rejects labels out of range', () => {
    expect(labelHistogram([0, 2, 2, 1, 2], 3)).toEqual([1, 1, 3]);
    expect(labelHistogram(new Int32Array(0), 3)).toEqual([0, 0, 0]);
    expect(() => labelHistogram([0, 3], 3)).toThrow(/label 3/);
  });
});
