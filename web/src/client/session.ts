// The tab's federated client: a small state machine, independent of React.
//
//   connect -> join -> (probe backend, get the base model: download, cache and
//             verify its files, build model + data shard, load global) -> ready
//   a base that cannot be had (HTTP error, corrupt file) -> error, no ready: the
//             server never picks this tab until Retry (or a new federation) succeeds
//   fit      -> set global, train locally, send the adapter (update)
//   evaluate -> set global, evaluate local + global test sets (eval)
//   federation with a new id -> dispose, rebuild from scratch, ready again
//
// Work runs one job at a time on a promise chain, so training and evaluation
// never overlap. Only adapter weights, counts and metrics leave the tab.
import { adapterSpec, type TensorSpec } from '../adapters/spec.ts';
import { browserDownloadEnv, fetchBaseFiles, loadVerifiedBase, type DownloadProgress } from '../basemodel/download.ts';
import { buildClientData, type ClientData } from '../data/clientData.ts';
import { WordTokenizer } from '../data/tokenizer.ts';
import { encodeWeights, type Weights, type WirePayload } from '../federation/weights.ts';
import { presetConfig, type ModelConfig } from '../model/config.ts';
import { selectBackend } from '../platform/browser.ts';
import { baseDescriptorSchema, RANDOM_BASE, type BaseDescriptor } from '../protocol/base.ts';
import { formatIssues, type FederationConfig } from '../protocol/config.ts';
import type { TextTokenizer } from '../tokenizer/types.ts';
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

export type LoadingKey = 'backend' | 'base' | 'model' | 'data' | 'adapter' | 'register';
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

/** Where the base model's files came from in the last build. */
export interface BaseLoad {
  id: string;
  cached: string[];
  downloaded: string[];
  /** Cached copies that failed verification: deleted and downloaded again. */
  repaired: string[];
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
  /** The federation's base model, as the server described it. */
  base: BaseDescriptor | null;
  /** Bytes of the base's files so far, while they download. */
  download: DownloadProgress | null;
  baseLoad: BaseLoad | null;
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
  /** Whether setting up failed in a way that trying again may fix (a download, a corrupt file): the page offers Retry. */
  canRetry: boolean;
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
  /** The base model's id, and where its files came from in the last build. */
  base: string | null;
  baseLoad: BaseLoad | null;
  canRetry: boolean;
}

export interface TabfedApi {
  state(): TabfedState;
  /** What the Retry button does. */
  retry(): void;
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
const DOWNLOAD_UI_MS = 100;
const PROGRESS_UI_MS = 100;
const JOIN_TIMEOUT_MS = 15_000;
const REPLY_TIMEOUT_MS = 30_000;

class Aborted extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'Aborted';
  }
}

/** Thrown by a job whose failure leaves the tab unable to take part; retryable: Retry may fix it. */
class Fatal extends Error {
  constructor(
    message: string,
    readonly retryable = true,
  ) {
    super(message);
  }
}

