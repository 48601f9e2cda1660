// Hugging Face GPT-2 checkpoints <-> tabfed base weights. tabfed's base model is
// GPT-2's architecture (pre-LN blocks, causal attention, tanh GELU, tied
// embeddings), and GPT-2's Conv1D stores weights [in, out] like tabfed's linear
// layers, so the mapping is a renaming plus splitting the fused q|k|v projection.
import { readSafetensors, toFloat32, type SafeTensor } from '../io/safetensors.ts';
import { validateModelConfig, type ModelConfig } from './config.ts';
import { baseShapes, type HostTensor, type HostWeights } from './init.ts';

export interface Gpt2Tensor {
  name: string;
  dtype: 'F32';
  shape: number[];
  data: Float32Array;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------- config.json

/** GPT2Config flags whose non-default values change the computation in ways tabfed does not implement. */
const UNSUPPORTED_FLAGS: [key: string, supported: unknown][] = [
  ['scale_attn_weights', true],
  ['scale_attn_by_inverse_layer_idx', false],
  ['add_cross_attention', false],
];

const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh'];

function positiveInt(json: Record<string, unknown>, key: string): number {
  const v = json[key];
  if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`GPT-2 config: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
}

function mlpRatio(json: Record<string, unknown>, dModel: number): number {
  const inner = json.n_inner;
  if (inner === undefined || inner === null) return 4;
  if (!Number.isInteger(inner) || (inner as number) % dModel !== 0) {
    throw new Error(`GPT-2 config: "n_inner" (${JSON.stringify(inner)}) must be a positive multiple of n_embd (${dModel})`);
  }
  return (inner as number) / dModel;
}

/** GPT-2's config.json as a tabfed ModelConfig; numClasses sizes the (new) classification head. */
export function gpt2ConfigToModel(json: unknown, numClasses: number): ModelConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('GPT-2 config: expected a JSON object');
  const j = json as Record<string, unknown>;
  if (j.model_type !== undefined && j.model_type !== 'gpt2') throw new Error(`GPT-2 config: model_type is "${j.model_type}", expected "gpt2"`);
  const act = j.activation_function ?? 'gelu_new'; // GPT2Config's default
  if (typeof act !== 'string' || !TANH_GELUS.includes(act)) {
    throw new Error(`GPT-2 config: activation_function ${JSON.stringify(act)} is not supported (tabfed uses the tanh GELU: ${TANH_GELUS.join(' or ')})`);
  }
  for (const [key, ok] of UNSUPPORTED_FLAGS) {
    if (j[key] !== undefined && j[key] !== ok) throw new Error(`GPT-2 config: "${key}": ${JSON.stringify(j[key])} is not supported (only ${ok})`);
  }
  const eps = j.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) throw new Error(`GPT-2 config: "layer_norm_epsilon" must be a positive number, got ${JSON.stringify(eps)}`);
  const dModel = positiveInt(j, 'n_embd');
  const model: ModelConfig = {
    vocabSize: positiveInt(j, 'vocab_size'),
    contextLength: positiveInt(j, 'n_positions'),
    dModel,
    nLayers: positiveInt(j, 'n_layer'),
    nHeads: positiveInt(j, 'n_head'),
    mlpRatio: mlpRatio(j, dModel),
    numClasses,
    layerNormEps: eps,
  };
  validateModelConfig(model);
  return model;
}

/** The config.json that describes a tabfed base model saved with toGpt2. */
export function modelToGpt2Config(c: ModelConfig): Record<string, unknown> {
  return {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: c.vocabSize,
    n_positions: c.contextLength,
    n_embd: c.dModel,
    n_layer: c.nLayers,
    n_head: c.nHeads,
    n_inner: c.mlpRatio === 4 ? null : c.mlpRatio * c.dModel,
    layer_norm_epsilon: c.layerNormEps,
    activation_function: 'gelu_new',
    tie_word_embeddings: true,
  };
}

// ---------------------------------------------------------------- names

/** tabfed name -> GPT-2 name for every tensor but the fused attention (q, k, v). */
function renames(c: ModelConfig): [tabfed: string, gpt2: string][] {
  const out: [string, string][] = [
    ['wte', 'wte.weight'],
    ['wpe', 'wpe.weight'],
  ];
  for (let i = 0; i < c.nLayers; i++) {
    const [p, h] = [`blocks.${i}`, `h.${i}`];
    out.push(
      [`${p}.ln1.g`, `${h}.ln_1.weight`],
      [`${p}.ln1.b`, `${h}.ln_1.bias`],
      [`${p}.o.w`, `${h}.attn.c_proj.weight`],
      [`${p}.o.b`, `${h}.attn.c_proj.bias`],
      [`${p}.ln2.g`, `${h}.ln_2.weight`],
      [`${p}.ln2.b`, `${h}.ln_2.bias`],
      [`${p}.fc_in.w`, `${h}.mlp.c_fc.weight`],
      [`${p}.fc_in.b`, `${h}.mlp.c_fc.bias`],
      [`${p}.fc_out.w`, `${h}.mlp.c_proj.weight`],
      [`${p}.fc_out.b`, `${h}.mlp.c_proj.bias`],
    );
  }
  out.push(['ln_f.g', 'ln_f.weight'], ['ln_f.b', 'ln_f.bias']);
  return out;
}

/** Every GPT-2 base tensor and its shape, in tabfed's block order. */
export function gpt2Shapes(c: ModelConfig): [string, number[]][] {
  const shapes = new Map(baseShapes(c));
  const d = c.dModel;
  const out: [string, number[]][] = renames(c).map(([t, g]) => [g, shapes.get(t)!]);
  for (let i = 0; i < c.nLayers; i++) out.push([`h.${i}.attn.c_attn.weight`, [d, 3 * d]], [`h.${i}.attn.c_attn.bias`, [3 * d]]);
  return out;
}

/** Buffers and tied weights that a GPT-2 checkpoint may hold but that are not parameters of the base model. */
function ignored(name: string): boolean {
  return /^h\.\d+\.attn\.(bias|masked_bias)$/.test(name) || name === 'lm_head.weight';
}

/** Drops the "transformer." prefix of GPT2LMHeadModel checkpoints and the ignored tensors. */
function normalize<T>(tensors: Map<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [raw, t] of tensors) {
    const name = raw.startsWith('transformer.') ? raw.slice('transformer.'.length) : raw;
    if (ignored(name)) continue;
    if (out.has(name)) throw new Error(`GPT-2 checkpoint: tensor "${name}" appears both with and without the "transformer." prefix`);
    out.set(name, t);
  }
  return out;
}

/** Every problem at once: missing, wrongly shaped and unexpected tensors. */
function checkTensors(tensors: Map<string, { shape: number[] }>, c: ModelConfig): void {
  const expected = new Map(gpt2Shapes(c));
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) problems.push(`missing tensor "${name}"`);
    else if (t.shape.join() !== shape.join()) problems.push(`tensor "${name}" has shape [${t.shape}], expected [${shape}]`);
  }
  const extra = [...tensors.keys()].filter((n) => !expected.has(n));
  if (extra.length) {
    const listed = extra.slice(0, 5).map((n) => `"${n}"`).join(', ') + (extra.length > 5 ? ` and ${extra.length - 5} more` : '');
    problems.push(`unexpected tensor(s) ${listed} (not in a ${c.nLayers}-layer GPT-2 base model)`);
  }
  if (problems.length) throw new Error(`GPT-2 checkpoint: ${problems.join('; ')}`);
}

// ---------------------------------------------------------------- weights

/** Columns [from, from + width) of a row-major [rows, cols] matrix. */
function columns(data: Float32Array, rows: number, cols: number, from: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols + from, r * cols + from + width), r * width);
  return out;
}

/** GPT-2 tensors (with or without the "transformer." prefix) as tabfed base weights. Unsplit tensors share their data arrays. */
export function fromGpt2(tensors: Map<string, HostTensor>, c: ModelConfig): HostWeights {
  const g = normalize(tensors);
  checkTensors(g, c);
  const d = c.dModel;
  const mapped = new Map<string, HostTensor>(renames(c).map(([t, name]) => [t, g.get(name)!]));
  for (let i = 0; i < c.nLayers; i++) {
    // c_attn: x [N, d] @ W [d, 3d] gives q | k | v along the output dim.
    const w = g.get(`h.${i}.attn.c_attn.weight`)!.data;
    const b = g.get(`h.${i}.attn.c_attn.bias`)!.data;
    ['q', 'k', 'v'].forEach((m, j) => {
      mapped.set(`blocks.${i}.${m}.w`, { shape: [d, d], data: columns(w, d, 3 * d, j * d, d) });
      mapped.set(`blocks.${i}.${m}.b`, { shape: [d], data: b.slice(j * d, (j + 1) * d) });
    });
  }
  // In baseShapes order, so the map iterates like initBaseWeights' output.
  return new Map(baseShapes(c).map(([name]) => [name, mapped.get(name)!]));
}

function fuseColumns(parts: Float32Array[], rows: number, width: number): Float32Array {
  const cols = width * parts.length;
  const out = new Float32Array(rows * cols);
  parts.forEach((p, j) => {
    for (let r = 0; r < rows; r++) out.set(p.subarray(r * width, (r + 1) * width), r * cols + j * width);
  });
  return out;
}

function need(base: HostWeights, name: string, shape: number[]): Float32Array {
  const t = base.get(name);
  if (!t) throw new Error(`base weights: missing tensor "${name}"`);
  if (t.shape.join() !== shape.join() || t.data.length !== size(shape)) throw new Error(`base weights: tensor "${name}" has shape [${t.shape}], expected [${shape}]`);
  return t.data;
}

/**
 * tabfed base weights under GPT-2's names (no "transformer." prefix, no
 * lm_head: it is tied to wte), ready for writeSafetensors.
 */
export function toGpt2(base: HostWeights, c: ModelConfig): Gpt2Tensor[] {
  const shapes = new Map(baseShapes(c));
  const d = c.dModel;
  const out: Gpt2Tensor[] = renames(c).map(([t, name]) => ({ name, dtype: 'F32', shape: [...shapes.get(t)!], data: need(base, t, shapes.get(t)!) }));
  for (let i = 0; i < c.nLayers; i++) {
    const p = `blocks.${i}`;
    const ws = ['q', 'k', 'v'].map((m) => need(base, `${p}.${m}.w`, [d, d]));
    const bs = ['q', 'k', 'v'].map((m) => need(base, `${p}.${m}.b`, [d]));
    out.push(
      { name: `h.${i}.attn.c_attn.weight`, dtype: 'F32', shape: [d, 3 * d], data: fuseColumns(ws, d, d) },
      { name: `h.${i}.attn.c_attn.bias`, dtype: 'F32', shape: [3 * d], data: fuseColumns(bs, 1, d) },
    );
  }
  return out;
}

// ---------------------------------------------------------------- loading

function floatTensor(name: string, t: SafeTensor): HostTensor {
  if (!['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) throw new Error(`GPT-2 checkpoint: tensor "${name}" has dtype ${t.dtype}, expected a float dtype`);
  return { shape: t.shape, data: toFloat32(t) };
}

/** A GPT-2 model.safetensors (F32, F16, BF16 or F64) and its config.json as a tabfed model config and base weights. */
export function loadGpt2Checkpoint(safetensorsBytes: Uint8Array, configJson: unknown, numClasses: number): { model: ModelConfig; base: HostWeights } {
  const model = gpt2ConfigToModel(configJson, numClasses);
  // Ignored tensors are dropped before decoding: GPT-2's attn.bias masks are large.
  const raw = normalize(readSafetensors(safetensorsBytes).tensors);
  const tensors = new Map([...raw].map(([name, t]) => [name, floatTensor(name, t)]));
  return { model, base: fromGpt2(tensors, model) };
}
