// Causal language modelling with every base weight trained: the pretraining path.
//
// The model is the one in ../model/transformer.ts (hidden()), with a GPT-2 style
// tied head: logits = hidden @ wte^T. The loss is the mean next-token
// cross-entropy over the non-pad targets.
//
// Speed on tfjs-backend-wasm is the point of this file, so the step is written out
// by hand (forward, backward with explicit gradients, then the optimizer) instead
// of going through tfjs autodiff. What the wasm backend rewards, measured:
// - Only an unbatched, untransposed 2D matMul reaches XNNPACK; batched or
//   transposed ones take a naive loop ~10x slower. So attention is one 2D matMul
//   per (sequence, head), and every gradient matMul transposes an operand first.
//   XNNPACK also repacks its right operand on every call (~4 ns an element), so
//   weight gradients keep the narrower activation on the right.
// - Slice/Split copy the whole input for every piece (readSync) and Gather is slow:
//   cutting [B*H*T, hd] into B*H pieces and looking up rows are two small JS
//   kernels over the wasm heap (memcpy; registered for 'wasm' only, other backends
//   use tf.split / tf.gather, and batched attention).
// - Its 2-D transpose is slow (~8 ns an element); two 3-D transposes over blocks of
//   32 rows do the same 2-7x faster (transpose2d). 5-D transposes are ~20x slower
//   than 4-D ones: none here.
// - The tied head never builds the [N, V] one-hot nor d(logits): with p = softmax,
//   dlogits = w (p - onehot(t)), so dh = w (p wte - wte[t]) and
//   dwte = p^T (w h) - scatter_t(w h); that sparse part and the embedding's own
//   gradient are one scatter-add (ScatterNd sums duplicates) instead of a
//   [V, N] x [N, d] one-hot matMul. The loss is -log p[t] read off the softmax.
// - GELU (tanh form) is u * sigmoid(2 * inner): the same function, but Sigmoid is
//   vectorized and Tanh is not (~8x slower).
// - The q/k/v projections are one [d, 3d] matMul (bias fused), the 1/sqrt(hd)
//   scale is folded into the q weights, and the key bias gets an exact zero
//   gradient (it shifts each score row by a constant, which softmax ignores).
// - Each layer runs in its own tidy scope, and a layer's saved activations are
//   freed as soon as its gradients are out: the wasm heap peaks at ~360 MiB for the
//   reference step instead of ~1.1 GiB.
import * as tf from '@tensorflow/tfjs-core';
import { baseParameterCount, validateModelConfig, type ModelConfig } from '../model/config.ts';
import { baseShapes, initBaseWeights, type HostWeights } from '../model/init.ts';
import { PAD_ID } from './types.ts';
import { GELU_K1, GELU_K2 } from '../model/ops.ts';

export type AttentionMode = 'loop' | 'batched';

export interface LmOptions {
  /**
   * 'loop': one 2D matMul per (sequence, head), the fast path on wasm. 'batched':
   * [B*H, T, T] batched matMuls, for backends where those are fast (webgl, webgpu).
   * Default: 'loop' on wasm, 'batched' elsewhere.
   */
  attention?: AttentionMode;
}

export interface LmEval {
  /** Mean next-token cross-entropy (nats) over the non-pad targets. */
  loss: number;
  perplexity: number;
  /** Number of targets scored. */
  tokens: number;
}

/** Targets (ids shifted left by one) and per-position loss weights mask/count; pads and each row's last position weigh 0. */
export function lmTargets(ids: Int32Array, B: number, T: number): { targets: Int32Array; mask: Float32Array; count: number } {
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) {
      const next = ids[b * T + t + 1];
      targets[b * T + t] = next;
      if (next !== PAD_ID) {
        mask[b * T + t] = 1;
        count++;
      }
    }
  }
  return { targets, mask, count };
}

// ---------------------------------------------------------------------------
// Two tiny kernels over the wasm heap (memcpy only). Registered once, for wasm.

const SPLIT = 'TabfedLmSplitRows';
const GATHER = 'TabfedLmGatherRows';

interface WasmBackendLike {
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  wasm: { HEAPU8: Uint8Array };
}

