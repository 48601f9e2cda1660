// What an adapter consists of: tensor names and shapes, derived from the model
// and LoRA configs alone, so the server can validate updates without tfjs.
import type { ModelConfig } from '../model/config.ts';

export const LORA_TARGETS = ['q', 'k', 'v', 'o', 'fc_in', 'fc_out'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraConfig {
  rank: number;
  alpha: number;
  dropout: number;
  targets: LoraTarget[];
}

export const DEFAULT_LORA: LoraConfig = { rank: 8, alpha: 16, dropout: 0, targets: ['q', 'v'] };

export interface TensorSpec {
  name: string;
  shape: number[];
  /** How a fresh tensor starts: LoRA A is Kaiming-uniform, B is zero (so a fresh adapter is a no-op). */
  init: 'kaiming' | 'zeros' | 'head';
  fanIn: number;
}

export function validateLoraConfig(l: LoraConfig, model?: ModelConfig): void {
  if (!Number.isInteger(l.rank) || l.rank < 1) throw new Error(`LoRA rank must be a positive integer, got ${l.rank}`);
  if (model && l.rank > model.dModel) throw new Error(`LoRA rank ${l.rank} exceeds dModel ${model.dModel}`);
  if (!(l.alpha > 0)) throw new Error(`LoRA alpha must be > 0, got ${l.alpha}`);
  if (!(l.dropout >= 0 && l.dropout < 1)) throw new Error(`LoRA dropout must be in [0, 1), got ${l.dropout}`);
  if (l.targets.length === 0) throw new Error('LoRA needs at least one target module');
  for (const t of l.targets) {
    if (!LORA_TARGETS.includes(t)) throw new Error(`unknown LoRA target "${t}" (known: ${LORA_TARGETS.join(', ')})`);
  }
  if (new Set(l.targets).size !== l.targets.length) throw new Error('LoRA targets must not repeat');
}

/** [in, out] of the base linear layer that a target wraps. */
export function targetDims(c: ModelConfig, t: LoraTarget): [number, number] {
  const d = c.dModel;
  const h = c.mlpRatio * d;
  if (t === 'fc_in') return [d, h];
  if (t === 'fc_out') return [h, d];
  return [d, d];
}

export function loraName(layer: number, target: LoraTarget, part: 'A' | 'B'): string {
  return `blocks.${layer}.${target}.lora_${part}`;
}

/** Every trainable tensor of the adapter, in wire order. The classification head trains with it. */
export function adapterSpec(c: ModelConfig, l: LoraConfig): TensorSpec[] {
  const specs: TensorSpec[] = [];
  const targets = LORA_TARGETS.filter((t) => l.targets.includes(t));
  for (let i = 0; i < c.nLayers; i++) {
    for (const t of targets) {
      const [din, dout] = targetDims(c, t);
      specs.push({ name: loraName(i, t, 'A'), shape: [din, l.rank], init: 'kaiming', fanIn: din });
      specs.push({ name: loraName(i, t, 'B'), shape: [l.rank, dout], init: 'zeros', fanIn: l.rank });
    }
  }
  specs.push({ name: 'head.weight', shape: [c.dModel, c.numClasses], init: 'head', fanIn: c.dModel });
  specs.push({ name: 'head.bias', shape: [c.numClasses], init: 'zeros', fanIn: c.dModel });
  return specs;
}

export function specSize(spec: TensorSpec[]): number {
  return spec.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}
