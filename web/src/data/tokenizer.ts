// A word-level tokenizer over a fixed vocabulary.
//
// tokenize(): lowercase, then split into
//   - numbers: every number (12, 12.5, 1,200) becomes the one token NUM_TOKEN ('<num>');
//     the sentiment never depends on the value, and this keeps the vocabulary small;
//   - words: letters, with inner hyphens kept ('full-year', 'year-on-year');
//   - "'s" as its own token;
//   - every other non-space character on its own ('%', '$', ',', '.').
// A literal '<num>' in the text reads as NUM_TOKEN too, so encode(decode(ids)) == ids.
//
// Ids: [PAD] = 0 (= PAD_ID), [UNK] = 1, [CLS] = 2 (reserved, not emitted by encode),
// then the words in the order given. Ids up to vocabSize - 1 stay free for a larger model.
import type { TextTokenizer } from '../tokenizer/types.ts';
import { PAD_ID } from '../training/types.ts';
import { builtinVocabulary, NUM_TOKEN } from './synthetic.ts';

export const PAD = '[PAD]';
export const UNK = '[UNK]';
export const CLS = '[CLS]';
export const UNK_ID = 1;
export const CLS_ID = 2;
const SPECIALS = [PAD, UNK, CLS];

const TOKEN_RE = /<num>|\d+(?:[.,]\d+)*|[a-z]+(?:-[a-z]+)*|'s(?![a-z])|\S/gu;

export class WordTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly padId = PAD_ID;
  private readonly tokens: string[];
  private readonly ids: Map<string, number>;

  constructor(words: string[], vocabSize: number) {
    if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new Error(`WordTokenizer: vocabSize must be a positive integer, got ${vocabSize}`);
    this.tokens = [...SPECIALS];
    this.ids = new Map(SPECIALS.map((t, i) => [t, i]));
    for (const w of words) {
      if (this.ids.has(w)) throw new Error(`WordTokenizer: "${w}" appears twice in the vocabulary (or is a special token)`);
      this.ids.set(w, this.tokens.length);
      this.tokens.push(w);
    }
    if (this.tokens.length > vocabSize) {
      throw new Error(
        `WordTokenizer: the vocabulary needs ${this.tokens.length} ids (${words.length} words + ${SPECIALS.length} special tokens) but vocabSize is ${vocabSize}`,
      );
    }
    this.vocabSize = vocabSize;
    if (this.ids.get(PAD) !== PAD_ID) throw new Error('WordTokenizer: [PAD] must have id PAD_ID');
  }

  /** The tokenizer of the built-in dataset; throws if its vocabulary does not fit vocabSize. */
  static builtin(vocabSize: number): WordTokenizer {
    return new WordTokenizer(builtinVocabulary(), vocabSize);
  }

  /** Number of ids in use (special tokens included); the rest of vocabSize is unused. */
  get size(): number {
    return this.tokens.length;
  }

  tokenize(text: string): string[] {
    const out = text.toLowerCase().match(TOKEN_RE) ?? [];
    return out.map((t) => (t.charCodeAt(0) >= 48 && t.charCodeAt(0) <= 57 ? NUM_TOKEN : t));
  }

  idOf(token: string): number {
    return this.ids.get(token) ?? UNK_ID;
  }

  tokenOf(id: number): string {
    return this.tokens[id] ?? UNK;
  }

  /** Ids of the first seqLen tokens, right-padded with PAD_ID: shape [seqLen]. */
  encode(text: string, seqLen: number): Int32Array {
    if (!Number.isInteger(seqLen) || seqLen < 1) throw new Error(`WordTokenizer.encode: seqLen must be a positive integer, got ${seqLen}`);
    const out = new Int32Array(seqLen).fill(PAD_ID);
    const toks = this.tokenize(text);
    for (let i = 0; i < Math.min(seqLen, toks.length); i++) out[i] = this.idOf(toks[i]);
    return out;
  }

  /** Tokens joined by single spaces, pads skipped. */
  decode(ids: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) if (ids[i] !== PAD_ID) out.push(this.tokenOf(ids[i]));
    return out.join(' ');
  }
}
