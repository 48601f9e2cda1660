import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { adapterSpec } from '../adapters/spec.ts';
import { initAdapter } from '../adapters/init.ts';
import { mulberry32, normal } from '../data/rng.ts';
import { decodeF16, encodeF16, writeSafetensors, type TensorToWrite } from '../io/safetensors.ts';
import { LoraTrainer } from '../training/trainer.ts';
import { fromGpt2, gpt2ConfigToModel, loadGpt2Checkpoint, modelToGpt2Config, toGpt2 } from './gpt2.ts';
import type { HostTensor, HostWeights } from './init.ts';
import { hidden, type Adapter } from './transformer.ts';

const CONFIG = {
  model_type: 'gpt2',
  vocab_size: 50,
  n_positions: 16,
  n_embd: 8,
  n_layer: 2,
  n_head: 2,
  n_inner: null,
  layer_norm_epsilon: 1e-5,
  activation_function: 'gelu_new',
};
const [V, T, D, L] = [CONFIG.vocab_size, CONFIG.n_positions, CONFIG.n_embd, CONFIG.n_layer];

/** GPT-2's own names and shapes, written out here rather than taken from gpt2.ts. */
function gpt2Layout(): [string, number[]][] {
  const out: [string, number[]][] = [
    ['wte.weight', [V, D]],
    ['wpe.weight', [T, D]],
  ];
  for (let i = 0; i < L; i++) {
    const h = `h.${i}`;
    out.push([`${h}.ln_1.weight`, [D]], [`${h}.ln_1.bias`, [D]]);
    out.push([`${h}.attn.c_attn.weight`, [D, 3 * D]], [`${h}.attn.c_attn.bias`, [3 * D]]);
    out.push([`${h}.attn.c_proj.weight`, [D, D]], [`${h}.attn.c_proj.bias`, [D]]);
    out.push([`${h}.ln_2.weight`, [D]], [`${h}.ln_2.bias`, [D]]);
    out.push([`${h}.mlp.c_fc.weight`, [D, 4 * D]], [`${h}.mlp.c_fc.bias`, [4 * D]]);
    out.push([`${h}.mlp.c_proj.weight`, [4 * D, D]], [`${h}.mlp.c_proj.bias`, [D]]);
  }
  out.push(['ln_f.weight', [D]], ['ln_f.bias', [D]]);
  return out;
}

/** Random GPT-2 weights: gains around 1, clearly non-zero biases, weights large enough that every layer matters. */
function randomGpt2(seed: number): Map<string, HostTensor> {
  const rng = mulberry32(seed);
  const out = new Map<string, HostTensor>();
  for (const [name, shape] of gpt2Layout()) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const ln = /ln_\d|ln_f/.test(name);
    for (let i = 0; i < data.length; i++) {
      const z = normal(rng);
      if (ln && name.endsWith('.weight')) data[i] = 1 + 0.3 * z;
      else if (name.endsWith('.bias')) data[i] = 0.2 * z;
      else data[i] = (name.startsWith('w') ? 1 : 0.4) * z;
    }
    out.set(name, { shape, data });
  }
  return out;
}

/** As HF GPT2LMHeadModel saves it: "transformer." prefix, attention mask buffers, a tied lm_head. */
function checkpointTensors(g: Map<string, HostTensor>): TensorToWrite[] {
  const out: TensorToWrite[] = [...g].map(([name, t]) => ({ name: `transformer.${name}`, dtype: 'F32', shape: t.shape, data: t.data }));
  for (let i = 0; i < L; i++) {
    const mask = new Float32Array(T * T).map((_, k) => (k % T <= Math.floor(k / T) ? 1 : 0));
    out.push({ name: `transformer.h.${i}.attn.bias`, dtype: 'F32', shape: [1, 1, T, T], data: mask });
    out.push({ name: `transformer.h.${i}.attn.masked_bias`, dtype: 'F32', shape: [], data: new Float32Array([-1e4]) });
  }
  out.push({ name: 'lm_head.weight', dtype: 'F32', shape: [V, D], data: g.get('wte.weight')!.data });
  return out;
}