let kernelsRegistered = false;
function registerWasmKernels(): void {
  if (kernelsRegistered) return;
  kernelsRegistered = true;
  // x [n * r, ...] -> n tensors [r, ...] (contiguous pieces).
  tf.registerKernel({
    kernelName: SPLIT,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const x = inputs.x as tf.TensorInfo;
      const n = (attrs as unknown as { n: number }).n;
      if (x.shape[0] % n !== 0) throw new Error(`split: ${x.shape[0]} rows do not split into ${n}`);
      const be = backend as unknown as WasmBackendLike;
      const shape = [x.shape[0] / n, ...x.shape.slice(1)];
      const bytes = tf.util.sizeFromShape(shape) * tf.util.bytesPerElement(x.dtype);
      const src = be.dataIdMap.get(x.dataId).memoryOffset;
      const outs: tf.TensorInfo[] = [];
      for (let i = 0; i < n; i++) {
        const out = be.makeOutput(shape, x.dtype); // may grow the heap: read HEAPU8 after
        const dst = be.dataIdMap.get(out.dataId).memoryOffset;
        be.wasm.HEAPU8.copyWithin(dst, src + i * bytes, src + (i + 1) * bytes);
        outs.push(out);
      }
      return outs;
    },
  });
  // x [R, C], indices int32 [M] -> [M, C]: rows of x.
  tf.registerKernel({
    kernelName: GATHER,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
      const be = backend as unknown as WasmBackendLike;
      const [R, C] = x.shape;
      const M = tf.util.sizeFromShape(indices.shape);
      const rows = new Int32Array(be.wasm.HEAPU8.buffer, be.dataIdMap.get(indices.dataId).memoryOffset, M).slice();
      for (const r of rows) if (r < 0 || r >= R) throw new Error(`gather: index ${r} outside [0, ${R})`);
      const out = be.makeOutput([M, C], x.dtype); // may grow the heap: read HEAPU8 after
      const heap = be.wasm.HEAPU8;
      const src = be.dataIdMap.get(x.dataId).memoryOffset;
      const dst = be.dataIdMap.get(out.dataId).memoryOffset;
      const row = C * tf.util.bytesPerElement(x.dtype);
      for (let i = 0; i < M; i++) heap.copyWithin(dst + i * row, src + rows[i] * row, src + (rows[i] + 1) * row);
      return out;
    },
  });
}

const onWasm = () => tf.getBackend() === 'wasm';

/** x [n * r, ...] -> n pieces [r, ...]. */
function splitRows(x: tf.Tensor, n: number): tf.Tensor[] {
  if (!onWasm()) return tf.split(x, n, 0);
  return tf.engine().runKernel(SPLIT, { x }, { n }) as unknown as tf.Tensor[];
}

/** Rows of x [R, C] at int32 indices [M] -> [M, C]. */
function gatherRows(x: tf.Tensor2D, indices: tf.Tensor1D): tf.Tensor2D {
  if (!onWasm()) return tf.gather(x, indices);
  return tf.engine().runKernel(GATHER, { x, indices }) as unknown as tf.Tensor2D;
}

/**
 * x [M, C] -> [C, M]. wasm's 2-D Transpose runs at ~8 ns an element; as two 3-D
 * transposes over blocks of 32 rows (the second moving whole 32-float runs) it is
 * 2-7x faster ([2048, 4096]: 80 -> 35 ms; [2048, 128]: 2.2 -> 0.3 ms).
 */
export function transpose2d(x: tf.Tensor): tf.Tensor2D {
  const [M, C] = x.shape as [number, number];
  if (!onWasm() || M % 32 !== 0 || M < 64) return tf.transpose(x) as tf.Tensor2D;
  const blocks = tf.transpose(tf.reshape(x, [M / 32, 32, C]), [0, 2, 1]); // [M/32, C, 32]
  return tf.reshape(tf.transpose(blocks, [1, 0, 2]), [C, M]);
}

/**
 * tf.tidy for a result that holds tensors in plain objects and arrays (tidy keeps
 * every tensor it finds there; never put a Map or a big TypedArray in it).
 */
function scope<T>(f: () => T): T {
  return tf.tidy(() => f() as unknown as tf.TensorContainer) as unknown as T;
}

/** Every tensor in a plain object / array structure. */
function collect(x: unknown): tf.Tensor[] {
  if (x instanceof tf.Tensor) return [x];
  if (Array.isArray(x)) return x.flatMap(collect);
  if (x && typeof x === 'object') return Object.values(x).flatMap(collect);
  return [];
}

// ---------------------------------------------------------------------------

/** Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above (as ops.ts's causalMask). */
function causalMaskTensor(T: number): tf.Tensor2D {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
  return tf.tensor2d(m, [T, T]);
}

/**
 * Attention as one 2D matMul per (sequence, head): the only matMul XNNPACK runs on
 * wasm. q (pre-scaled) [T, hd], kT [hd, T], v [T, hd] per (b, h); returns the
 * outputs stacked [B*H*T, hd] and the probabilities [B*H, T, T].
 */
function loopAttention(q: tf.Tensor[], kT: tf.Tensor[], v: tf.Tensor[], mask: tf.Tensor, T: number): { y: tf.Tensor; p: tf.Tensor3D } {
  const BH = q.length;
  const scores = tf.concat(q.map((qi, i) => tf.matMul(qi as tf.Tensor2D, kT[i] as tf.Tensor2D))); // [BH*T, T]
  const p = tf.softmax(tf.add(tf.reshape(scores, [BH, T, T]), mask)) as tf.Tensor3D;
  const pp = splitRows(tf.reshape(p, [BH * T, T]), BH);
  return { y: tf.concat(pp.map((pi, i) => tf.matMul(pi as tf.Tensor2D, v[i] as tf.Tensor2D))), p };
}

