// The base model in both views: what it is (name, parameters, pretrained or
// random), and, on the coordinator's page, the registered bases and the two ways
// to add one (a URL the server fetches, or files picked here and uploaded).
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { describeError } from '../client/errors.ts';
import { BASE_FILE_NAMES, REQUIRED_BASE_FILES, type BaseCatalog, type BaseDescriptor, type BaseFileName } from '../protocol/base.ts';
import { Card, ErrorNote, ProgressBar, Spinner } from './components.tsx';
import { formatBytes, formatCount } from './format.ts';

const totalBytes = (b: BaseDescriptor) => b.files.reduce((n, f) => n + f.bytes, 0);

function architecture(b: BaseDescriptor): string {
  const m = b.model;
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  return `${n(m.nLayers, 'layer')} · d ${m.dModel} · ${n(m.nHeads, 'head')} · context ${m.contextLength} · vocab ${m.vocabSize.toLocaleString('en-US')}`;
}

/** Name, kind and size of a base, in one line plus its description. */
export function BaseSummary(props: { base: BaseDescriptor | null; testId: string }) {
  const b = props.base;
  if (!b) return <div className="muted small" data-testid={props.testId} data-base="">base model not known yet</div>;
  return (
    <div className="base-summary" data-testid={props.testId} data-base={b.id} data-pretrained={b.pretrained}>
      <div>
        <strong>{b.label}</strong>{' '}
        <span className={`badge small ${b.pretrained ? 'badge-ok' : 'badge-warn'}`} data-testid={`${props.testId}-kind`}>
          {b.pretrained ? 'pretrained' : 'random init'}
        </span>{' '}
        <span className="muted small">
          {formatCount(b.params)} parameters{b.files.length ? ` · ${formatBytes(totalBytes(b))} to download` : ''}
        </span>
      </div>
      <div className="muted small">{architecture(b)}</div>
      {b.description && <div className="muted small">{b.description}</div>}
    </div>
  );
}

/** The coordinator's banner: which base the federation fine-tunes, and what that means for the numbers. */
export function BaseBanner(props: { base: BaseDescriptor | null }) {
  const b = props.base;
  if (!b) return null;
  if (b.pretrained) {
    return (
      <div className="callout callout-info banner" data-testid="base-banner" data-base={b.id}>
        <strong>Base model: {b.label}</strong> — pretrained, {formatCount(b.params)} parameters, frozen; every institution downloads it once, verifies its sha256 and
        trains only LoRA adapters on top.
      </div>
    );
  }
  return (
    <div className="callout callout-warn banner" data-testid="base-banner" data-base={b.id}>
      <strong>Base model: {b.label}</strong> — seeded random weights, not pretrained. Accuracy shows what the LoRA adapters and the classifier head learn on top of
      random features, so expect modest numbers; choose a pretrained base below for the real thing.
    </div>
  );
}

// ---- the registry, from the coordinator's page -----------------------------------------------

interface ModelsList {
  bases: BaseDescriptor[];
  problems: string[];
  maxFileBytes: number;
}

async function jsonOrError(res: Response): Promise<unknown> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: the status says it
  }
  if (!res.ok) {
    const msg = (body as { error?: unknown } | null)?.error;
    throw new Error(typeof msg === 'string' ? msg : `the server answered HTTP ${res.status}`);
  }
  return body;
}

/** GET /api/models, again whenever the federation names a base this page does not know yet. */
export function useBases(currentId: string | null): { list: ModelsList | null; error: string | null; refresh(): void; catalog: BaseCatalog | undefined } {
  const [list, setList] = useState<ModelsList | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = useCallback(() => {
    fetch('/api/models')
      .then(jsonOrError)
      .then((l) => {
        setList(l as ModelsList);
        setError(null);
      })
      .catch((e: unknown) => setError(`Could not list the base models: ${describeError(e)}`));
  }, []);
  useEffect(refresh, [refresh]);
  const known = list === null || currentId === null || currentId === 'random' || list.bases.some((b) => b.id === currentId);
  useEffect(() => {
    if (!known) refresh();
  }, [known, refresh]);
  const catalog: BaseCatalog | undefined = list ? { get: (id) => list.bases.find((b) => b.id === id), list: () => list.bases } : undefined;
  return { list, error, refresh, catalog };
}

/** PUT with upload progress (fetch cannot report it). */
function putFile(url: string, file: File, onProgress: (loaded: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status < 300) return resolve();
      let msg = `the server answered HTTP ${xhr.status}`;
      try {
        const body = JSON.parse(xhr.responseText) as { error?: unknown };
        if (typeof body.error === 'string') msg = body.error;
      } catch {
        // keep the status
      }
      reject(new Error(msg));
    };
    xhr.onerror = () => reject(new Error(`the upload of ${file.name} failed (network error)`));
    xhr.send(file);
  });
}

