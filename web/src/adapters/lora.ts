// LoRA (Hu et al., 2021) as peft does it: a frozen base linear W plus a low-rank
// update scaled by alpha / r. Our layout is x [N, in] @ W [in, out], so
// A is [in, r] and B is [r, out]: delta W = A @ B.
import * as tf from '@tensorflow/tfjs-core';
import { linear } from '../model/ops.ts';
import type { LoraConfig } from './spec.ts';

export const loraScaling = (l: LoraConfig): number => l.alpha / l.rank;

export interface LoraPair {
  A: tf.Tensor;
  B: tf.Tensor;
}

/** y = x W + b + (alpha/r) * dropout(x) A B. */
export function loraLinear(
  x: tf.Tensor2D,
  w: tf.Tensor,
  b: tf.Tensor | undefined,
  pair: LoraPair | undefined,
  l: LoraConfig,
  dropout?: { seed: number },
): tf.Tensor2D {
  const y = linear(x, w, b);
  if (!pair) return y;
  const xin = dropout && l.dropout > 0 ? (tf.dropout(x, l.dropout, undefined, dropout.seed) as tf.Tensor2D) : x;
  const delta = tf.matMul(tf.matMul(xin, pair.A as tf.Tensor2D), pair.B as tf.Tensor2D);
  return tf.add(y, tf.mul(delta, loraScaling(l)));
}

/** peft's get_delta_weight: (alpha/r) * A B, shaped like W. */
export function loraDeltaWeight(pair: LoraPair, l: LoraConfig): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.matMul(pair.A as tf.Tensor2D, pair.B as tf.Tensor2D), loraScaling(l)));
}

/** W + delta: the base weight with the adapter merged in. */
export function mergeLora(w: tf.Tensor, pair: LoraPair, l: LoraConfig): tf.Tensor2D {
  return tf.tidy(() => tf.add(w, loraDeltaWeight(pair, l)));
}
