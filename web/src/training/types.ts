// Contracts between data, training and the client runtime.
import type { Metrics } from '../protocol/messages.ts';

/** Token ids (right-padded with padId) and labels of n examples. */
export interface EncodedSet {
  ids: Int32Array; // [n * seqLen]
  labels: Int32Array; // [n]
  n: number;
  seqLen: number;
  /** The id that pads each row; PAD_ID when absent. (GPT-2's vocabulary has "!" at 0 and pads with its end-of-text id.) */
  padId?: number;
}

/** tabfed's own tokenizers pad with id 0. */
export const PAD_ID = 0;

export interface FitOptions {
  steps: number;
  batchSize: number;
  learningRate: number;
  seed: number;
}

export interface FitReport {
  /** Mean training loss over the round's steps. */
  loss: number;
  steps: number;
  ms: number;
}

/** Called after every local step; awaited, so the caller can yield to the event loop. */
export type StepCallback = (step: number, steps: number, loss: number) => void | Promise<void>;

export type { Metrics };
