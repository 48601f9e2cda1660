// A tab that speaks the protocol by hand, for server tests: it joins, says it
// is ready, answers `fit` with crafted weights and `evaluate` with fixed
// metrics. Everything it receives is logged, and tests wait on that log.
import { io as connect, type Socket } from 'socket.io-client';
import { adapterSpec, type LoraConfig } from '../../web/src/adapters/spec.ts';
import { encodeWeights, type Weights } from '../../web/src/federation/weights.ts';
import { presetConfig, type PresetName } from '../../web/src/model/config.ts';
import type { FederationConfig } from '../../web/src/protocol/config.ts';
import {
  PROTOCOL_VERSION,
  decodeWeights,
  type Ack,
  type ClientToServerEvents,
  type FitMsg,
  type JoinAck,
  type Metrics,
  type ServerToClientEvents,
  type UpdateOut,
} from '../../web/src/protocol/messages.ts';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
export type Received = { [E in keyof ServerToClientEvents]: Parameters<ServerToClientEvents[E]>[0] };
type Logged = { [E in keyof Received]: { event: E; msg: Received[E] } }[keyof Received];

/** The smallest federation worth testing: the random base of the tiny preset, rank-2 adapters on q and v. */
export const TINY: Partial<FederationConfig> = {
  base: 'random',
  preset: 'tiny',
  lora: { rank: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] },
  seqLen: 32,
  numShards: 4,
  rounds: 1,
  minClients: 2,
  localSteps: 3,
  batchSize: 4,
  roundTimeoutMs: 20_000,
  evalTimeoutMs: 20_000,
};

export function specOf(preset: PresetName, lora: LoraConfig) {
  return adapterSpec(presetConfig(preset), lora).map(({ name, shape }) => ({ name, shape }));
}

export const TINY_SPEC = specOf('tiny', TINY.lora!);

/** The global plus a pattern of offsets that differs from tab to tab (k). */
export function shifted(global: Weights, k: number): Weights {
  return global.map((t) => ({
    name: t.name,
    shape: [...t.shape],
    data: t.data.map((v, j) => v + 0.01 * k * ((j % 7) - 3) + 0.001 * k * k),
  }));
}

export const METRICS: Metrics = { accuracy: 0.5, macroF1: 0.4, loss: 1.1, numExamples: 10 };

export interface TabOptions {
  numTrain: number;
  /** Offset pattern of this tab's updates (see shifted). */
  k?: number;
  name?: string;
  shard?: number;
  /** What to do with a fit: answer it, ignore it, or drop the connection. */
  onFit?: (msg: FitMsg) => 'answer' | 'silent' | 'disconnect';
  /** Whether to answer the evaluation of a round (default: always). */
  answerEvaluate?: (round: number) => boolean;
  /** Send ready after joining (default true); false stays joined but not ready, like a tab still loading. */
  ready?: boolean;
}

export class FakeTab {
  readonly socket: ClientSocket;
  readonly log: Logged[] = [];
  /** round -> the weights this tab sent for it. */
  readonly sent = new Map<number, Weights>();
  readonly acks: Ack[] = [];
  join!: Extract<JoinAck, { ok: true }>;
  private readonly listeners = new Set<() => void>();

  private constructor(
    url: string,
    readonly opts: TabOptions,
  ) {
    this.socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    const raw = this.socket as unknown as { on(event: string, fn: (msg: unknown) => void): void };
    for (const event of ['federation', 'fit', 'evaluate', 'error', 'status'] as const) {
      raw.on(event, (msg) => this.record({ event, msg } as Logged));
    }
    // Answers in the background are dropped when the test closes the socket first.
    const background = (p: Promise<unknown>) => void p.catch(() => undefined);
    this.socket.on('fit', (msg) => background(this.onFit(msg)));
    this.socket.on('evaluate', (msg) => {
      if (this.opts.answerEvaluate?.(msg.round) ?? true) background(this.sendEval(msg.round));
    });
  }

  /** Connects, joins and sends ready. */
  static async open(url: string, opts: TabOptions): Promise<FakeTab> {
    const tab = new FakeTab(url, opts);
    const ack = await tab.socket.emitWithAck('join', { protocol: PROTOCOL_VERSION, name: opts.name, shard: opts.shard });
    if (!ack.ok) throw new Error(`join refused: ${ack.error}`);
    tab.join = ack;
    if (opts.ready === false) return tab;
    const ready = await tab.sendReady(ack.federation);
    if (!ready.ok) throw new Error(`ready refused: ${ready.error}`);
    return tab;
  }

  /** A socket that only watches: it receives every `status` push. */
  static async watcher(url: string): Promise<FakeTab> {
    const tab = new FakeTab(url, { numTrain: 1, name: 'watcher' });
    await tab.socket.emitWithAck('watch');
    return tab;
  }

  get id(): string {
    return this.join.clientId;
  }

  sendReady(federation: string): Promise<Ack> {
    const { numTrain } = this.opts;
    return this.socket.emitWithAck('ready', { federation, round: 0, backend: 'fake', adapterInfo: 'test', numTrain, numTest: 10, labelCounts: [numTrain, 0, 0] });
  }

  /** Sends an update built from `global`; resolves with the acknowledgement. */
  async sendUpdate(msg: FitMsg, weights = shifted(decodeWeights(msg.global, TINY_SPEC), this.opts.k ?? 1)): Promise<Ack> {
    this.sent.set(msg.round, weights);
    const update: UpdateOut = {
      federation: msg.federation,
      round: msg.round,
      attempt: msg.attempt,
      numExamples: this.opts.numTrain,
      weights: encodeWeights(weights),
      trainLoss: 0.5,
      steps: msg.fit.localSteps,
      ms: 1,
    };
    const ack = await this.socket.emitWithAck('update', update);
    this.acks.push(ack);
    return ack;
  }

  sendEval(round: number): Promise<Ack> {
    return this.socket.emitWithAck('eval', { federation: this.join.federation, round, local: METRICS, global: METRICS });
  }

  /** The first logged message of this event that matches, now or when it comes. */
  waitFor<E extends keyof Received>(event: E, match: (msg: Received[E]) => boolean = () => true, timeoutMs = 8000): Promise<Received[E]> {
    const find = () => this.log.find((l) => l.event === event && match(l.msg as Received[E]))?.msg as Received[E] | undefined;
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = find();
        if (found === undefined) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`${this.opts.name ?? 'tab'}: no matching "${event}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  close(): void {
    this.socket.disconnect();
  }

  private record(entry: Logged): void {
    this.log.push(entry);
    for (const l of [...this.listeners]) l();
  }

  private async onFit(msg: FitMsg): Promise<void> {
    const what = this.opts.onFit?.(msg) ?? 'answer';
    if (what === 'disconnect') this.socket.disconnect();
    if (what === 'answer') await this.sendUpdate(msg);
  }
}
