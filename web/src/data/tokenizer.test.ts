import { describe, expect, it } from 'vitest';
import { PAD_ID } from '../training/types.ts';
import { builtinVocabulary, generateDataset, NUM_TOKEN } from './synthetic.ts';
import { CLS_ID, UNK_ID, WordTokenizer } from './tokenizer.ts';

const tok = WordTokenizer.builtin(1024);

describe('WordTokenizer', () => {
  it('puts the special tokens first, [PAD] at PAD_ID', () => {
    expect(tok.idOf('[PAD]')).toBe(PAD_ID);
    expect(tok.idOf('[UNK]')).toBe(UNK_ID);
    expect(tok.idOf('[CLS]')).toBe(CLS_ID);
    expect(tok.size).toBe(builtinVocabulary().length + 3);
    expect(tok.vocabSize).toBe(1024);
  });

  it('splits words, numbers and punctuation', () => {
    expect(tok.tokenize('Nordvik\'s Q3 profit ROSE 12.5% to $4,200.75 million, full-year.')).toEqual([
      'nordvik', "'s", 'q', NUM_TOKEN, 'profit', 'rose', NUM_TOKEN, '%', 'to', '$', NUM_TOKEN, 'million', ',', 'full-year', '.',
    ]);
    expect(tok.tokenize('  ')).toEqual([]);
  });

  it('round-trips generated sentences, numbers read as <num>', () => {
    for (const e of generateDataset(3, { train: 200, test: 0 }).train) {
      const ids = tok.encode(e.text, 32);
      const expected = e.text.replace(/\d+(?:\.\d+)?/g, NUM_TOKEN);
      expect(tok.decode(ids)).toBe(expected);
      expect(tok.encode(tok.decode(ids), 32)).toEqual(ids);
      expect(ids.every((id) => id >= 0 && id < tok.vocabSize && id !== UNK_ID)).toBe(true);
    }
  });

  it('right-pads with PAD_ID and truncates to seqLen', () => {
    const padded = tok.encode('profit rose .', 6);
    expect([...padded.slice(3)]).toEqual([0, 0, 0]);
    expect(tok.decode(padded)).toBe('profit rose .');
    const cut = tok.encode('despite weak demand , profit rose .', 4);
    expect(cut).toHaveLength(4);
    expect(tok.decode(cut)).toBe('despite weak demand ,');
    expect(() => tok.encode('x', 0)).toThrow(/seqLen/);
  });

  it('maps unknown words to [UNK]', () => {
    const ids = tok.encode('profit rose in zanzibar ü', 8);
    expect([...ids.slice(0, 5)]).toEqual([tok.idOf('profit'), tok.idOf('rose'), tok.idOf('in'), UNK_ID, UNK_ID]);
    expect(tok.decode(ids)).toBe('profit rose in [UNK] [UNK]');
  });

  it('throws when the vocabulary does not fit vocabSize', () => {
    expect(() => WordTokenizer.builtin(2048)).not.toThrow();
    expect(() => WordTokenizer.builtin(100)).toThrow(/needs \d+ ids .* vocabSize is 100/);
    expect(() => new WordTokenizer(['a', 'b'], 5)).not.toThrow();
    expect(() => new WordTokenizer(['a', 'b', 'c'], 5)).toThrow(/vocabSize is 5/);
    expect(() => new WordTokenizer(['a', 'a'], 10)).toThrow(/twice/);
  });
});
