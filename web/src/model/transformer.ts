// A decoder-only transformer in plain tf ops, read top to bottom:
// embeddings -> pre-LN blocks (causal multi-head attention, GELU MLP) -> final LN
// -> mean pooling over non-pad tokens -> classification head.
// Mean pooling (not last-token) because sequences are right-padded and every
// token then contributes to the gradient, which trains faster on small data.
import * as tf from '@tensorflow/tfjs-core';
import type { LoraConfig, LoraTarget } from '../adapters/spec.ts';
import { loraLinear, type LoraPair } from '../adapters/lora.ts';
import { PAD_ID } from '../training/types.ts';
import type { ModelConfig } from './config.ts';
import { causalMask, crossEntropy, embed, gelu, layerNorm, registerFastMatMulGradient } from './ops.ts';

registerFastMatMulGradient();

export type TensorMap = Map<string, tf.Tensor>;

export interface Adapter {
  lora: LoraConfig;
  /** blocks.i.<target>.lora_A / lora_B, head.weight, head.bias */
  tensors: TensorMap;
}

export interface ForwardOptions {
  /** Enables LoRA dropout; the seed makes it reproducible. */
  dropoutSeed?: number;
  /** The id that pads ids (default PAD_ID = 0): pooling skips it. */
  padId?: number;
}

function get(m: TensorMap, name: string): tf.Tensor {
  const t = m.get(name);
  if (!t) throw new Error(`missing tensor "${name}"`);
  return t;
}

function loraPair(a: Adapter, layer: number, target: LoraTarget): LoraPair | undefined {
  const A = a.tensors.get(`blocks.${layer}.${target}.lora_A`);
  const B = a.tensors.get(`blocks.${layer}.${target}.lora_B`);
  return A && B ? { A, B } : undefined;
}

class Ctx {
  private n = 0;
  constructor(
    readonly c: ModelConfig,
    readonly base: TensorMap,
    readonly adapter: Adapter,
    readonly opts: ForwardOptions,
  ) {}

  /** A base linear layer of block `layer`, with its LoRA pair if targeted. x: [N, in] */
  lin(layer: number, target: LoraTarget, x: tf.Tensor2D): tf.Tensor2D {
    const p = `blocks.${layer}.${target}`;
    const drop = this.opts.dropoutSeed === undefined ? undefined : { seed: this.opts.dropoutSeed + 7919 * this.n++ };
    return loraLinear(x, get(this.base, `${p}.w`), get(this.base, `${p}.b`), loraPair(this.adapter, layer, target), this.adapter.lora, drop);
  }
}

/**
 * Causal multi-head self-attention core: q, k, v [B*T, d] -> [B*T, d] (before the
 * output projection). `mask` is causalMask(T); pass it in to reuse one per forward.
 */
export function attentionCore(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, B: number, T: number, H: number, mask: tf.Tensor = causalMask(T)): tf.Tensor2D {
  const d = q.shape[1];
  const hd = d / H;
  // [B*T, d] -> [B*H, T, hd]
  const heads = (t: tf.Tensor2D) => tf.reshape(tf.transpose(tf.reshape(t, [B, T, H, hd]), [0, 2, 1, 3]), [B * H, T, hd]);
  const [qh, kh, vh] = [heads(q), heads(k), heads(v)];
  const scores = tf.add(tf.mul(tf.matMul(qh, tf.transpose(kh, [0, 2, 1])), 1 / Math.sqrt(hd)), mask); // [B*H, T, T]
  const y = tf.matMul(tf.softmax(scores), vh); // [B*H, T, hd]
  return tf.reshape(tf.transpose(tf.reshape(y, [B, H, T, hd]), [0, 2, 1, 3]), [B * T, d]) as tf.Tensor2D;
}

function attention(ctx: Ctx, layer: number, x: tf.Tensor2D, B: number, T: number, mask: tf.Tensor): tf.Tensor2D {
  const [q, k, v] = (['q', 'k', 'v'] as const).map((t) => ctx.lin(layer, t, x));
  return ctx.lin(layer, 'o', attentionCore(q, k, v, B, T, ctx.c.nHeads, mask));
}

function mlp(ctx: Ctx, layer: number, x: tf.Tensor2D): tf.Tensor2D {
  return ctx.lin(layer, 'fc_out', gelu(ctx.lin(layer, 'fc_in', x)) as tf.Tensor2D);
}

/** Final hidden states [B, T, d] for token ids [B, T]. */
export function hidden(c: ModelConfig, base: TensorMap, adapter: Adapter, ids: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor3D {
  const [B, T] = ids.shape;
  if (T > c.contextLength) throw new Error(`sequence length ${T} exceeds the context length ${c.contextLength}`);
  const ctx = new Ctx(c, base, adapter, opts);
  const pos = tf.slice(get(base, 'wpe'), [0, 0], [T, c.dModel]);
  let x = tf.reshape(tf.add(embed(get(base, 'wte') as tf.Tensor2D, ids), pos), [B * T, c.dModel]) as tf.Tensor2D;
  const mask = causalMask(T);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `blocks.${i}`;
    const h1 = layerNorm(x, get(base, `${p}.ln1.g`), get(base, `${p}.ln1.b`), c.layerNormEps) as tf.Tensor2D;
    x = tf.add(x, attention(ctx, i, h1, B, T, mask));
    const h2 = layerNorm(x, get(base, `${p}.ln2.g`), get(base, `${p}.ln2.b`), c.layerNormEps) as tf.Tensor2D;
    x = tf.add(x, mlp(ctx, i, h2));
  }
  x = layerNorm(x, get(base, 'ln_f.g'), get(base, 'ln_f.b'), c.layerNormEps) as tf.Tensor2D;
  return tf.reshape(x, [B, T, c.dModel]);
}

/**
 * Pooling weights [B, 1, T]: 1/n on the n non-pad tokens, 0 on pads. Built from
 * int32 ops only (min(|ids - padId|, 1) is the mask): tfjs-backend-webgpu
 * miscompiles transposes of bool tensors, and reductions over a middle axis
 * transpose.
 */
function poolingWeights(ids: tf.Tensor2D, padId: number): tf.Tensor3D {
  const [B, T] = ids.shape;
  const offset = padId === 0 ? ids : tf.abs(tf.sub(ids, tf.scalar(padId, 'int32')));
  const mask = tf.cast(tf.minimum(offset, 1), 'float32'); // [B, T]
  const count = tf.maximum(tf.sum(mask, -1, true), 1); // [B, 1]
  return tf.reshape(tf.div(mask, count), [B, 1, T]);
}

/** Class logits [B, C]: mean of the final hidden states over non-pad tokens, then the head. */
export function forward(c: ModelConfig, base: TensorMap, adapter: Adapter, ids: tf.Tensor2D, opts: ForwardOptions = {}): tf.Tensor2D {
  const h = hidden(c, base, adapter, ids, opts); // [B, T, d]
  const pooled = tf.reshape(tf.matMul(poolingWeights(ids, opts.padId ?? PAD_ID), h), [ids.shape[0], c.dModel]) as tf.Tensor2D; // [B, d]
  return tf.add(tf.matMul(pooled, get(adapter.tensors, 'head.weight') as tf.Tensor2D), get(adapter.tensors, 'head.bias'));
}

export function loss(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return crossEntropy(logits, labels);
}
