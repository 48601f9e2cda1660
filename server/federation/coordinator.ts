// The federation's round loop: a state machine that owns every piece of
// federation state and talks to tabs only through a Transport. Round 0
// evaluates the initial adapter; rounds 1..R train (fit), aggregate with the
// strategy, then evaluate the new global adapter on every ready tab.
import { randomUUID } from 'node:crypto';
import { adapterSpec } from '../../web/src/adapters/spec.ts';
import { initAdapter } from '../../web/src/adapters/init.ts';
import { deriveSeed, mulberry32 } from '../../web/src/data/rng.ts';
import { encodeWeights, weightsByteLength, type TensorHeader, type Weights } from '../../web/src/federation/weights.ts';
import { baseModelConfig, EMPTY_CATALOG, type BaseCatalog, type BaseDescriptor } from '../../web/src/protocol/base.ts';
import { DEFAULT_CONFIG, mergeConfig, resolveBase, type FederationConfig } from '../../web/src/protocol/config.ts';
import {
  ProtocolError,
  decodeWeights,
  payloadBytes,
  type Ack,
  type ClientStatus,
  type ControlMsg,
  type ErrorCode,
  type EvalMsg,
  type FederationMsg,
  type JoinAck,
  type JoinMsg,
  type LoadingMsg,
  type Phase,
  type ProgressMsg,
  type ReadyMsg,
  type RoundRecord,
  type ServerToClientEvents,
  type Status,
  type UpdateMsg,
} from '../../web/src/protocol/messages.ts';
import { fedAvgStrategy, fitConfig, meanTrainLoss, type EvaluateResult, type EvaluateSummary, type FitResult, type Strategy } from './strategy.ts';

export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

type Outgoing = { [E in keyof ServerToClientEvents]: Parameters<ServerToClientEvents[E]>[0] };
export type ClientEvent = Exclude<keyof Outgoing, 'status'>;

/** All the coordinator needs from the network. It never does arithmetic. */
export interface Transport {
  send<E extends ClientEvent>(clientId: string, event: E, msg: Outgoing[E]): void;
  /** The live status feed of every watcher (the coordinator page). */
  broadcastStatus(status: Status): void;
}

export interface CoordinatorDeps {
  transport: Transport;
  config?: Partial<FederationConfig>;
  clock?: Clock;
  strategy?: Strategy;
  /** The registered base models a config may name besides 'random' (server/models/registry.ts). */
  bases?: BaseCatalog;
  /** Federation ids; crypto.randomUUID unless a test needs fixed ones. */
  newId?: () => string;
}

/** Watchers get at most this many status pushes per second. */
const STATUS_PER_SECOND = 5;

/** Changing these changes the adapter's shape or the tabs' data, so the federation starts over. */
const RESET_KEYS = ['base', 'preset', 'lora', 'modelSeed', 'dataSeed', 'numShards', 'dirichletAlpha', 'seqLen'] as const;

interface Client {
  id: string;
  name: string;
  shard: number;
  ready: boolean;
  backend: string;
  adapterInfo: string;
  numExamples: number;
  labelCounts: number[];
  activity: string;
  lastSeen: number;
}

interface FitStage {
  kind: 'fit';
  round: number;
  attempt: number;
  selected: Set<string>;
  results: Map<string, FitResult>;
  timer: TimerHandle;
}

interface EvalStage {
  kind: 'eval';
  round: number;
  expected: Set<string>;
  results: Map<string, EvaluateResult>;
  timer: TimerHandle;
}

/** A round until it is recorded: kept across retries, a pause, and its evaluation. */
interface Ledger {
  round: number;
  attempts: number;
  startedAt: number;
  bytesUp: number;
  bytesDown: number;
  /** Set once the round's updates were aggregated; only its evaluation is left then. */
  participants: string[] | null;
  trainLoss: number | null;
}

const ok: Ack = { ok: true };
const fail = (code: ErrorCode, error: string): Ack => ({ ok: false, code, error });

/** The requested shard when valid, else the least-held one (lowest index first). */
export function assignShard(requested: number | undefined, held: readonly number[], numShards: number): number {
  if (requested !== undefined && requested < numShards) return requested;
  const counts = new Array<number>(numShards).fill(0);
  for (const s of held) if (s < numShards) counts[s]++;
  return counts.indexOf(Math.min(...counts));
}

