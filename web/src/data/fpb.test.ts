import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FPB_FILES, parseFpb, splitDataset } from './fpb.ts';
import { labelHistogram } from './encode.ts';

const DIR = new URL('../../../../shared/datasets/fpb/', import.meta.url);
const read = (f: string) => new Uint8Array(readFileSync(new URL(f, DIR)));
const bytes = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));

describe('parseFpb on the real files (../shared/datasets/fpb)', () => {
  it('reads every row of each file, with the published label counts', () => {
    const sizes = FPB_FILES.map((f) => parseFpb(read(f)).length);
    expect(sizes).toEqual([4846, 4217, 3453, 2264]);
    const all = parseFpb(read('Sentences_50Agree.txt'));
    expect(labelHistogram(all.map((e) => e.label), 3)).toEqual([604, 2879, 1363]); // negative, neutral, positive
  });

  it('splits on the last @, decodes latin-1 and drops the CR', () => {
    const all = parseFpb(read('Sentences_50Agree.txt'));
    expect(all[0]).toEqual({
      text: 'According to Gran , the company has no plans to move all production to Russia , although that is where the company is growing .',
      label: 1,
    });
    expect(all.some((e) => /[\u00a0-\u00ff]/.test(e.text))).toBe(true); // latin-1 letters decoded
    expect(all.every((e) => !e.text.includes('\r'))).toBe(true);
  });
});

describe('parseFpb on bad input', () => {
  it('names the line and the problem', () => {
    expect(() => parseFpb(bytes('profit rose .@positive\r\nno label here\r\n'))).toThrow(/line 2 has no "@label"/);
    expect(() => parseFpb(bytes('profit rose .@bullish\r\n'))).toThrow(/line 1 has label "bullish", expected one of negative, neutral, positive/);
    expect(() => parseFpb(bytes(' @neutral\r\n'))).toThrow(/line 1 has an empty sentence/);
    expect(() => parseFpb(bytes('\r\n\r\n'))).toThrow(/no sentences/);
  });

  it('splits on the last @ only', () => {
    expect(parseFpb(bytes('mail ir@acme.fi for the report .@neutral\r\n'))).toEqual([{ text: 'mail ir@acme.fi for the report .', label: 1 }]);
  });

  it('reads a latin-1 byte as its letter', () => {
    expect(parseFpb(new Uint8Array([...bytes('caf'), 0xe9, ...bytes(' sales rose .@positive')]))).toEqual([{ text: 'café sales rose .', label: 2 }]);
  });
});

describe('splitDataset', () => {
  const all = parseFpb(read('Sentences_AllAgree.txt'));
  it('is seeded, disjoint, complete and stratified', () => {
    const a = splitDataset(all, 0.2, 3);
    expect(splitDataset(all, 0.2, 3)).toEqual(a);
    expect(splitDataset(all, 0.2, 4).test).not.toEqual(a.test);
    expect(a.train.length + a.test.length).toBe(all.length);
    const key = (e: { text: string; label: number }) => `${e.label}|${e.text}`;
    expect([...a.train, ...a.test].map(key).sort()).toEqual(all.map(key).sort());
    const share = (xs: typeof all) => labelHistogram(xs.map((e) => e.label), 3).map((c) => c / xs.length);
    share(a.test).forEach((s, i) => expect(s).toBeCloseTo(share(all)[i], 2));
  });

  it('refuses a fraction outside (0, 1)', () => {
    expect(() => splitDataset(all, 0, 1)).toThrow(/testFraction/);
    expect(() => splitDataset(all, 1, 1)).toThrow(/testFraction/);
  });
});