// ---------------------------------------------------------------- an independent float64 GPT-2

type Mat = number[][];

function param(g: Map<string, HostTensor>, name: string): Float32Array {
  return g.get(name)!.data;
}

/** x [N, in] @ W [in, out] + b, with W row-major [in, out] (GPT-2's Conv1D). */
function conv1d(x: Mat, w: Float32Array, b: Float32Array): Mat {
  const out = b.length;
  return x.map((row) => {
    const y = Array.from(b, Number);
    row.forEach((xi, i) => {
      for (let j = 0; j < out; j++) y[j] += xi * w[i * out + j];
    });
    return y;
  });
}

function layerNorm(x: Mat, g: Float32Array, b: Float32Array, eps: number): Mat {
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, j) => ((v - mean) / Math.sqrt(variance + eps)) * g[j] + b[j]);
  });
}

const geluNew = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

function causalSelfAttention(qkv: Mat, nHead: number, d: number): Mat {
  const hd = d / nHead;
  const y: Mat = qkv.map(() => new Array(d).fill(0));
  for (let h = 0; h < nHead; h++) {
    const q = (t: number, j: number) => qkv[t][h * hd + j];
    const k = (t: number, j: number) => qkv[t][d + h * hd + j];
    const v = (t: number, j: number) => qkv[t][2 * d + h * hd + j];
    for (let t = 0; t < qkv.length; t++) {
      const scores: number[] = [];
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let j = 0; j < hd; j++) dot += q(t, j) * k(s, j);
        scores.push(dot / Math.sqrt(hd));
      }
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const z = e.reduce((a, b) => a + b, 0);
      for (let s = 0; s <= t; s++) for (let j = 0; j < hd; j++) y[t][h * hd + j] += (e[s] / z) * v(s, j);
    }
  }
  return y;
}

const addInPlace = (x: Mat, y: Mat) => x.forEach((row, t) => row.forEach((_, j) => (row[j] += y[t][j])));

/** LM logits [T, V] for one sequence, from GPT-2-named tensors. */
function referenceLogits(g: Map<string, HostTensor>, ids: number[]): Mat {
  const eps = CONFIG.layer_norm_epsilon;
  const [wte, wpe] = [param(g, 'wte.weight'), param(g, 'wpe.weight')];
  const x: Mat = ids.map((id, t) => Array.from({ length: D }, (_, j) => wte[id * D + j] + wpe[t * D + j]));
  for (let i = 0; i < L; i++) {
    const p = (n: string) => param(g, `h.${i}.${n}`);
    const h1 = layerNorm(x, p('ln_1.weight'), p('ln_1.bias'), eps);
    const att = causalSelfAttention(conv1d(h1, p('attn.c_attn.weight'), p('attn.c_attn.bias')), CONFIG.n_head, D);
    addInPlace(x, conv1d(att, p('attn.c_proj.weight'), p('attn.c_proj.bias')));
    const h2 = layerNorm(x, p('ln_2.weight'), p('ln_2.bias'), eps);
    const m = conv1d(h2, p('mlp.c_fc.weight'), p('mlp.c_fc.bias')).map((r) => r.map(geluNew));
    addInPlace(x, conv1d(m, p('mlp.c_proj.weight'), p('mlp.c_proj.bias')));
  }
  const out = layerNorm(x, param(g, 'ln_f.weight'), param(g, 'ln_f.bias'), eps);
  return out.map((row) => Array.from({ length: V }, (_, v) => row.reduce((a, xj, j) => a + xj * wte[v * D + j], 0)));
}

// ---------------------------------------------------------------- tabfed's forward on the loaded checkpoint

