// The HTTP and Socket.IO face of the federation. Built on a given http.Server
// without listening, so tests start it on port 0. Every handler validates,
// acknowledges, then lets the coordinator's messages go out; the coordinator
// does the rest. No arithmetic here.
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import type { Server as HttpServer } from 'node:http';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, type Socket } from 'socket.io';
import { DEFAULT_CONFIG, MAX_ADAPTER_BYTES, mergeConfig, type FederationConfig } from '../web/src/protocol/config.ts';
import {
  ProtocolError,
  controlSchema,
  evalSchema,
  joinSchema,
  loadingSchema,
  parse,
  progressSchema,
  readySchema,
  updateSchema,
  type Ack,
  type ClientToServerEvents,
  type ErrorCode,
  type JoinAck,
  type JoinMsg,
  type ServerToClientEvents,
  type Status,
} from '../web/src/protocol/messages.ts';
import { Coordinator, type ClientEvent, type Clock, type Transport } from './federation/coordinator.ts';
import { ModelRegistry, type RegistryOptions } from './models/registry.ts';
import { modelRoutes, type ModelRoutesOptions } from './models/routes.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where bases come from by default: the shipped ones in public/models/, added ones in .cache/models/ (not in git). */
export const DEFAULT_MODELS: RegistryOptions = { dir: join(ROOT, 'public', 'models'), cacheDir: join(ROOT, '.cache', 'models') };

export interface AppOptions {
  config?: Partial<FederationConfig>;
  /** The base-model registry, or where to scan for one (default DEFAULT_MODELS). */
  models?: ModelRegistry | RegistryOptions;
  /** Options of the /api/models routes (fetch, size limit) for tests. */
  modelRoutes?: Omit<ModelRoutesOptions, 'registry'>;
  /** The built web app (dist/), served with a fallback to index.html for client-side routes. */
  staticDir?: string;
  /** Serves the pages instead of staticDir, e.g. vite's dev middleware. */
  pages?: RequestHandler;
  clock?: Clock;
}

interface SocketData {
  clientId?: string;
}

export type TabServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type TabSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

export interface Application {
  app: Express;
  io: TabServer;
  coordinator: Coordinator;
  models: ModelRegistry;
  /** Stops the coordinator's timers, disconnects every socket and closes the http server. */
  close(): Promise<void>;
}

const WATCHERS = 'watchers';
const MiB = 1024 * 1024;

/**
 * A socket.io message may carry one whole adapter (configs with a bigger one are
 * refused: MAX_ADAPTER_BYTES), its tensor list and envelope. socket.io drops a
 * larger message without a word, so the limit is set from the adapter's.
 */
export const MAX_MESSAGE_BYTES = MAX_ADAPTER_BYTES + MiB;

/** Throws on an invalid opts.config (an unknown base included) before touching httpServer. */
export function createApplication(httpServer: HttpServer, opts: AppOptions = {}): Application {
  const models = opts.models instanceof ModelRegistry ? opts.models : ModelRegistry.open(opts.models ?? DEFAULT_MODELS);
  const config = mergeConfig(DEFAULT_CONFIG, opts.config ?? {}, models);
  const app = express();
  // Registered before socket.io attaches, which then routes /socket.io/ away from express.
  httpServer.on('request', app);
  const io: TabServer = new Server(httpServer, { maxHttpBufferSize: MAX_MESSAGE_BYTES });
  const outbox = new Outbox();
  const sockets = new Map<string, TabSocket>();
  const transport: Transport = {
    send: (clientId, event, msg) => outbox.post(() => emitTo(sockets.get(clientId), event, msg)),
    broadcastStatus: (status) => io.to(WATCHERS).emit('status', status),
  };
  const coordinator = new Coordinator({ transport, config, clock: opts.clock, bases: models });
  io.on('connection', (socket) => wireSocket(socket, coordinator, sockets, outbox));
  mountRoutes(app, coordinator, outbox, models, opts);
  return {
    app,
    io,
    coordinator,
    models,
    close: async () => {
      coordinator.dispose();
      await io.close();
    },
  };
}

function emitTo<E extends ClientEvent>(socket: TabSocket | undefined, event: E, msg: Parameters<ServerToClientEvents[E]>[0]): void {
  // socket.io's typing cannot follow a generic event name; the Transport signature keeps callers typed.
  (socket as unknown as { emit(ev: string, m: unknown): void } | undefined)?.emit(event, msg);
}

/**
 * Holds back what the coordinator sends while a message is being handled, so
 * the sender's acknowledgement goes out first and the broadcast after it.
 */
class Outbox {
  private queue: (() => void)[] | null = null;

  post(send: () => void): void {
    if (this.queue) this.queue.push(send);
    else send();
  }

  /** Runs handle, gives its result to answer, then sends what handle queued. */
  deliver<R>(handle: () => R, answer: (r: R) => void): void {
    const queue: (() => void)[] = [];
    this.queue = queue;
    let result: R;
    try {
      result = handle();
    } finally {
      this.queue = null;
    }
    answer(result);
    for (const send of queue) send();
  }
}

// ---- sockets -------------------------------------------------------------------------

type Reply = Ack | JoinAck;