export class Coordinator {
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly strategy: Strategy;
  private readonly newId: () => string;
  private readonly bases: BaseCatalog;

  private config: FederationConfig;
  /** config.base described, as tabs receive it. */
  private base!: BaseDescriptor;
  private spec: TensorHeader[] = [];
  private federation = '';
  private round = 0;
  private phase: Phase = 'idle';
  private running = false;
  private message = '';
  private global: Weights = [];
  private history: RoundRecord[] = [];
  private ledger: Ledger | null = null;
  private stage: FitStage | EvalStage | null = null;
  private readonly clients = new Map<string, Client>();
  private joined = 0;
  private statusTimer: { handle: TimerHandle } | null = null;
  private lastPublished = -Infinity;
  private disposed = false;

  constructor(deps: CoordinatorDeps) {
    this.transport = deps.transport;
    this.clock = deps.clock ?? systemClock;
    this.strategy = deps.strategy ?? fedAvgStrategy;
    this.newId = deps.newId ?? randomUUID;
    this.bases = deps.bases ?? EMPTY_CATALOG;
    this.config = mergeConfig(DEFAULT_CONFIG, deps.config ?? {}, this.bases);
    this.startFederation();
  }

  // ---- messages from tabs --------------------------------------------------

  join(msg: JoinMsg): JoinAck {
    const id = `c${++this.joined}`;
    const shard = assignShard(msg.shard, [...this.clients.values()].map((c) => c.shard), this.config.numShards);
    const name = msg.name?.trim() || `Institution ${shard + 1}`;
    this.clients.set(id, { id, name, shard, ready: false, backend: '', adapterInfo: '', numExamples: 0, labelCounts: [], activity: 'joined', lastSeen: this.clock.now() });
    this.changed();
    return { ok: true, ...this.federationMsg(), clientId: id, name, shard, global: encodeWeights(this.global) };
  }

  ready(clientId: string, msg: ReadyMsg): Ack {
    const c = this.seen(clientId);
    if (!c) return notJoined(clientId);
    if (msg.federation !== this.federation) return this.wrongFederation(msg.federation);
    Object.assign(c, { ready: true, backend: msg.backend, adapterInfo: msg.adapterInfo, numExamples: msg.numTrain, labelCounts: [...msg.labelCounts], activity: 'idle' });
    this.changed();
    this.advance();
    return ok;
  }

  update(clientId: string, msg: UpdateMsg): Ack {
    const c = this.seen(clientId);
    if (!c) return notJoined(clientId);
    const refused = this.checkUpdate(clientId, msg);
    if (refused) return refused;
    // FedAvg weights by numExamples: a client may not claim more than it said it holds.
    if (msg.numExamples > c.numExamples) {
      return fail('bad-payload', `update: numExamples ${msg.numExamples} exceeds the ${c.numExamples} training examples this client reported when ready`);
    }
    const stage = this.stage as FitStage;
    let weights: Weights;
    try {
      weights = decodeWeights(msg.weights, this.spec);
    } catch (e) {
      if (e instanceof ProtocolError) return fail(e.code, e.message);
      throw e;
    }
    stage.results.set(clientId, { clientId, weights, numExamples: msg.numExamples, trainLoss: msg.trainLoss });
    this.ledger!.bytesUp += payloadBytes(msg.weights);
    c.activity = 'idle';
    this.changed();
    if (allAnswered(stage.selected, stage.results)) this.closeFit();
    return ok;
  }

  progress(clientId: string, msg: ProgressMsg): void {
    const c = this.seen(clientId);
    const s = this.stage;
    if (!c || msg.federation !== this.federation || s?.kind !== 'fit' || s.round !== msg.round || !s.selected.has(clientId)) return;
    if (s.results.has(clientId)) return;
    c.activity = `training ${msg.step}/${msg.steps}`;
    this.changed();
  }

  /** What a tab that is not ready yet is doing (downloading the base, or why it cannot). */
  loading(clientId: string, msg: LoadingMsg): void {
    const c = this.seen(clientId);
    if (!c || c.ready || msg.federation !== this.federation) return;
    c.activity = msg.activity;
    this.changed();
  }