function tabfedLogits(model: ReturnType<typeof gpt2ConfigToModel>, base: HostWeights, seqs: number[][]): Mat[] {
  return tf.tidy(() => {
    const baseT = new Map([...base].map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));
    // A head only: no lora_A/lora_B tensors, so no LoRA is applied.
    const adapter: Adapter = {
      lora: { rank: 1, alpha: 1, dropout: 0, targets: ['q'] },
      tensors: new Map([
        ['head.weight', tf.zeros([model.dModel, model.numClasses])],
        ['head.bias', tf.zeros([model.numClasses])],
      ]),
    };
    const [B, len] = [seqs.length, seqs[0].length];
    const h = hidden(model, baseT, adapter, tf.tensor2d(seqs, [B, len], 'int32'));
    const logits = tf.matMul(tf.reshape(h, [B * len, model.dModel]) as tf.Tensor2D, baseT.get('wte')! as tf.Tensor2D, false, true);
    return tf.reshape(logits, [B, len, model.vocabSize]).arraySync() as Mat[];
  });
}

function maxAbsDiff(a: Mat, b: Mat): number {
  let m = 0;
  a.forEach((row, t) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[t][j])))));
  return m;
}

function randomIds(n: number, len: number, seed: number): number[][] {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, () => Array.from({ length: len }, () => Math.floor(rng() * V)));
}

