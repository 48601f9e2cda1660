// Small tf-op building blocks with the gradients the wasm backend needs.
import * as tf from '@tensorflow/tfjs-core';

/** Swap the last two axes. */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const perm = [...Array(r - 2).keys(), r - 1, r - 2];
  return tf.transpose(x, perm);
}

/**
 * Autodiff of matMul emits matMul(dy, b, false, true) and matMul(a, dy, true, false).
 * On tfjs-backend-wasm only the untransposed, unbatched matMul reaches XNNPACK; the
 * transposed variants take a naive loop that is 10-20x slower. So on wasm the
 * gradient transposes explicitly first. Each closure stays lazy, so the weight
 * gradient of a frozen base layer is never computed.
 *
 * Importing tfjs-core's gradient registry (register_all_gradients) later would put
 * the stock gradient back, and module order differs between the browser, vitest and
 * Node scripts: so trainers call this when they are built, and it re-registers
 * whenever the registered gradient is not this one.
 */
const fastMatMulGrad: tf.GradConfig['gradFunc'] = (dy, saved, attrs) => {
  const [a, b] = saved as tf.Tensor[];
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  // Broadcast batch dims need the stock reduction; this model never uses them.
  if (a.rank !== b.rank || a.shape.slice(0, -2).join() !== b.shape.slice(0, -2).join()) {
    if (!stockMatMulGrad) throw new Error('matMul with broadcast batch dims needs tfjs-core\'s gradients registered');
    return stockMatMulGrad(dy, saved, attrs);
  }
  const d = dy as tf.Tensor;
  if (!transposeA && !transposeB) return { a: () => mm(d, b, false, true), b: () => mm(a, d, true, false) };
  if (!transposeA && transposeB) return { a: () => mm(d, b, false, false), b: () => mm(d, a, true, false) };
  if (transposeA && !transposeB) return { a: () => mm(b, d, false, true), b: () => mm(a, d, false, false) };
  return { a: () => mm(b, d, true, true), b: () => mm(d, a, true, true) };
};

let stockMatMulGrad: tf.GradConfig['gradFunc'] | undefined;

function mm(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a, b, ta, tb);
  return tf.matMul(ta ? transposeLast2(a) : a, tb ? transposeLast2(b) : b);
}

export function registerFastMatMulGradient(): void {
  const current = tf.getGradient(tf.BatchMatMul);
  if (current?.gradFunc === fastMatMulGrad) return;
  if (current) stockMatMulGrad = current.gradFunc;
  tf.registerGradient({ kernelName: tf.BatchMatMul, inputsToSave: ['a', 'b'], gradFunc: fastMatMulGrad });
}

export function fastMatMulGradientActive(): boolean {
  return tf.getGradient(tf.BatchMatMul)?.gradFunc === fastMatMulGrad;
}

/** y = x W (+ b) for x [N, in], W [in, out]. */
export function linear(x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor): tf.Tensor2D {
  const y = tf.matMul(x, w as tf.Tensor2D) as tf.Tensor2D;
  return b ? (tf.add(y, b) as tf.Tensor2D) : y;
}

/**
 * Embedding lookup. Gather's gradient (UnsortedSegmentSum) is missing on wasm, so the
 * table's gradient is a one-hot matmul: onehot(ids)^T [V, N] @ dy [N, d].
 */
export function embed(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const [vocab, d] = table.shape;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const t = args[0] as tf.Tensor;
    return {
      value: tf.gather(t, ids),
      gradFunc: (dy: tf.Tensor) => {
        const flatIds = tf.reshape(ids, [-1]) as tf.Tensor1D;
        const oneHotT = tf.transpose(oneHotFloat(flatIds, vocab));
        return tf.matMul(oneHotT, tf.reshape(dy, [-1, d]) as tf.Tensor2D);
      },
    };
  });
  return op(table) as tf.Tensor;
}

export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), -1, true);
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, eps))), g), b);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
export const GELU_K1 = 2 * SQRT_2_OVER_PI;
export const GELU_K2 = GELU_K1 * 0.044715;

/**
 * GELU, tanh approximation (as GPT-2), computed as x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)):
 * the same function, since 0.5 (1 + tanh(z)) = sigmoid(2z), but tanh is 8-9x slower
 * than sigmoid on wasm.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, tf.add(tf.mul(tf.square(x), GELU_K2), GELU_K1))));
}

/** The textbook tanh form of the same GELU, kept as the reference for tests and benches. */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), SQRT_2_OVER_PI);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above. */
export function causalMask(t: number): tf.Tensor2D {
  const m = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) m[i * t + j] = -1e9;
  return tf.tensor2d(m, [t, t]);
}

/** Mean cross-entropy of logits [B, C] against integer labels [B]. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const logp = tf.logSoftmax(logits);
  const onehot = oneHotFloat(labels, logits.shape[1]);
  return tf.neg(tf.mean(tf.sum(tf.mul(logp, onehot), -1)));
}

/** float32 one-hot rows. (tfjs-backend-wasm's OneHot ignores the dtype argument and writes int32 bits.) */
export function oneHotFloat(indices: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(indices, depth), 'float32') as tf.Tensor2D;
}