  eval(clientId: string, msg: EvalMsg): Ack {
    const c = this.seen(clientId);
    if (!c) return notJoined(clientId);
    if (msg.federation !== this.federation) return this.wrongFederation(msg.federation);
    const s = this.stage;
    if (s?.kind !== 'eval' || s.round !== msg.round) return fail('stale-round', `round ${msg.round} is not being evaluated${this.now()}`);
    if (!s.expected.has(clientId)) return fail('not-selected', `${clientId} was not asked to evaluate round ${msg.round}`);
    if (s.results.has(clientId)) return fail('duplicate', `${clientId} already evaluated round ${msg.round}`);
    s.results.set(clientId, { clientId, local: msg.local, global: msg.global });
    c.activity = 'idle';
    this.changed();
    if (allAnswered(s.expected, s.results)) this.closeEval();
    return ok;
  }

  disconnect(clientId: string): void {
    if (!this.clients.delete(clientId)) return;
    this.changed();
    const s = this.stage;
    if (s?.kind === 'fit' && s.selected.delete(clientId)) {
      // A departed tab's update is never aggregated, even one that arrived.
      s.results.delete(clientId);
      if (allAnswered(s.selected, s.results)) this.closeFit();
    } else if (s?.kind === 'eval' && s.expected.delete(clientId)) {
      if (allAnswered(s.expected, s.results)) this.closeEval();
    }
  }

  /** Records that a tab was heard from, even when its message is then refused. */
  touch(clientId: string): boolean {
    return this.seen(clientId) !== undefined;
  }

  // ---- the operator ----------------------------------------------------------

  control(msg: ControlMsg): Ack {
    switch (msg.action) {
      case 'start':
        this.running = true;
        this.advance();
        this.announce();
        return ok;
      case 'pause':
        this.running = false;
        this.abandonStage();
        this.setPhase('idle', `paused at round ${this.round}`);
        this.announce();
        return ok;
      case 'reset':
        this.reset();
        return ok;
      case 'configure':
        return this.configure(msg.config);
    }
  }

  status(): Status {
    return {
      federation: this.federation,
      round: this.round,
      phase: this.phase,
      running: this.running,
      config: this.config,
      base: this.base,
      clients: [...this.clients.values()].map(clientStatus),
      history: [...this.history],
      adapterBytes: weightsByteLength(this.global),
      message: this.message,
    };
  }

  /** What every outgoing message starts with. */
  envelope(): { federation: string; round: number } {
    return { federation: this.federation, round: this.round };
  }

  /** A copy of the current global adapter. */
  globalWeights(): Weights {
    return this.global.map((t) => ({ name: t.name, shape: [...t.shape], data: new Float32Array(t.data) }));
  }

  /** Stops every timer; the coordinator pushes no status after this. */
  dispose(): void {
    this.disposed = true;
    this.abandonStage();
    if (this.statusTimer) this.clock.clearTimeout(this.statusTimer.handle);
    this.statusTimer = null;
  }

  // ---- the loop ------------------------------------------------------------------

  /** Starts whatever comes next, if it can: round 0's evaluation, a fit, an evaluation, or done. */
  private advance(): void {
    if (!this.running || this.stage) return;
    const next = this.ledger?.round ?? (this.history.at(-1)?.round ?? -1) + 1;
    if (next > this.config.rounds) return this.finish();
    const evaluating = next === 0 || this.ledger?.participants != null;
    const ready = this.readyIds();
    const needed = evaluating && next > 0 ? 1 : this.config.minClients;
    if (ready.length < needed) {
      return this.setPhase('waiting', `round ${next}: waiting for ${needed} ready tab(s), ${ready.length} ready`);
    }
    if (evaluating) this.startEval(next, ready);
    else this.startFit(next, ready);
  }

  private startFit(round: number, ready: string[]): void {
    const ledger = this.openLedger(round);
    const rng = mulberry32(deriveSeed(this.config.dataSeed, `select/${round}/${ledger.attempts}`));
    const selected = this.strategy.configureFit(round, ready, this.config, rng);
    if (selected.length < this.config.minClients) return this.setPhase('waiting', `round ${round}: the strategy selected too few tabs`);
    const global = encodeWeights(this.global);
    for (const id of selected) {
      const c = this.clients.get(id)!;
      const fit = fitConfig(this.config, round, c.shard);
      this.transport.send(id, 'fit', { federation: this.federation, round, attempt: ledger.attempts, fit, global });
      c.activity = `training 0/${fit.localSteps}`;
    }
    ledger.bytesDown += payloadBytes(global) * selected.length;
    const timer = this.clock.setTimeout(() => this.closeFit(), this.config.roundTimeoutMs);
    this.stage = { kind: 'fit', round, attempt: ledger.attempts, selected: new Set(selected), results: new Map(), timer };
    this.round = round;
    const retry = ledger.attempts > 1 ? ` (attempt ${ledger.attempts})` : '';
    this.setPhase('training', `round ${round}${retry}: training on ${selected.length} tab(s)`);
  }

