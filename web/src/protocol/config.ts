// The federation's configuration: owned by the server, sent to every client.
import { z } from 'zod';
import { LORA_TARGETS } from '../adapters/spec.ts';
import { adapterBytes, baseModelConfig, RANDOM_BASE, randomBaseDescriptor, type BaseCatalog, type BaseDescriptor } from './base.ts';

export const loraConfigSchema = z.object({
  rank: z.number().int().min(1).max(64),
  alpha: z.number().positive().max(1024),
  dropout: z.number().min(0).lt(1),
  targets: z.array(z.enum(LORA_TARGETS)).min(1).max(LORA_TARGETS.length),
});

export const federationConfigSchema = z.object({
  /**
   * The frozen base model: 'random' (the seeded random init of `preset`) or the
   * id of a base the server has registered (GET /api/models), whose own
   * config.json then fixes the architecture and `preset` is ignored.
   */
  base: z.string().min(1).max(64),
  /** Architecture of the 'random' base: every client builds the same one. */
  preset: z.enum(['tiny', 'small']),
  /** Seed of the initial adapter, and of the base's init when base is 'random'. */
  modelSeed: z.number().int().min(0),
  /** Seed of the built-in dataset and of its partition. */
  dataSeed: z.number().int().min(0),
  /** Number of institutions the training set is split across (K). */
  numShards: z.number().int().min(1).max(64),
  /** Dirichlet concentration of the label skew: small = very non-IID. */
  dirichletAlpha: z.number().positive().max(1000),
  /** Tokens per example (padded / truncated); at most the base model's context. */
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

/** The most one adapter may weigh on the wire: socket.io's message limit comes from it (server/app.ts) and a bigger adapter is refused here. Any LoRA of GPT-2 small (d 768, 12 layers) fits: rank 64 on every target is 42.5 MB. */
export const MAX_ADAPTER_BYTES = 64 * 1024 * 1024;

export const DEFAULT_CONFIG: FederationConfig = {
  // The pretrained base shipped in public/models/tabfed-brown/ (npm run pretrain).
  base: 'tabfed-brown',
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

/**
 * Validates a partial update against the current config; throws a readable
 * error. With a catalog (the server's registered bases) the base must exist and
 * the limits of its architecture apply; without one (a page checking a form
 * before sending it) only the random base's limits can be checked.
 */
export function mergeConfig(base: FederationConfig, patch: unknown, catalog?: BaseCatalog): FederationConfig {
  const partial = federationConfigSchema.partial().strict().safeParse(patch ?? {});
  if (!partial.success) throw new Error(`invalid config: ${formatIssues(partial.error)}`);
  const merged = federationConfigSchema.safeParse({ ...base, ...partial.data });
  if (!merged.success) throw new Error(`invalid config: ${formatIssues(merged.error)}`);
  const issues = modelIssues(merged.data, catalog);
  if (issues.length) throw new Error(`invalid config: ${issues.join('; ')}`);
  return merged.data;
}

/** The descriptor of c's base: built for 'random', looked up otherwise (undefined when unknown). */
export function resolveBase(c: FederationConfig, catalog?: BaseCatalog): BaseDescriptor | undefined {
  return c.base === RANDOM_BASE ? randomBaseDescriptor(c.preset, c.modelSeed) : catalog?.get(c.base);
}

/** What the schema cannot see: limits that depend on the base model's architecture. */
export function modelIssues(c: FederationConfig, catalog?: BaseCatalog): string[] {
  const issues: string[] = [];
  if (new Set(c.lora.targets).size !== c.lora.targets.length) issues.push('lora.targets: must not repeat');
  const base = resolveBase(c, catalog);
  if (!base) {
    if (catalog) {
      const known = [RANDOM_BASE, ...catalog.list().map((b) => b.id)].join(', ');
      issues.push(`base: no base model "${c.base}" is registered (known: ${known})`);
    }
    return issues;
  }
  const m = baseModelConfig(base);
  const what = c.base === RANDOM_BASE ? `the ${c.preset} preset's` : `base model "${base.id}"'s`;
  if (c.seqLen > m.contextLength) issues.push(`seqLen: ${c.seqLen} exceeds ${what} context of ${m.contextLength}`);
  if (c.lora.rank > m.dModel) issues.push(`lora.rank: ${c.lora.rank} exceeds ${what} dModel of ${m.dModel}`);
  else {
    const bytes = adapterBytes(m, c.lora);
    if (bytes > MAX_ADAPTER_BYTES) {
      const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
      issues.push(`lora: this adapter would be ${mb(bytes)} on ${what} architecture, over the ${mb(MAX_ADAPTER_BYTES)} a message may carry; lower the rank or target fewer modules`);
    }
  }
  return issues;
}

export function formatIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
