// The tab's federated client: a small state machine, independent of React.
//
//   connect -> join -> (probe backend, build model + data shard, load global) -> ready
//   fit      -> set global, train locally, send the adapter (update)
//   evaluate -> set global, evaluate local + global test sets (eval)
//   federation with a new id -> dispose, rebuild from scratch, ready again
//
// Work runs one job at a time on a promise chain, so training and evaluation
// never overlap. Only adapter weights, counts and metrics leave the tab.
import { adapterSpec, type TensorSpec } from '../adapters/spec.ts';
import { buildClientData, type ClientData } from '../data/clientData.ts';
import { WordTokenizer } from '../data/tokenizer.ts';
import { encodeWeights, type Weights, type WirePayload } from '../federation/weights.ts';
import { presetConfig, type ModelConfig } from '../model/config.ts';
import { selectBackend } from '../platform/browser.ts';
import type { FederationConfig } from '../protocol/config.ts';
import {
  decodeWeights,
  PROTOCOL_VERSION,
  type ErrorCode,
  type ErrorMsg,
  type EvaluateMsg,
  type FederationMsg,
  type FitMsg,
  type JoinMsg,
  type Metrics,
  type Phase,
} from '../protocol/messages.ts';
import { LoraTrainer } from '../training/trainer.ts';
import { describeCode, describeError, describeServerError } from './errors.ts';
import { request, socket } from './socket.ts';
import { yieldToEventLoop, yieldToPaint } from './yield.ts';

export type ClientPhase = 'connecting' | 'loading' | 'ready' | 'training' | 'evaluating' | 'error' | 'done';

export type LoadingKey = 'backend' | 'model' | 'data' | 'adapter' | 'register';
export interface LoadingStep {
  key: LoadingKey;
  label: string;
  state: 'pending' | 'running' | 'done';
}

export interface RoundMetrics {
  round: number;
  local: Metrics;
  global: Metrics;
}

export interface BackendInfo {
  backend: string;
  adapterInfo: string;
  isFallbackAdapter: boolean | null;
  tried: { name: string; ok: boolean; ms?: number; note?: string }[];
}

export interface SessionState {
  phase: ClientPhase;
  connected: boolean;
  /** Whether the name came from the address (?name= or ?shard=) rather than a local default. */
  nameChosen: boolean;
  socketId: string | null;
  clientId: string | null;
  name: string;
  shard: number | null;
  numShards: number | null;
  federation: string | null;
  /** The last round this tab saw in the current federation. */
  round: number;
  serverPhase: Phase | null;
  config: FederationConfig | null;
  model: ModelConfig | null;
  backend: BackendInfo | null;
  baseParams: number | null;
  adapterParams: number | null;
  numTrain: number | null;
  numTest: number | null;
  numGlobalTest: number | null;
  labelCounts: number[] | null;
  loading: LoadingStep[] | null;
  progress: { round: number; step: number; steps: number; loss: number } | null;
  lastFit: { round: number; trainLoss: number; steps: number; ms: number } | null;
  lastMetrics: { local: Metrics; global: Metrics } | null;
  history: RoundMetrics[];
  /** What just happened that is worth a line but is not an error. */
  notice: string | null;
  lastError: { message: string; at: number } | null;
}

/** What Playwright polls: small and JSON-serializable. */
export interface TabfedState {
  clientId: string | null;
  socketId: string | null;
  name: string;
  shard: number | null;
  federation: string | null;
  round: number;
  phase: ClientPhase;
  serverPhase: Phase | null;
  connected: boolean;
  backend: string | null;
  step: number | null;
  steps: number | null;
  lastMetrics: { local: Metrics; global: Metrics } | null;
  lastError: string | null;
}

export interface TabfedApi {
  state(): TabfedState;
  history(): RoundMetrics[];
  socketId(): string | null;
  config(): FederationConfig | null;
}

declare global {
  interface Window {
    tabfed?: TabfedApi;
  }
}

const PROGRESS_EMIT_MS = 250;
const PROGRESS_UI_MS = 100;
const JOIN_TIMEOUT_MS = 15_000;
const REPLY_TIMEOUT_MS = 30_000;