  /** Aggregates when enough updates came back; otherwise the same round is tried again. */
  private closeFit(): void {
    const s = this.stage;
    if (s?.kind !== 'fit') return;
    this.abandonStage();
    const results = [...s.results.values()];
    if (results.length < this.config.minClients) {
      this.message = `round ${s.round}: ${results.length} update(s), ${this.config.minClients} needed; trying again`;
      this.changed();
      return this.advance();
    }
    const next = this.strategy.aggregateFit(s.round, results);
    if (next) this.global = next;
    Object.assign(this.ledger!, { participants: results.map((r) => r.clientId), trainLoss: meanTrainLoss(results) });
    this.advance();
  }

  private startEval(round: number, ready: string[]): void {
    const ledger = round === 0 ? this.openLedger(0) : this.ledger!;
    const global = encodeWeights(this.global);
    for (const id of ready) {
      this.transport.send(id, 'evaluate', { federation: this.federation, round, global });
      this.clients.get(id)!.activity = 'evaluating';
    }
    ledger.bytesDown += payloadBytes(global) * ready.length;
    const timer = this.clock.setTimeout(() => this.closeEval(), this.config.evalTimeoutMs);
    this.stage = { kind: 'eval', round, expected: new Set(ready), results: new Map(), timer };
    this.round = round;
    this.setPhase('evaluating', `round ${round}: evaluating on ${ready.length} tab(s)`);
  }

  /** Records the round; with no evaluation at all, evaluates again. */
  private closeEval(): void {
    const s = this.stage;
    if (s?.kind !== 'eval') return;
    this.abandonStage();
    const results = [...s.results.values()];
    if (results.length > 0) {
      this.history.push(roundRecord(this.ledger!, this.strategy.aggregateEvaluate(results), results, this.clock.now()));
      this.ledger = null;
    } else {
      this.message = `round ${s.round}: no evaluation came back; trying again`;
    }
    this.changed();
    this.advance();
  }

  private finish(): void {
    if (this.phase === 'done') return;
    this.setPhase('done', `done: ${this.config.rounds} rounds`);
    this.announce();
  }

  private openLedger(round: number): Ledger {
    if (this.ledger?.round === round) {
      this.ledger.attempts++;
    } else {
      this.ledger = { round, attempts: 1, startedAt: this.clock.now(), bytesUp: 0, bytesDown: 0, participants: null, trainLoss: null };
    }
    return this.ledger;
  }

  /** Drops the stage in flight; anything that still arrives for it is stale. */
  private abandonStage(): void {
    const s = this.stage;
    if (!s) return;
    this.clock.clearTimeout(s.timer);
    this.stage = null;
    for (const id of s.kind === 'fit' ? s.selected : s.expected) {
      const c = this.clients.get(id);
      if (c) c.activity = 'idle';
    }
  }

  // ---- reset and configuration ---------------------------------------------------

  private configure(patch: unknown): Ack {
    let next: FederationConfig;
    try {
      next = mergeConfig(this.config, patch, this.bases);
    } catch (e) {
      return fail('bad-config', (e as Error).message);
    }
    const restart = RESET_KEYS.some((k) => JSON.stringify(next[k]) !== JSON.stringify(this.config[k]));
    this.config = next;
    if (restart) {
      this.reset();
    } else {
      this.changed();
      this.advance();
      this.announce();
    }
    return ok;
  }

  /** A new federation: new id, round 0, no history, the seeded initial adapter; tabs rebuild. */
  private reset(): void {
    this.abandonStage();
    this.startFederation();
    const { numShards } = this.config;
    const held = [...this.clients.values()].map((c) => c.shard).filter((s) => s < numShards);
    for (const c of this.clients.values()) {
      if (c.shard >= numShards) held.push((c.shard = assignShard(undefined, held, numShards)));
      Object.assign(c, { ready: false, activity: 'rebuilding' });
    }
    this.announce();
  }