/**
 * Gradients of loopAttention, per (b, h), from the output gradient pieces g [T, hd].
 * (Tried: dk^T = q^T dS and dv^T = g^T P, [hd, T] x [T, T], which saves the two
 * [B*H, T, T] transposes; it measured 10-30 ms a reference step slower.)
 */
function loopAttentionBackward(
  g: tf.Tensor[],
  q: tf.Tensor[],
  k: tf.Tensor[],
  vT: tf.Tensor[],
  p: tf.Tensor3D,
  T: number,
): { dq: tf.Tensor[]; dk: tf.Tensor[]; dv: tf.Tensor[] } {
  const BH = g.length;
  const dp = tf.reshape(tf.concat(g.map((gi, i) => tf.matMul(gi as tf.Tensor2D, vT[i] as tf.Tensor2D))), [BH, T, T]);
  const ds = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true))) as tf.Tensor3D;
  const dsp = splitRows(tf.reshape(ds, [BH * T, T]), BH);
  const dsT = splitRows(tf.reshape(tf.transpose(ds, [0, 2, 1]), [BH * T, T]), BH);
  const pT = splitRows(tf.reshape(tf.transpose(p, [0, 2, 1]), [BH * T, T]), BH);
  return {
    dq: dsp.map((a, i) => tf.matMul(a as tf.Tensor2D, k[i] as tf.Tensor2D)),
    dk: dsT.map((a, i) => tf.matMul(a as tf.Tensor2D, q[i] as tf.Tensor2D)),
    dv: pT.map((a, i) => tf.matMul(a as tf.Tensor2D, g[i] as tf.Tensor2D)),
  };
}

/**
 * The attention core of transformer.ts (per head softmax(q k^T / sqrt(hd) + causal
 * mask) v, heads split from and merged back into d) for q, k, v [B*T, d], with a
 * hand-written gradient: on wasm one 2D matMul per (sequence, head) instead of
 * batched matMuls (XNNPACK vs a naive loop), batched elsewhere. Autodiff-ready, a
 * drop-in proposal for the shared model code; matches it within 1e-4 (tested).
 */
export function causalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, B: number, T: number, H: number): tf.Tensor2D {
  registerWasmKernels();
  const d = q.shape[1];
  const hd = d / H;
  const BH = B * H;
  const scale = 1 / Math.sqrt(hd);
  const heads = (x: tf.Tensor, perm: number[]) => tf.transpose(tf.reshape(x, [B, T, H, hd]), perm);
  const rows = (x: tf.Tensor) => tf.reshape(heads(x, [0, 2, 1, 3]), [BH * T, hd]); // (b, h, t) x hd
  const merge = (y: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(y, [B, H, T, hd]), [0, 2, 1, 3]), [B * T, d]);
  const loop = onWasm();
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qq, kk, vv] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const qs = tf.mul(qq, scale);
    const mask = causalMaskTensor(T);
    let y: tf.Tensor;
    let p: tf.Tensor3D;
    if (loop) {
      const kT = splitRows(tf.reshape(heads(kk, [0, 2, 3, 1]), [BH * hd, T]), BH);
      ({ y, p } = loopAttention(splitRows(rows(qs), BH), kT, splitRows(rows(vv), BH), mask, T));
    } else {
      p = tf.softmax(tf.add(tf.matMul(tf.reshape(rows(qs), [BH, T, hd]), tf.reshape(rows(kk), [BH, T, hd]), false, true), mask)) as tf.Tensor3D;
      y = tf.matMul(p, tf.reshape(rows(vv), [BH, T, hd]));
    }
    save([qs, kk, vv, p]);
    return {
      value: merge(y),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sp] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor3D];
        let dq: tf.Tensor;
        let dk: tf.Tensor;
        let dv: tf.Tensor;
        if (loop) {
          const vT = splitRows(tf.reshape(heads(sv, [0, 2, 3, 1]), [BH * hd, T]), BH);
          const g = loopAttentionBackward(splitRows(rows(dy), BH), splitRows(rows(sq), BH), splitRows(rows(sk), BH), vT, sp, T);
          [dq, dk, dv] = [tf.concat(g.dq), tf.concat(g.dk), tf.concat(g.dv)];
        } else {
          const [q3, k3, v3, g3] = [sq, sk, sv, dy].map((t) => tf.reshape(rows(t), [BH, T, hd]) as tf.Tensor3D);
          const dp = tf.matMul(g3, v3, false, true);
          const ds = tf.mul(sp, tf.sub(dp, tf.sum(tf.mul(dp, sp), -1, true))) as tf.Tensor3D;
          [dq, dk, dv] = [tf.matMul(ds, k3), tf.matMul(ds, q3, true, false), tf.matMul(sp, g3, true, false)];
        }
        return [tf.mul(merge(dq), scale), merge(dk), merge(dv)];
      },
    };
  });
  return op(q, k, v) as tf.Tensor2D;
}

interface LnSaved {
  xhat: tf.Tensor2D;
  rstd: tf.Tensor2D;
}