class Aborted extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'Aborted';
  }
}

/** Thrown by a job whose failure leaves the tab unable to take part. */
class Fatal extends Error {}

const LOADING_STEPS: [LoadingKey, string][] = [
  ['backend', 'Probing compute backends (WebGPU, WebGL, WASM, CPU)'],
  ['model', 'Building the base model and its LoRA adapter'],
  ['data', 'Building this institution’s data shard'],
  ['adapter', 'Loading the global adapter'],
  ['register', 'Registering with the server'],
];

/** Refusals that happen in a healthy federation: a round closed or restarted before this tab answered. */
const EXPECTED_REFUSALS = new Set<ErrorCode>(['stale-round', 'duplicate', 'not-selected', 'wrong-federation']);

const ATTEMPT_SPAN = 1_000_000;
const fitKey = (msg: FitMsg): number => msg.round * ATTEMPT_SPAN + (msg.attempt ?? 1);

const emptyMetrics = (): Metrics => ({ accuracy: 0, macroF1: 0, loss: 0, numExamples: 0 });

function urlParams(): URLSearchParams {
  return new URLSearchParams(typeof location === 'undefined' ? '' : location.search);
}

function requestedShard(): number | undefined {
  const raw = urlParams().get('shard');
  if (raw === null || raw.trim() === '') return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 && n <= 1023 ? n : undefined;
}

function requestedName(): string | undefined {
  const raw = urlParams().get('name')?.trim();
  if (raw) return raw.slice(0, 80);
  const shard = requestedShard();
  return shard === undefined ? undefined : `Institution ${shard + 1}`;
}

let backendPromise: Promise<BackendInfo> | null = null;
/** tfjs has one global backend: probe once per page. */
function backendOnce(): Promise<BackendInfo> {
  backendPromise ??= selectBackend(urlParams().get('backend'));
  backendPromise.catch(() => (backendPromise = null));
  return backendPromise;
}

export class ClientSession {
  private state: SessionState;
  private readonly listeners = new Set<() => void>();

  // The federation this tab works for; set as soon as it is known, before the rebuild runs.
  private fedId: string | null = null;
  private config: FederationConfig | null = null;
  private shard: number | null = null;
  /** Bumped on every rebuild: jobs of an older generation do nothing. */
  private gen = 0;
  private chain: Promise<void> = Promise.resolve();
  private trainer: LoraTrainer | null = null;
  private data: ClientData | null = null;
  private spec: TensorSpec[] | null = null;
  private built = false;
  /** The newest fit seen, as round * ATTEMPT_SPAN + attempt. */
  private latestFit = -1;
  private latestEvalRound = -1;
  private evaluatedLastRound = false;
  private currentFit: { round: number; key: number; abort: string | null } | null = null;
  private joining = false;
  private started = false;

  constructor() {
    const name = requestedName();
    this.state = {
      phase: 'connecting',
      connected: false,
      nameChosen: name !== undefined,
      socketId: null,
      clientId: null,
      name: name ?? 'Institution',
      shard: requestedShard() ?? null,
      numShards: null,
      federation: null,
      round: 0,
      serverPhase: null,
      config: null,
      model: null,
      backend: null,
      baseParams: null,
      adapterParams: null,
      numTrain: null,
      numTest: null,
      numGlobalTest: null,
      labelCounts: null,
      loading: null,
      progress: null,
      lastFit: null,
      lastMetrics: null,
      history: [],
      notice: null,
      lastError: null,
    };
  }

  // ---- store (useSyncExternalStore) ----------------------------------------------

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getState = (): SessionState => this.state;

  private set(patch: Partial<SessionState>): void {
    this.state = { ...this.state, ...patch };
    for (const fn of this.listeners) fn();
  }

  private setError(message: string): void {
    this.set({ lastError: { message, at: Date.now() } });
  }

