// HTTP face of the model registry:
//   GET    /api/models                              registered bases (and folders skipped at start)
//   POST   /api/models {url, name?}                 fetch <url>/{config.json, tokenizer.json, tokenizer_config.json, model.safetensors}, check, register
//   POST   /api/models/uploads {name?}              start an upload of files picked in the coordinator page
//   PUT    /api/models/uploads/:upload/:file        one file's bytes as the raw body (size-limited)
//   POST   /api/models/uploads/:upload/commit       check the uploaded files and register them
//   DELETE /api/models/uploads/:upload              drop an upload
//   GET    /models/:id/:file                        a registered base's file, as tabs download it
// A base that does not load is answered with HTTP 400 and an error naming the
// file, and nothing is registered.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import { BaseFileError, type BaseFileBytes } from '../../web/src/basemodel/load.ts';
import { BASE_FILE_NAMES, type BaseDescriptor, type BaseFileName } from '../../web/src/protocol/base.ts';
import { formatIssues } from '../../web/src/protocol/config.ts';
import { baseFolderUrl, fetchBaseFolder, labelFromUrl, mib, type Fetch } from './fetch.ts';
import type { ModelRegistry } from './registry.ts';

export interface ModelRoutesOptions {
  registry: ModelRegistry;
  /** How the server fetches a base by URL (tests may pass their own). */
  fetch?: Fetch;
  /** Largest file a URL or an upload may bring (default MAX_BASE_FILE_BYTES). */
  maxFileBytes?: number;
  /** Per file, for POST /api/models (default 10 minutes). */
  fetchTimeoutMs?: number;
}

/** GPT-2 small's float32 model.safetensors is 548 MB; medium (1.4 GB) is more than a tab should download anyway. */
export const MAX_BASE_FILE_BYTES = 1024 * 1024 * 1024;
/** Uploads waiting for their commit; an abandoned one is dropped after UPLOAD_TTL_MS. */
const MAX_UPLOADS = 8;
const UPLOAD_TTL_MS = 30 * 60_000;

interface Upload {
  label: string | undefined;
  files: BaseFileBytes;
  touched: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly file?: BaseFileName | null,
  ) {
    super(message);
  }
}

const addSchema = z.object({ url: z.string().min(1).max(2048), name: z.string().trim().min(1).max(80).optional() }).strict();
const uploadSchema = z.object({ name: z.string().trim().min(1).max(80).optional() }).strict();

function isFileName(name: string): name is BaseFileName {
  return (BASE_FILE_NAMES as readonly string[]).includes(name);
}

/** Express 5 passes a rejected handler's error on; these answer it as {error, file?}. */
const handle =
  (fn: (req: Request, res: Response) => Promise<void> | void): RequestHandler =>
  async (req, res, next: NextFunction) => {
    try {
      await fn(req, res);
    } catch (e) {
      if (e instanceof HttpError) res.status(e.status).json({ error: e.message, ...(e.file ? { file: e.file } : {}) });
      else if (e instanceof BaseFileError) res.status(400).json({ error: e.message, ...(e.file ? { file: e.file } : {}) });
      else next(e);
    }
  };

/** The request body as bytes, refused with 413 as soon as it passes maxBytes. */
async function readBody(req: IncomingMessage, name: BaseFileName, maxBytes: number): Promise<Uint8Array> {
  const tooBig = () => new HttpError(413, `${name} is over the ${mib(maxBytes)} limit for one file`, name);
  if (Number(req.headers['content-length']) > maxBytes) throw tooBig();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > maxBytes) throw tooBig();
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks, n));
}