interface LayerSaved {
  ln1: LnSaved;
  h1: tf.Tensor2D;
  /** q|k|v weights [d, 3d], q pre-scaled. */
  wqkv: tf.Tensor2D;
  attn: AttnSaved;
  ym: tf.Tensor2D;
  ln2: LnSaved;
  h2: tf.Tensor2D;
  u: tf.Tensor2D;
  u2: tf.Tensor2D;
  s: tf.Tensor2D;
  g: tf.Tensor2D;
}

interface Trunk {
  idsT: tf.Tensor1D;
  layers: LayerSaved[];
  lnf: LnSaved;
  /** Final hidden states [B*T, d]. */
  hf: tf.Tensor2D;
}

interface Head {
  loss: tf.Scalar;
  /** softmax of the logits [B*T, V]. */
  probs: tf.Tensor2D;
  /** Loss weight of each position [B*T, 1]. */
  w: tf.Tensor2D;
  targets: tf.Tensor1D;
}

interface AttnSaved {
  /** 'loop': [T, hd] pieces per (b, h) of the scaled q, k and v; 'batched': one [B*H, T, hd] each. */
  q: tf.Tensor[];
  k: tf.Tensor[];
  v: tf.Tensor[];
  /** 'loop': [hd, T] pieces of k and v. */
  kT: tf.Tensor[];
  vT: tf.Tensor[];
  /** Attention probabilities [B*H, T, T]. */
  p: tf.Tensor3D;
}

export class LmTrainer {
  readonly params: number;
  readonly attention: AttentionMode;
  private readonly vars = new Map<string, tf.Variable>();
  private readonly consts = new Map<string, tf.Tensor>();
  private disposed = false;

  private constructor(
    readonly model: ModelConfig,
    weights: HostWeights,
    opts: LmOptions,
  ) {
    validateModelConfig(model);
    registerWasmKernels();
    this.attention = opts.attention ?? (onWasm() ? 'loop' : 'batched');
    const shapes = baseShapes(model);
    for (const [name, shape] of shapes) {
      const w = weights.get(name);
      if (!w) throw new Error(`missing base weight "${name}"`);
      if (w.shape.join() !== shape.join() || w.data.length !== tf.util.sizeFromShape(shape)) {
        throw new Error(`base weight "${name}" is [${w.shape}], expected [${shape}]`);
      }
    }
    // Unnamed: tfjs gives each variable a unique name, so trainers can coexist.
    for (const [name] of shapes) this.vars.set(name, tf.variable(tf.tensor(weights.get(name)!.data, weights.get(name)!.shape, 'float32'), true));
    this.params = baseParameterCount(model);
  }

  /** A trainer over the seeded random base (GPT-2's init). */
  static create(model: ModelConfig, opts: { seed: number } & LmOptions): LmTrainer {
    return new LmTrainer(model, initBaseWeights(model, opts.seed), opts);
  }

  static fromWeights(model: ModelConfig, weights: HostWeights, opts: LmOptions = {}): LmTrainer {
    return new LmTrainer(model, weights, opts);
  }

  /** One optimizer step (forward, backward, update) on B sequences of T ids (right-padded with 0); resolves to the loss. */
  async step(optimizer: tf.Optimizer, ids: Int32Array, B: number, T: number): Promise<number> {
    this.check();
    const loss = tf.tidy(() => {
      const { loss, grads } = this.lossAndGrads(ids, B, T);
      optimizer.applyGradients([...grads].map(([name, tensor]) => ({ name: this.vars.get(name)!.name, tensor })));
      return loss;
    });
    const value = (await loss.data())[0];
    loss.dispose();
    return value;
  }

  /** Mean loss and perplexity over n sequences of T ids, batchSize at a time. */
  async evaluate(ids: Int32Array, n: number, T: number, batchSize = 16): Promise<LmEval> {
    this.check();
    if (ids.length !== n * T) throw new Error(`ids has ${ids.length} entries, expected ${n} x ${T}`);
    let sum = 0;
    let tokens = 0;
    for (let start = 0; start < n; start += batchSize) {
      const b = Math.min(batchSize, n - start);
      const chunk = ids.subarray(start * T, (start + b) * T);
      const { count } = lmTargets(chunk, b, T);
      if (count === 0) continue;
      const mean = tf.tidy(() => this.head(this.trunk(chunk, b, T).hf, chunk, b, T).loss);
      sum += (await mean.data())[0] * count;
      mean.dispose();
      tokens += count;
    }
    const loss = tokens > 0 ? sum / tokens : 0;
    return { loss, perplexity: Math.exp(loss), tokens };
  }

  /** LM logits [B, T, V] (the caller disposes). */
  logits(ids: Int32Array, B: number, T: number): tf.Tensor3D {
    this.check();
    return tf.tidy(() => {
      const { hf } = this.trunk(ids, B, T);
      return tf.reshape(tf.matMul(hf, transpose2d(this.w('wte'))), [B, T, this.model.vocabSize]);
    });
  }