  readonly api: TabfedApi = {
    state: () => {
      const s = this.state;
      return {
        clientId: s.clientId,
        socketId: s.socketId,
        name: s.name,
        shard: s.shard,
        federation: s.federation,
        round: s.round,
        phase: s.phase,
        serverPhase: s.serverPhase,
        connected: s.connected,
        backend: s.backend?.backend ?? null,
        step: s.progress?.step ?? null,
        steps: s.progress?.steps ?? null,
        lastMetrics: s.lastMetrics,
        lastError: s.lastError?.message ?? null,
      };
    },
    history: () => this.state.history.map((h) => ({ round: h.round, local: { ...h.local }, global: { ...h.global } })),
    socketId: () => socket.id ?? null,
    config: () => this.config,
  };

  // ---- lifecycle -------------------------------------------------------------------

  start(): void {
    if (this.started) return;
    this.started = true;
    socket.on('connect', this.onConnect);
    socket.on('disconnect', this.onDisconnect);
    socket.on('connect_error', this.onConnectError);
    socket.on('federation', this.onFederation);
    socket.on('fit', this.onFit);
    socket.on('evaluate', this.onEvaluate);
    socket.on('error', this.onServerError);
    socket.connect();
    // Start probing while the socket connects: it is the slowest part of loading.
    backendOnce().catch(() => undefined);
  }

  stop(): void {
    socket.off('connect', this.onConnect);
    socket.off('disconnect', this.onDisconnect);
    socket.off('connect_error', this.onConnectError);
    socket.off('federation', this.onFederation);
    socket.off('fit', this.onFit);
    socket.off('evaluate', this.onEvaluate);
    socket.off('error', this.onServerError);
    this.gen++;
    this.abortFit('the tab was closed');
    this.disposeModel();
    this.started = false;
  }

  // ---- socket handlers ---------------------------------------------------------------

  private onConnect = (): void => {
    this.set({ connected: true, socketId: socket.id ?? null, notice: null });
    void this.join();
  };

  private onDisconnect = (reason: string): void => {
    this.abortFit('the connection to the server was lost');
    this.set({
      connected: false,
      socketId: null,
      clientId: null,
      phase: this.state.phase === 'loading' || this.state.phase === 'error' ? this.state.phase : 'connecting',
      notice: 'Lost the connection to the server; reconnecting…',
    });
    // After a server-side disconnect socket.io does not retry by itself.
    if (reason === 'io server disconnect') setTimeout(() => socket.connect(), 1000);
  };

  private onConnectError = (err: Error): void => {
    this.set({ notice: `Cannot reach the server (${err.message}); retrying…` });
  };

  private onFederation = (msg: FederationMsg): void => {
    if (this.fedId === null) return; // not joined yet: the join answer carries the federation
    if (msg.federation !== this.fedId) {
      this.rebuild(msg.federation, msg.config, msg.round, msg.phase, msg.shard ?? this.shard ?? 0, null);
      return;
    }
    this.config = msg.config;
    this.set({
      serverPhase: msg.phase,
      round: Math.max(this.state.round, msg.round),
      config: msg.config,
      phase: this.isIdle() ? this.idlePhase(msg.phase) : this.state.phase,
    });
  };

  private onFit = (msg: FitMsg): void => {
    if (msg.federation !== this.fedId) return;
    const key = fitKey(msg);
    this.latestFit = Math.max(this.latestFit, key);
    this.evaluatedLastRound = false;
    if (this.currentFit && this.currentFit.key < key) {
      this.abortFit(msg.round > this.currentFit.round ? `round ${msg.round} has started` : `round ${msg.round} was restarted`);
    }
    this.set({ round: Math.max(this.state.round, msg.round), serverPhase: 'training' });
    const gen = this.gen;
    this.enqueue(() => this.fit(msg, gen));
  };

  private onEvaluate = (msg: EvaluateMsg): void => {
    if (msg.federation !== this.fedId) return;
    this.latestEvalRound = Math.max(this.latestEvalRound, msg.round);
    // The round was aggregated without this tab's update: finishing it would be wasted work.
    if (this.currentFit && this.currentFit.round <= msg.round) this.abortFit(`round ${this.currentFit.round} closed without this update`);
    this.set({ round: Math.max(this.state.round, msg.round), serverPhase: 'evaluating' });
    const gen = this.gen;
    this.enqueue(() => this.evaluate(msg, gen));
  };

