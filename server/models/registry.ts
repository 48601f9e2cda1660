// The base models this server offers: the shipped ones (public/models/<id>/,
// read only) and those added while it runs, by URL or by upload (kept in a
// cache dir outside git, or in memory). A base is loaded and checked with
// loadBaseFiles before it is listed, and each file's size and sha256 go into
// the descriptor that tabs verify their downloads against.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BaseFileError, loadBaseFiles, type BaseFileBytes } from '../../web/src/basemodel/load.ts';
import { NUM_CLASSES } from '../../web/src/data/synthetic.ts';
import { baseParameterCount } from '../../web/src/model/config.ts';
import {
  architectureOf,
  BASE_FILE_NAMES,
  baseIdSchema,
  RANDOM_BASE,
  REQUIRED_BASE_FILES,
  type BaseCatalog,
  type BaseDescriptor,
  type BaseFileName,
} from '../../web/src/protocol/base.ts';

export interface RegistryOptions {
  /** Shipped bases, one folder per id with the Hugging Face files (read only). */
  dir: string;
  /** Where added bases are stored, one folder per id; null keeps them in memory until the server stops. */
  cacheDir: string | null;
}

/** What the person adding a base says about it. */
export interface AddedMeta {
  source: 'url' | 'upload';
  /** A short name; the id is made from it and the weights' sha256. */
  label: string;
  /** Where it came from, for the description (the URL, or the picked file names). */
  origin: string;
}

interface Entry {
  descriptor: BaseDescriptor;
  /** The folder holding the files, or the bytes themselves for a base kept in memory. */
  dir: string | null;
  bytes: BaseFileBytes | null;
  /** name -> size and mtime when hashed (files on disk only). */
  stamps: Map<string, string>;
}

/** A file on disk as it was when hashed: a later change makes the descriptor's sha256 wrong. */
const stamp = (path: string): string => {
  const s = statSync(path);
  return `${s.size}:${s.mtimeMs}`;
};

export type ServedFile = { path: string; changed: boolean } | { bytes: Uint8Array };

/** The URL every tab downloads a file from (served by server/models/routes.ts). */
export const fileUrl = (id: string, name: BaseFileName): string => `/models/${id}/${name}`;

const META_FILE = 'base.json';

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A copy that owns its memory: a Buffer read from disk may sit at an unaligned offset of a shared pool. */
const own = (buf: Uint8Array): Uint8Array => new Uint8Array(buf);

/** "GPT-2 (small), from hf!" -> "gpt-2-small-from-hf" */
export function slug(label: string): string {
  return (
    label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40)
      .replace(/-+$/, '') || 'base'
  );
}

export class ModelRegistry implements BaseCatalog {
  /** Folders that were skipped at start, and why. */
  readonly problems: string[] = [];
  private readonly entries = new Map<string, Entry>();

  private constructor(private readonly opts: RegistryOptions) {}

  /** Scans opts.dir (shipped bases) and opts.cacheDir (bases added earlier). Synchronous: it runs once at start. */
  static open(opts: RegistryOptions): ModelRegistry {
    const r = new ModelRegistry(opts);
    r.scan(opts.dir, 'shipped');
    if (opts.cacheDir) r.scan(opts.cacheDir, 'added');
    return r;
  }

  get(id: string): BaseDescriptor | undefined {
    return this.entries.get(id)?.descriptor;
  }

  list(): BaseDescriptor[] {
    return [...this.entries.values()].map((e) => e.descriptor);
  }

  /**
   * Where a served file lives: a path on disk (changed: it is no longer the
   * file that was hashed), or its bytes; null when there is no such file.
   */
  file(id: string, name: string): ServedFile | null {
    const e = this.entries.get(id);
    const f = e?.descriptor.files.find((x) => x.name === name);
    if (!e || !f) return null;
    if (e.bytes) return { bytes: e.bytes[f.name]! };
    const path = join(e.dir!, f.name);
    let changed = true;
    try {
      changed = stamp(path) !== e.stamps.get(f.name);
    } catch {
      // gone: changed
    }
    return { path, changed };
  }

  /**
   * Checks a base's files and registers them. Throws BaseFileError, naming the
   * file, and registers nothing when they do not load. The same files added
   * twice give the same base (added: false the second time).
   */
  add(files: BaseFileBytes, meta: AddedMeta): { base: BaseDescriptor; added: boolean } {
    const loaded = loadBaseFiles(files, NUM_CLASSES);
    const weightsSha = sha256(files['model.safetensors']!);
    const id = `${slug(meta.label)}-${weightsSha.slice(0, 8)}`;
    const existing = this.get(id);
    if (existing && existing.files.every((f) => files[f.name] && sha256(files[f.name]!) === f.sha256)) return { base: existing, added: false };
    const descriptor = this.describe(id, files, {
      label: meta.label,
      description: `${meta.source === 'url' ? 'downloaded from' : 'uploaded from'} ${meta.origin}`.slice(0, 500),
      source: meta.source,
      params: baseParameterCount(loaded.model),
      model: architectureOf(loaded.model),
    });
    if (this.opts.cacheDir) {
      const dir = join(this.opts.cacheDir, id);
      const tmp = join(this.opts.cacheDir, `.${id}.${randomBytes(4).toString('hex')}.tmp`);
      mkdirSync(tmp, { recursive: true });
      for (const f of descriptor.files) writeFileSync(join(tmp, f.name), files[f.name]!);
      writeFileSync(join(tmp, META_FILE), JSON.stringify({ label: meta.label, description: descriptor.description, source: meta.source, addedAt: new Date().toISOString() }, null, 2) + '\n');
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
      this.entries.set(id, { descriptor, dir, bytes: null, stamps: stamps(dir, descriptor) });
    } else {
      this.entries.set(id, { descriptor, dir: null, bytes: Object.fromEntries(descriptor.files.map((f) => [f.name, files[f.name]!])), stamps: new Map() });
    }
    return { base: descriptor, added: true };
  }

