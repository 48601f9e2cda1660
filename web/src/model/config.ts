// Model configuration: a typed record with named presets (like minGPT's gpt-nano).

export interface ModelConfig {
  vocabSize: number;
  /** Longest sequence the position table covers. */
  contextLength: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** MLP hidden width = mlpRatio * dModel (GPT-2 uses 4). */
  mlpRatio: number;
  numClasses: number;
  layerNormEps: number;
}

export type PresetName = 'tiny' | 'small';

export const PRESETS: Record<PresetName, ModelConfig> = {
  // For tests and quick demos: a LoRA training step (batch 16 x 32) takes ~40 ms on wasm.
  tiny: { vocabSize: 1024, contextLength: 64, dModel: 64, nLayers: 2, nHeads: 4, mlpRatio: 4, numClasses: 3, layerNormEps: 1e-5 },
  // The default: ~2.2 M parameters, context 128.
  small: { vocabSize: 2048, contextLength: 128, dModel: 160, nLayers: 6, nHeads: 4, mlpRatio: 4, numClasses: 3, layerNormEps: 1e-5 },
};

export function presetConfig(name: PresetName): ModelConfig {
  const c = PRESETS[name];
  if (!c) throw new Error(`unknown model preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
  return { ...c };
}

export function validateModelConfig(c: ModelConfig): void {
  const ints: (keyof ModelConfig)[] = ['vocabSize', 'contextLength', 'dModel', 'nLayers', 'nHeads', 'mlpRatio', 'numClasses'];
  for (const k of ints) {
    if (!Number.isInteger(c[k]) || (c[k] as number) < 1) throw new Error(`model config: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.dModel % c.nHeads !== 0) throw new Error(`model config: dModel (${c.dModel}) must be divisible by nHeads (${c.nHeads})`);
  if (c.numClasses < 2) throw new Error('model config: numClasses must be at least 2');
}

/** Parameter count of the base model (embeddings, blocks, final norm), head excluded. */
export function baseParameterCount(c: ModelConfig): number {
  const d = c.dModel;
  const h = c.mlpRatio * d;
  const block = 2 * 2 * d + 4 * (d * d + d) + (d * h + h) + (h * d + d);
  return c.vocabSize * d + c.contextLength * d + c.nLayers * block + 2 * d;
}
