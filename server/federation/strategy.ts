// FedAvg as a Flower-style strategy: round hooks with no I/O. The coordinator
// owns the loop and the sockets; this file only decides and computes.
import { fedAvg, type FitResult as WeightedResult } from '../../web/src/federation/fedavg.ts';
import type { Weights } from '../../web/src/federation/weights.ts';
import { deriveSeed, type Rng } from '../../web/src/data/rng.ts';
import type { FederationConfig } from '../../web/src/protocol/config.ts';
import type { FitConfig, Metrics, RoundRecord } from '../../web/src/protocol/messages.ts';

/** One accepted update of a round. */
export interface FitResult extends WeightedResult {
  clientId: string;
  trainLoss: number;
}

/** One client's evaluation of the global adapter. */
export interface EvaluateResult {
  clientId: string;
  local: Metrics;
  global: Metrics;
}

export type MetricSummary = RoundRecord['metrics'];

export interface EvaluateSummary {
  metrics: MetricSummary;
  localMetrics: MetricSummary | null;
}

export interface Strategy {
  /** Ids of the clients asked to train this round; [] when fewer than minClients are ready. */
  configureFit(round: number, readyClientIds: readonly string[], config: FederationConfig, rng: Rng): string[];
  /** The new global adapter, or null to keep the old one. */
  aggregateFit(round: number, results: readonly FitResult[]): Weights | null;
  aggregateEvaluate(results: readonly EvaluateResult[]): EvaluateSummary;
}

/** How many of n ready clients train: fractionFit of them, at least minClients, at most all. */
export function numFitClients(n: number, config: FederationConfig): number {
  if (n < config.minClients) return 0;
  return Math.min(n, Math.max(config.minClients, Math.ceil(config.fractionFit * n)));
}

/** k of the ids, drawn without replacement by a partial Fisher-Yates; keeps the input order. */
export function sample(ids: readonly string[], k: number, rng: Rng): string[] {
  if (k >= ids.length) return [...ids];
  const idx = ids.map((_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx
    .slice(0, k)
    .sort((a, b) => a - b)
    .map((i) => ids[i]);
}

/** Example-weighted mean of accuracy, macroF1 and loss; null when no example was counted. */
export function weightedMetrics(ms: readonly Metrics[]): MetricSummary | null {
  const total = ms.reduce((n, m) => n + m.numExamples, 0);
  if (total === 0) return null;
  const mean = (key: keyof MetricSummary) => ms.reduce((s, m) => s + (m.numExamples / total) * m[key], 0);
  return { accuracy: mean('accuracy'), macroF1: mean('macroF1'), loss: mean('loss') };
}

function plainMetrics(ms: readonly Metrics[]): MetricSummary {
  return weightedMetrics(ms.map((m) => ({ ...m, numExamples: 1 })))!;
}

/** Example-weighted mean training loss of the aggregated updates. */
export function meanTrainLoss(results: readonly FitResult[]): number | null {
  const total = results.reduce((n, r) => n + r.numExamples, 0);
  if (total === 0) return null;
  return results.reduce((s, r) => s + (r.numExamples / total) * r.trainLoss, 0);
}

/** The per-client training settings of a round; the seed depends only on config, round and shard. */
export function fitConfig(config: FederationConfig, round: number, shard: number): FitConfig {
  return {
    localSteps: config.localSteps,
    batchSize: config.batchSize,
    learningRate: config.learningRate,
    seed: deriveSeed(config.dataSeed, `fit/${round}/${shard}`),
  };
}

export const fedAvgStrategy: Strategy = {
  configureFit(_round, readyClientIds, config, rng) {
    return sample(readyClientIds, numFitClients(readyClientIds.length, config), rng);
  },

  aggregateFit(_round, results) {
    return results.length === 0 ? null : fedAvg(results);
  },

  aggregateEvaluate(results) {
    if (results.length === 0) throw new Error('aggregateEvaluate needs at least one result');
    const global = results.map((r) => r.global);
    return {
      // A client without a global test set still counts, equally, rather than not at all.
      metrics: weightedMetrics(global) ?? plainMetrics(global),
      localMetrics: weightedMetrics(results.map((r) => r.local)),
    };
  },
};
