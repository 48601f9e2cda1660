import { describe, expect, it } from 'vitest';
import type { EncodedSet } from '../training/types.ts';
import { buildCentralData, buildClientData, shardIndices } from './clientData.ts';
import { labelHistogram } from './encode.ts';
import { generateDataset } from './synthetic.ts';
import { WordTokenizer } from './tokenizer.ts';

const tok = WordTokenizer.builtin(1024);

const cfg = { dataSeed: 7, numShards: 4, dirichletAlpha: 0.5, seqLen: 32 };

// Each example's ids as one string, to compare examples across sets.
function rows(set: EncodedSet): string[] {
  return Array.from({ length: set.n }, (_, i) => `${set.ids.subarray(i * set.seqLen, (i + 1) * set.seqLen).join(',')}|${set.labels[i]}`);
}

describe('buildClientData', () => {
  const clients = [0, 1, 2, 3].map((s) => buildClientData(cfg, s, tok));

  it('is deterministic', () => {
    const again = buildClientData(cfg, 2, tok);
    expect(again.train).toEqual(clients[2].train);
    expect(again.localTest).toEqual(clients[2].localTest);
    expect(again.globalTest).toEqual(clients[2].globalTest);
    expect(again.labelCounts).toEqual(clients[2].labelCounts);
  });

  it('splits each shard 80/20 and counts the train labels', () => {
    const shards = shardIndices(cfg, generateDataset(cfg.dataSeed).train.map((e) => e.label));
    clients.forEach((c, s) => {
      expect(c.shard).toBe(s);
      expect(c.numShards).toBe(4);
      expect(c.train.n + c.localTest.n).toBe(shards[s].length);
      expect(c.localTest.n).toBe(Math.round(shards[s].length * 0.2));
      expect(c.labelCounts).toEqual(labelHistogram(c.train.labels, 3));
      expect(c.train.ids).toHaveLength(c.train.n * 32);
    });
    expect(clients.reduce((n, c) => n + c.train.n + c.localTest.n, 0)).toBe(3000);
  });

  it('gives disjoint shards, local test drawn from the own shard only', () => {
    const train = generateDataset(cfg.dataSeed).train;
    const shards = shardIndices(cfg, train.map((e) => e.label));
    const tok = clients[0].tokenizer;
    const shardRows = shards.map((idx) => new Set(idx.map((i) => `${tok.encode(train[i].text, 32).join(',')}|${train[i].label}`)));
    clients.forEach((c, s) => {
      for (const r of [...rows(c.train), ...rows(c.localTest)]) {
        expect(shardRows[s].has(r)).toBe(true);
        shardRows.forEach((other, o) => o !== s && expect(other.has(r)).toBe(false));
      }
      expect(new Set([...rows(c.train), ...rows(c.localTest)]).size).toBe(c.train.n + c.localTest.n);
    });
  });

  it('shares the whole global test set', () => {
    expect(clients[0].globalTest.n).toBe(600);
    for (const c of clients) expect(c.globalTest).toEqual(clients[0].globalTest);
  });

  it('rejects a shard out of range', () => {
    expect(() => buildClientData(cfg, 4, tok)).toThrow(/shard must be an integer in \[0, 4\)/);
    expect(() => buildClientData(cfg, -1, tok)).toThrow(/shard/);
  });
});

describe('buildCentralData', () => {
  it('encodes the whole train set and the global test set', () => {
    const c = buildCentralData(cfg, tok);
    expect(c.train.n).toBe(3000);
    expect(c.labelCounts).toEqual([1000, 1000, 1000]);
    expect(c.globalTest).toEqual(buildClientData(cfg, 0, tok).globalTest);
  });
});
