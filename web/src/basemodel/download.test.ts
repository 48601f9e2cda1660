import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { tinyBaseFiles, type BaseFiles } from '../model/testing-base.ts';
import { BASE_FILE_NAMES, type BaseDescriptor } from '../protocol/base.ts';
import { cacheKey, CACHE_NAME, fetchBaseFiles, loadVerifiedBase, verifyFile, type ByteCache, type ByteCaches, type DownloadEnv, type DownloadProgress } from './download.ts';
import { BaseFileError } from './load.ts';

const { files, model } = tinyBaseFiles({ seed: 2 });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const descriptor: BaseDescriptor = {
  id: 'tiny-test',
  label: 'tiny test base',
  description: 'written by testing-base.ts',
  pretrained: true,
  source: 'shipped',
  params: 1,
  model: { vocabSize: model.vocabSize, contextLength: model.contextLength, dModel: model.dModel, nLayers: model.nLayers, nHeads: model.nHeads, mlpRatio: model.mlpRatio, layerNormEps: model.layerNormEps },
  files: BASE_FILE_NAMES.map((name) => ({ name, url: `/models/tiny-test/${name}`, bytes: files[name].length, sha256: sha(files[name]) })),
};

/** Cache Storage in memory, with a log of what was done to it. */
class MemoryCaches implements ByteCaches {
  readonly entries = new Map<string, Uint8Array>();
  readonly log: string[] = [];
  async open(name: string): Promise<ByteCache> {
    expect(name).toBe(CACHE_NAME);
    return {
      match: async (key) => {
        const b = this.entries.get(key);
        return b ? new Response(b.slice() as Uint8Array<ArrayBuffer>) : undefined;
      },
      put: async (key, res) => {
        this.log.push(`put ${key}`);
        this.entries.set(key, new Uint8Array(await res.arrayBuffer()));
      },
      delete: async (key) => {
        this.log.push(`delete ${key}`);
        return this.entries.delete(key);
      },
    };
  }
}

/** A server that sends each file in 1000-byte chunks; `serve` may alter what goes out. */
function server(serve: (name: string, bytes: Uint8Array) => Uint8Array | number = (_n, b) => b) {
  const requests: string[] = [];
  const fetch: DownloadEnv['fetch'] = async (url) => {
    requests.push(url);
    const name = url.split('/').at(-1)!;
    const out = serve(name, files[name as keyof BaseFiles]);
    if (typeof out === 'number') return new Response(JSON.stringify({ error: 'no such file' }), { status: out, statusText: 'Not Found', headers: { 'content-type': 'application/json' } });
    let off = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (off >= out.length) return ctl.close();
        ctl.enqueue(out.slice(off, off + 1000));
        off += 1000;
      },
    });
    return new Response(body);
  };
  return { fetch, requests };
}

async function failure(p: Promise<unknown>): Promise<BaseFileError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BaseFileError);
    return e as BaseFileError;
  }
  throw new Error('expected a failure');
}

