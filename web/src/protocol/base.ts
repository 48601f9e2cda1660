// The federation's base model as the server describes it to every tab: what it
// is (architecture, parameter count, pretrained or not) and, for a checkpoint,
// what to download (url, bytes and sha256 of each file). 'random' is the seeded
// random init of a preset and has no files.
import { z } from 'zod';
import { adapterSpec, specSize, type LoraConfig } from '../adapters/spec.ts';
import { NUM_CLASSES } from '../data/synthetic.ts';
import { baseParameterCount, presetConfig, type ModelConfig, type PresetName } from '../model/config.ts';

export const RANDOM_BASE = 'random';

/** A checkpoint's files, as Hugging Face names them (web/src/model/checkpoint.ts); tokenizer_config.json is optional. */
export const BASE_FILE_NAMES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'] as const;
export type BaseFileName = (typeof BASE_FILE_NAMES)[number];
export const REQUIRED_BASE_FILES: readonly BaseFileName[] = ['config.json', 'tokenizer.json', 'model.safetensors'];

const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A base's id: also a folder name and a URL segment. */
export const baseIdSchema = z.string().regex(ID_PATTERN, 'must be 1-64 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit');

const positiveInt = z.number().int().min(1);

/** A ModelConfig without the classification head, which the federation's dataset sizes. */
export const architectureSchema = z.object({
  vocabSize: positiveInt,
  contextLength: positiveInt,
  dModel: positiveInt,
  nLayers: positiveInt,
  nHeads: positiveInt,
  mlpRatio: positiveInt,
  layerNormEps: z.number().positive(),
});
export type Architecture = z.infer<typeof architectureSchema>;

export const baseFileSchema = z.object({
  name: z.enum(BASE_FILE_NAMES),
  /** Where the tab downloads it: /models/<id>/<name> on the federation's server. */
  url: z.string().min(1).max(2048),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
});
export type BaseFile = z.infer<typeof baseFileSchema>;

export const baseDescriptorSchema = z
  .object({
    id: baseIdSchema,
    /** A human name, e.g. "tabfed-brown" or "random init (tiny preset)". */
    label: z.string().min(1).max(200),
    /** One line on where it comes from. */
    description: z.string().max(500),
    pretrained: z.boolean(),
    source: z.enum(['random', 'shipped', 'url', 'upload']),
    /** Base parameters (embeddings, blocks, final norm), head excluded. */
    params: z.number().int().min(0),
    model: architectureSchema,
    files: z.array(baseFileSchema).max(BASE_FILE_NAMES.length),
  })
  .superRefine((d, ctx) => {
    const names = d.files.map((f) => f.name);
    if (new Set(names).size !== names.length) ctx.addIssue({ code: 'custom', path: ['files'], message: 'a file is listed twice' });
    if (d.id === RANDOM_BASE) {
      if (d.files.length) ctx.addIssue({ code: 'custom', path: ['files'], message: 'the random base has no files' });
      return;
    }
    for (const need of REQUIRED_BASE_FILES) {
      if (!names.includes(need)) ctx.addIssue({ code: 'custom', path: ['files'], message: `${need} is missing` });
    }
  });
export type BaseDescriptor = z.infer<typeof baseDescriptorSchema>;

/** Where the server looks bases up (server/models/registry.ts); 'random' is never in it. */
export interface BaseCatalog {
  get(id: string): BaseDescriptor | undefined;
  list(): BaseDescriptor[];
}

export const EMPTY_CATALOG: BaseCatalog = { get: () => undefined, list: () => [] };

export function architectureOf(m: ModelConfig): Architecture {
  const { vocabSize, contextLength, dModel, nLayers, nHeads, mlpRatio, layerNormEps } = m;
  return { vocabSize, contextLength, dModel, nLayers, nHeads, mlpRatio, layerNormEps };
}

export function randomBaseDescriptor(preset: PresetName, modelSeed: number): BaseDescriptor {
  const m = presetConfig(preset);
  return {
    id: RANDOM_BASE,
    label: `random init (${preset} preset)`,
    description: `seeded random weights (seed ${modelSeed}), not pretrained: LoRA has only random features to adapt`,
    pretrained: false,
    source: 'random',
    params: baseParameterCount(m),
    model: architectureOf(m),
    files: [],
  };
}

/** The model every tab builds over this base: its architecture plus a head for the dataset's classes. */
export function baseModelConfig(base: BaseDescriptor): ModelConfig {
  return { ...base.model, numClasses: NUM_CLASSES };
}

/** Bytes of one adapter (LoRA tensors and head, float32) on the wire. */
export function adapterBytes(model: ModelConfig, lora: LoraConfig): number {
  return specSize(adapterSpec(model, lora)) * 4;
}
