import { describe, expect, it } from 'vitest';
import { encodeWeights, type TensorHeader, type Weights } from '../federation/weights.ts';
import { presetConfig } from '../model/config.ts';
import { DEFAULT_CONFIG, mergeConfig } from './config.ts';
import { ProtocolError, decodeWeights, parse, parseConfig, readySchema, updateSchema } from './messages.ts';

const spec: TensorHeader[] = [
  { name: 'a', shape: [2, 3] },
  { name: 'b', shape: [3] },
];
const weights = (): Weights => [
  { name: 'a', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
  { name: 'b', shape: [3], data: new Float32Array([-1, 0.5, 7]) },
];
const bytes = (w: Weights) => new Uint8Array(encodeWeights(w).data as ArrayBuffer);

/** The ProtocolError that fn throws. */
function refusal(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
  throw new Error('expected a ProtocolError');
}

describe('decodeWeights', () => {
  it('round-trips what encodeWeights makes', () => {
    expect(decodeWeights(encodeWeights(weights()), spec)).toEqual(weights());
  });

  it('accepts an unaligned Buffer', () => {
    // Prepare: the float32 bytes start at byteOffset 1, which a Float32Array view cannot.
    const raw = bytes(weights());
    const backing = Buffer.alloc(raw.byteLength + 1);
    backing.set(raw, 1);
    const unaligned = backing.subarray(1);
    // Execute
    const out = decodeWeights({ tensors: spec, data: unaligned }, spec);
    // Assert
    expect(unaligned.byteOffset % 4).not.toBe(0);
    expect(out).toEqual(weights());
  });

  it('rejects wrong names', () => {
    const e = refusal(() => decodeWeights({ tensors: [{ name: 'x', shape: [2, 3] }, spec[1]], data: bytes(weights()) }, spec));
    expect(e.code).toBe('bad-weights');
    expect(e.message).toMatch(/"x".*expected "a"/);
  });

  it('rejects a missing tensor', () => {
    const e = refusal(() => decodeWeights(encodeWeights(weights().slice(0, 1)), spec));
    expect(e.code).toBe('bad-weights');
    expect(e.message).toMatch(/expected 2 tensors, got 1; missing b/);
  });

  it('rejects a wrong shape', () => {
    const e = refusal(() => decodeWeights({ tensors: [{ name: 'a', shape: [3, 2] }, spec[1]], data: bytes(weights()) }, spec));
    expect(e.code).toBe('bad-weights');
    expect(e.message).toMatch(/"a" has shape \[3,2\], expected \[2,3\]/);
  });

  it('rejects a wrong byte length', () => {
    const short = bytes(weights()).subarray(0, 35);
    const long = new Uint8Array(40);
    for (const data of [short, long]) {
      const e = refusal(() => decodeWeights({ tensors: spec, data }, spec));
      expect(e.code).toBe('bad-weights');
      expect(e.message).toMatch(/expected 36 \(9 float32 values\)/);
    }
  });

  it('rejects NaN and Infinity, naming the tensor', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const w = weights();
      w[1].data[2] = bad;
      const e = refusal(() => decodeWeights(encodeWeights(w), spec));
      expect(e.code).toBe('bad-weights');
      expect(e.message).toMatch(/"b" holds a non-finite value/);
    }
  });

  it('rejects data that is not binary', () => {
    for (const data of ['AAAA', [1, 2, 3], { 0: 1 }, null, undefined, new Float32Array(9)]) {
      const e = refusal(() => decodeWeights({ tensors: spec, data }, spec));
      expect(e.code).toBe('bad-payload');
      expect(e.message).toMatch(/^weights: data: expected binary data/);
    }
  });

  it('rejects a payload that is not an object', () => {
    expect(refusal(() => decodeWeights('garbage', spec)).code).toBe('bad-payload');
  });
});

describe('parse', () => {
  const update = { federation: 'f', round: 1, numExamples: 10, weights: encodeWeights(weights()), trainLoss: 0.1, steps: 2, ms: 3 };

  it('returns the parsed message', () => {
    expect(parse(updateSchema, update, 'update')).toMatchObject({ federation: 'f', round: 1, numExamples: 10 });
  });

  it('names the field that is wrong', () => {
    const e = refusal(() => parse(updateSchema, { ...update, numExamples: 0 }, 'update'));
    expect(e.code).toBe('bad-payload');
    expect(e.message).toMatch(/^update: numExamples: /);
  });

  it('names nested fields and every problem', () => {
    const bad = { ...update, round: -1, trainLoss: NaN, weights: { ...update.weights, tensors: [{ name: 'a', shape: [0] }] } };
    const e = refusal(() => parse(updateSchema, bad, 'update'));
    expect(e.message).toMatch(/round: /);
    expect(e.message).toMatch(/trainLoss: /);
    expect(e.message).toMatch(/weights\.tensors\.0\.shape\.0: /);
  });

  it('names a missing field', () => {
    const e = refusal(() => parse(readySchema, { federation: 'f', round: 0, backend: 'wasm', adapterInfo: '', numTest: 0, labelCounts: [] }, 'ready'));
    expect(e.message).toMatch(/^ready: numTrain: /);
  });
});

describe('config checks that depend on the preset', () => {
  const tiny = presetConfig('tiny');

  it('refuses a sequence longer than the preset context', () => {
    const seqLen = tiny.contextLength + 1;
    expect(() => mergeConfig(DEFAULT_CONFIG, { preset: 'tiny', seqLen })).toThrow(new RegExp(`seqLen: ${seqLen} exceeds`));
    expect(refusal(() => parseConfig({ ...DEFAULT_CONFIG, preset: 'tiny', seqLen })).code).toBe('bad-config');
    expect(mergeConfig(DEFAULT_CONFIG, { preset: 'tiny', seqLen: tiny.contextLength }).seqLen).toBe(tiny.contextLength);
  });

  it('refuses repeated LoRA targets', () => {
    const lora = { ...DEFAULT_CONFIG.lora, targets: ['q', 'q'] };
    expect(() => mergeConfig(DEFAULT_CONFIG, { lora })).toThrow(/lora\.targets: must not repeat/);
  });
});
