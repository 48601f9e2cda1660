// Local LoRA training and evaluation over a frozen base model.
import * as tf from '@tensorflow/tfjs-core';
import { initAdapter } from '../adapters/init.ts';
import { adapterSpec, specSize, validateLoraConfig, type LoraConfig, type TensorSpec } from '../adapters/spec.ts';
import type { Weights } from '../federation/weights.ts';
import { baseParameterCount, validateModelConfig, type ModelConfig } from '../model/config.ts';
import { initBaseWeights, type HostWeights } from '../model/init.ts';
import { oneHotFloat, registerFastMatMulGradient } from '../model/ops.ts';
import { forward, loss, type Adapter, type TensorMap } from '../model/transformer.ts';
import { makeBatch, sampleBatches, type Batch } from './batches.ts';
import { classificationMetrics } from './metrics.ts';
import type { EncodedSet, FitOptions, FitReport, Metrics, StepCallback } from './types.ts';

/**
 * On GPU backends every new tensor shape compiles new shaders (seconds each on a
 * software adapter): there, batches keep one shape (full length, padded size).
 */
function compilesPerShape(): boolean {
  return !['wasm', 'cpu'].includes(tf.getBackend());
}

export class LoraTrainer {
  readonly spec: TensorSpec[];
  readonly baseParams: number;
  readonly adapterParams: number;
  private readonly base: TensorMap;
  private readonly vars: Map<string, tf.Variable>;
  private readonly adapter: Adapter;
  private disposed = false;

  /** Frozen base weights become plain tensors (never optimizer variables); the adapter and head are variables. */
  private constructor(
    readonly model: ModelConfig,
    readonly lora: LoraConfig,
    baseWeights: HostWeights,
    initial: Weights,
  ) {
    validateModelConfig(model);
    validateLoraConfig(lora, model);
    registerFastMatMulGradient();
    this.spec = adapterSpec(model, lora);
    this.base = new Map();
    for (const [name, t] of baseWeights) this.base.set(name, tf.keep(tf.tensor(t.data, t.shape, 'float32')));
    this.vars = new Map(initial.map((w) => [w.name, tf.variable(tf.tensor(w.data, w.shape, 'float32'), true)]));
    this.adapter = { lora, tensors: this.vars as TensorMap };
    this.baseParams = baseParameterCount(model);
    this.adapterParams = specSize(this.spec);
  }

  /** A trainer over the seeded random base, with a fresh adapter from the same seed. */
  static create(model: ModelConfig, lora: LoraConfig, opts: { modelSeed: number }): LoraTrainer {
    return LoraTrainer.fromBase(model, lora, initBaseWeights(model, opts.modelSeed), opts.modelSeed);
  }

  /** A trainer over the given frozen base (a pretrained one, say), with a fresh adapter from adapterSeed. */
  static fromBase(model: ModelConfig, lora: LoraConfig, base: HostWeights, adapterSeed: number): LoraTrainer {
    return new LoraTrainer(model, lora, base, initAdapter(adapterSpec(model, lora), adapterSeed));
  }

  static fromWeights(model: ModelConfig, lora: LoraConfig, base: HostWeights, adapter: Weights): LoraTrainer {
    return new LoraTrainer(model, lora, base, adapter);
  }

  get vocabSize(): number {
    return this.model.vocabSize;
  }

  setAdapter(w: Weights): void {
    this.check();
    if (w.length !== this.spec.length) throw new Error(`adapter has ${w.length} tensors, expected ${this.spec.length}`);
    // Validate everything before assigning anything: a bad adapter changes nothing.
    w.forEach((t, i) => {
      const s = this.spec[i];
      if (t.name !== s.name || t.shape.join() !== s.shape.join()) {
        throw new Error(`adapter tensor ${i} is "${t.name}" [${t.shape}], expected "${s.name}" [${s.shape}]`);
      }
    });
    for (const t of w) {
      const v = this.vars.get(t.name)!;
      tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, 'float32')));
    }
  }

  /** Reads the adapter back. Async: a synchronous GPU readback on webgpu is slow and can lose the device. */
  async getAdapter(): Promise<Weights> {
    this.check();
    const data = await Promise.all(this.spec.map((s) => this.vars.get(s.name)!.data() as Promise<Float32Array>));
    return this.spec.map((s, i) => ({ name: s.name, shape: [...s.shape], data: data[i] }));
  }

  /** Logits [B, C] for a batch; the caller disposes. */
  logits(batch: Batch, dropoutSeed?: number): tf.Tensor2D {
    return tf.tidy(() => {
      const ids = tf.tensor2d(batch.ids, [batch.size, batch.len], 'int32');
      return forward(this.model, this.base, this.adapter, ids, { dropoutSeed, padId: batch.padId });
    });
  }

  /** One optimizer step; returns the loss tensor (the caller reads and disposes it). */
  step(optimizer: tf.Optimizer, batch: Batch, dropoutSeed?: number): tf.Scalar {
    const varList = [...this.vars.values()];
    return tf.tidy(() => {
      const labels = tf.tensor1d(batch.labels, 'int32');
      const cost = optimizer.minimize(() => loss(this.logits(batch, dropoutSeed), labels), true, varList);
      return cost!;
    });
  }

  async train(set: EncodedSet, fit: FitOptions, onStep?: StepCallback): Promise<FitReport> {
    this.check();
    const t0 = performance.now();
    const optimizer = tf.train.adam(fit.learningRate);
    const batches = sampleBatches(set.n, fit.batchSize, fit.steps, fit.seed);
    const oneShape = compilesPerShape();
    let sum = 0;
    try {
      for (let s = 0; s < batches.length; s++) {
        const cost = this.step(optimizer, makeBatch(set, batches[s], oneShape), this.lora.dropout > 0 ? fit.seed * 100003 + s : undefined);
        const value = (await cost.data())[0];
        cost.dispose();
        if (!Number.isFinite(value)) throw new Error(`training diverged at step ${s + 1} (loss ${value}); lower the learning rate`);
        sum += value;
        await onStep?.(s + 1, batches.length, value);
        this.check();
      }
    } finally {
      optimizer.dispose();
    }
    return { loss: sum / batches.length, steps: batches.length, ms: performance.now() - t0 };
  }

  async evaluate(set: EncodedSet, batchSize = 64): Promise<Metrics> {
    this.check();
    const preds = new Int32Array(set.n);
    let lossSum = 0;
    const oneShape = compilesPerShape();
    for (let start = 0; start < set.n; start += batchSize) {
      const real = Math.min(batchSize, set.n - start);
      const idx = Array.from({ length: oneShape ? batchSize : real }, (_, k) => start + Math.min(k, real - 1));
      const batch = makeBatch(set, idx, oneShape);
      const [argmax, perExample] = tf.tidy(() => {
        const logits = this.logits(batch);
        const labels = oneHotFloat(tf.tensor1d(batch.labels, 'int32'), this.model.numClasses);
        return [tf.argMax(logits, -1), tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), labels), -1))];
      });
      const [p, l] = await Promise.all([argmax.data(), perExample.data()]);
      tf.dispose([argmax, perExample]);
      preds.set((p as Int32Array).subarray(0, real), start);
      for (let k = 0; k < real; k++) lossSum += l[k];
    }
    return classificationMetrics(preds, set.labels, this.model.numClasses, lossSum);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose([...this.base.values()]);
    tf.dispose([...this.vars.values()]);
  }

  private check(): void {
    if (this.disposed) throw new Error('trainer was disposed');
  }
}
