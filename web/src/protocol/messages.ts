// The one protocol module: every Socket.IO event with its payload type, a
// runtime schema for everything that is received, and the weights check.
// Every payload names its federation and round.
import { z } from 'zod';
import { sizeOf, type TensorHeader, type Weights, type WirePayload } from '../federation/weights.ts';
import type { BaseCatalog, BaseDescriptor } from './base.ts';
import { federationConfigSchema, formatIssues, modelIssues, type FederationConfig } from './config.ts';

export const PROTOCOL_VERSION = 1;

export type Phase = 'idle' | 'waiting' | 'training' | 'evaluating' | 'done';

export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export type ErrorCode =
  | 'bad-payload'
  | 'bad-weights'
  | 'wrong-federation'
  | 'stale-round'
  | 'not-selected'
  | 'duplicate'
  | 'not-joined'
  | 'bad-config';

// ---- pieces ----------------------------------------------------------------

const binary = z.custom<ArrayBuffer | Uint8Array>(
  (v) => v instanceof ArrayBuffer || v instanceof Uint8Array,
  'expected binary data (ArrayBuffer or Uint8Array)',
);

export const wirePayloadSchema = z.object({
  tensors: z
    .array(z.object({ name: z.string().min(1).max(200), shape: z.array(z.number().int().min(1)).min(1).max(4) }))
    .min(1)
    .max(10_000),
  data: binary,
});

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

export const metricsSchema = z.object({
  accuracy: finite.min(0).max(1),
  macroF1: finite.min(0).max(1),
  loss: finite.min(0),
  numExamples: z.number().int().min(0),
});
export type Metrics = z.infer<typeof metricsSchema>;

const envelope = { federation: z.string().min(1).max(100), round: z.number().int().min(0) };

// ---- client -> server --------------------------------------------------------

export const joinSchema = z.object({
  protocol: z.literal(PROTOCOL_VERSION),
  name: z.string().max(80).optional(),
  /** Ask for a given shard (0-based), e.g. from ?shard= in the URL. */
  shard: z.number().int().min(0).max(1023).optional(),
});
export type JoinMsg = z.infer<typeof joinSchema>;

export const readySchema = z.object({
  ...envelope,
  backend: z.string().min(1).max(40),
  adapterInfo: z.string().max(200),
  numTrain: z.number().int().min(1),
  numTest: z.number().int().min(0),
  labelCounts: z.array(z.number().int().min(0)).max(64),
});
export type ReadyMsg = z.infer<typeof readySchema>;

export const updateSchema = z.object({
  ...envelope,
  numExamples: z.number().int().min(1),
  /** The `attempt` of the `fit` this answers; an update for an abandoned attempt is stale. */
  attempt: z.number().int().min(1).optional(),
  weights: wirePayloadSchema,
  trainLoss: finite.min(0),
  steps: z.number().int().min(1),
  ms: finite.min(0),
});
export type UpdateMsg = z.infer<typeof updateSchema>;
export type UpdateOut = Omit<UpdateMsg, 'weights'> & { weights: WirePayload };

/**
 * What a tab that is not ready is doing, for the coordinator's table: getting
 * the base model ready, or why it cannot (e.g. a corrupt download). No ack.
 */
export const loadingSchema = z.object({
  ...envelope,
  activity: z.string().min(1).max(300),
});
export type LoadingMsg = z.infer<typeof loadingSchema>;

export const progressSchema = z.object({
  ...envelope,
  step: z.number().int().min(0),
  steps: z.number().int().min(1),
  loss: finite.min(0),
});
export type ProgressMsg = z.infer<typeof progressSchema>;

export const evalSchema = z.object({
  ...envelope,
  local: metricsSchema,
  global: metricsSchema,
});
export type EvalMsg = z.infer<typeof evalSchema>;

export const controlSchema = z.object({
  action: z.enum(['start', 'pause', 'reset', 'configure']),
  config: z.unknown().optional(),
});
export type ControlMsg = z.infer<typeof controlSchema>;

// ---- server -> client --------------------------------------------------------

export interface FitConfig {
  localSteps: number;
  batchSize: number;
  learningRate: number;
  /** Seeds this client's batch order and dropout for the round. */
  seed: number;
}

export interface FitMsg {
  federation: string;
  round: number;
  /** 1 for a round's first try, then 2, 3, ... when too few updates came back; echo it in `update`. */
  attempt: number;
  fit: FitConfig;
  global: WirePayload;
}

export interface EvaluateMsg {
  federation: string;
  round: number;
  global: WirePayload;
}

export interface ErrorMsg {
  federation: string;
  round: number;
  code: ErrorCode;
  message: string;
}

export interface FederationMsg {
  federation: string;
  round: number;
  phase: Phase;
  config: FederationConfig;
  /** config.base described: what to download and verify (tabs check it with baseDescriptorSchema). */
  base: BaseDescriptor;
  /** The receiving tab's shard, which a reset that changes numShards may move. */
  shard?: number;
}

export type Ack = { ok: true } | { ok: false; code: ErrorCode; error: string };

export type JoinAck =
  | (FederationMsg & { ok: true; clientId: string; name: string; shard: number; global: WirePayload })
  | { ok: false; code: ErrorCode; error: string };

// ---- status (GET /api/status, and the coordinator's live feed) ---------------