describe('GPT-2 checkpoints', () => {
  const g = randomGpt2(7);
  const file = writeSafetensors(checkpointTensors(g), { format: 'pt' });

  it('parses config.json', () => {
    expect(gpt2ConfigToModel(CONFIG, 3)).toEqual({ vocabSize: 50, contextLength: 16, dModel: 8, nLayers: 2, nHeads: 2, mlpRatio: 4, numClasses: 3, layerNormEps: 1e-5 });
    expect(gpt2ConfigToModel({ ...CONFIG, n_inner: 16, activation_function: 'gelu_pytorch_tanh', layer_norm_epsilon: 1e-6 }, 2)).toMatchObject({ mlpRatio: 2, layerNormEps: 1e-6 });
    expect(gpt2ConfigToModel(modelToGpt2Config(gpt2ConfigToModel(CONFIG, 3)), 3)).toEqual(gpt2ConfigToModel(CONFIG, 3));
  });

  it('refuses unsupported configs', () => {
    expect(() => gpt2ConfigToModel({ ...CONFIG, activation_function: 'relu' }, 3)).toThrow(/activation_function "relu" is not supported/);
    expect(() => gpt2ConfigToModel({ ...CONFIG, activation_function: 'gelu' }, 3)).toThrow(/activation_function "gelu" is not supported \(tabfed uses the tanh GELU/);
    expect(() => gpt2ConfigToModel({ ...CONFIG, n_inner: 12 }, 3)).toThrow(/"n_inner" \(12\) must be a positive multiple of n_embd \(8\)/);
    expect(() => gpt2ConfigToModel({ ...CONFIG, n_head: 3 }, 3)).toThrow(/divisible by nHeads/);
    expect(() => gpt2ConfigToModel({ ...CONFIG, n_embd: undefined }, 3)).toThrow(/"n_embd" must be a positive integer/);
    expect(() => gpt2ConfigToModel({ ...CONFIG, model_type: 'llama' }, 3)).toThrow(/model_type is "llama"/);
    expect(() => gpt2ConfigToModel({ ...CONFIG, scale_attn_by_inverse_layer_idx: true }, 3)).toThrow(/scale_attn_by_inverse_layer_idx/);
  });

  it("tabfed's forward pass on a loaded checkpoint matches an independent GPT-2 forward", () => {
    const { model, base } = loadGpt2Checkpoint(file, CONFIG, 3);
    for (const seqs of [randomIds(2, T, 1), randomIds(1, 5, 2)]) {
      const ours = tabfedLogits(model, base, seqs);
      seqs.forEach((ids, b) => {
        const ref = referenceLogits(g, ids);
        expect(Math.max(...ref.flat().map(Math.abs))).toBeGreaterThan(1); // non-trivial logits
        expect(maxAbsDiff(ours[b], ref)).toBeLessThan(1e-4);
      });
    }
  });

  it('a loaded checkpoint drives LoraTrainer', () => {
    const { model, base } = loadGpt2Checkpoint(file, CONFIG, 3);
    const lora = { rank: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] as ('q' | 'v')[] };
    const trainer = LoraTrainer.fromWeights(model, lora, base, initAdapter(adapterSpec(model, lora), 1));
    const ids = Int32Array.from(randomIds(2, 8, 3).flat());
    const logits = trainer.logits({ ids, labels: new Int32Array([0, 1]), size: 2, len: 8, padId: 0 });
    expect(logits.shape).toEqual([2, 3]);
    expect(logits.dataSync().every(Number.isFinite)).toBe(true);
    logits.dispose();
    trainer.dispose();
  });

  it('toGpt2(fromGpt2(x)) round-trips exactly, and so does a saved tabfed model', () => {
    const model = gpt2ConfigToModel(CONFIG, 3);
    const back = toGpt2(fromGpt2(g, model), model);
    expect(back.map((t) => t.name).sort()).toEqual([...g.keys()].sort());
    for (const t of back) {
      expect(t.shape, t.name).toEqual(g.get(t.name)!.shape);
      expect(t.data, t.name).toEqual(g.get(t.name)!.data);
    }
    const { base } = loadGpt2Checkpoint(file, CONFIG, 3);
    const reloaded = loadGpt2Checkpoint(writeSafetensors(toGpt2(base, model)), modelToGpt2Config(model), 3);
    expect(reloaded.model).toEqual(model);
    expect([...reloaded.base.keys()]).toEqual([...base.keys()]);
    for (const [name, t] of base) expect(reloaded.base.get(name), name).toEqual(t);
  });

  it('splits c_attn into q, k, v along the output dim', () => {
    const model = gpt2ConfigToModel(CONFIG, 3);
    const base = fromGpt2(g, model);
    const w = g.get('h.1.attn.c_attn.weight')!.data;
    const b = g.get('h.1.attn.c_attn.bias')!.data;
    ['q', 'k', 'v'].forEach((m, j) => {
      expect(base.get(`blocks.1.${m}.w`)!.data[3 * D + 5]).toBe(w[3 * (3 * D) + j * D + 5]); // row 3, column 5 of the part
      expect(base.get(`blocks.1.${m}.b`)!.data[2]).toBe(b[j * D + 2]);
    });
  });

  it('loads F16 checkpoints', () => {
    const half = checkpointTensors(g).map((t) => ({ ...t, dtype: 'F16' as const, data: encodeF16(t.data as Float32Array) }));
    const { base } = loadGpt2Checkpoint(writeSafetensors(half), CONFIG, 3);
    expect(base.get('blocks.0.fc_in.w')!.data).toEqual(decodeF16(encodeF16(g.get('h.0.mlp.c_fc.weight')!.data)));
  });

  it('names missing, wrongly shaped and unexpected tensors', () => {
    const model = gpt2ConfigToModel(CONFIG, 3);
    const without = new Map(g);
    without.delete('h.1.mlp.c_fc.bias');
    expect(() => fromGpt2(without, model)).toThrow(/missing tensor "h\.1\.mlp\.c_fc\.bias"/);

    const bad = checkpointTensors(g).map((t) => (t.name === 'transformer.h.0.attn.c_attn.weight' ? { ...t, shape: [D, 2 * D], data: new Float32Array(2 * D * D) } : t));
    expect(() => loadGpt2Checkpoint(writeSafetensors(bad), CONFIG, 3)).toThrow(/tensor "h\.0\.attn\.c_attn\.weight" has shape \[8,16\], expected \[8,24\]/);

    // A checkpoint with more layers than its config says.
    expect(() => loadGpt2Checkpoint(file, { ...CONFIG, n_layer: 1 }, 3)).toThrow(/unexpected tensor\(s\) "h\.1\.[a-z_.]+", .* and 7 more \(not in a 1-layer GPT-2 base model\)/);
    expect(() => loadGpt2Checkpoint(file, { ...CONFIG, activation_function: 'relu' }, 3)).toThrow(/activation_function "relu" is not supported/);
    const both = new Map([...g, ['transformer.wte.weight', g.get('wte.weight')!]]);
    expect(() => fromGpt2(both, model)).toThrow(/"wte\.weight" appears both with and without the "transformer\." prefix/);
  });
});
