// What one tab trains and evaluates on: its shard of the built-in dataset.
// Every tab derives the same dataset and partition from dataSeed, then keeps its shard.
import type { FederationConfig } from '../protocol/config.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';
import type { EncodedSet } from '../training/types.ts';
import { encodeExamples, labelHistogram } from './encode.ts';
import { dirichletPartition } from './partition.ts';
import { deriveSeed, mulberry32, shuffleInPlace } from './rng.ts';
import { generateDataset, NUM_CLASSES, type Example } from './synthetic.ts';

/** Labelled texts split into train and test (the built-in data, or a real dataset's loader). */
export interface LabeledDataset {
  train: Example[];
  test: Example[];
}

/** Share of a shard held out as the client's local test set. */
export const LOCAL_TEST_FRACTION = 0.2;

export type DataConfig = Pick<FederationConfig, 'dataSeed' | 'numShards' | 'dirichletAlpha' | 'seqLen'>;

export interface ClientData {
  train: EncodedSet;
  localTest: EncodedSet;
  /** The whole shared test set: identical in every tab. */
  globalTest: EncodedSet;
  /** Class counts of train: [NUM_CLASSES]. */
  labelCounts: number[];
  shard: number;
  numShards: number;
  tokenizer: TextTokenizer;
}

export interface CentralData {
  train: EncodedSet;
  globalTest: EncodedSet;
  labelCounts: number[];
  tokenizer: TextTokenizer;
}

/** Indices into the generated train set of each shard, as every tab computes them. */
export function shardIndices(cfg: Omit<DataConfig, 'seqLen'>, trainLabels: ArrayLike<number>): number[][] {
  const seed = deriveSeed(cfg.dataSeed, 'partition');
  return dirichletPartition(trainLabels, cfg.numShards, cfg.dirichletAlpha, seed, NUM_CLASSES);
}

/** A shard's indices, shuffled and cut into local train / local test. */
export function splitShard(indices: readonly number[], dataSeed: number, shard: number): { train: number[]; test: number[] } {
  const idx = shuffleInPlace([...indices], mulberry32(deriveSeed(dataSeed, `split/${shard}`)));
  const nTest = idx.length >= 2 ? Math.max(1, Math.round(idx.length * LOCAL_TEST_FRACTION)) : 0;
  return { train: idx.slice(nTest), test: idx.slice(0, nTest) };
}

/**
 * One tab's data: its shard of dataset (by default the built-in one for
 * cfg.dataSeed), encoded with the base model's tokenizer.
 */
export function buildClientData(cfg: DataConfig, shard: number, tokenizer: TextTokenizer, dataset: LabeledDataset = generateDataset(cfg.dataSeed)): ClientData {
  if (!Number.isInteger(shard) || shard < 0 || shard >= cfg.numShards) {
    throw new Error(`buildClientData: shard must be an integer in [0, ${cfg.numShards}), got ${shard}`);
  }
  const data = dataset;
  const shards = shardIndices(cfg, data.train.map((e) => e.label));
  const split = splitShard(shards[shard], cfg.dataSeed, shard);
  const take = (idx: number[]): Example[] => idx.map((i) => data.train[i]);
  const train = encodeExamples(take(split.train), tokenizer, cfg.seqLen);
  return {
    train,
    localTest: encodeExamples(take(split.test), tokenizer, cfg.seqLen),
    globalTest: encodeExamples(data.test, tokenizer, cfg.seqLen),
    labelCounts: labelHistogram(train.labels, NUM_CLASSES),
    shard,
    numShards: cfg.numShards,
    tokenizer,
  };
}

/** The whole train set in one place, for centralized baselines. */
export function buildCentralData(
  cfg: Pick<DataConfig, 'dataSeed' | 'seqLen'>,
  tokenizer: TextTokenizer,
  dataset: LabeledDataset = generateDataset(cfg.dataSeed),
): CentralData {
  const data = dataset;
  const train = encodeExamples(data.train, tokenizer, cfg.seqLen);
  return {
    train,
    globalTest: encodeExamples(data.test, tokenizer, cfg.seqLen),
    labelCounts: labelHistogram(train.labels, NUM_CLASSES),
    tokenizer,
  };
}