  private onServerError = (msg: ErrorMsg): void => {
    if (msg.federation && this.fedId && msg.federation !== this.fedId && msg.code !== 'not-joined') return;
    if (EXPECTED_REFUSALS.has(msg.code)) this.set({ notice: describeServerError(msg) });
    else this.setError(describeServerError(msg));
    if (msg.code === 'not-joined' && socket.connected) void this.join();
  };

  /** A refused message: the ordinary ones of a federation with timeouts are a notice, the rest an error. */
  private refused(what: string, code: ErrorCode, detail: string): void {
    const words = `${what}: ${describeCode(code, detail)}`;
    if (EXPECTED_REFUSALS.has(code)) this.set({ notice: words });
    else this.setError(words);
  }

  // ---- join and (re)build ------------------------------------------------------------

  private async join(): Promise<void> {
    if (this.joining) return;
    this.joining = true;
    try {
      const msg: JoinMsg = { protocol: PROTOCOL_VERSION };
      const name = requestedName();
      const shard = requestedShard();
      if (name !== undefined) msg.name = name;
      if (shard !== undefined) msg.shard = shard;
      const ack = await request('join', [msg], JOIN_TIMEOUT_MS);
      if (!ack.ok) {
        this.set({ phase: 'error' });
        this.setError(`The server refused this tab: ${describeCode(ack.code, ack.error)}`);
        return;
      }
      this.set({
        clientId: ack.clientId,
        socketId: socket.id ?? null,
        shard: ack.shard,
        name: ack.name, // the server's name for this tab: ?name=, else "Institution <shard + 1>"
      });
      if (this.built && ack.federation === this.fedId) {
        // A reconnect within the same federation: the model is there, just register again.
        this.shard = ack.shard;
        this.set({ serverPhase: ack.phase, round: Math.max(this.state.round, ack.round) });
        const gen = this.gen;
        const global = ack.global;
        this.enqueue(async () => {
          if (gen !== this.gen) return;
          this.setAdapterFrom(global);
          await this.announceReady(gen);
        });
      } else {
        this.rebuild(ack.federation, ack.config, ack.round, ack.phase, ack.shard, ack.global);
      }
    } catch (e) {
      this.setError(`Could not join the federation: ${describeError(e)}`);
      if (socket.connected) setTimeout(() => socket.connected && void this.join(), 2000);
    } finally {
      this.joining = false;
    }
  }

  private rebuild(federation: string, config: FederationConfig, round: number, serverPhase: Phase, shard: number, global: WirePayload | null): void {
    const gen = ++this.gen;
    this.abortFit('the federation was reset');
    this.fedId = federation;
    this.config = config;
    this.shard = shard < config.numShards ? shard : shard % config.numShards;
    this.latestFit = -1;
    this.latestEvalRound = -1;
    this.evaluatedLastRound = false;
    this.set({
      federation,
      config,
      round,
      serverPhase,
      shard: this.shard,
      numShards: config.numShards,
      history: [],
      lastMetrics: null,
      lastFit: null,
      progress: null,
      lastError: null,
    });
    this.enqueue(() => this.build(gen, config, this.shard!, global));
  }