function wireSocket(socket: TabSocket, coordinator: Coordinator, sockets: Map<string, TabSocket>, outbox: Outbox): void {
  const clientId = () => {
    const id = socket.data.clientId;
    if (id === undefined) throw new ProtocolError('not-joined', 'send join first');
    return id;
  };
  const on = (handle: (raw: unknown) => Reply) => (raw: unknown, ack?: unknown) => {
    if (socket.data.clientId !== undefined) coordinator.touch(socket.data.clientId);
    outbox.deliver(
      () => guarded(() => handle(raw)),
      (reply) => answer(socket, coordinator, reply, ack),
    );
  };
  socket.on('join', on((raw) => joinTab(socket, coordinator, sockets, parse(joinSchema, raw, 'join'))));
  socket.on('ready', on((raw) => coordinator.ready(clientId(), parse(readySchema, raw, 'ready'))));
  socket.on('update', on((raw) => coordinator.update(clientId(), parse(updateSchema, raw, 'update'))));
  socket.on('eval', on((raw) => coordinator.eval(clientId(), parse(evalSchema, raw, 'eval'))));
  socket.on('progress', on((raw) => (coordinator.progress(clientId(), parse(progressSchema, raw, 'progress')), { ok: true })));
  socket.on('loading', on((raw) => (coordinator.loading(clientId(), parse(loadingSchema, raw, 'loading')), { ok: true })));
  socket.on('control', on((raw) => withStatus(coordinator, coordinator.control(parse(controlSchema, raw, 'control')))));
  socket.on('watch', (...args: unknown[]) => {
    void socket.join(WATCHERS);
    const ack = args.findLast((a) => typeof a === 'function') as ((s: Status) => void) | undefined;
    ack?.(coordinator.status());
  });
  socket.on('disconnect', () => forget(socket, coordinator, sockets));
}

function joinTab(socket: TabSocket, coordinator: Coordinator, sockets: Map<string, TabSocket>, msg: JoinMsg): JoinAck {
  forget(socket, coordinator, sockets);
  const reply = coordinator.join(msg);
  if (reply.ok) {
    socket.data.clientId = reply.clientId;
    sockets.set(reply.clientId, socket);
  }
  return reply;
}

function forget(socket: TabSocket, coordinator: Coordinator, sockets: Map<string, TabSocket>): void {
  const id = socket.data.clientId;
  if (id === undefined) return;
  socket.data.clientId = undefined;
  sockets.delete(id);
  coordinator.disconnect(id);
}

function withStatus(coordinator: Coordinator, ack: Ack): Ack & { status?: Status } {
  return ack.ok ? { ...ack, status: coordinator.status() } : ack;
}

/** Turns a thrown ProtocolError into a refusal; anything else is our bug, logged and refused. */
function guarded(handle: () => Reply): Reply {
  try {
    return handle();
  } catch (e) {
    if (e instanceof ProtocolError) return refusal(e.code, e.message);
    console.error('tabfed: handler failed:', e);
    return refusal('bad-payload', `the server failed to handle this message: ${(e as Error).message}`);
  }
}

function refusal(code: ErrorCode, error: string): { ok: false; code: ErrorCode; error: string } {
  return { ok: false, code, error };
}

/** The acknowledgement, if the sender asked for one; a refusal also goes out as an `error` event. */
function answer(socket: TabSocket, coordinator: Coordinator, reply: Reply, ack: unknown): void {
  if (!reply.ok) socket.emit('error', { ...coordinator.envelope(), code: reply.code, message: reply.error });
  if (typeof ack === 'function') ack(reply);
}

// ---- HTTP ----------------------------------------------------------------------------

function mountRoutes(app: Express, coordinator: Coordinator, outbox: Outbox, registry: ModelRegistry, opts: AppOptions): void {
  app.disable('x-powered-by');
  const models = modelRoutes({ ...opts.modelRoutes, registry });
  app.use('/api/models', models.api);
  // The one source of base files (public/ is also copied into dist/, without models/: vite.config.ts).
  app.get('/models/:id/:file', models.files);
  app.get('/api/status', (_req, res) => {
    res.json(coordinator.status());
  });
  app.post('/api/control', express.json({ limit: MiB }), (req, res) => {
    outbox.deliver(
      () => guarded(() => withStatus(coordinator, coordinator.control(parse(controlSchema, req.body, 'control')))),
      (reply) => {
        if (reply.ok) res.json(reply);
        else res.status(400).json({ error: reply.error, code: reply.code });
      },
    );
  });
  app.use('/api', (_req, res) => {
    res.status(404).json({ error: 'no such API route' });
  });
  app.use(jsonErrors);
  if (opts.pages) app.use(opts.pages);
  else if (opts.staticDir) app.use(express.static(opts.staticDir), spaFallback(opts.staticDir));
}

const jsonErrors: ErrorRequestHandler = (err: { status?: number; message?: string }, _req, res, _next) => {
  const status = typeof err.status === 'number' && err.status >= 400 && err.status < 600 ? err.status : 500;
  if (status === 500) console.error('tabfed: request failed:', err);
  res.status(status).json({ error: err.message ?? 'request failed' });
};

/** Client-side routes such as /coordinator get index.html; paths that name a file do not. */
function spaFallback(dir: string): RequestHandler {
  const index = join(resolve(dir), 'index.html');
  return (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || extname(req.path) !== '') return next();
    res.sendFile(index, (err) => err && next());
  };
}
