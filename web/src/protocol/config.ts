// The federation's configuration: owned by the server, sent to every client.
import { z } from 'zod';
import { LORA_TARGETS } from '../adapters/spec.ts';
import { presetConfig } from '../model/config.ts';

export const loraConfigSchema = z.object({
  rank: z.number().int().min(1).max(64),
  alpha: z.number().positive().max(1024),
  dropout: z.number().min(0).lt(1),
  targets: z.array(z.enum(LORA_TARGETS)).min(1).max(LORA_TARGETS.length),
});

export const federationConfigSchema = z.object({
  /** Base model preset: every client builds the same architecture. */
  preset: z.enum(['tiny', 'small']),
  /** Seed of the base model's init (a seeded random base until a pretrained one ships). */
  modelSeed: z.number().int().min(0),
  /** Seed of the built-in dataset and of its partition. */
  dataSeed: z.number().int().min(0),
  /** Number of institutions the training set is split across (K). */
  numShards: z.number().int().min(1).max(64),
  /** Dirichlet concentration of the label skew: small = very non-IID. */
  dirichletAlpha: z.number().positive().max(1000),
  /** Tokens per example (padded / truncated); at most the preset's context. */
  seqLen: z.number().int().min(8).max(128),
  rounds: z.number().int().min(1).max(1000),
  localSteps: z.number().int().min(1).max(10000),
  batchSize: z.number().int().min(1).max(256),
  learningRate: z.number().positive().max(1),
  lora: loraConfigSchema,
  /** Fraction of ready clients asked to train each round (at least minClients). */
  fractionFit: z.number().gt(0).max(1),
  minClients: z.number().int().min(1).max(256),
  /** A selected client that has not answered by then is dropped from the round. */
  roundTimeoutMs: z.number().int().min(1000).max(3_600_000),
  evalTimeoutMs: z.number().int().min(1000).max(3_600_000),
  /** Start the first round by itself once minClients are ready. */
  autoStart: z.boolean(),
});

export type FederationConfig = z.infer<typeof federationConfigSchema>;

export const DEFAULT_CONFIG: FederationConfig = {
  preset: 'small',
  modelSeed: 1,
  dataSeed: 7,
  numShards: 4,
  dirichletAlpha: 0.5,
  seqLen: 32,
  rounds: 10,
  localSteps: 20,
  batchSize: 16,
  learningRate: 0.003,
  lora: { rank: 8, alpha: 16, dropout: 0, targets: ['q', 'v'] },
  fractionFit: 1,
  minClients: 2,
  roundTimeoutMs: 120_000,
  evalTimeoutMs: 60_000,
  autoStart: true,
};

/** Validates a partial update against the current config; throws a readable error. */
export function mergeConfig(base: FederationConfig, patch: unknown): FederationConfig {
  const partial = federationConfigSchema.partial().strict().safeParse(patch ?? {});
  if (!partial.success) throw new Error(`invalid config: ${formatIssues(partial.error)}`);
  const merged = federationConfigSchema.safeParse({ ...base, ...partial.data });
  if (!merged.success) throw new Error(`invalid config: ${formatIssues(merged.error)}`);
  const issues = modelIssues(merged.data);
  if (issues.length) throw new Error(`invalid config: ${issues.join('; ')}`);
  return merged.data;
}

/** What the schema cannot see: limits that depend on the chosen preset. */
export function modelIssues(c: FederationConfig): string[] {
  const m = presetConfig(c.preset);
  const issues: string[] = [];
  if (c.seqLen > m.contextLength) issues.push(`seqLen: ${c.seqLen} exceeds the ${c.preset} preset's context of ${m.contextLength}`);
  if (c.lora.rank > m.dModel) issues.push(`lora.rank: ${c.lora.rank} exceeds the ${c.preset} preset's dModel of ${m.dModel}`);
  if (new Set(c.lora.targets).size !== c.lora.targets.length) issues.push('lora.targets: must not repeat');
  return issues;
}

export function formatIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