export function modelRoutes(opts: ModelRoutesOptions): { api: Router; files: RequestHandler } {
  const { registry } = opts;
  const maxFileBytes = opts.maxFileBytes ?? MAX_BASE_FILE_BYTES;
  const uploads = new Map<string, Upload>();
  const api = express.Router();

  const sweep = (now: number) => {
    for (const [id, u] of uploads) if (now - u.touched > UPLOAD_TTL_MS) uploads.delete(id);
  };
  const upload = (id: string): Upload => {
    const u = uploads.get(id);
    if (!u) throw new HttpError(404, `no upload "${id}" (it was committed, dropped, or left unfinished for ${UPLOAD_TTL_MS / 60_000} minutes)`);
    u.touched = Date.now();
    return u;
  };
  const registered = (res: Response, r: { base: BaseDescriptor; added: boolean }) => {
    res.status(r.added ? 201 : 200).json(r);
  };

  api.get(
    '/',
    handle((_req, res) => {
      res.json({ bases: registry.list(), problems: registry.problems, maxFileBytes });
    }),
  );

  api.post(
    '/',
    express.json({ limit: '16kb' }),
    handle(async (req, res) => {
      const body = addSchema.safeParse(req.body);
      if (!body.success) throw new HttpError(400, `expected {url, name?}: ${formatIssues(body.error)}`);
      const folder = baseFolderUrl(body.data.url);
      const files = await fetchBaseFolder(folder, { fetch: opts.fetch ?? fetch, maxFileBytes, timeoutMs: opts.fetchTimeoutMs ?? 10 * 60_000 });
      registered(res, registry.add(files, { source: 'url', label: body.data.name ?? labelFromUrl(folder), origin: folder }));
    }),
  );

  api.post(
    '/uploads',
    express.json({ limit: '16kb' }),
    handle((req, res) => {
      const body = uploadSchema.safeParse(req.body ?? {});
      if (!body.success) throw new HttpError(400, `expected {name?}: ${formatIssues(body.error)}`);
      sweep(Date.now());
      if (uploads.size >= MAX_UPLOADS) throw new HttpError(429, `${MAX_UPLOADS} uploads are already under way; finish or drop one first`);
      const id = randomBytes(12).toString('hex');
      uploads.set(id, { label: body.data.name, files: {}, touched: Date.now() });
      res.status(201).json({ upload: id, files: BASE_FILE_NAMES, maxFileBytes });
    }),
  );

  api.put(
    '/uploads/:upload/:file',
    handle(async (req, res) => {
      const name = String(req.params.file);
      if (!isFileName(name)) throw new HttpError(400, `"${name}" is not a base model file (expected one of ${BASE_FILE_NAMES.join(', ')})`);
      const u = upload(String(req.params.upload));
      const bytes = await readBody(req, name, maxFileBytes);
      u.files[name] = bytes;
      res.json({ file: name, bytes: bytes.length });
    }),
  );

  api.post(
    '/uploads/:upload/commit',
    handle((req, res) => {
      const id = String(req.params.upload);
      const u = upload(id);
      // One chance: whatever the outcome, the upload is over (a fix means picking the files again).
      uploads.delete(id);
      const names = BASE_FILE_NAMES.filter((n) => u.files[n]);
      const label = u.label ?? 'uploaded base';
      registered(res, registry.add(u.files, { source: 'upload', label, origin: `files picked in the coordinator page (${names.join(', ')})` }));
    }),
  );

  api.delete(
    '/uploads/:upload',
    handle((req, res) => {
      uploads.delete(String(req.params.upload));
      res.status(204).end();
    }),
  );

  const files = handle((req, res) => {
    const id = String(req.params.id);
    const name = String(req.params.file);
    const f = registry.file(id, name);
    if (!f) throw new HttpError(404, `base "${id}" has no file "${name}"`);
    const sha = registry.get(id)!.files.find((x) => x.name === name)!.sha256;
    res.set({
      'Cache-Control': 'no-cache',
      ETag: `"${sha}"`,
      'Content-Type': name.endsWith('.json') ? 'application/json; charset=utf-8' : 'application/octet-stream',
    });
    if ('bytes' in f) {
      res.end(Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength));
      return;
    }
    if (f.changed) {
      throw new HttpError(409, `${name} of base "${id}" changed on disk after the server read it; restart the server to offer the new file`);
    }
    // A tab that goes away mid-download is no error of ours.
    return new Promise<void>((resolve, reject) =>
      res.sendFile(f.path, { etag: false, lastModified: false, cacheControl: false }, (err) => (err && !res.headersSent ? reject(err) : resolve())),
    );
  });

  return { api, files };
}
