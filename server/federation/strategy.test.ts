import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../web/src/data/rng.ts';
import { fedAvg } from '../../web/src/federation/fedavg.ts';
import { DEFAULT_CONFIG, type FederationConfig } from '../../web/src/protocol/config.ts';
import type { Metrics } from '../../web/src/protocol/messages.ts';
import { fedAvgStrategy, fitConfig, meanTrainLoss, numFitClients, type FitResult } from './strategy.ts';

const cfg = (patch: Partial<FederationConfig>): FederationConfig => ({ ...DEFAULT_CONFIG, ...patch });
const ids = (n: number) => Array.from({ length: n }, (_, i) => `c${i + 1}`);
const m = (accuracy: number, numExamples: number, loss = 1, macroF1 = accuracy): Metrics => ({ accuracy, macroF1, loss, numExamples });

describe('configureFit', () => {
  it('asks fractionFit of the ready clients, at least minClients, at most all', () => {
    expect(numFitClients(10, cfg({ fractionFit: 0.5, minClients: 2 }))).toBe(5);
    expect(numFitClients(5, cfg({ fractionFit: 0.5, minClients: 2 }))).toBe(3);
    expect(numFitClients(10, cfg({ fractionFit: 0.1, minClients: 3 }))).toBe(3);
    expect(numFitClients(4, cfg({ fractionFit: 1, minClients: 2 }))).toBe(4);
    expect(numFitClients(3, cfg({ fractionFit: 0.01, minClients: 3 }))).toBe(3);
  });

  it('selects nobody when fewer than minClients are ready', () => {
    expect(fedAvgStrategy.configureFit(1, ids(1), cfg({ minClients: 2 }), mulberry32(1))).toEqual([]);
  });

  it('selects everyone with fractionFit 1, in the given order', () => {
    expect(fedAvgStrategy.configureFit(1, ids(4), cfg({ fractionFit: 1, minClients: 2 }), mulberry32(1))).toEqual(ids(4));
  });

  it('draws a subset that depends only on the seed', () => {
    const config = cfg({ fractionFit: 0.3, minClients: 2 });
    const ready = ids(20);
    const draws = [1, 1, 2, 3, 4].map((seed) => fedAvgStrategy.configureFit(1, ready, config, mulberry32(seed)));

    for (const d of draws) {
      expect(d).toHaveLength(6);
      expect(new Set(d).size).toBe(6);
      expect(d.every((id) => ready.includes(id))).toBe(true);
      expect(d).toEqual([...d].sort((a, b) => ready.indexOf(a) - ready.indexOf(b)));
    }
    expect(draws[0]).toEqual(draws[1]);
    expect(new Set(draws.map((d) => d.join())).size).toBeGreaterThan(2);
  });
});

describe('aggregateFit', () => {
  const result = (clientId: string, value: number, numExamples: number): FitResult => ({
    clientId,
    numExamples,
    trainLoss: value,
    weights: [{ name: 'w', shape: [2], data: new Float32Array([value, -value]) }],
  });

  it('keeps the old global when nothing came back', () => {
    expect(fedAvgStrategy.aggregateFit(1, [])).toBeNull();
  });

  it('is FedAvg weighted by numExamples', () => {
    const results = [result('a', 1, 1), result('b', 5, 3)];
    const out = fedAvgStrategy.aggregateFit(1, results)!;
    expect(Array.from(out[0].data)).toEqual([4, -4]);
    expect(out).toEqual(fedAvg(results));
  });

  it('reports the example-weighted mean training loss', () => {
    expect(meanTrainLoss([result('a', 1, 1), result('b', 5, 3)])).toBe(4);
  });
});

describe('aggregateEvaluate', () => {
  it('weights each client by its own example counts, global and local separately', () => {
    // Prepare: a scores 1.0 on 10 global examples, b 0.0 on 30; locally a has 30, b 10.
    const results = [
      { clientId: 'a', global: m(1, 10, 2), local: m(1, 30, 0) },
      { clientId: 'b', global: m(0, 30, 6), local: m(0, 10, 4) },
    ];
    // Execute
    const { metrics, localMetrics } = fedAvgStrategy.aggregateEvaluate(results);
    // Assert: (10*1 + 30*0) / 40, not the unweighted 0.5.
    expect(metrics.accuracy).toBeCloseTo(0.25, 12);
    expect(metrics.macroF1).toBeCloseTo(0.25, 12);
    expect(metrics.loss).toBeCloseTo((10 * 2 + 30 * 6) / 40, 12);
    expect(localMetrics!.accuracy).toBeCloseTo(0.75, 12);
    expect(localMetrics!.loss).toBeCloseTo(1, 12);
  });

  it('has no local metrics when no client has a local test shard', () => {
    const out = fedAvgStrategy.aggregateEvaluate([{ clientId: 'a', global: m(0.5, 8), local: m(0, 0) }]);
    expect(out.localMetrics).toBeNull();
    expect(out.metrics.accuracy).toBe(0.5);
  });

  it('falls back to equal weights when no global example was counted', () => {
    const out = fedAvgStrategy.aggregateEvaluate([
      { clientId: 'a', global: m(1, 0), local: m(1, 0) },
      { clientId: 'b', global: m(0, 0), local: m(1, 0) },
    ]);
    expect(out.metrics.accuracy).toBe(0.5);
  });

  it('refuses an empty round', () => {
    expect(() => fedAvgStrategy.aggregateEvaluate([])).toThrow(/at least one/);
  });
});

describe('fitConfig', () => {
  it('carries the config and a seed fixed by round and shard', () => {
    const config = cfg({ localSteps: 7, batchSize: 3, learningRate: 0.01 });
    const a = fitConfig(config, 2, 1);
    expect(a).toMatchObject({ localSteps: 7, batchSize: 3, learningRate: 0.01 });
    expect(fitConfig(config, 2, 1)).toEqual(a);
    expect(fitConfig(config, 3, 1).seed).not.toBe(a.seed);
    expect(fitConfig(config, 2, 0).seed).not.toBe(a.seed);
  });
});