const LOADING_STEPS: [LoadingKey, string][] = [
  ['backend', 'Probing compute backends (WebGPU, WebGL, WASM, CPU)'],
  ['base', 'Getting the base model: download, cache and verify its files'],
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
  /** The federation's base, as received (checked in build), and the global adapter of the join, for Retry. */
  private baseMsg: unknown = null;
  private joinGlobal: WirePayload | null = null;
  private download: AbortController | null = null;
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
      base: null,
      download: null,
      baseLoad: null,
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
      canRetry: false,
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
        base: s.base?.id ?? null,
        baseLoad: s.baseLoad,
        canRetry: s.canRetry,
      };
    },
    retry: () => this.retry(),
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
    this.download?.abort();
    this.disposeModel();
    this.started = false;
  }

  /** Builds again after a failure that Retry may fix: the same federation, base and shard. */
  retry(): void {
    if (!this.state.canRetry || !this.fedId || !this.config || this.shard === null) return;
    const gen = ++this.gen;
    const { config, shard, joinGlobal } = this;
    this.set({ canRetry: false, lastError: null, notice: null });
    this.enqueue(() => this.build(gen, config, shard, joinGlobal));
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
      this.rebuild(msg.federation, msg.config, msg.base, msg.round, msg.phase, msg.shard ?? this.shard ?? 0, null);
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
        this.rebuild(ack.federation, ack.config, ack.base, ack.round, ack.phase, ack.shard, ack.global);
      }
    } catch (e) {
      this.setError(`Could not join the federation: ${describeError(e)}`);
      if (socket.connected) setTimeout(() => socket.connected && void this.join(), 2000);
    } finally {
      this.joining = false;
    }
  }

  private rebuild(federation: string, config: FederationConfig, base: unknown, round: number, serverPhase: Phase, shard: number, global: WirePayload | null): void {
    const gen = ++this.gen;
    this.abortFit('the federation was reset');
    this.download?.abort();
    this.fedId = federation;
    this.config = config;
    this.baseMsg = base;
    this.joinGlobal = global;
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
      canRetry: false,
    });
    this.enqueue(() => this.build(gen, config, this.shard!, global));
  }

  private async build(gen: number, config: FederationConfig, shard: number, global: WirePayload | null): Promise<void> {
    if (gen !== this.gen) return;
    this.disposeModel();
    const steps: LoadingStep[] = LOADING_STEPS.map(([key, label]) => ({ key, label, state: 'pending' }));
    const mark = (key: LoadingKey, state: LoadingStep['state'], label?: string) => {
      const i = steps.findIndex((s) => s.key === key);
      steps[i] = { ...steps[i], state, label: label ?? steps[i].label };
      this.set({ loading: [...steps] });
    };
    this.set({ phase: 'loading', loading: [...steps], notice: null, canRetry: false, download: null });

    try {
      mark('backend', 'running');
      const backend = await backendOnce();
      this.set({ backend });
      mark('backend', 'done');
      if (gen !== this.gen) return;

      mark('base', 'running');
      const got = await this.getBase(gen, config, (label) => mark('base', 'running', label));
      if (!got) return;
      mark('base', 'done', got.label);

      mark('model', 'running');
      await yieldToPaint();
      if (gen !== this.gen) return;
      const { model, tokenizer } = got;
      const trainer = got.trainer(config);
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
      const data = buildClientData(config, shard, tokenizer);
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
      const message = e instanceof Fatal ? e.message : `Could not set up this institution: ${describeError(e)}`;
      this.tellLoading(`cannot take part: ${message}`);
      throw e instanceof Fatal ? e : new Fatal(message);
    }

    mark('register', 'running');
    await this.announceReady(gen);
    if (gen === this.gen) this.set({ loading: null, download: null });
  }

  /**
   * The federation's base, ready to build a trainer on: the seeded random init,
   * or a checkpoint downloaded (or taken from the cache), verified and loaded.
   * Null when a newer build took over. Throws Fatal with the reason in plain words.
   */
  private async getBase(
    gen: number,
    config: FederationConfig,
    say: (label: string) => void,
  ): Promise<{ label: string; model: ModelConfig; tokenizer: TextTokenizer; trainer(c: FederationConfig): LoraTrainer } | null> {
    const parsed = baseDescriptorSchema.safeParse(this.baseMsg);
    if (!parsed.success) throw new Fatal(`The server described the base model in a way this tab cannot read (${formatIssues(parsed.error)}); is this page older than the server? Reload it.`, false);
    const base = parsed.data;
    if (base.id !== config.base) throw new Fatal(`The server announced base model "${base.id}" for a federation over "${config.base}".`, false);
    this.set({ base, baseLoad: null });
    if (base.id === RANDOM_BASE) {
      const model = presetConfig(config.preset);
      return {
        label: `Seeded random base (${config.preset} preset, seed ${config.modelSeed}): nothing to download`,
        model,
        tokenizer: WordTokenizer.builtin(model.vocabSize),
        trainer: (c) => LoraTrainer.create(model, c.lora, { modelSeed: c.modelSeed }),
      };
    }

    const total = base.files.reduce((n, f) => n + f.bytes, 0);
    say(`Getting base model ${base.label} (${formatSize(total)}): download, cache and verify`);
    const ctl = new AbortController();
    this.download = ctl;
    // The bar follows at most every DOWNLOAD_UI_MS, a new file at once, and the last bytes even when a download stalls.
    let lastUi = 0;
    let lastEmit = 0;
    let shown: DownloadProgress | null = null;
    let latest: DownloadProgress | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      timer = null;
      if (gen !== this.gen || !latest || latest === shown) return;
      lastUi = performance.now();
      shown = latest;
      this.set({ download: latest });
    };
    const onProgress = (p: DownloadProgress) => {
      const now = performance.now();
      latest = p;
      if (now - lastUi >= DOWNLOAD_UI_MS || p.file !== shown?.file) flush();
      else timer ??= setTimeout(flush, DOWNLOAD_UI_MS - (now - lastUi));
      if (now - lastEmit >= PROGRESS_EMIT_MS && p.file !== null) {
        lastEmit = now;
        this.tellLoading(`getting base ${base.id}: ${Math.floor((100 * p.done) / Math.max(1, p.total))}%`);
      }
    };
    let fetched;
    try {
      fetched = await fetchBaseFiles(base, browserDownloadEnv(), onProgress, ctl.signal);
    } catch (e) {
      if (gen !== this.gen || ctl.signal.aborted) return null;
      throw new Fatal(`Could not get the base model ${base.label}: ${describeError(e)}`);
    } finally {
      if (this.download === ctl) this.download = null;
      if (timer) clearTimeout(timer);
    }
    if (gen !== this.gen) return null;
    const baseLoad: BaseLoad = { id: base.id, cached: fetched.cached, downloaded: fetched.downloaded, repaired: fetched.repaired };
    this.set({ baseLoad, download: null });
    if (fetched.repaired.length) this.set({ notice: `${fetched.repaired.join(', ')} in this browser’s cache did not match the server’s sha256: deleted and downloaded again.` });
    say('Loading and checking the base model’s files');
    await yieldToPaint();
    let loaded;
    try {
      loaded = loadVerifiedBase(base, fetched.files);
    } catch (e) {
      throw new Fatal(`The base model ${base.label} cannot be used: ${describeError(e)}`);
    }
    const where = fetched.downloaded.length === 0 ? 'verified from this browser’s cache' : fetched.cached.length === 0 ? 'downloaded and verified' : 'downloaded and verified (part from this browser’s cache)';
    return {
      label: `Base model ${base.label} (${formatSize(total)}): ${where}`,
      model: loaded.model,
      tokenizer: loaded.tokenizer,
      trainer: (c) => LoraTrainer.fromBase(loaded.model, c.lora, loaded.base, c.modelSeed),
    };
  }

  /** Tells the coordinator what this not-yet-ready tab is doing (best effort: no ack). */
  private tellLoading(activity: string): void {
    if (!this.fedId || !socket.connected || !this.state.clientId) return;
    socket.volatile.emit('loading', { federation: this.fedId, round: this.state.round, activity: activity.slice(0, 300) });
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
    const fatal = e instanceof Fatal;
    this.set({
      phase: fatal ? 'error' : this.connectedPhase(),
      progress: null,
      download: null,
      loading: fatal ? this.state.loading : null,
      canRetry: fatal && e.retryable,
    });
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

function formatSize(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
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