  // ---- scanning ------------------------------------------------------------------

  private scan(root: string, kind: 'shipped' | 'added'): void {
    if (!existsSync(root)) return;
    for (const d of readdirSync(root, { withFileTypes: true })) {
      if (!d.isDirectory() || d.name.startsWith('.')) continue;
      const where = relative(process.cwd(), join(root, d.name)) || join(root, d.name);
      try {
        this.scanOne(join(root, d.name), d.name, kind);
      } catch (e) {
        this.problems.push(`${where}: ${(e as Error).message}; skipped`);
      }
    }
  }

  private scanOne(dir: string, id: string, kind: 'shipped' | 'added'): void {
    if (!baseIdSchema.safeParse(id).success || id === RANDOM_BASE) {
      throw new Error(`"${id}" cannot name a base (use 1-64 lowercase letters, digits, ".", "_" or "-"; not "${RANDOM_BASE}")`);
    }
    if (this.entries.has(id)) throw new Error(`a base named "${id}" is already registered`);
    const missing = REQUIRED_BASE_FILES.filter((f) => !existsSync(join(dir, f)));
    if (missing.length) throw new Error(`no ${missing.join(', ')} (a base needs ${REQUIRED_BASE_FILES.join(', ')})`);
    const files: BaseFileBytes = {};
    const before = new Map<string, string>();
    for (const name of BASE_FILE_NAMES) {
      if (!existsSync(join(dir, name))) continue;
      before.set(name, stamp(join(dir, name)));
      files[name] = own(readFileSync(join(dir, name)));
    }
    const loaded = loadBaseFiles(files, NUM_CLASSES);
    if (kind === 'shipped') checkTrainingRecord(dir, files);
    const meta = kind === 'added' ? readJson(join(dir, META_FILE)) : null;
    const descriptor = this.describe(id, files, {
      label: typeof meta?.label === 'string' ? meta.label : id,
      description: kind === 'shipped' ? shippedDescription(dir) : typeof meta?.description === 'string' ? meta.description : 'added earlier',
      source: kind === 'shipped' ? 'shipped' : meta?.source === 'upload' ? 'upload' : 'url',
      params: baseParameterCount(loaded.model),
      model: architectureOf(loaded.model),
    });
    this.entries.set(id, { descriptor, dir, bytes: null, stamps: before });
  }

  private describe(id: string, files: BaseFileBytes, d: Pick<BaseDescriptor, 'label' | 'description' | 'source' | 'params' | 'model'>): BaseDescriptor {
    return {
      id,
      label: d.label.slice(0, 200) || id,
      description: d.description.slice(0, 500),
      pretrained: true,
      source: d.source,
      params: d.params,
      model: d.model,
      files: BASE_FILE_NAMES.filter((n) => files[n]).map((name) => ({ name, url: fileUrl(id, name), bytes: files[name]!.length, sha256: sha256(files[name]!) })),
    };
  }
}

function stamps(dir: string, d: BaseDescriptor): Map<string, string> {
  return new Map(d.files.map((f) => [f.name, stamp(join(dir, f.name))]));
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The training.json of npm run pretrain records the weights' size and sha256: a shipped file that differs is not the trained one. */
function checkTrainingRecord(dir: string, files: BaseFileBytes): void {
  const record = (readJson(join(dir, 'training.json'))?.files as Record<string, { bytes?: unknown; sha256?: unknown }> | undefined)?.['model.safetensors'];
  const weights = files['model.safetensors']!;
  if (!record) return;
  if ((typeof record.bytes === 'number' && record.bytes !== weights.length) || (typeof record.sha256 === 'string' && record.sha256 !== sha256(weights))) {
    throw new Error(`model.safetensors is not the file training.json records (${record.bytes} bytes, sha256 ${String(record.sha256).slice(0, 12)}…); it may be damaged or from another run`);
  }
}

/** One line from the training.json that npm run pretrain writes beside a shipped base. */
function shippedDescription(dir: string): string {
  const t = readJson(join(dir, 'training.json'));
  const corpus = (t?.corpus as { name?: unknown } | undefined)?.name;
  const steps = (t?.training as { steps?: unknown } | undefined)?.steps;
  const ppl = (t?.validation as { perplexity?: unknown } | undefined)?.perplexity;
  if (typeof corpus !== 'string') return 'a GPT-2-architecture checkpoint shipped with tabfed';
  const parts = [`pretrained on the ${corpus}`];
  if (typeof steps === 'number') parts.push(`${steps} steps`);
  if (typeof ppl === 'number') parts.push(`validation perplexity ${ppl}`);
  return `${parts.join(', ')} (npm run pretrain)`;
}

export { BaseFileError };
