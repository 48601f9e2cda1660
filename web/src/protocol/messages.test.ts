import { describe, expect, it } from 'vitest';
import { encodeWeights, type TensorHeader, type Weights } from '../federation/weights.ts';
import { presetConfig } from '../model/config.ts';
import type { LoraConfig } from '../adapters/spec.ts';
import { baseDescriptorSchema, randomBaseDescriptor, type BaseCatalog, type BaseDescriptor, type BaseFileName } from './base.ts';
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

describe('config checks that depend on the base model', () => {
  const tiny = presetConfig('tiny');
  const random = { base: 'random', preset: 'tiny' } as const;

  it('refuses a sequence longer than the preset context (random base)', () => {
    const seqLen = tiny.contextLength + 1;
    expect(() => mergeConfig(DEFAULT_CONFIG, { ...random, seqLen })).toThrow(new RegExp(`seqLen: ${seqLen} exceeds the tiny preset's context of 64`));
    expect(refusal(() => parseConfig({ ...DEFAULT_CONFIG, ...random, seqLen })).code).toBe('bad-config');
    expect(mergeConfig(DEFAULT_CONFIG, { ...random, seqLen: tiny.contextLength }).seqLen).toBe(tiny.contextLength);
  });

  const registered = (id: string, model: BaseDescriptor['model']): BaseDescriptor => ({
    id,
    label: id,
    description: '',
    pretrained: true,
    source: 'url',
    params: 1,
    model,
    files: ['config.json', 'tokenizer.json', 'model.safetensors'].map((name) => ({ name: name as BaseFileName, url: `/models/${id}/${name}`, bytes: 1, sha256: '0'.repeat(64) })),
  });
  const small = registered('small-lm', { vocabSize: 500, contextLength: 48, dModel: 16, nLayers: 1, nHeads: 2, mlpRatio: 4, layerNormEps: 1e-5 });
  const medium = registered('gpt2-medium', { vocabSize: 50257, contextLength: 1024, dModel: 1024, nLayers: 24, nHeads: 16, mlpRatio: 4, layerNormEps: 1e-5 });
  const catalog: BaseCatalog = { get: (id) => [small, medium].find((b) => b.id === id), list: () => [small, medium] };

  it("applies a registered base's limits, not the preset's", () => {
    expect(mergeConfig(DEFAULT_CONFIG, { base: 'small-lm', seqLen: 48 }, catalog)).toMatchObject({ base: 'small-lm', seqLen: 48 });
    expect(() => mergeConfig(DEFAULT_CONFIG, { base: 'small-lm', seqLen: 49 }, catalog)).toThrow(/seqLen: 49 exceeds base model "small-lm"'s context of 48/);
    const lora = { ...DEFAULT_CONFIG.lora, rank: 17 };
    expect(() => mergeConfig(DEFAULT_CONFIG, { base: 'small-lm', lora }, catalog)).toThrow(/lora\.rank: 17 exceeds base model "small-lm"'s dModel of 16/);
  });

  it('refuses an unknown base, naming the known ones', () => {
    expect(() => mergeConfig(DEFAULT_CONFIG, { base: 'nope' }, catalog)).toThrow('invalid config: base: no base model "nope" is registered (known: random, small-lm, gpt2-medium)');
  });

  it('refuses an adapter too big for one message', () => {
    const lora = { rank: 64, alpha: 64, dropout: 0, targets: ['q', 'k', 'v', 'o', 'fc_in', 'fc_out'] as LoraConfig['targets'] };
    expect(() => mergeConfig(DEFAULT_CONFIG, { base: 'gpt2-medium', lora }, catalog)).toThrow(/lora: this adapter would be 10\d\.\d MB on base model "gpt2-medium"'s architecture, over the 64\.0 MB a message may carry/);
    expect(mergeConfig(DEFAULT_CONFIG, { base: 'gpt2-medium', lora: { ...lora, rank: 8 } }, catalog).lora.rank).toBe(8);
  });

  it('refuses repeated LoRA targets', () => {
    const lora = { ...DEFAULT_CONFIG.lora, targets: ['q', 'q'] };
    expect(() => mergeConfig(DEFAULT_CONFIG, { lora })).toThrow(/lora\.targets: must not repeat/);
  });
});

describe('base descriptors', () => {
  it('describe the random base: no files, not pretrained, the preset architecture', () => {
    const d = randomBaseDescriptor('tiny', 1);
    expect(baseDescriptorSchema.parse(d)).toEqual(d);
    expect(d).toMatchObject({ id: 'random', pretrained: false, files: [], model: { dModel: presetConfig('tiny').dModel } });
  });

  it('name every problem of a checkpoint descriptor', () => {
    const file = (name: string, sha256 = 'a'.repeat(64)) => ({ name, url: `/models/x/${name}`, bytes: 10, sha256 });
    const d = { ...randomBaseDescriptor('tiny', 1), id: 'x', source: 'url', files: [file('config.json'), file('model.safetensors', 'XYZ'), file('config.json')] };
    const r = baseDescriptorSchema.safeParse(d);
    expect(r.success).toBe(false);
    const text = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    expect(text).toMatch(/files\.1\.sha256: must be 64 lowercase hex digits/);
    expect(baseDescriptorSchema.safeParse({ ...d, files: [file('config.json'), file('model.safetensors')] }).error!.issues.map((i) => i.message)).toEqual(['tokenizer.json is missing']);
    expect(baseDescriptorSchema.safeParse({ ...randomBaseDescriptor('tiny', 1), files: [file('config.json')] }).success).toBe(false);
    expect(baseDescriptorSchema.safeParse({ ...d, id: '../etc' }).success).toBe(false);
  });
});
