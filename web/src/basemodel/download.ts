// A base model's files in a tab: each one downloaded once (streamed, with
// progress), kept in Cache Storage under its sha256 (a changed file is a new
// entry), and verified, size and sha256 against the server's descriptor, before
// use, whether it came from the network or from the cache. A cached copy that
// fails is deleted and downloaded again; a download that fails is never cached.
import { NUM_CLASSES } from '../data/synthetic.ts';
import type { BaseModel } from '../model/checkpoint.ts';
import { architectureOf, type BaseDescriptor, type BaseFile, type BaseFileName } from '../protocol/base.ts';
import { BaseFileError, loadBaseFiles, type BaseFileBytes } from './load.ts';
import { sha256Hex } from './sha256.ts';

/** The part of Cache Storage used here (window.caches fits it). */
export interface ByteCache {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
  delete(key: string): Promise<boolean>;
}
export interface ByteCaches {
  open(name: string): Promise<ByteCache>;
}

export interface DownloadEnv {
  fetch: (url: string, init?: RequestInit) => Promise<Response>;
  /** null where Cache Storage is missing (pages outside a secure context): every load downloads. */
  caches: ByteCaches | null;
}

export interface DownloadProgress {
  /** Bytes of all files done so far (cached files count at once), and of all files together. */
  done: number;
  total: number;
  /** The file in flight, or null when all are done. */
  file: BaseFileName | null;
}

export interface FetchedBase {
  files: BaseFileBytes;
  /** Files verified from the cache, files downloaded, and cached copies that failed verification (deleted, then downloaded). */
  cached: BaseFileName[];
  downloaded: BaseFileName[];
  repaired: BaseFileName[];
}

export const CACHE_NAME = 'tabfed-base-models-v1';

/** The cache key of a file's bytes: its sha256. Any http(s) URL may key Cache Storage; this one is never fetched. */
export const cacheKey = (sha256: string): string => `https://cache.tabfed.invalid/sha256/${sha256}`;

const RETRY = 'Retry downloads it again.';

/** The page's own fetch and Cache Storage. */
export function browserDownloadEnv(): DownloadEnv {
  const caches = typeof globalThis.caches === 'undefined' ? null : (globalThis.caches as unknown as ByteCaches);
  return { fetch: (url, init) => globalThis.fetch(url, init), caches };
}

/** Throws a BaseFileError when bytes are not the file the descriptor names. */
export async function verifyFile(bytes: Uint8Array, file: BaseFile): Promise<void> {
  if (bytes.length !== file.bytes) {
    throw new BaseFileError(file.name, `${file.name} is corrupt: it is ${bytes.length.toLocaleString('en-US')} bytes, the server says ${file.bytes.toLocaleString('en-US')}. ${RETRY}`);
  }
  if ((await sha256Hex(bytes)) !== file.sha256) {
    throw new BaseFileError(file.name, `${file.name} is corrupt: its sha256 does not match the server's. ${RETRY}`);
  }
}

/** The cached, verified bytes of a file, or null; a cached copy that fails verification is deleted. */
async function fromCache(cache: ByteCache, file: BaseFile): Promise<{ bytes: Uint8Array | null; corrupt: boolean }> {
  const key = cacheKey(file.sha256);
  let bytes: Uint8Array;
  try {
    const hit = await cache.match(key);
    if (!hit) return { bytes: null, corrupt: false };
    bytes = new Uint8Array(await hit.arrayBuffer());
  } catch {
    return { bytes: null, corrupt: false };
  }
  try {
    await verifyFile(bytes, file);
    return { bytes, corrupt: false };
  } catch {
    await cache.delete(key).catch(() => false);
    return { bytes: null, corrupt: true };
  }
}

/** The {error} a JSON error response of the server carries, if any. */
async function serverReason(res: Response): Promise<string | null> {
  if (!res.headers.get('content-type')?.includes('json')) return null;
  try {
    const body = (await res.json()) as { error?: unknown };
    return typeof body.error === 'string' ? body.error.slice(0, 300) : null;
  } catch {
    return null;
  }
}

/** Streams a file into exactly file.bytes bytes, reporting bytes received. */
async function download(file: BaseFile, env: DownloadEnv, onBytes: (n: number) => void, signal?: AbortSignal): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await env.fetch(file.url, { signal, cache: 'no-store' });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new BaseFileError(file.name, `Could not download ${file.name}: ${(e as Error).message || 'the network request failed'}. ${RETRY}`);
  }
  if (!res.ok) {
    const why = await serverReason(res);
    throw new BaseFileError(file.name, `Could not download ${file.name}: the server answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${why ? ` (${why})` : ''}. ${RETRY}`);
  }
  const tooBig = () => new BaseFileError(file.name, `${file.name} is corrupt: the server sent more than the ${file.bytes.toLocaleString('en-US')} bytes it announced. ${RETRY}`);
  if (!res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    onBytes(bytes.length);
    return bytes;
  }
  const out = new Uint8Array(file.bytes);
  const reader = res.body.getReader();
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > out.length) throw tooBig();
      out.set(value, n);
      n += value.length;
      onBytes(n);
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    if (e instanceof BaseFileError || signal?.aborted) throw e;
    throw new BaseFileError(file.name, `The download of ${file.name} broke off after ${n.toLocaleString('en-US')} bytes (${(e as Error).message}). ${RETRY}`);
  }
  return n === out.length ? out : out.slice(0, n);
}

/** Every file of a base, verified: from the cache where it holds a good copy, else from the network. */
export async function fetchBaseFiles(base: BaseDescriptor, env: DownloadEnv, onProgress?: (p: DownloadProgress) => void, signal?: AbortSignal): Promise<FetchedBase> {
  const total = base.files.reduce((n, f) => n + f.bytes, 0);
  const out: FetchedBase = { files: {}, cached: [], downloaded: [], repaired: [] };
  let cache: ByteCache | null = null;
  if (env.caches) cache = await env.caches.open(CACHE_NAME).catch(() => null);
  let before = 0;
  for (const file of base.files) {
    signal?.throwIfAborted();
    onProgress?.({ done: before, total, file: file.name });
    const hit = cache ? await fromCache(cache, file) : { bytes: null, corrupt: false };
    let bytes = hit.bytes;
    if (hit.corrupt) out.repaired.push(file.name);
    if (bytes) {
      out.cached.push(file.name);
    } else {
      bytes = await download(file, env, (n) => onProgress?.({ done: before + Math.min(n, file.bytes), total, file: file.name }), signal);
      await verifyFile(bytes, file);
      out.downloaded.push(file.name);
      // A full disk or a private window may refuse: the tab just downloads again next time.
      if (cache) await cache.put(cacheKey(file.sha256), new Response(bytes as Uint8Array<ArrayBuffer>)).catch(() => undefined);
    }
    out.files[file.name] = bytes;
    before += file.bytes;
  }
  onProgress?.({ done: total, total, file: null });
  return out;
}

/** Loads verified files and checks they are the model the server announced. */
export function loadVerifiedBase(base: BaseDescriptor, files: BaseFileBytes): BaseModel {
  const loaded = loadBaseFiles(files, NUM_CLASSES);
  const got = architectureOf(loaded.model);
  const differs = (Object.keys(got) as (keyof typeof got)[]).some((k) => got[k] !== base.model[k]);
  if (differs) {
    throw new BaseFileError('config.json', `config.json describes ${JSON.stringify(got)}, but the server announced ${JSON.stringify(base.model)}`);
  }
  return loaded;
}