describe('fetching a base in a tab', () => {
  it('downloads every file with monotonic progress, verifies it, caches it by sha256, and loads', async () => {
    const caches = new MemoryCaches();
    const net = server();
    const progress: DownloadProgress[] = [];
    const got = await fetchBaseFiles(descriptor, { fetch: net.fetch, caches }, (p) => progress.push(p));

    expect(net.requests).toEqual(descriptor.files.map((f) => f.url));
    expect(got).toMatchObject({ downloaded: [...BASE_FILE_NAMES], cached: [], repaired: [] });
    for (const name of BASE_FILE_NAMES) expect(got.files[name]).toEqual(files[name]);
    const total = descriptor.files.reduce((n, f) => n + f.bytes, 0);
    expect(progress.at(-1)).toEqual({ done: total, total, file: null });
    expect(progress.every((p, i) => p.total === total && (i === 0 || p.done >= progress[i - 1].done))).toBe(true);
    expect(progress.filter((p) => p.file === 'model.safetensors').length).toBeGreaterThan(3); // streamed, not in one go
    expect([...caches.entries.keys()].sort()).toEqual(descriptor.files.map((f) => cacheKey(f.sha256)).sort());
    expect(loadVerifiedBase(descriptor, got.files).model).toEqual(model);
  });

  it('takes verified files from the cache without a request', async () => {
    const caches = new MemoryCaches();
    await fetchBaseFiles(descriptor, { fetch: server().fetch, caches });
    const again = server();
    const got = await fetchBaseFiles(descriptor, { fetch: again.fetch, caches });
    expect(again.requests).toEqual([]);
    expect(got).toMatchObject({ cached: [...BASE_FILE_NAMES], downloaded: [], repaired: [] });
    expect(got.files['model.safetensors']).toEqual(files['model.safetensors']);
  });

  it('deletes a corrupt cache entry and downloads that file again', async () => {
    const caches = new MemoryCaches();
    await fetchBaseFiles(descriptor, { fetch: server().fetch, caches });
    const key = cacheKey(descriptor.files[3].sha256);
    const damaged = caches.entries.get(key)!.slice();
    damaged[100] ^= 0xff;
    caches.entries.set(key, damaged);
    caches.log.length = 0;
    const again = server();
    const got = await fetchBaseFiles(descriptor, { fetch: again.fetch, caches });
    expect(again.requests).toEqual(['/models/tiny-test/model.safetensors']);
    expect(got).toMatchObject({ repaired: ['model.safetensors'], downloaded: ['model.safetensors'] });
    expect(caches.log).toEqual([`delete ${key}`, `put ${key}`]);
    expect(caches.entries.get(key)).toEqual(files['model.safetensors']);
  });

  it('refuses tampered bytes, naming the file and the mismatch, and caches nothing of them', async () => {
    const caches = new MemoryCaches();
    const flipped = server((name, b) => (name === 'model.safetensors' ? b.map((x, i) => (i === 5000 ? x ^ 1 : x)) : b));
    const e = await failure(fetchBaseFiles(descriptor, { fetch: flipped.fetch, caches }));
    expect(e.file).toBe('model.safetensors');
    expect(e.message).toBe("model.safetensors is corrupt: its sha256 does not match the server's. Retry downloads it again.");
    expect(caches.entries.has(cacheKey(descriptor.files[3].sha256))).toBe(false);

    const short = server((name, b) => (name === 'tokenizer.json' ? b.slice(0, b.length - 10) : b));
    const e2 = await failure(fetchBaseFiles(descriptor, { fetch: short.fetch, caches: null }));
    expect(e2.file).toBe('tokenizer.json');
    expect(e2.message).toMatch(/^tokenizer\.json is corrupt: it is [\d,]+ bytes, the server says [\d,]+\. Retry downloads it again\.$/);

    const long = server((name, b) => (name === 'config.json' ? new Uint8Array([...b, 32]) : b));
    expect((await failure(fetchBaseFiles(descriptor, { fetch: long.fetch, caches: null }))).message).toMatch(/^config\.json is corrupt: the server sent more than/);
  });

  it('names the file and the HTTP status (with the server’s reason) when a download fails', async () => {
    const missing = server((name, b) => (name === 'tokenizer.json' ? 404 : b));
    const e = await failure(fetchBaseFiles(descriptor, { fetch: missing.fetch, caches: null }));
    expect(e).toMatchObject({ file: 'tokenizer.json', message: 'Could not download tokenizer.json: the server answered HTTP 404 Not Found (no such file). Retry downloads it again.' });
    const offline: DownloadEnv['fetch'] = async () => {
      throw new TypeError('Failed to fetch');
    };
    expect(await failure(fetchBaseFiles(descriptor, { fetch: offline, caches: null }))).toMatchObject({ file: 'config.json', message: 'Could not download config.json: Failed to fetch. Retry downloads it again.' });
  });

  it('works without Cache Storage: every load downloads', async () => {
    const net = server();
    await fetchBaseFiles(descriptor, { fetch: net.fetch, caches: null });
    await fetchBaseFiles(descriptor, { fetch: net.fetch, caches: null });
    expect(net.requests).toHaveLength(8);
  });

  it('verifyFile passes good bytes and refuses others', async () => {
    await expect(verifyFile(files['config.json'], descriptor.files[0])).resolves.toBeUndefined();
    await expect(verifyFile(files['tokenizer.json'], descriptor.files[0])).rejects.toThrow(/^config\.json is corrupt: it is/);
  });

  it('refuses files that load but are not the model the server announced', async () => {
    const got = await fetchBaseFiles(descriptor, { fetch: server().fetch, caches: null });
    expect(() => loadVerifiedBase({ ...descriptor, model: { ...descriptor.model, nLayers: 2 } }, got.files)).toThrow(/config\.json describes .* but the server announced/);
  });
});
