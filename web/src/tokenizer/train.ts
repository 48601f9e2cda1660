// Trains a byte-level BPE vocabulary (GPT-2's scheme) and writes it as a
// Hugging Face tokenizer.json. Deterministic: the same texts give the same file.
//
// Ids: 0 = PAD_TOKEN, 1 = EOS_TOKEN, 2..257 = the 256 bytes, then one id per merge.
import { BYTE_TO_CHAR, byteLevelPieces } from './bytelevel.ts';

export const PAD_TOKEN = '<pad>';
export const EOS_TOKEN = '<|endoftext|>';
export const SPECIAL_TOKENS = [PAD_TOKEN, EOS_TOKEN] as const;
const FIRST_BYTE_ID = SPECIAL_TOKENS.length;
const BASE_SIZE = FIRST_BYTE_ID + 256;

export interface BpeTrainOptions {
  /** Total ids, special tokens and the 256 bytes included. */
  vocabSize: number;
  /** A pair must occur at least this often to be merged (default 2). */
  minFrequency?: number;
  /** Lowercase every text first (and add a Lowercase normalizer to the file). Default true. */
  lowercase?: boolean;
  /** Longest sequence the model takes: written to tokenizer_config.json. */
  modelMaxLength: number;
  /** Called now and then with the number of merges done. */
  onProgress?: (merges: number, total: number) => void;
}

/** The two files of a Hugging Face fast tokenizer. */
export interface TokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
}

/** Max-heap of [count, pair] with lazy deletion: stale entries are skipped on pop. */
class PairHeap {
  private counts: number[] = [];
  private pairs: number[] = [];

  push(count: number, pair: number): void {
    this.counts.push(count);
    this.pairs.push(pair);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): [number, number] | undefined {
    const n = this.counts.length;
    if (n === 0) return undefined;
    const top: [number, number] = [this.counts[0], this.pairs[0]];
    this.swap(0, n - 1);
    this.counts.pop();
    this.pairs.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.counts.length && this.before(l, m)) m = l;
      if (r < this.counts.length && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }

  /** Higher count first; ties go to the smaller pair key (deterministic). */
  private before(a: number, b: number): boolean {
    return this.counts[a] > this.counts[b] || (this.counts[a] === this.counts[b] && this.pairs[a] < this.pairs[b]);
  }

  private swap(a: number, b: number): void {
    [this.counts[a], this.counts[b]] = [this.counts[b], this.counts[a]];
    [this.pairs[a], this.pairs[b]] = [this.pairs[b], this.pairs[a]];
  }
}

const KEY = 1 << 16;
const pairKey = (a: number, b: number) => a * KEY + b;

export function trainByteLevelBpe(texts: Iterable<string>, opts: BpeTrainOptions): TokenizerFiles {
  const { vocabSize, minFrequency = 2, lowercase = true } = opts;
  if (!Number.isInteger(vocabSize) || vocabSize < BASE_SIZE || vocabSize > KEY) {
    throw new Error(`trainByteLevelBpe: vocabSize must be an integer in [${BASE_SIZE}, ${KEY}], got ${vocabSize}`);
  }
  if (!Number.isInteger(opts.modelMaxLength) || opts.modelMaxLength < 1) {
    throw new Error(`trainByteLevelBpe: modelMaxLength must be a positive integer, got ${opts.modelMaxLength}`);
  }

  // 1. Pre-tokens and their counts.
  const counts = new Map<string, number>();
  for (const raw of texts) {
    for (const piece of byteLevelPieces(lowercase ? raw.toLowerCase() : raw)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
  }
  const charId = new Map(BYTE_TO_CHAR.map((c, b) => [c, FIRST_BYTE_ID + b]));
  const words: number[][] = [];
  const freq: number[] = [];
  for (const [piece, n] of counts) {
    words.push([...piece].map((ch) => charId.get(ch)!));
    freq.push(n);
  }

  // 2. Pair counts and which words hold each pair.
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: number) => {
    const s = words[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = pairKey(s[i], s[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freq[w]);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (!set) pairWords.set(k, (set = new Set()));
        set.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1);
  const heap = new PairHeap();
  for (const [k, n] of pairCount) heap.push(n, k);

  // 3. Merge the most frequent pair until the vocabulary is full.
  const tokens: string[] = [...SPECIAL_TOKENS, ...BYTE_TO_CHAR];
  const tokenId = new Map(tokens.map((t, i) => [t, i]));
  const merges: string[] = [];
  const total = vocabSize - BASE_SIZE;
  while (tokens.length < vocabSize) {
    const top = heap.pop();
    if (!top) break;
    const [n, k] = top;
    if (pairCount.get(k) !== n) continue; // stale
    if (n < minFrequency) break;
    const a = Math.floor(k / KEY);
    const b = k % KEY;
    // Two merge paths can spell the same token ('ab'+'c', 'a'+'bc'): it keeps one id, as in Hugging Face's trainer.
    const merged = tokens[a] + tokens[b];
    let id = tokenId.get(merged);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(merged);
      tokenId.set(merged, id);
    }
    merges.push(`${tokens[a]} ${tokens[b]}`);
    const touched = new Set<number>();
    for (const w of pairWords.get(k) ?? []) {
      const s = words[w];
      let has = false;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) has = true;
      if (!has) continue;
      addPairs(w, -1);
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(s[i]);
      }
      words[w] = out;
      addPairs(w, 1);
      for (let i = 0; i + 1 < out.length; i++) touched.add(pairKey(out[i], out[i + 1]));
      for (let i = 0; i + 1 < s.length; i++) touched.add(pairKey(s[i], s[i + 1]));
    }
    pairWords.delete(k);
    pairCount.delete(k);
    for (const t of touched) {
      const c = pairCount.get(t);
      if (c === undefined) continue;
      if (c <= 0) {
        pairCount.delete(t);
        pairWords.delete(t);
      } else heap.push(c, t);
    }
    if (opts.onProgress && merges.length % 100 === 0) opts.onProgress(merges.length, total);
  }
  opts.onProgress?.(merges.length, total);
  return tokenizerFiles(tokens, merges, lowercase, opts.modelMaxLength);
}

function tokenizerFiles(tokens: string[], merges: string[], lowercase: boolean, modelMaxLength: number): TokenizerFiles {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: lowercase ? { type: 'Lowercase' } : null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(tokens.map((t, i) => [t, i])),
      merges,
    },
  };
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: modelMaxLength,
    pad_token: PAD_TOKEN,
    eos_token: EOS_TOKEN,
    bos_token: EOS_TOKEN,
    padding_side: 'right',
    truncation_side: 'right',
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
  };
  return { tokenizer, config };
}