  /** Loss and the gradient of every base weight, by name; call inside a tidy (the tensors are the caller's). */
  lossAndGrads(ids: Int32Array, B: number, T: number): { loss: tf.Scalar; grads: Map<string, tf.Tensor> } {
    this.check();
    const trunk = this.trunk(ids, B, T);
    const head = this.head(trunk.hf, ids, B, T);
    return { loss: head.loss, grads: this.backward({ ...trunk, ...head }, B, T) };
  }

  /** tfjs's variable name of each weight, by weight name (optimizer state is keyed by these). */
  variableNames(): Map<string, string> {
    return new Map([...this.vars].map(([name, v]) => [name, v.name]));
  }

  /** Reads every base weight back (async: a synchronous GPU readback is slow). */
  async getWeights(): Promise<HostWeights> {
    this.check();
    const names = [...this.vars.keys()];
    const data = await Promise.all(names.map((n) => this.vars.get(n)!.data() as Promise<Float32Array>));
    return new Map(names.map((n, i) => [n, { shape: [...this.vars.get(n)!.shape], data: data[i] }]));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose([...this.vars.values()]);
    tf.dispose([...this.consts.values()]);
  }

  // -------------------------------------------------------------------------

  private check(): void {
    if (this.disposed) throw new Error('trainer was disposed');
  }

  private w(name: string): tf.Tensor {
    const v = this.vars.get(name);
    if (!v) throw new Error(`missing tensor "${name}"`);
    return v;
  }

  /** A constant kept across steps (the causal mask, a ones row). */
  private constant(key: string, make: () => tf.Tensor): tf.Tensor {
    let t = this.consts.get(key);
    if (!t) {
      t = tf.keep(make());
      this.consts.set(key, t);
    }
    return t;
  }

  private causalMask(T: number): tf.Tensor2D {
    return this.constant(`mask${T}`, () => causalMaskTensor(T)) as tf.Tensor2D;
  }

  /** Column sums of x [N, C] -> [C] (a reduction over axis 0 transposes slowly on wasm; transpose2d does not). */
  private sumRows(x: tf.Tensor): tf.Tensor1D {
    return tf.sum(transpose2d(x), -1) as tf.Tensor1D;
  }

  /**
   * Gradients of y = x W + b from dy; returns dx. XNNPACK packs its right operand
   * on every call (~4 ns an element), so the narrower of x and dy goes on the right:
   * dW = (dy^T x)^T or x^T dy.
   */
  private linearBackward(x: tf.Tensor, dy: tf.Tensor, w: tf.Tensor, prefix: string, grads: Map<string, tf.Tensor>): tf.Tensor2D {
    const dyT = transpose2d(dy); // [out, N]
    const dW = x.shape[1]! > dy.shape[1]! ? tf.matMul(transpose2d(x), dy as tf.Tensor2D) : transpose2d(tf.matMul(dyT, x as tf.Tensor2D));
    grads.set(`${prefix}.w`, dW);
    grads.set(`${prefix}.b`, tf.sum(dyT, -1));
    return tf.matMul(dy as tf.Tensor2D, transpose2d(w));
  }