  private async build(gen: number, config: FederationConfig, shard: number, global: WirePayload | null): Promise<void> {
    if (gen !== this.gen) return;
    this.disposeModel();
    const steps: LoadingStep[] = LOADING_STEPS.map(([key, label]) => ({ key, label, state: 'pending' }));
    const mark = (key: LoadingKey, state: LoadingStep['state']) => {
      const i = steps.findIndex((s) => s.key === key);
      steps[i] = { ...steps[i], state };
      this.set({ loading: [...steps] });
    };
    this.set({ phase: 'loading', loading: [...steps], notice: null });

    try {
      mark('backend', 'running');
      const backend = await backendOnce();
      this.set({ backend });
      mark('backend', 'done');
      if (gen !== this.gen) return;

      mark('model', 'running');
      await yieldToPaint();
      const model = presetConfig(config.preset);
      const trainer = LoraTrainer.create(model, config.lora, { modelSeed: config.modelSeed });
      if (gen !== this.gen) {
        trainer.dispose();
        return;
      }
      this.trainer = trainer;
      this.spec = adapterSpec(model, config.lora);
      this.set({ model, baseParams: trainer.baseParams, adapterParams: trainer.adapterParams });
      mark('model', 'done');

      mark('data', 'running');
      await yieldToPaint();
      if (gen !== this.gen) return;
      const data = buildClientData(config, shard, WordTokenizer.builtin(model.vocabSize));
      this.data = data;
      this.set({
        labelCounts: [...data.labelCounts],
        numTrain: data.train.n,
        numTest: data.localTest.n,
        numGlobalTest: data.globalTest.n,
        numShards: data.numShards,
      });
      mark('data', 'done');

      mark('adapter', 'running');
      if (global) this.setAdapterFrom(global);
      mark('adapter', 'done');
      this.built = true;
    } catch (e) {
      if (gen !== this.gen) return;
      throw new Fatal(`Could not set up this institution: ${describeError(e)}`);
    }

    mark('register', 'running');
    await this.announceReady(gen);
    if (gen === this.gen) this.set({ loading: null });
  }

  private async announceReady(gen: number): Promise<void> {
    const { trainer, data, fedId } = this;
    const backend = this.state.backend;
    if (gen !== this.gen || !trainer || !data || !fedId || !backend) return;
    if (!socket.connected) return; // the next join registers again
    const ack = await request(
      'ready',
      [
        {
          federation: fedId,
          round: this.state.round,
          backend: backend.backend.slice(0, 40),
          adapterInfo: backend.adapterInfo.slice(0, 200),
          numTrain: data.train.n,
          numTest: data.localTest.n,
          labelCounts: [...data.labelCounts],
        },
      ],
      REPLY_TIMEOUT_MS,
    );
    if (gen !== this.gen) return;
    if (!ack.ok) {
      this.refused('The server did not accept this tab as ready', ack.code, ack.error);
      return;
    }
    this.set({ phase: this.idlePhase() });
  }

  private disposeModel(): void {
    this.trainer?.dispose();
    this.trainer = null;
    this.data = null;
    this.spec = null;
    this.built = false;
  }

  private setAdapterFrom(global: WirePayload): Weights {
    if (!this.trainer || !this.spec) throw new Error('the model is not built yet');
    const w = decodeWeights(global, this.spec);
    this.trainer.setAdapter(w);
    return w;
  }

  // ---- work ------------------------------------------------------------------------------

  private enqueue(job: () => Promise<void>): void {
    this.chain = this.chain.then(job).catch((e: unknown) => this.onJobFailed(e));
  }

  private onJobFailed(e: unknown): void {
    if (e instanceof Aborted) {
      this.set({ phase: this.connectedPhase(), progress: null, notice: `Stopped local training: ${e.message}.` });
      return;
    }
    this.setError(describeError(e));
    this.set({ phase: e instanceof Fatal ? 'error' : this.connectedPhase(), progress: null, loading: e instanceof Fatal ? this.state.loading : null });
  }