export interface ClientStatus {
  id: string;
  name: string;
  shard: number;
  backend: string;
  adapterInfo: string;
  numExamples: number;
  labelCounts: number[];
  ready: boolean;
  /** What the client is doing now, e.g. 'training 12/40'. */
  activity: string;
  lastSeen: number;
}

export interface RoundRecord {
  round: number;
  /** Ids of the clients whose updates went into this round's aggregate (none for round 0). */
  participants: string[];
  /** Global test set, averaged over evaluating clients weighted by their example counts. */
  metrics: { accuracy: number; macroF1: number; loss: number };
  /** Each client's own test shard, same weighting. */
  localMetrics: { accuracy: number; macroF1: number; loss: number } | null;
  perClient: { id: string; local: Metrics; global: Metrics }[];
  trainLoss: number | null;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  attempts: number;
}

export interface Status {
  federation: string;
  round: number;
  phase: Phase;
  running: boolean;
  config: FederationConfig;
  base: BaseDescriptor;
  clients: ClientStatus[];
  history: RoundRecord[];
  adapterBytes: number;
  message: string;
}

// ---- event maps (socket.io typing) ---------------------------------------------

export interface ServerToClientEvents {
  federation: (msg: FederationMsg) => void;
  fit: (msg: FitMsg) => void;
  evaluate: (msg: EvaluateMsg) => void;
  error: (msg: ErrorMsg) => void;
  status: (s: Status) => void;
}

export interface ClientToServerEvents {
  join: (msg: JoinMsg, ack: (a: JoinAck) => void) => void;
  ready: (msg: ReadyMsg, ack: (a: Ack) => void) => void;
  update: (msg: UpdateOut, ack: (a: Ack) => void) => void;
  progress: (msg: ProgressMsg) => void;
  loading: (msg: LoadingMsg) => void;
  eval: (msg: EvalMsg, ack: (a: Ack) => void) => void;
  watch: (ack: (s: Status) => void) => void;
  control: (msg: ControlMsg, ack: (a: Ack & { status?: Status }) => void) => void;
}

// ---- runtime checks -------------------------------------------------------------

/** Parses with a schema or throws a ProtocolError that names every problem. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new ProtocolError('bad-payload', `${what}: ${formatIssues(r.error)}`);
  return r.data;
}

export function parseConfig(value: unknown, catalog?: BaseCatalog): FederationConfig {
  const r = federationConfigSchema.safeParse(value);
  if (!r.success) throw new ProtocolError('bad-config', `config: ${formatIssues(r.error)}`);
  const issues = modelIssues(r.data, catalog);
  if (issues.length) throw new ProtocolError('bad-config', `config: ${issues.join('; ')}`);
  return r.data;
}

/**
 * Decodes weights received from the other side and checks them against the
 * expected tensor list: same names in the same order, same shapes, exact byte
 * length, every value finite. Copies the bytes, so an unaligned Buffer is fine.
 */
export function decodeWeights(payload: unknown, expected: readonly TensorHeader[]): Weights {
  const p = parse(wirePayloadSchema, payload, 'weights');
  if (p.tensors.length !== expected.length) {
    const got = new Set(p.tensors.map((t) => t.name));
    const missing = expected.filter((e) => !got.has(e.name)).map((e) => e.name);
    const want = new Set(expected.map((e) => e.name));
    const extra = p.tensors.filter((t) => !want.has(t.name)).map((t) => t.name);
    throw new ProtocolError(
      'bad-weights',
      `weights: expected ${expected.length} tensors, got ${p.tensors.length}` +
        (missing.length ? `; missing ${missing.slice(0, 5).join(', ')}` : '') +
        (extra.length ? `; unexpected ${extra.slice(0, 5).join(', ')}` : ''),
    );
  }
  let total = 0;
  p.tensors.forEach((t, i) => {
    const e = expected[i];
    if (t.name !== e.name) throw new ProtocolError('bad-weights', `weights: tensor ${i} is "${t.name}", expected "${e.name}"`);
    if (t.shape.join(',') !== e.shape.join(',')) {
      throw new ProtocolError('bad-weights', `weights: "${t.name}" has shape [${t.shape}], expected [${e.shape}]`);
    }
    total += sizeOf(t.shape);
  });
  const bytes = p.data instanceof Uint8Array ? p.data : new Uint8Array(p.data);
  if (bytes.byteLength !== total * 4) {
    throw new ProtocolError('bad-weights', `weights: ${bytes.byteLength} bytes of data, expected ${total * 4} (${total} float32 values)`);
  }
  const flat = new Float32Array(total);
  new Uint8Array(flat.buffer).set(bytes);
  for (let i = 0; i < total; i++) {
    if (!Number.isFinite(flat[i])) {
      let off = 0;
      const t = p.tensors.find((h) => (off += sizeOf(h.shape)) > i)!;
      throw new ProtocolError('bad-weights', `weights: "${t.name}" holds a non-finite value (${flat[i]})`);
    }
  }
  let off = 0;
  return p.tensors.map((t) => {
    const n = sizeOf(t.shape);
    const data = flat.slice(off, off + n);
    off += n;
    return { name: t.name, shape: [...t.shape], data };
  });
}

export function payloadBytes(p: WirePayload): number {
  return p.data.byteLength;
}