function postJson(url: string, body: unknown): Promise<unknown> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(jsonOrError);
}

/** Which picked files are which, or what is wrong with the pick. */
function sortPicked(files: File[]): { byName: Map<BaseFileName, File>; problem: string | null } {
  const byName = new Map<BaseFileName, File>();
  const odd: string[] = [];
  for (const f of files) {
    if ((BASE_FILE_NAMES as readonly string[]).includes(f.name)) byName.set(f.name as BaseFileName, f);
    else odd.push(f.name);
  }
  if (odd.length) return { byName, problem: `${odd.join(', ')} ${odd.length === 1 ? 'is' : 'are'} not a base model file: pick ${BASE_FILE_NAMES.join(', ')} (the last two names exactly as Hugging Face names them).` };
  const missing = REQUIRED_BASE_FILES.filter((n) => !byName.has(n));
  if (missing.length) return { byName, problem: `Missing ${missing.join(', ')}: pick config.json, tokenizer.json and model.safetensors (tokenizer_config.json too if the model has one).` };
  return { byName, problem: null };
}

type Added = { base: BaseDescriptor; added: boolean };

export function BaseModelsCard(props: { current: BaseDescriptor | null; list: ModelsList | null; listError: string | null; refresh(): void; onUse(id: string): Promise<void> }) {
  const [url, setUrl] = useState('');
  const [urlName, setUrlName] = useState('');
  const [picked, setPicked] = useState<File[]>([]);
  const [uploadName, setUploadName] = useState('');
  const [busy, setBusy] = useState<'url' | 'upload' | 'use' | null>(null);
  const [upload, setUpload] = useState<{ done: number; total: number; file: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<Added | null>(null);

  async function addUrl(e: FormEvent) {
    e.preventDefault();
    if (!url.trim()) return setError('Enter the URL of a folder that holds config.json, tokenizer.json and model.safetensors.');
    setBusy('url');
    setError(null);
    setResult(null);
    try {
      const r = (await postJson('/api/models', { url: url.trim(), ...(urlName.trim() ? { name: urlName.trim() } : {}) })) as Added;
      setResult(r);
      setUrl('');
      setUrlName('');
      props.refresh();
    } catch (err) {
      setError(`Could not add the base from that URL: ${describeError(err)}`);
    } finally {
      setBusy(null);
    }
  }

  async function addUpload(e: FormEvent) {
    e.preventDefault();
    const { byName, problem } = sortPicked(picked);
    if (problem) return setError(problem);
    setBusy('upload');
    setError(null);
    setResult(null);
    const files = [...byName.values()];
    const total = files.reduce((n, f) => n + f.size, 0);
    let id: string | null = null;
    try {
      id = ((await postJson('/api/models/uploads', uploadName.trim() ? { name: uploadName.trim() } : {})) as { upload: string }).upload;
      let before = 0;
      for (const f of files) {
        setUpload({ done: before, total, file: f.name });
        await putFile(`/api/models/uploads/${id}/${f.name}`, f, (loaded) => setUpload({ done: before + loaded, total, file: f.name }));
        before += f.size;
      }
      setUpload({ done: total, total, file: 'checking the files' });
      const r = (await postJson(`/api/models/uploads/${id}/commit`, {})) as Added;
      id = null;
      setResult(r);
      setPicked([]);
      setUploadName('');
      props.refresh();
    } catch (err) {
      setError(`Could not add the uploaded base: ${describeError(err)}`);
      if (id) void fetch(`/api/models/uploads/${id}`, { method: 'DELETE' }).catch(() => undefined);
    } finally {
      setBusy(null);
      setUpload(null);
    }
  }

  async function use(id: string) {
    setBusy('use');
    setError(null);
    try {
      await props.onUse(id);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(null);
    }
  }

  const bases = props.list?.bases ?? [];
  const limit = props.list ? formatBytes(props.list.maxFileBytes) : '';
  return (
    <Card title="Base models" className="span-3" testId="base-models" aside={<span className="muted small">{bases.length + 1} available</span>}>
      <div className="table-wrap">
        <table className="table" data-testid="bases-table">
          <thead>
            <tr>
              <th>Base</th>
              <th>Kind</th>
              <th className="num">Parameters</th>
              <th>Architecture</th>
              <th className="num">Download</th>
              <th />
            </tr>
          </thead>
          <tbody>
            <tr data-testid="base-row" data-base="random">
              <td>
                <strong>random (seeded)</strong> <span className="muted small">the config's preset, built in every tab from modelSeed</span>
              </td>
              <td>
                <span className="badge small badge-warn">random init</span>
              </td>
              <td className="num">–</td>
              <td className="muted small">tiny or small preset</td>
              <td className="num">nothing</td>
              <td>{props.current?.id === 'random' ? <span className="badge small badge-ok">in use</span> : <UseButton id="random" busy={busy !== null} onUse={use} />}</td>
            </tr>
            {bases.map((b) => (
              <tr key={b.id} data-testid="base-row" data-base={b.id}>
                <td>
                  <strong>{b.label}</strong> <code className="small">{b.id}</code>
                  <div className="muted small">{b.description}</div>
                </td>
                <td>
                  <span className="badge small badge-ok">pretrained</span> <span className="muted small">{b.source}</span>
                </td>
                <td className="num">{formatCount(b.params)}</td>
                <td className="muted small">{architecture(b)}</td>
                <td className="num">{formatBytes(totalBytes(b))}</td>
                <td>{props.current?.id === b.id ? <span className="badge small badge-ok">in use</span> : <UseButton id={b.id} busy={busy !== null} onUse={use} />}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {props.list && props.list.problems.length > 0 && (
        <details className="small muted" data-testid="base-problems">
          <summary>{props.list.problems.length} folder(s) in the models directory were skipped</summary>
          <ul>
            {props.list.problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </details>
      )}
      <ErrorNote message={props.listError} testId="bases-error" />
      <div className="add-forms">
        <form className="add-form" data-testid="add-url-form" onSubmit={(e) => void addUrl(e)}>
          <h3>Add from a URL</h3>
          <p className="muted small">
            A folder with <code>config.json</code>, <code>tokenizer.json</code>, <code>tokenizer_config.json</code> (optional) and <code>model.safetensors</code> of a
            GPT-2-architecture model, e.g. a Hugging Face repository. The server downloads and checks it; every tab then downloads it from this server.
          </p>
          <label className="field">
            <span>URL</span>
            <input type="url" data-testid="add-url" placeholder="https://huggingface.co/owner/model" value={url} disabled={busy !== null} onChange={(e) => setUrl(e.target.value)} />
          </label>
          <label className="field">
            <span>Name (optional)</span>
            <input type="text" data-testid="add-url-name" maxLength={80} value={urlName} disabled={busy !== null} onChange={(e) => setUrlName(e.target.value)} />
          </label>
          <div className="buttons">
            <button type="submit" className="btn btn-primary" data-testid="add-url-button" disabled={busy !== null}>
              {busy === 'url' ? <Spinner /> : null} Add base from URL
            </button>
            {busy === 'url' && <span className="muted small">the server is downloading and checking the files…</span>}
          </div>
        </form>
        <form className="add-form" data-testid="upload-form" onSubmit={(e) => void addUpload(e)}>
          <h3>Upload files</h3>
          <p className="muted small">
            Pick the same files from this computer{limit ? ` (at most ${limit} each)` : ''}. They go to this server, which checks them before any tab uses them.
          </p>
          <label className="field">
            <span>Files</span>
            <input
              type="file"
              multiple
              accept=".json,.safetensors"
              data-testid="upload-files"
              disabled={busy !== null}
              onChange={(e) => {
                setPicked([...(e.target.files ?? [])]);
                setError(null);
              }}
            />
            {picked.length > 0 && <small>{picked.map((f) => `${f.name} (${formatBytes(f.size)})`).join(', ')}</small>}
          </label>
          <label className="field">
            <span>Name (optional)</span>
            <input type="text" data-testid="upload-name" maxLength={80} value={uploadName} disabled={busy !== null} onChange={(e) => setUploadName(e.target.value)} />
          </label>
          {upload && (
            <ProgressBar
              testId="upload-progress"
              value={upload.done}
              max={upload.total}
              label={
                <>
                  <span>{upload.file}</span>
                  <span className="muted">
                    {formatBytes(upload.done)} of {formatBytes(upload.total)}
                  </span>
                </>
              }
            />
          )}
          <div className="buttons">
            <button type="submit" className="btn btn-primary" data-testid="upload-button" disabled={busy !== null || picked.length === 0}>
              {busy === 'upload' ? <Spinner /> : null} Upload and add
            </button>
          </div>
        </form>
      </div>
      <ErrorNote message={error} testId="add-base-error" />
      {result && (
        <div className="callout callout-info" data-testid="add-base-result">
          {result.added ? 'Added' : 'Already registered:'} <strong>{result.base.label}</strong> (<code>{result.base.id}</code>, {formatCount(result.base.params)} parameters).{' '}
          {props.current?.id !== result.base.id && (
            <button type="button" className="btn" data-testid="use-added-base" disabled={busy !== null} onClick={() => void use(result.base.id)}>
              Federate over it
            </button>
          )}
        </div>
      )}
    </Card>
  );
}

function UseButton(props: { id: string; busy: boolean; onUse(id: string): Promise<void> }) {
  return (
    <button type="button" className="btn btn-small" data-testid={`use-base-${props.id}`} disabled={props.busy} onClick={() => void props.onUse(props.id)} title="Start a new federation over this base">
      Use
    </button>
  );
}
