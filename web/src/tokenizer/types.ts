// What the data pipeline needs from a tokenizer: fixed-length, right-padded ids.

export interface TextTokenizer {
  /** Ids run from 0 to vocabSize - 1; the model's embedding table has this many rows. */
  readonly vocabSize: number;
  /** The id that pads a sequence (PAD_ID = 0 for every tokenizer here). */
  readonly padId: number;
  /** Ids of the first seqLen tokens of text, right-padded with padId: shape [seqLen]. */
  encode(text: string, seqLen: number): Int32Array;
  /** Text of ids, pads skipped. */
  decode(ids: ArrayLike<number>): string;
}
