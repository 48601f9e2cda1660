// Fetching a base model's files from a URL (a folder that holds config.json,
// tokenizer.json, tokenizer_config.json and model.safetensors, as a Hugging
// Face repository does), each one size-limited.
import { BaseFileError, type BaseFileBytes } from '../../web/src/basemodel/load.ts';
import { BASE_FILE_NAMES, REQUIRED_BASE_FILES, type BaseFileName } from '../../web/src/protocol/base.ts';

export type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** Where the files are: the URL itself, or, for a Hugging Face repository page, its main branch's files. */
export function baseFolderUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new BaseFileError(null, `"${raw}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BaseFileError(null, `only http and https URLs can be fetched, not ${u.protocol}`);
  u.search = '';
  u.hash = '';
  let path = u.pathname.replace(/\/+$/, '');
  if (/(^|\.)huggingface\.co$/.test(u.hostname) && /^\/[^/]+\/[^/]+$/.test(path)) path += '/resolve/main';
  u.pathname = path;
  return u.toString().replace(/\/+$/, '');
}

/** "https://huggingface.co/openai-community/gpt2/resolve/main" -> "openai-community/gpt2"; else the last path segment or the host. */
export function labelFromUrl(folder: string): string {
  const u = new URL(folder);
  const parts = u.pathname.split('/').filter(Boolean);
  const resolve = parts.indexOf('resolve');
  if (resolve >= 2) return parts.slice(resolve - 2, resolve).join('/');
  return parts.at(-1) ?? u.hostname;
}

export function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MiB`;
}

/** A response body as bytes, refused as soon as it passes maxBytes. */
export async function readLimited(res: Response, name: BaseFileName, maxBytes: number): Promise<Uint8Array> {
  const announced = Number(res.headers.get('content-length'));
  if (Number.isFinite(announced) && announced > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new BaseFileError(name, `${name} is ${mib(announced)}, over the ${mib(maxBytes)} limit for one file`);
  }
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BaseFileError(name, `${name} is over the ${mib(maxBytes)} limit for one file`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Downloads every file of the base at folder; tokenizer_config.json may be missing (HTTP 404). */
export async function fetchBaseFolder(folder: string, opts: { fetch: Fetch; maxFileBytes: number; timeoutMs: number }): Promise<BaseFileBytes> {
  const files: BaseFileBytes = {};
  for (const name of BASE_FILE_NAMES) {
    const url = `${folder}/${name}`;
    let res: Response;
    try {
      res = await opts.fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(opts.timeoutMs) });
    } catch (e) {
      const why = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
      throw new BaseFileError(name, `could not download ${name} from ${url}: ${why}`);
    }
    if (res.status === 404 && !REQUIRED_BASE_FILES.includes(name)) {
      await res.body?.cancel().catch(() => undefined);
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new BaseFileError(name, `could not download ${name} from ${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    }
    try {
      files[name] = await readLimited(res, name, opts.maxFileBytes);
    } catch (e) {
      if (e instanceof BaseFileError) throw e;
      throw new BaseFileError(name, `the download of ${name} from ${url} broke off: ${(e as Error).message}`);
    }
  }
  return files;
}