  private layerNorm(x: tf.Tensor2D, name: string): { y: tf.Tensor2D; saved: LnSaved } {
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), -1, true);
    const rstd = tf.rsqrt(tf.add(variance, this.model.layerNormEps)) as tf.Tensor2D;
    const xhat = tf.mul(xc, rstd) as tf.Tensor2D;
    const y = tf.add(tf.mul(xhat, this.w(`${name}.g`)), this.w(`${name}.b`)) as tf.Tensor2D;
    return { y, saved: { xhat, rstd } };
  }

  /** dx from dy through LayerNorm; sets the gain and bias gradients. */
  private layerNormBackward(dy: tf.Tensor, s: LnSaved, name: string, grads: Map<string, tf.Tensor>): tf.Tensor2D {
    grads.set(`${name}.g`, this.sumRows(tf.mul(dy, s.xhat) as tf.Tensor2D));
    grads.set(`${name}.b`, this.sumRows(dy));
    const dxhat = tf.mul(dy, this.w(`${name}.g`));
    const m1 = tf.mean(dxhat, -1, true);
    const m2 = tf.mean(tf.mul(dxhat, s.xhat), -1, true);
    return tf.mul(tf.sub(tf.sub(dxhat, m1), tf.mul(s.xhat, m2)), s.rstd) as tf.Tensor2D;
  }

  /** q|k|v weights [d, 3d] and bias [3d], the attention scale folded into q. */
  private qkvWeights(i: number): { w: tf.Tensor2D; b: tf.Tensor1D } {
    const p = `blocks.${i}`;
    const scale = 1 / Math.sqrt(this.model.dModel / this.model.nHeads);
    const w = tf.concat([tf.mul(this.w(`${p}.q.w`), scale), this.w(`${p}.k.w`), this.w(`${p}.v.w`)], 1) as tf.Tensor2D;
    const b = tf.concat([tf.mul(this.w(`${p}.q.b`), scale), this.w(`${p}.k.b`), this.w(`${p}.v.b`)]) as tf.Tensor1D;
    return { w, b };
  }

  /** The transformer up to the final LayerNorm, keeping what the backward pass needs. */
  private trunk(ids: Int32Array, B: number, T: number): Trunk {
    const c = this.model;
    if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1) throw new Error(`bad batch shape ${B} x ${T}`);
    if (ids.length !== B * T) throw new Error(`ids has ${ids.length} entries, expected ${B} x ${T}`);
    if (T > c.contextLength) throw new Error(`sequence length ${T} exceeds the context length ${c.contextLength}`);
    for (const id of ids) if (!(id >= 0 && id < c.vocabSize)) throw new Error(`token id ${id} outside the vocabulary [0, ${c.vocabSize})`);
    const d = c.dModel;
    const N = B * T;
    const idsT = tf.tensor1d(ids, 'int32');
    const wpe = T === c.contextLength ? this.w('wpe') : tf.slice(this.w('wpe'), [0, 0], [T, d]);
    let x = scope(() => tf.reshape(tf.add(tf.reshape(gatherRows(this.w('wte') as tf.Tensor2D, idsT), [B, T, d]), wpe), [N, d]) as tf.Tensor2D);
    const layers: LayerSaved[] = [];
    // One scope a layer: only what the backward pass needs outlives it.
    for (let i = 0; i < c.nLayers; i++) {
      const out = scope(() => this.block(i, x, B, T));
      x.dispose();
      x = out.x;
      layers.push(out.saved);
    }
    const lnf = scope(() => this.layerNorm(x, 'ln_f'));
    x.dispose();
    return { idsT, layers, lnf: lnf.saved, hf: lnf.y };
  }

  /** Transformer block i: x -> x + attn(ln1(x)) -> x + mlp(ln2(x)). */
  private block(i: number, x: tf.Tensor2D, B: number, T: number): { x: tf.Tensor2D; saved: LayerSaved } {
    const p = `blocks.${i}`;
    const ln1 = this.layerNorm(x, `${p}.ln1`);
    const { w: wqkv, b: bqkv } = this.qkvWeights(i);
    const qkv = tf.fused.matMul({ a: ln1.y, b: wqkv, bias: bqkv }) as tf.Tensor2D; // [N, 3d]
    const { y: ym, saved: attn } = this.attentionForward(qkv, B, T);
    const x1 = tf.add(x, tf.fused.matMul({ a: ym, b: this.w(`${p}.o.w`) as tf.Tensor2D, bias: this.w(`${p}.o.b`) })) as tf.Tensor2D;
    const ln2 = this.layerNorm(x1, `${p}.ln2`);
    const u = tf.fused.matMul({ a: ln2.y, b: this.w(`${p}.fc_in.w`) as tf.Tensor2D, bias: this.w(`${p}.fc_in.b`) }) as tf.Tensor2D;
    // GELU, tanh form: 0.5 u (1 + tanh(c (u + 0.044715 u^3))) = u * sigmoid(2c (u + 0.044715 u^3)).
    const u2 = tf.square(u) as tf.Tensor2D;
    const s = tf.sigmoid(tf.mul(u, tf.add(tf.mul(u2, GELU_K2), GELU_K1))) as tf.Tensor2D;
    const g = tf.mul(u, s) as tf.Tensor2D;
    const x2 = tf.add(x1, tf.fused.matMul({ a: g, b: this.w(`${p}.fc_out.w`) as tf.Tensor2D, bias: this.w(`${p}.fc_out.b`) })) as tf.Tensor2D;
    return { x: x2, saved: { ln1: ln1.saved, h1: ln1.y, wqkv, attn, ym, ln2: ln2.saved, h2: ln2.y, u, u2, s, g } };
  }

  /** Tied head and loss: p = softmax(hf wte^T), loss = -sum_i w_i log p[i, t_i] with w = mask / count. */
  private head(hf: tf.Tensor2D, ids: Int32Array, B: number, T: number): Head {
    const V = this.model.vocabSize;
    const N = B * T;
    const { targets: tgt, mask, count } = lmTargets(ids, B, T);
    const targets = tf.tensor1d(tgt, 'int32');
    const w = tf.tensor2d(mask.map((m) => m / Math.max(count, 1)), [N, 1]);
    const probs = tf.tidy(() => tf.softmax(tf.matMul(hf, transpose2d(this.w('wte'))))) as tf.Tensor2D; // [N, V]
    // p[i, t_i] as a row lookup in the flat probabilities; the log of the probability
    // (clamped, in case it underflows) instead of a second pass for log-softmax.
    const flat = new Int32Array(N);
    for (let i = 0; i < N; i++) flat[i] = i * V + tgt[i];
    const pt = gatherRows(tf.reshape(probs, [N * V, 1]) as tf.Tensor2D, tf.tensor1d(flat, 'int32'));
    const loss = tf.neg(tf.sum(tf.mul(tf.log(tf.maximum(pt, 1e-30)), w))) as tf.Scalar;
    return { loss, probs, w, targets };
  }

  /**
   * Causal self-attention of qkv [B*T, 3d] (columns q | k | v, heads inside each)
   * -> [B*T, d]. Only rank <= 4 transposes: wasm's 5-D transpose is ~20x slower.
   */
  private attentionForward(qkv: tf.Tensor2D, B: number, T: number): { y: tf.Tensor2D; saved: AttnSaved } {
    const { nHeads: H, dModel: d } = this.model;
    const hd = d / H;
    const BH = B * H;
    const x4 = tf.reshape(qkv, [B, T, 3 * H, hd]);
    const byHead = tf.transpose(x4, [0, 2, 1, 3]); // [B, 3H, T, hd]: per b, q heads, k heads, v heads
    const mask = this.causalMask(T);
    if (this.attention === 'batched') {
      const part = (j: number) => tf.reshape(tf.slice(byHead, [0, j * H, 0, 0], [B, H, T, hd]), [BH, T, hd]) as tf.Tensor3D;
      const [q, k, v] = [part(0), part(1), part(2)];
      const p = tf.softmax(tf.add(tf.matMul(q, k, false, true), mask)) as tf.Tensor3D;
      return { y: this.mergeHeads(tf.matMul(p, v), B, T), saved: { q: [q], k: [k], v: [v], kT: [], vT: [], p } };
    }
    // Pieces in (b, j) order, j < 3H: q, k, v of head j % H.
    const pieces = splitRows(tf.reshape(byHead, [3 * BH * T, hd]), 3 * BH); // [T, hd]
    const piecesT = splitRows(tf.reshape(tf.transpose(x4, [0, 2, 3, 1]), [3 * BH * hd, T]), 3 * BH); // [hd, T]
    const at = (list: tf.Tensor[], j: number) => Array.from({ length: BH }, (_, i) => list[Math.floor(i / H) * 3 * H + j * H + (i % H)]);
    const [q, k, v, kT, vT] = [at(pieces, 0), at(pieces, 1), at(pieces, 2), at(piecesT, 1), at(piecesT, 2)];
    const { y, p } = loopAttention(q, kT, v, mask, T);
    return { y: this.mergeHeads(y, B, T), saved: { q, k, v, kT, vT, p } };
  }

  /** [B*H*T, hd] (rows ordered b, h, t) -> [B*T, d]. */
  private mergeHeads(y: tf.Tensor, B: number, T: number): tf.Tensor2D {
    const { nHeads: H, dModel: d } = this.model;
    return tf.reshape(tf.transpose(tf.reshape(y, [B, H, T, d / H]), [0, 2, 1, 3]), [B * T, d]);
  }

  /** Gradient of qkv (the scaled q), as [B*T, 3d] and transposed [3d, B*T], from dy [B*T, d]. */
  private attentionBackward(dy: tf.Tensor, s: AttnSaved, B: number, T: number): { dqkv: tf.Tensor2D; dqkvT: tf.Tensor2D } {
    const { nHeads: H, dModel: d } = this.model;
    const hd = d / H;
    const BH = B * H;
    const g3 = tf.reshape(tf.transpose(tf.reshape(dy, [B, T, H, hd]), [0, 2, 1, 3]), [BH, T, hd]) as tf.Tensor3D;
    let byHead: tf.Tensor; // [B, 3H, T, hd]: per b, dq heads, dk heads, dv heads
    if (this.attention === 'batched') {
      const [q, k, v] = [s.q[0], s.k[0], s.v[0]] as tf.Tensor3D[];
      const dp = tf.matMul(g3, v, false, true);
      const ds = tf.mul(s.p, tf.sub(dp, tf.sum(tf.mul(dp, s.p), -1, true))) as tf.Tensor3D;
      const parts = [tf.matMul(ds, k), tf.matMul(ds, q, true, false), tf.matMul(s.p, g3, true, false)];
      byHead = tf.concat(parts.map((t) => tf.reshape(t, [B, H, T, hd])), 1);
    } else {
      const { dq, dk, dv } = loopAttentionBackward(splitRows(tf.reshape(g3, [BH * T, hd]), BH), s.q, s.k, s.vT, s.p, T);
      const ordered: tf.Tensor[] = [];
      for (let b = 0; b < B; b++) for (const list of [dq, dk, dv]) ordered.push(...list.slice(b * H, (b + 1) * H));
      byHead = tf.reshape(tf.concat(ordered), [B, 3 * H, T, hd]);
    }
    const dqkv = tf.reshape(tf.transpose(byHead, [0, 2, 1, 3]), [B * T, 3 * d]) as tf.Tensor2D;
    return { dqkv, dqkvT: transpose2d(dqkv) };
  }

  private backward(fw: Trunk & Head, B: number, T: number): Map<string, tf.Tensor> {
    const c = this.model;
    const d = c.dModel;
    const N = B * T;
    const grads = new Map<string, tf.Tensor>();
    // One scope per stage; a layer's saved activations go once its gradients are out.
    const stage = <R>(f: (g: Map<string, tf.Tensor>) => R): R => {
      const out = scope(() => {
        const local = new Map<string, tf.Tensor>();
        const result = f(local);
        return { result, grads: Object.fromEntries(local) };
      });
      for (const [k, v] of Object.entries(out.grads)) grads.set(k, v);
      return out.result;
    };
    // Head, with dlogits = w (p - onehot(t)) never built: dh = w (p wte - wte[t]),
    // dwte = p^T (w h) - scatter_t(w h) (the scatter joins the embedding's below).
    const head = stage((g) => {
      const wte = this.w('wte') as tf.Tensor2D;
      const hw = tf.mul(fw.hf, fw.w) as tf.Tensor2D; // [N, d]
      const dhf = tf.mul(tf.sub(tf.matMul(fw.probs, wte), gatherRows(wte, fw.targets)), fw.w) as tf.Tensor2D;
      const probsT = transpose2d(fw.probs); // [V, N]
      fw.probs.dispose();
      const dwteDense = tf.matMul(probsT, hw); // [V, d]
      return { hw, dwteDense, dx: this.layerNormBackward(dhf, fw.lnf, 'ln_f', g) };
    });
    let dx = head.dx;
    for (let i = c.nLayers - 1; i >= 0; i--) {
      const next = stage((g) => this.blockBackward(i, dx, fw.layers[i], B, T, g));
      tf.dispose([dx, ...collect(fw.layers[i])]);
      dx = next;
    }
    // Embeddings: the scatter-add of the token rows, plus the head's sparse part.
    stage((g) => {
      const sparse = tf.scatterND(tf.reshape(tf.concat([fw.targets, fw.idsT]), [2 * N, 1]), tf.concat([tf.neg(head.hw), dx]), [c.vocabSize, d]);
      g.set('wte', tf.add(head.dwteDense, sparse));
      const ones = this.constant(`ones${B}`, () => tf.ones([1, B])) as tf.Tensor2D;
      const dwpe = tf.reshape(tf.matMul(ones, tf.reshape(dx, [B, T * d])), [T, d]);
      g.set('wpe', T === c.contextLength ? dwpe : tf.concat([dwpe, tf.zeros([c.contextLength - T, d])]));
    });
    tf.dispose([dx, head.hw, head.dwteDense]);
    return grads;
  }

  /** Gradients of block i's weights (into g) and of its input, from dx (the gradient of its output). */
  private blockBackward(i: number, dx: tf.Tensor2D, s: LayerSaved, B: number, T: number, g: Map<string, tf.Tensor>): tf.Tensor2D {
    const { dModel: d, nHeads: H } = this.model;
    const p = `blocks.${i}`;
    // MLP: m = gelu(h2 W1 + b1) W2 + b2; d gelu/du = s (1 + u (1 - s) (k1 + 3 k2 u^2)).
    const dg = this.linearBackward(s.g, dx, this.w(`${p}.fc_out.w`), `${p}.fc_out`, g);
    const dgdu = tf.mul(s.s, tf.add(tf.mul(tf.mul(s.u, tf.sub(1, s.s)), tf.add(tf.mul(s.u2, 3 * GELU_K2), GELU_K1)), 1));
    const dh2 = this.linearBackward(s.h2, tf.mul(dg, dgdu), this.w(`${p}.fc_in.w`), `${p}.fc_in`, g);
    const dx1 = tf.add(dx, this.layerNormBackward(dh2, s.ln2, `${p}.ln2`, g)) as tf.Tensor2D;
    // Attention: output projection, attention, then q|k|v (q pre-scaled).
    const dym = this.linearBackward(s.ym, dx1, this.w(`${p}.o.w`), `${p}.o`, g);
    const { dqkv, dqkvT } = this.attentionBackward(dym, s.attn, B, T); // [N, 3d], [3d, N]
    const [dWq, dWk, dWv] = splitRows(tf.matMul(dqkvT, s.h1), 3).map((t) => transpose2d(t)); // [d, d] each
    const [dbq, , dbv] = tf.split(tf.sum(dqkvT, -1), 3);
    const scale = 1 / Math.sqrt(d / H);
    g.set(`${p}.q.w`, tf.mul(dWq, scale));
    g.set(`${p}.k.w`, dWk);
    g.set(`${p}.v.w`, dWv);
    g.set(`${p}.q.b`, tf.mul(dbq, scale));
    g.set(`${p}.k.b`, tf.zeros([d])); // exactly zero: softmax ignores a per-row shift of the scores
    g.set(`${p}.v.b`, dbv);
    const dh1 = tf.matMul(dqkv, transpose2d(s.wqkv));
    return tf.add(dx1, this.layerNormBackward(dh1, s.ln1, `${p}.ln1`, g)) as tf.Tensor2D;
  }
}
