// A Hugging Face tokenizer.json (as trainByteLevelBpe writes, or GPT-2's own)
// loaded with @huggingface/tokenizers: the same code in a tab and in Node.
// Padding and truncation are ours (the library does neither): right side, as
// tokenizer_config.json says. tabfed's own tokenizers pad with id 0; GPT-2's pads
// with its end-of-text id (its id 0 is "!"), and the model pools over the rest.
import { Tokenizer } from '@huggingface/tokenizers';
import type { TextTokenizer } from './types.ts';

export class TokenizerFileError extends Error {
  constructor(message: string) {
    super(`tokenizer.json: ${message}`);
    this.name = 'TokenizerFileError';
  }
}

export class BpeTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly padId: number;
  readonly padToken: string;
  /** The end-of-text id, or undefined when the file has none. */
  readonly eosId: number | undefined;

  private constructor(
    private readonly tok: Tokenizer,
    vocab: Map<string, number>,
    padToken: string,
    eosToken: string | undefined,
  ) {
    this.vocabSize = Math.max(...vocab.values()) + 1;
    this.padToken = padToken;
    this.padId = vocab.get(padToken)!;
    this.eosId = eosToken === undefined ? undefined : vocab.get(eosToken);
  }

  /**
   * tokenizer.json (parsed JSON or its text) and, optionally, tokenizer_config.json.
   * The pad token is the config's pad_token, else '<pad>', else the end-of-text
   * token (GPT-2 has no pad token and pads with <|endoftext|>): one of them must
   * be in the vocabulary.
   */
  static fromJson(tokenizerJson: unknown, configJson: unknown = {}): BpeTokenizer {
    const json = parse(tokenizerJson, 'tokenizer.json');
    const config = parse(configJson, 'tokenizer_config.json');
    const model = json.model as Record<string, unknown> | undefined;
    if (!model || typeof model !== 'object') throw new TokenizerFileError('no "model" section');
    if (!model.vocab || typeof model.vocab !== 'object') throw new TokenizerFileError('the model has no "vocab"');
    let tok: Tokenizer;
    try {
      tok = new Tokenizer(json, config);
    } catch (e) {
      throw new TokenizerFileError(`could not be loaded: ${(e as Error).message}`);
    }
    const vocab = tok.get_vocab(true);
    const eos = tokenName(config.eos_token) ?? '<|endoftext|>';
    const configured = tokenName(config.pad_token);
    if (configured !== undefined && !vocab.has(configured)) throw new TokenizerFileError(`the pad token "${configured}" of tokenizer_config.json is not in the vocabulary`);
    const padToken = [configured, '<pad>', eos].find((t) => t !== undefined && vocab.has(t));
    if (padToken === undefined) throw new TokenizerFileError(`no pad token: neither "<pad>" nor the end-of-text token "${eos}" is in the vocabulary`);
    return new BpeTokenizer(tok, vocab, padToken, vocab.has(eos) ? eos : undefined);
  }

  /** Every id of text (no padding, no truncation). */
  ids(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  tokens(text: string): string[] {
    return this.tok.tokenize(text);
  }

  encode(text: string, seqLen: number): Int32Array {
    if (!Number.isInteger(seqLen) || seqLen < 1) throw new Error(`BpeTokenizer.encode: seqLen must be a positive integer, got ${seqLen}`);
    const out = new Int32Array(seqLen).fill(this.padId);
    const ids = this.ids(text);
    for (let i = 0; i < Math.min(seqLen, ids.length); i++) out[i] = ids[i];
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    const keep: number[] = [];
    for (let i = 0; i < ids.length; i++) if (ids[i] !== this.padId) keep.push(ids[i]);
    return this.tok.decode(keep, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }
}

/** A token in tokenizer_config.json: a string, or an AddedToken object with "content". */
function tokenName(x: unknown): string | undefined {
  if (typeof x === 'string') return x;
  if (x && typeof x === 'object' && typeof (x as { content?: unknown }).content === 'string') return (x as { content: string }).content;
  return undefined;
}

function parse(x: unknown, what: string): Record<string, unknown> {
  let v = x;
  if (typeof x === 'string') {
    try {
      v = JSON.parse(x);
    } catch (e) {
      throw new TokenizerFileError(`${what} is not valid JSON (${(e as Error).message})`);
    }
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TokenizerFileError(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}
