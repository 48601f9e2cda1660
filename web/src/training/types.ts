// Contracts between data, training and the client runtime.
import type { Metrics } from '../protocol/messages.ts';

/** Token ids (right-padded with PAD_ID = 0) and labels of n examples. */
export interface EncodedSet {
  ids: Int32Array; // [n * seqLen]
  labels: Int32Array; // [n]
  n: number;
  seqLen: number;
}

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