  private async fit(msg: FitMsg, gen: number): Promise<void> {
    const { trainer, data } = this;
    if (gen !== this.gen || !trainer || !data) return;
    if (fitKey(msg) < this.latestFit || msg.round <= this.latestEvalRound) return; // superseded while queued
    const { localSteps, batchSize, learningRate, seed } = msg.fit;
    const ctl = { round: msg.round, key: fitKey(msg), abort: null as string | null };
    this.currentFit = ctl;
    this.set({ phase: 'training', progress: { round: msg.round, step: 0, steps: localSteps, loss: 0 }, notice: null });
    try {
      this.setAdapterFrom(msg.global);
      let lastEmit = 0;
      let lastUi = 0;
      const report = await trainer.train(data.train, { steps: localSteps, batchSize, learningRate, seed }, async (step, steps, loss) => {
        if (ctl.abort) throw new Aborted(ctl.abort);
        const now = performance.now();
        const last = step === steps;
        if ((now - lastEmit >= PROGRESS_EMIT_MS || last) && Number.isFinite(loss) && socket.connected) {
          lastEmit = now;
          socket.volatile.emit('progress', { federation: msg.federation, round: msg.round, step, steps, loss: Math.max(0, loss) });
        }
        if (now - lastUi >= PROGRESS_UI_MS || last) {
          lastUi = now;
          this.set({ progress: { round: msg.round, step, steps, loss } });
        }
        await yieldToEventLoop();
        if (ctl.abort) throw new Aborted(ctl.abort);
      });
      if (gen !== this.gen) return;
      const lastFit = { round: msg.round, trainLoss: report.loss, steps: report.steps, ms: report.ms };
      this.set({ lastFit });
      if (!socket.connected) throw new Aborted('the connection to the server was lost');
      const ack = await request(
        'update',
        [
          {
            federation: msg.federation,
            round: msg.round,
            attempt: msg.attempt,
            numExamples: data.train.n,
            weights: encodeWeights(await trainer.getAdapter()),
            trainLoss: report.loss,
            steps: report.steps,
            ms: report.ms,
          },
        ],
        REPLY_TIMEOUT_MS,
      );
      if (!ack.ok) this.refused(`The server did not take this tab’s update for round ${msg.round}`, ack.code, ack.error);
    } finally {
      if (this.currentFit === ctl) this.currentFit = null;
    }
    if (gen === this.gen) this.set({ phase: this.connectedPhase(), progress: null });
  }

  private async evaluate(msg: EvaluateMsg, gen: number): Promise<void> {
    const { trainer, data } = this;
    if (gen !== this.gen || !trainer || !data) return;
    if (msg.round < this.latestEvalRound) return; // a newer evaluation is queued
    this.set({ phase: 'evaluating', notice: null });
    this.setAdapterFrom(msg.global);
    await yieldToEventLoop();
    const local = data.localTest.n > 0 ? await trainer.evaluate(data.localTest) : emptyMetrics();
    if (gen !== this.gen) return;
    await yieldToEventLoop();
    const global = data.globalTest.n > 0 ? await trainer.evaluate(data.globalTest) : emptyMetrics();
    if (gen !== this.gen) return;
    const history = this.state.history.filter((h) => h.round !== msg.round);
    history.push({ round: msg.round, local, global });
    history.sort((a, b) => a.round - b.round);
    if (this.config && msg.round >= this.config.rounds) this.evaluatedLastRound = true;
    this.set({ lastMetrics: { local, global }, history });
    if (socket.connected) {
      const ack = await request('eval', [{ federation: msg.federation, round: msg.round, local, global }], REPLY_TIMEOUT_MS);
      if (!ack.ok) this.refused(`The server did not take this tab’s evaluation of round ${msg.round}`, ack.code, ack.error);
    }
    if (gen === this.gen) this.set({ phase: this.connectedPhase() });
  }

  private abortFit(reason: string): void {
    if (this.currentFit && !this.currentFit.abort) this.currentFit.abort = reason;
  }

  // ---- phases ------------------------------------------------------------------------------

  private isIdle(): boolean {
    return this.state.phase === 'ready' || this.state.phase === 'done';
  }

  private idlePhase(serverPhase: Phase | null = this.state.serverPhase): ClientPhase {
    return serverPhase === 'done' || this.evaluatedLastRound ? 'done' : 'ready';
  }

  private connectedPhase(): ClientPhase {
    if (!socket.connected) return 'connecting';
    return this.built ? this.idlePhase() : 'loading';
  }
}

let session: ClientSession | null = null;

/** Starts this tab's client once and exposes it as window.tabfed. */
export function startSession(): ClientSession {
  if (!session) {
    session = new ClientSession();
    if (typeof window !== 'undefined') window.tabfed = session.api;
    session.start();
  }
  return session;
}