  /** Tells every tab where the federation stands; a tab rebuilds only when the id is new. */
  private announce(): void {
    for (const c of this.clients.values()) this.transport.send(c.id, 'federation', { ...this.federationMsg(), shard: c.shard });
  }

  private startFederation(): void {
    this.federation = this.newId();
    // mergeConfig checked that the base exists.
    this.base = resolveBase(this.config, this.bases)!;
    const spec = adapterSpec(baseModelConfig(this.base), this.config.lora);
    this.spec = spec.map(({ name, shape }) => ({ name, shape }));
    this.global = initAdapter(spec, this.config.modelSeed);
    this.round = 0;
    this.history = [];
    this.ledger = null;
    this.running = this.config.autoStart;
    this.setPhase(this.running ? 'waiting' : 'idle', this.running ? 'waiting for tabs' : 'press start');
  }

  // ---- helpers -------------------------------------------------------------------------

  /** Why an update cannot count, or null when it can (its weights are checked after). */
  private checkUpdate(clientId: string, msg: UpdateMsg): Ack | null {
    if (msg.federation !== this.federation) return this.wrongFederation(msg.federation);
    const s = this.stage;
    const open = s?.kind === 'fit' && s.round === msg.round && (msg.attempt === undefined || msg.attempt === s.attempt);
    if (!open) return fail('stale-round', `round ${msg.round}${msg.attempt ? ` attempt ${msg.attempt}` : ''} is not open for updates${this.now()}`);
    if (!s.selected.has(clientId)) return fail('not-selected', `${clientId} was not selected for round ${msg.round}`);
    if (s.results.has(clientId)) return fail('duplicate', `${clientId} already sent its update for round ${msg.round}`);
    return null;
  }

  private seen(clientId: string): Client | undefined {
    const c = this.clients.get(clientId);
    if (c) c.lastSeen = this.clock.now();
    return c;
  }

  private wrongFederation(got: string): Ack {
    return fail('wrong-federation', `federation ${got} is over; the current one is ${this.federation}`);
  }

  /** ' (now: round 3, training)': what the refusal of a stale message is measured against. */
  private now(): string {
    return ` (now: round ${this.round}, ${this.phase})`;
  }

  private readyIds(): string[] {
    return [...this.clients.values()].filter((c) => c.ready).sort((a, b) => a.shard - b.shard).map((c) => c.id);
  }

  private federationMsg(): FederationMsg {
    return { federation: this.federation, round: this.round, phase: this.phase, config: this.config, base: this.base };
  }

  private setPhase(phase: Phase, message: string): void {
    this.phase = phase;
    this.message = message;
    this.changed();
  }

  /** Pushes the status to watchers, at most STATUS_PER_SECOND times a second. */
  private changed(): void {
    if (this.statusTimer || this.disposed) return;
    const wait = Math.max(0, this.lastPublished + 1000 / STATUS_PER_SECOND - this.clock.now());
    const handle = this.clock.setTimeout(() => {
      this.statusTimer = null;
      this.lastPublished = this.clock.now();
      this.transport.broadcastStatus(this.status());
    }, wait);
    this.statusTimer = { handle };
  }
}

function notJoined(clientId: string): Ack {
  return fail('not-joined', `${clientId} has not joined`);
}

function allAnswered(expected: Set<string>, results: Map<string, unknown>): boolean {
  return [...expected].every((id) => results.has(id));
}

function clientStatus(c: Client): ClientStatus {
  return { ...c, labelCounts: [...c.labelCounts] };
}

function roundRecord(l: Ledger, s: EvaluateSummary, results: EvaluateResult[], now: number): RoundRecord {
  return {
    round: l.round,
    participants: l.participants ?? [],
    metrics: s.metrics,
    localMetrics: s.localMetrics,
    perClient: results.map((r) => ({ id: r.clientId, local: r.local, global: r.global })),
    trainLoss: l.trainLoss,
    bytesUp: l.bytesUp,
    bytesDown: l.bytesDown,
    durationMs: now - l.startedAt,
    attempts: l.attempts,
  };
}
