// Integration: the real app on port 0, with tabs that speak the protocol by
// hand. Every wait is on an event or an acknowledgement, never a sleep.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fedAvg } from '../web/src/federation/fedavg.ts';
import { encodeWeights, maxAbsDiff, type Weights } from '../web/src/federation/weights.ts';
import { presetConfig } from '../web/src/model/config.ts';
import type { FederationConfig } from '../web/src/protocol/config.ts';
import { decodeWeights, type FitMsg, type Status } from '../web/src/protocol/messages.ts';
import { adapterSpec, LORA_TARGETS, specSize } from '../web/src/adapters/spec.ts';
import { adapterBytes } from '../web/src/protocol/base.ts';
import { MAX_ADAPTER_BYTES } from '../web/src/protocol/config.ts';
import { MAX_MESSAGE_BYTES, createApplication, type Application } from './app.ts';
import { FakeTab, TINY, TINY_SPEC, shifted, type TabOptions } from './testing/tab.ts';

interface Running extends Application {
  url: string;
}

const opened: { app?: Running; tabs: FakeTab[]; dirs: string[] } = { tabs: [], dirs: [] };

async function start(config: Partial<FederationConfig>, staticDir?: string): Promise<Running> {
  const httpServer = createServer();
  const app = createApplication(httpServer, { config: { ...TINY, ...config }, staticDir });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  opened.app = { ...app, url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}` };
  return opened.app;
}

async function tab(app: Running, opts: TabOptions): Promise<FakeTab> {
  const t = await FakeTab.open(app.url, opts);
  opened.tabs.push(t);
  return t;
}

async function watcher(app: Running): Promise<FakeTab> {
  const w = await FakeTab.watcher(app.url);
  opened.tabs.push(w);
  return w;
}

afterEach(async () => {
  for (const t of opened.tabs.splice(0)) t.close();
  await opened.app?.close();
  opened.app = undefined;
  for (const d of opened.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const globalOf = (msg: { global: FitMsg['global'] }): Weights => decodeWeights(msg.global, TINY_SPEC);
const isDone = (s: Status) => s.phase === 'done';
const holdRound = (round: number) => (m: FitMsg) => (m.round === round ? 'silent' : 'answer');

describe('a round over sockets', () => {
  it('aggregates three updates to the example-weighted FedAvg reference', async () => {
    // Prepare
    const app = await start({ minClients: 3 });
    const w = await watcher(app);
    const tabs = await Promise.all([
      tab(app, { name: 'a', numTrain: 10, k: 1 }),
      tab(app, { name: 'b', numTrain: 30, k: -2 }),
      tab(app, { name: 'c', numTrain: 60, k: 3 }),
    ]);
    // Execute
    const evaluated = await tabs[0].waitFor('evaluate', (m) => m.round === 1);
    await w.waitFor('status', isDone);
    // Assert
    const sent = tabs.map((t) => ({ weights: t.sent.get(1)!, numExamples: t.opts.numTrain }));
    expect(maxAbsDiff(globalOf(evaluated), fedAvg(sent))).toBeLessThan(1e-6);
    const unweighted = fedAvg(sent.map((s) => ({ ...s, numExamples: 1 })));
    expect(maxAbsDiff(globalOf(evaluated), unweighted)).toBeGreaterThan(1e-3);
    const { history } = app.coordinator.status();
    expect(history.map((h) => h.round)).toEqual([0, 1]);
    expect(history[1].participants.sort()).toEqual(tabs.map((t) => t.id).sort());
    expect(history[1].bytesUp).toBe(3 * 4 * TINY_SPEC.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0));
  });

  it('does not wait for a tab that vanishes mid-round', async () => {
    const app = await start({ minClients: 2, roundTimeoutMs: 600_000, autoStart: false });
    const w = await watcher(app);
    const a = await tab(app, { name: 'a', numTrain: 10, k: 1 });
    const b = await tab(app, { name: 'b', numTrain: 20, k: 2 });
    const gone = await tab(app, { name: 'gone', numTrain: 40, k: 5, onFit: () => 'disconnect' });

    expect(await w.socket.emitWithAck('control', { action: 'start' })).toMatchObject({ ok: true });
    const done = await w.waitFor('status', isDone);

    expect(gone.log.some((l) => l.event === 'fit')).toBe(true);

    expect(done.history[1].participants.sort()).toEqual([a.id, b.id].sort());
    const ref = fedAvg([a, b].map((t) => ({ weights: t.sent.get(1)!, numExamples: t.opts.numTrain })));
    expect(maxAbsDiff(app.coordinator.globalWeights(), ref)).toBeLessThan(1e-6);
  });

  it('closes the round at the deadline when a tab never answers', async () => {
    const app = await start({ minClients: 2, roundTimeoutMs: 1000, autoStart: false });
    const w = await watcher(app);
    const a = await tab(app, { name: 'a', numTrain: 10, k: 1 });
    const b = await tab(app, { name: 'b', numTrain: 20, k: 2 });
    const silent = await tab(app, { name: 'silent', numTrain: 40, onFit: () => 'silent' });

    expect(await w.socket.emitWithAck('control', { action: 'start' })).toMatchObject({ ok: true });
    const done = await w.waitFor('status', isDone);

    expect(silent.log.some((l) => l.event === 'fit')).toBe(true);
    expect(done.history[1].participants.sort()).toEqual([a.id, b.id].sort());
    expect(done.history[1].perClient.map((p) => p.id)).toContain(silent.id);
    expect(done.history[1].attempts).toBe(1);
  });

  it('refuses a stale-round update with an error event and changes nothing', async () => {
    const app = await start({ rounds: 2 });
    const a = await tab(app, { name: 'a', numTrain: 10, k: 1, onFit: holdRound(2) });
    await tab(app, { name: 'b', numTrain: 20, k: 2, onFit: holdRound(2) });
    const fit1 = await a.waitFor('fit', (m) => m.round === 1);
    await a.waitFor('fit', (m) => m.round === 2);
    const before = app.coordinator.status();
    const global = app.coordinator.globalWeights();

    const ack = await a.sendUpdate(fit1);

    expect(ack).toMatchObject({ ok: false, code: 'stale-round' });
    expect(await a.waitFor('error', (e) => e.code === 'stale-round')).toMatchObject({ federation: before.federation, round: 2 });
    const after = app.coordinator.status();
    expect(after.history).toEqual(before.history);
    expect([after.round, after.phase]).toEqual([2, 'training']);
    expect(maxAbsDiff(app.coordinator.globalWeights(), global)).toBe(0);
  });

  it('refuses malformed updates and keeps the round and the global as they were', async () => {
    const app = await start({});
    const w = await watcher(app);
    const a = await tab(app, { name: 'a', numTrain: 10, k: 1, onFit: () => 'silent' });
    await tab(app, { name: 'b', numTrain: 20, k: 2 });
    const fit = await a.waitFor('fit', (m) => m.round === 1);
    const global = app.coordinator.globalWeights();
    const good = shifted(globalOf(fit), 1);
    const base = { federation: fit.federation, round: 1, attempt: fit.attempt, numExamples: 10, trainLoss: 0.5, steps: 3, ms: 1 };
    const wrongShape = encodeWeights(good.map((t, i) => (i === 0 ? { ...t, shape: [t.shape[1], t.shape[0]] } : t)));
    const nan = encodeWeights(good.map((t, i) => (i === 1 ? { ...t, data: t.data.map(() => NaN) } : t)));

    const refusals = await Promise.all([
      a.socket.emitWithAck('update', { ...base, weights: wrongShape }),
      a.socket.emitWithAck('update', { ...base, weights: nan }),
      a.socket.emitWithAck('update', { ...base, weights: { tensors: wrongShape.tensors, data: 'garbage' } } as never),
      a.socket.emitWithAck('update', 'garbage' as never),
      a.socket.emitWithAck('update', { ...base, numExamples: -3, weights: encodeWeights(good) }),
      // More examples than the tab reported when ready would inflate its FedAvg weight.
      a.socket.emitWithAck('update', { ...base, numExamples: 11, weights: encodeWeights(good) }),
    ]);
    // A non-function acknowledgement must not break the server: the refusal still comes as an event.
    (a.socket as unknown as { emit(...args: unknown[]): void }).emit('update', { ...base, weights: nan }, 42);

    expect(refusals.map((r) => (r.ok ? 'ok' : r.code))).toEqual(['bad-weights', 'bad-weights', 'bad-payload', 'bad-payload', 'bad-payload', 'bad-payload']);
    expect(refusals[5].ok ? '' : refusals[5].error).toMatch(/exceeds the 10 training examples/);
    const firstError = await a.waitFor('error');
    expect(firstError.message).toMatch(/shape/);
    await a.waitFor('error', () => a.log.filter((l) => l.event === 'error').length === 7);
    expect(app.coordinator.status()).toMatchObject({ round: 1, phase: 'training' });
    expect(maxAbsDiff(app.coordinator.globalWeights(), global)).toBe(0);

    // The tab can still answer properly, and only the good update is averaged.
    expect(await a.sendUpdate(fit, good)).toEqual({ ok: true });
    await w.waitFor('status', isDone);
    const b = opened.tabs.find((t) => t.opts.name === 'b')!;
    const ref = fedAvg([{ weights: good, numExamples: 10 }, { weights: b.sent.get(1)!, numExamples: 20 }]);
    expect(maxAbsDiff(app.coordinator.globalWeights(), ref)).toBeLessThan(1e-6);
  });

  it('refuses messages from a socket that has not joined', async () => {
    const app = await start({});
    const w = await watcher(app);
    const ack = await w.socket.emitWithAck('ready', { federation: 'x', round: 0, backend: 'cpu', adapterInfo: '', numTrain: 1, numTest: 0, labelCounts: [] });
    expect(ack).toMatchObject({ ok: false, code: 'not-joined' });
    expect(await w.waitFor('error')).toMatchObject({ code: 'not-joined', federation: app.coordinator.status().federation });
  });

  it('gives a late joiner the current global and takes it in from the next round', async () => {
    const app = await start({ rounds: 2 });
    const holdEval1 = (r: number) => r !== 1;
    const a = await tab(app, { name: 'a', numTrain: 10, k: 1, onFit: holdRound(2), answerEvaluate: holdEval1 });
    const b = await tab(app, { name: 'b', numTrain: 20, k: 2, onFit: holdRound(2), answerEvaluate: holdEval1 });
    const evaluated = await a.waitFor('evaluate', (m) => m.round === 1);

    const late = await tab(app, { name: 'late', numTrain: 30, k: 3 });

    expect(maxAbsDiff(globalOf(late.join), globalOf(evaluated))).toBe(0);
    expect(late.join).toMatchObject({ round: 1, phase: 'evaluating', config: { rounds: 2 } });
    expect(late.log.some((l) => l.event === 'evaluate')).toBe(false);
    await Promise.all([a.sendEval(1), b.sendEval(1)]);
    const fit2 = await late.waitFor('fit', (m) => m.round === 2);
    expect(maxAbsDiff(globalOf(fit2), globalOf(evaluated))).toBe(0);
  });
});

describe('the socket.io server', () => {
  it('takes a message as large as the largest adapter a config may have, with room to spare', async () => {
    const lora = { rank: 64, alpha: 64, dropout: 0, targets: [...LORA_TARGETS] };
    // Every LoRA of GPT-2 small (d 768, 12 layers) fits; bigger adapters are refused by the config check.
    const gpt2Small = { vocabSize: 50257, contextLength: 1024, dModel: 768, nLayers: 12, nHeads: 12, mlpRatio: 4, numClasses: 3, layerNormEps: 1e-5 };
    expect(adapterBytes(gpt2Small, lora)).toBeLessThan(MAX_ADAPTER_BYTES);
    expect(4 * specSize(adapterSpec(presetConfig('small'), lora))).toBeLessThan(MAX_ADAPTER_BYTES);
    expect(MAX_MESSAGE_BYTES).toBe(MAX_ADAPTER_BYTES + 1024 * 1024);
    const app = await start({});
    expect((app.io.engine as unknown as { opts: { maxHttpBufferSize: number } }).opts.maxHttpBufferSize).toBe(MAX_MESSAGE_BYTES);
  });
});

describe('the HTTP API', () => {
  it('GET /api/status has the documented shape', async () => {
    const app = await start({});
    const w = await watcher(app);
    await tab(app, { name: 'a', numTrain: 10 });
    await tab(app, { name: 'b', numTrain: 20 });
    await w.waitFor('status', isDone);

    const res = await fetch(`${app.url}/api/status`);
    const s = (await res.json()) as Status;

    expect(res.status).toBe(200);
    expect(s).toMatchObject({ federation: expect.any(String), round: 1, phase: 'done', running: true, config: { preset: 'tiny', rounds: 1 } });
    expect(s.clients).toHaveLength(2);
    for (const c of s.clients) {
      expect(c).toMatchObject({ id: expect.any(String), name: expect.any(String), backend: 'fake', numExamples: expect.any(Number), lastSeen: expect.any(Number), ready: true, shard: expect.any(Number) });
    }
    expect(s.clients.map((c) => c.shard).sort()).toEqual([0, 1]);
    expect(s.history.map((h) => h.round)).toEqual([0, 1]);
    expect(s.history[0].participants).toEqual([]);
    for (const h of s.history) {
      expect(h.metrics).toEqual({ accuracy: expect.any(Number), macroF1: expect.any(Number), loss: expect.any(Number) });
      expect(h).toMatchObject({ bytesUp: expect.any(Number), bytesDown: expect.any(Number), durationMs: expect.any(Number), attempts: 1 });
    }
  });

  it('POST /api/control refuses bad input with 400 and changes nothing', async () => {
    const app = await start({});
    const before = app.coordinator.status();
    const post = (body: string) => fetch(`${app.url}/api/control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

    const answers = await Promise.all([
      post(JSON.stringify({ action: 'configure', config: { rounds: 0 } })),
      post(JSON.stringify({ action: 'configure', config: { nope: 1 } })),
      post(JSON.stringify({ action: 'configure', config: { seqLen: presetConfig('tiny').contextLength + 1 } })),
      post(JSON.stringify({ action: 'explode' })),
      post('{not json'),
    ]);

    for (const r of answers) {
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual(expect.objectContaining({ error: expect.any(String) }));
    }
    expect(app.coordinator.status()).toEqual(before);
  });

  it('POST /api/control configures, and a shape change resets the federation for every tab', async () => {
    const app = await start({ minClients: 3 });
    const a = await tab(app, { name: 'a', numTrain: 10 });
    const before = app.coordinator.status();

    const small = await fetch(`${app.url}/api/control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'configure', config: { rounds: 5 } }) });
    expect(small.status).toBe(200);
    expect(((await small.json()) as { status: Status }).status).toMatchObject({ federation: before.federation, config: { rounds: 5 } });

    const lora = { rank: 4, alpha: 8, dropout: 0, targets: ['q', 'k', 'v'] };
    const big = await fetch(`${app.url}/api/control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action: 'configure', config: { lora } }) });
    expect(big.status).toBe(200);
    expect(await a.waitFor('federation')).toMatchObject({ federation: before.federation, config: { rounds: 5 } });
    const rebuilt = await a.waitFor('federation', (m) => m.federation !== before.federation);
    expect(rebuilt).toMatchObject({ round: 0, config: { lora, rounds: 5 }, shard: a.join.shard });
    expect(app.coordinator.status().clients[0]).toMatchObject({ ready: false });
    expect(await a.sendReady(before.federation)).toMatchObject({ ok: false, code: 'wrong-federation' });
    expect(await a.sendReady(rebuilt.federation)).toEqual({ ok: true });
  });

  it('serves static files with a fallback to index.html for client-side routes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabfed-static-'));
    opened.dirs.push(dir);
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>tabfed</title>');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)');
    const app = await start({}, dir);
    const get = async (path: string) => {
      const r = await fetch(`${app.url}${path}`);
      return [r.status, await r.text()] as const;
    };

    expect(await get('/')).toEqual([200, '<!doctype html><title>tabfed</title>']);
    expect(await get('/coordinator')).toEqual([200, '<!doctype html><title>tabfed</title>']);
    expect(await get('/app.js')).toEqual([200, 'console.log(1)']);
    expect((await get('/missing.js'))[0]).toBe(404);
    const api = await get('/api/nothing');
    expect(api[0]).toBe(404);
    expect(JSON.parse(api[1])).toEqual({ error: expect.any(String) });
  });
});
