// Integration: the real app on port 0 with a model registry in temp dirs, a
// static server on port 0 that plays the part of a model hub, and real
// socket.io tabs. Waits are on answers and events, never on sleeps.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tinyBaseFiles, writeBaseDir, type BaseFiles } from '../../web/src/model/testing-base.ts';
import { baseDescriptorSchema, type BaseDescriptor } from '../../web/src/protocol/base.ts';
import type { FederationConfig } from '../../web/src/protocol/config.ts';
import type { Status } from '../../web/src/protocol/messages.ts';
import { createApplication, type Application } from '../app.ts';
import { FakeTab, TINY } from '../testing/tab.ts';

const opened: { app?: Application; servers: Server[]; tabs: FakeTab[]; dirs: string[] } = { servers: [], tabs: [], dirs: [] };

afterEach(async () => {
  for (const t of opened.tabs.splice(0)) t.close();
  await opened.app?.close();
  opened.app = undefined;
  await Promise.all(opened.servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  for (const d of opened.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tabfed-routes-'));
  opened.dirs.push(d);
  return d;
};
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const shipped = tinyBaseFiles({ seed: 5 });
const hubBase = tinyBaseFiles({ seed: 6, dModel: 8 });

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  opened.servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A model hub: /<folder>/<file> from an in-memory table; anything else is a 404. */
async function hub(folders: Record<string, Partial<BaseFiles>>): Promise<string> {
  return listen(
    createServer((req, res) => {
      const [, folder, file] = (req.url ?? '').split('/');
      const bytes = folders[folder]?.[file as keyof BaseFiles];
      if (!bytes) return void res.writeHead(404).end('not found');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
    }),
  );
}

interface Running {
  app: Application;
  url: string;
  cacheDir: string;
}

async function start(config: Partial<FederationConfig> = {}, maxFileBytes?: number): Promise<Running> {
  const dir = temp();
  const cacheDir = temp();
  writeBaseDir(join(dir, 'shipped-tiny'), shipped.files);
  const httpServer = createServer();
  const app = createApplication(httpServer, { config: { ...TINY, ...config }, models: { dir, cacheDir }, modelRoutes: { maxFileBytes } });
  opened.app = app;
  return { app, url: await listen(httpServer), cacheDir };
}

async function api(r: Running, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${r.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>) };
}

const bases = async (r: Running) => (await api(r, 'GET', '/api/models')).json.bases as BaseDescriptor[];

async function tab(r: Running, opts: Parameters<typeof FakeTab.open>[1]): Promise<FakeTab> {
  const t = await FakeTab.open(r.url, opts);
  opened.tabs.push(t);
  return t;
}

describe('GET /api/models and /models/<id>/<file>', () => {
  it('lists the shipped bases and serves their files byte for byte', async () => {
    const r = await start();
    const listed = await bases(r);
    expect(listed.map((b) => b.id)).toEqual(['shipped-tiny']);
    expect(baseDescriptorSchema.parse(listed[0])).toEqual(listed[0]);
    for (const f of listed[0].files) {
      const res = await fetch(`${r.url}${f.url}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect([res.status, bytes.length, sha(bytes)]).toEqual([200, f.bytes, f.sha256]);
      expect(res.headers.get('etag')).toBe(`"${f.sha256}"`);
    }
    expect((await fetch(`${r.url}/models/shipped-tiny/training.json`)).status).toBe(404);
    expect((await fetch(`${r.url}/models/nope/config.json`)).status).toBe(404);
  });
});

describe('POST /api/models {url}', () => {
  it('fetches, checks and registers a base; it is listed, served, and a config may name it', async () => {
    const r = await start();
    const at = await hub({ gpt: hubBase.files });
    const w = await tab(r, { name: 'a', numTrain: 10 });

    const res = await api(r, 'POST', '/api/models', { url: `${at}/gpt/`, name: 'Hub GPT' });

    expect(res.status).toBe(201);
    const base = (res.json as { base: BaseDescriptor }).base;
    expect(base).toMatchObject({ label: 'Hub GPT', source: 'url', description: `downloaded from ${at}/gpt`, model: { dModel: 8 } });
    expect((await bases(r)).map((b) => b.id)).toEqual(['shipped-tiny', base.id]);
    const served = new Uint8Array(await (await fetch(`${r.url}${base.files.find((f) => f.name === 'model.safetensors')!.url}`)).arrayBuffer());
    expect(served).toEqual(hubBase.files['model.safetensors']);
    expect(readdirSync(r.cacheDir)).toEqual([base.id]);
    // The same files again: nothing new.
    expect(await api(r, 'POST', '/api/models', { url: `${at}/gpt`, name: 'Hub GPT' })).toMatchObject({ status: 200, json: { added: false } });

    const before = r.app.coordinator.status().federation;
    expect(await w.socket.emitWithAck('control', { action: 'configure', config: { base: base.id, lora: { rank: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } } })).toMatchObject({ ok: true });
    const msg = await w.waitFor('federation', (m) => m.federation !== before);
    expect(msg.base).toEqual(base);
    expect(msg.config.base).toBe(base.id);
    expect(r.app.coordinator.status().base).toEqual(base);
    // The adapter now has the registered base's shapes (d 8).
    expect(msg).toMatchObject({ round: 0 });
    expect(r.app.coordinator.status().adapterBytes).toBe(4 * (2 * (8 * 2 + 2 * 8) + 8 * 3 + 3));
  });

  it('refuses a corrupt safetensors with 400 naming the file, and registers nothing', async () => {
    const r = await start();
    const at = await hub({ bad: { ...hubBase.files, 'model.safetensors': hubBase.files['model.safetensors'].slice(0, 700) } });
    const before = await bases(r);
    const res = await api(r, 'POST', '/api/models', { url: `${at}/bad` });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ file: 'model.safetensors', error: expect.stringMatching(/^model\.safetensors is not a valid safetensors file: /) });
    expect(await bases(r)).toEqual(before);
    expect(readdirSync(r.cacheDir)).toEqual([]);
  });

  it('refuses a tokenizer of the wrong vocabulary with 400 naming tokenizer.json', async () => {
    const r = await start();
    const at = await hub({ mixed: { ...hubBase.files, 'tokenizer.json': tinyBaseFiles({ tokenizerVocab: 320 }).files['tokenizer.json'] } });
    const res = await api(r, 'POST', '/api/models', { url: `${at}/mixed` });
    expect(res).toEqual({ status: 400, json: { file: 'tokenizer.json', error: "tokenizer.json has 320 ids but the model's embedding has only 300 rows: they do not belong together" } });
    expect((await bases(r)).map((b) => b.id)).toEqual(['shipped-tiny']);
  });

  it('names the file that could not be downloaded; tokenizer_config.json may be missing', async () => {
    const r = await start();
    const { 'tokenizer_config.json': _, ...noTokConfig } = hubBase.files;
    const at = await hub({ empty: {}, lean: noTokConfig });
    expect(await api(r, 'POST', '/api/models', { url: `${at}/empty` })).toEqual({
      status: 400,
      json: { file: 'config.json', error: `could not download config.json from ${at}/empty/config.json: HTTP 404 Not Found` },
    });
    const lean = await api(r, 'POST', '/api/models', { url: `${at}/lean` });
    expect(lean.status).toBe(201);
    expect((lean.json as { base: BaseDescriptor }).base.files.map((f) => f.name)).toEqual(['config.json', 'tokenizer.json', 'model.safetensors']);
  });

  it('refuses what is not an http(s) URL, and files over the size limit', async () => {
    const r = await start({}, 10_000);
    expect(await api(r, 'POST', '/api/models', { url: 'file:///etc/passwd' })).toMatchObject({ status: 400, json: { error: 'only http and https URLs can be fetched, not file:' } });
    expect(await api(r, 'POST', '/api/models', { nope: 1 })).toMatchObject({ status: 400 });
    const at = await hub({ gpt: hubBase.files });
    expect(await api(r, 'POST', '/api/models', { url: `${at}/gpt` })).toMatchObject({ status: 400, json: { file: 'model.safetensors', error: expect.stringMatching(/over the 0\.0 MiB limit/) } });
  });
});

describe('uploads', () => {
  const put = (r: Running, upload: string, name: string, bytes: Uint8Array) =>
    fetch(`${r.url}/api/models/uploads/${upload}/${name}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes as Uint8Array<ArrayBuffer> });

  it('registers picked files after a commit, and refuses an incomplete or broken set', async () => {
    const r = await start();
    const created = await api(r, 'POST', '/api/models/uploads', { name: 'My upload' });
    expect(created.status).toBe(201);
    const upload = created.json.upload as string;
    for (const [name, bytes] of Object.entries(hubBase.files)) expect((await put(r, upload, name, bytes)).status).toBe(200);
    const done = await api(r, 'POST', `/api/models/uploads/${upload}/commit`);
    expect(done.status).toBe(201);
    expect((done.json as { base: BaseDescriptor }).base).toMatchObject({ label: 'My upload', source: 'upload' });
    expect(readFileSync(join(r.cacheDir, (done.json as { base: BaseDescriptor }).base.id, 'model.safetensors'))).toEqual(Buffer.from(hubBase.files['model.safetensors']));
    // An upload is over once committed.
    expect((await api(r, 'POST', `/api/models/uploads/${upload}/commit`)).status).toBe(404);

    const partial = (await api(r, 'POST', '/api/models/uploads', {})).json.upload as string;
    await put(r, partial, 'config.json', hubBase.files['config.json']);
    await put(r, partial, 'tokenizer.json', hubBase.files['tokenizer.json']);
    expect(await api(r, 'POST', `/api/models/uploads/${partial}/commit`)).toEqual({ status: 400, json: { file: 'model.safetensors', error: 'model.safetensors is missing' } });
    expect((await bases(r)).length).toBe(2);

    const odd = (await api(r, 'POST', '/api/models/uploads', {})).json.upload as string;
    expect((await put(r, odd, 'evil.sh', new Uint8Array(3))).status).toBe(400);
    expect((await put(r, 'no-such-upload', 'config.json', new Uint8Array(3))).status).toBe(404);
    expect((await api(r, 'DELETE', `/api/models/uploads/${odd}`)).status).toBe(204);
  });

  it('refuses a file over the limit with 413', async () => {
    const r = await start({}, 10_000);
    const upload = (await api(r, 'POST', '/api/models/uploads', {})).json.upload as string;
    const res = await put(r, upload, 'model.safetensors', hubBase.files['model.safetensors']);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ file: 'model.safetensors', error: expect.stringMatching(/over the .* limit/) });
  });
});

describe('configuring the base', () => {
  it('refuses an unknown base or a seqLen beyond its context, and changes nothing', async () => {
    const r = await start();
    const before = r.app.coordinator.status();
    const post = (config: unknown) => api(r, 'POST', '/api/control', { action: 'configure', config });
    expect(await post({ base: 'nope' })).toMatchObject({ status: 400, json: { error: 'invalid config: base: no base model "nope" is registered (known: random, shipped-tiny)' } });
    expect(await post({ base: 'shipped-tiny', seqLen: 65 })).toMatchObject({ status: 400, json: { error: expect.stringMatching(/seqLen: 65 exceeds base model "shipped-tiny"'s context of 64/) } });
    expect(r.app.coordinator.status()).toEqual(before);
    expect((await post({ base: 'shipped-tiny', seqLen: 64 })).status).toBe(200);
    expect(r.app.coordinator.status()).toMatchObject({ config: { base: 'shipped-tiny' }, base: { id: 'shipped-tiny', pretrained: true } });
  });

  it('a server whose config names an unknown base does not start', () => {
    expect(() => createApplication(createServer(), { config: { ...TINY, base: 'missing' }, models: { dir: temp(), cacheDir: null } })).toThrow(/no base model "missing" is registered/);
  });

  it('shows what a tab that is not ready is doing, and never picks it for a round', async () => {
    // The random base: FakeTab's updates have the tiny preset's shapes.
    const r = await start({ minClients: 2 });
    const watcher = await FakeTab.watcher(r.url);
    opened.tabs.push(watcher);
    const loading = await tab(r, { name: 'broken', numTrain: 10, ready: false });
    expect(loading.join.base).toMatchObject({ id: 'random', pretrained: false, files: [] });
    loading.socket.emit('loading', { federation: loading.join.federation, round: 0, activity: 'cannot take part: model.safetensors is corrupt' });
    const s: Status = await watcher.waitFor('status', (x) => x.clients.some((c) => c.activity.startsWith('cannot take part')));
    expect(s.clients.find((c) => c.id === loading.id)).toMatchObject({ ready: false, activity: 'cannot take part: model.safetensors is corrupt' });
    // Two ready tabs federate; the broken one is never asked.
    await tab(r, { name: 'a', numTrain: 10 });
    await tab(r, { name: 'b', numTrain: 20 });
    await watcher.waitFor('status', (x) => x.phase === 'done');
    expect(loading.log.some((l) => l.event === 'fit' || l.event === 'evaluate')).toBe(false);
  });
});
