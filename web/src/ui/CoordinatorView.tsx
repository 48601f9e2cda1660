// The coordinator's page: watch the federation, configure it, start/pause/reset it.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { describeCode, describeError } from '../client/errors.ts';
import { request, socket } from '../client/socket.ts';
import { LABELS } from '../data/synthetic.ts';
import { mergeConfig, type FederationConfig } from '../protocol/config.ts';
import type { BaseCatalog, BaseDescriptor } from '../protocol/base.ts';
import type { ControlMsg, Phase, Status } from '../protocol/messages.ts';
import { BaseBanner, BaseModelsCard, BaseSummary, useBases } from './BaseModels.tsx';
import { BytesChart, COLORS, MiniBars, RoundLineChart, type Row } from './charts.tsx';
import { Card, ErrorNote, ProgressBar, Spinner, Stat, useNow } from './components.tsx';
import { ago, formatBytes, formatCount, parseActivity, pct } from './format.ts';

declare global {
  interface Window {
    tabfedCoordinator?: { status(): Status | null; connected(): boolean };
  }
}

const WATCH_TIMEOUT_MS = 10_000;
const CONTROL_TIMEOUT_MS = 15_000;

function phaseWords(s: Status): string {
  const ready = s.clients.filter((c) => c.ready).length;
  switch (s.phase) {
    case 'idle':
      return `Idle: press Start to begin (${ready} institution${ready === 1 ? '' : 's'} ready, ${s.config.minClients} needed).`;
    case 'waiting':
      return `Waiting for institutions: ${ready} ready, at least ${s.config.minClients} needed.`;
    case 'training':
      return `Round ${s.round}: the selected institutions are training locally.`;
    case 'evaluating':
      return `Round ${s.round}: the institutions are measuring the new global adapter.`;
    case 'done':
      return `Finished all ${s.config.rounds} rounds.`;
  }
}

export function CoordinatorView() {
  const [status, setStatus] = useState<Status | null>(null);
  const [connected, setConnected] = useState(socket.connected);
  const [feedError, setFeedError] = useState<string | null>(null);
  const latest = useRef<{ status: Status | null; connected: boolean }>({ status: null, connected: false });
  latest.current = { status, connected };

  useEffect(() => {
    function onStatus(s: Status) {
      setStatus(s);
    }
    function onConnect() {
      setConnected(true);
      setFeedError(null);
      request('watch', [], WATCH_TIMEOUT_MS)
        .then(setStatus)
        .catch((e: unknown) => setFeedError(`Could not subscribe to the federation’s status: ${describeError(e)}`));
    }
    function onDisconnect() {
      setConnected(false);
    }
    function onConnectError(e: Error) {
      setFeedError(`Cannot reach the server (${e.message}); retrying…`);
    }
    socket.on('status', onStatus);
    socket.on('connect', onConnect);
    socket.on('disconnect', onDisconnect);
    socket.on('connect_error', onConnectError);
    if (socket.connected) onConnect();
    else socket.connect();
    window.tabfedCoordinator = { status: () => latest.current.status, connected: () => latest.current.connected };
    return () => {
      socket.off('status', onStatus);
      socket.off('connect', onConnect);
      socket.off('disconnect', onDisconnect);
      socket.off('connect_error', onConnectError);
    };
  }, []);

  const bases = useBases(status?.base.id ?? null);

  async function switchBase(id: string) {
    const ack = await request('control', [{ action: 'configure', config: { base: id } }], CONTROL_TIMEOUT_MS);
    if (ack.status) setStatus(ack.status);
    if (!ack.ok) throw new Error(`The server did not switch to that base: ${plainConfigIssues(ack.error)}`);
  }

  return (
    <div className="page">
      <BaseBanner base={status?.base ?? null} />
      <Overview status={status} connected={connected} />
      <ErrorNote message={feedError} testId="feed-error" />
      <div className="grid">
        <Controls status={status} onStatus={setStatus} />
        <ConfigForm status={status} onStatus={setStatus} bases={bases.list?.bases ?? null} catalog={bases.catalog} />
        <ClientsTable status={status} />
        <Charts status={status} />
        <BaseModelsCard current={status?.base ?? null} list={bases.list} listError={bases.error} refresh={bases.refresh} onUse={switchBase} />
      </div>
    </div>
  );
}

function Overview({ status, connected }: { status: Status | null; connected: boolean }) {
  const last = status?.history.length ? status.history[status.history.length - 1] : null;
  const traffic = status?.history.reduce((n, r) => n + r.bytesUp + r.bytesDown, 0) ?? 0;
  const phase: Phase | null = status?.phase ?? null;
  return (
    <section className="card statusbar">
      <div className="statusbar-main">
        <div>
          <div className="eyebrow">Coordinator</div>
          <h1 className="title">
            Federation <code data-testid="fed-id">{status?.federation ?? '…'}</code>
          </h1>
          <div className="statusline">
            <span className={`phase phase-${phase ?? 'connecting'}`} data-testid="fed-phase" data-phase={phase ?? ''}>
              {phase ?? (connected ? 'loading' : 'connecting')}
            </span>
            {status?.running && status.phase !== 'done' && <span className="badge badge-ok small">running</span>}
            {status && !status.running && status.phase !== 'done' && <span className="badge small">paused</span>}
            <span data-testid="fed-phase-text">{status ? phaseWords(status) : connected ? 'Loading the federation’s status…' : 'Connecting to the server…'}</span>
          </div>
          {status?.message && (
            <div className="muted small" data-testid="fed-message">
              {status.message}
            </div>
          )}
          {status && <BaseSummary base={status.base} testId="fed-base" />}
        </div>
        <div className="statusbar-right stats">
          <Stat
            label={status ? `of ${status.config.rounds} rounds` : 'round'}
            value={
              <span data-testid="fed-round" data-round={status?.round ?? 0}>
                {status?.round ?? 0}
              </span>
            }
          />
          <Stat label="institutions ready" value={status ? `${status.clients.filter((c) => c.ready).length}/${status.clients.length}` : '–'} />
          <Stat label="global accuracy" value={last ? pct(last.metrics.accuracy) : '–'} testId="fed-accuracy" />
          <Stat label="adapter size" value={status ? formatBytes(status.adapterBytes) : '–'} />
          <Stat label="traffic so far" value={formatBytes(traffic)} />
          <span className={`conn ${connected ? 'conn-on' : 'conn-off'}`} data-testid="connection">
            {connected ? 'connected' : 'offline'}
          </span>
        </div>
      </div>
      {status && <ProgressBar small value={Math.min(status.round, status.config.rounds)} max={status.config.rounds} testId="fed-progress" />}
    </section>
  );
}

function Controls({ status, onStatus }: { status: Status | null; onStatus: (s: Status) => void }) {
  const [pending, setPending] = useState<ControlMsg['action'] | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function send(action: ControlMsg['action']) {
    setPending(action);
    setError(null);
    try {
      const ack = await request('control', [{ action }], CONTROL_TIMEOUT_MS);
      if (ack.status) onStatus(ack.status);
      if (!ack.ok) setError(`Could not ${action}: ${describeCode(ack.code, ack.error)}`);
    } catch (e) {
      setError(`Could not ${action}: ${describeError(e)}`);
    } finally {
      setPending(null);
    }
  }

  const running = status?.running ?? false;
  return (
    <Card title="Run" className="controls">
      <div className="buttons">
        <button type="button" className={running ? 'btn' : 'btn btn-primary'} data-testid="start-button" disabled={pending !== null} onClick={() => void send('start')}>
          {pending === 'start' ? <Spinner /> : '▶'} Start
        </button>
        <button type="button" className={running ? 'btn btn-primary' : 'btn'} data-testid="pause-button" disabled={pending !== null} onClick={() => void send('pause')}>
          {pending === 'pause' ? <Spinner /> : '❚❚'} Pause
        </button>
        <button type="button" className="btn btn-danger" data-testid="reset-button" disabled={pending !== null} onClick={() => void send('reset')}>
          {pending === 'reset' ? <Spinner /> : '↺'} Reset
        </button>
      </div>
      <p className="muted small">
        Start runs rounds until {status ? status.config.rounds : 'the configured number of'} rounds are done; Pause drops the round in progress (Start runs it again); Reset starts a new
        federation from a fresh adapter (the tabs rebuild and rejoin by themselves).
      </p>
      <ErrorNote message={error} testId="control-error" />
    </Card>
  );
}

type FieldKey = 'rounds' | 'localSteps' | 'learningRate' | 'rank' | 'fractionFit' | 'dirichletAlpha' | 'minClients' | 'batchSize';
const FIELDS: { key: FieldKey; label: string; hint: string; step: string; min: number; max: number }[] = [
  { key: 'rounds', label: 'Rounds', hint: 'how many federated rounds to run', step: '1', min: 1, max: 1000 },
  { key: 'localSteps', label: 'Local steps', hint: 'optimizer steps each institution takes per round', step: '1', min: 1, max: 10000 },
  { key: 'learningRate', label: 'Learning rate', hint: 'Adam step size for the adapter', step: 'any', min: 0, max: 1 },
  { key: 'batchSize', label: 'Batch size', hint: 'examples per local step', step: '1', min: 1, max: 256 },
  { key: 'rank', label: 'LoRA rank', hint: 'width of the low-rank update: bigger = more to learn and to send', step: '1', min: 1, max: 64 },
  { key: 'fractionFit', label: 'Clients per round', hint: 'fraction of ready institutions asked to train each round (0–1)', step: 'any', min: 0, max: 1 },
  { key: 'minClients', label: 'Min clients', hint: 'institutions needed before a round starts', step: '1', min: 1, max: 256 },
  { key: 'dirichletAlpha', label: 'Label skew α', hint: 'Dirichlet α of the label split: small = very non-IID', step: 'any', min: 0, max: 1000 },
];

function fieldValue(c: FederationConfig, k: FieldKey): number {
  return k === 'rank' ? c.lora.rank : c[k];
}

/** "lora.rank: Too big: expected number to be <=64" -> "LoRA rank must be at most 64". */
function plainConfigIssues(text: string): string {
  const label = (path: string) => FIELDS.find((f) => f.key === path || `lora.${f.key}` === path)?.label ?? path;
  return text
    .replace(/^invalid config: /, '')
    .split('; ')
    .map((issue) => {
      const m = /^([\w.]+): (.*)$/.exec(issue);
      if (!m) return issue;
      const why = m[2]
        .replace(/^Too big: expected number to be <=\s*(\S+)$/, 'must be at most $1')
        .replace(/^Too big: expected number to be <\s*(\S+)$/, 'must be less than $1')
        .replace(/^Too small: expected number to be >=\s*(\S+)$/, 'must be at least $1')
        .replace(/^Too small: expected number to be >\s*(\S+)$/, 'must be greater than $1')
        .replace(/^Invalid input: expected int, received number$/, 'must be a whole number');
      return `${label(m[1])} ${why}`;
    })
    .join('; ');
}

type DraftKey = FieldKey | 'preset' | 'base';

function ConfigForm(props: { status: Status | null; onStatus: (s: Status) => void; bases: BaseDescriptor[] | null; catalog: BaseCatalog | undefined }) {
  const { status, onStatus } = props;
  // null = not being edited: the fields follow the server's config.
  const [draft, setDraft] = useState<Record<DraftKey, string> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const [saved, setSaved] = useState(false);
  const config = status?.config ?? null;

  const current = (k: DraftKey): string => {
    if (draft) return draft[k];
    if (!config) return '';
    return k === 'preset' ? config.preset : k === 'base' ? config.base : String(fieldValue(config, k));
  };

  function edit(k: DraftKey, v: string) {
    if (!config) return;
    setSaved(false);
    setDraft((d) => {
      const base =
        d ??
        (Object.fromEntries([...FIELDS.map((f) => [f.key, String(fieldValue(config, f.key))]), ['preset', config.preset], ['base', config.base]]) as Record<DraftKey, string>);
      return { ...base, [k]: v };
    });
  }

  function discard() {
    setDraft(null);
    setError(null);
  }

  async function apply(e: FormEvent) {
    e.preventDefault();
    if (!config || !draft) return;
    setError(null);
    const num = (k: FieldKey) => Number(draft[k]);
    const bad = FIELDS.filter((f) => draft[f.key].trim() === '' || !Number.isFinite(num(f.key)));
    if (bad.length) {
      setError(`Please enter a number for ${bad.map((f) => f.label).join(', ')}.`);
      return;
    }
    const patch = {
      rounds: num('rounds'),
      localSteps: num('localSteps'),
      learningRate: num('learningRate'),
      batchSize: num('batchSize'),
      fractionFit: num('fractionFit'),
      minClients: num('minClients'),
      dirichletAlpha: num('dirichletAlpha'),
      base: draft.base,
      preset: draft.preset as FederationConfig['preset'],
      lora: { ...config.lora, rank: num('rank') },
    };
    try {
      mergeConfig(config, patch, props.catalog);
    } catch (err) {
      setError(`These settings are not valid: ${plainConfigIssues(describeError(err))}`);
      return;
    }
    setPending(true);
    try {
      const ack = await request('control', [{ action: 'configure', config: patch }], CONTROL_TIMEOUT_MS);
      if (ack.status) onStatus(ack.status);
      if (ack.ok) {
        setDraft(null);
        setSaved(true);
      } else setError(`The server did not accept the settings: ${describeCode(ack.code, ack.error)}`);
    } catch (err) {
      setError(`Could not apply the settings: ${describeError(err)}`);
    } finally {
      setPending(false);
    }
  }

  return (
    <Card title="Configuration" className="span-2" aside={draft ? <span className="badge badge-warn small">unsaved changes</span> : saved ? <span className="badge badge-ok small">applied</span> : null}>
      <form className="config-form" data-testid="config-form" noValidate onSubmit={(e) => void apply(e)}>
        <div className="fields">
          {FIELDS.map((f) => (
            <label key={f.key} className="field" title={f.hint}>
              <span>{f.label}</span>
              <input
                type="number"
                inputMode="decimal"
                step={f.step}
                min={f.min}
                max={f.max}
                name={f.key}
                data-testid={`cfg-${f.key}`}
                value={current(f.key)}
                disabled={!config || pending}
                onChange={(e) => edit(f.key, e.target.value)}
              />
              <small>{f.hint}</small>
            </label>
          ))}
          <label className="field field-wide" title="the frozen model every institution fine-tunes">
            <span>Base model</span>
            <select name="base" data-testid="cfg-base" value={current('base')} disabled={!config || pending} onChange={(e) => edit('base', e.target.value)}>
              <option value="random">random (seeded, the preset below)</option>
              {(props.bases ?? []).map((b) => (
                <option key={b.id} value={b.id}>
                  {b.label} (pretrained, {formatCount(b.params)} parameters)
                </option>
              ))}
              {config && config.base !== 'random' && !(props.bases ?? []).some((b) => b.id === config.base) && <option value={config.base}>{config.base}</option>}
            </select>
            <small>every institution downloads, verifies and fine-tunes this one; add more below</small>
          </label>
          <label className="field" title="architecture of the random base">
            <span>Model preset</span>
            <select name="preset" data-testid="cfg-preset" value={current('preset')} disabled={!config || pending || current('base') !== 'random'} onChange={(e) => edit('preset', e.target.value)}>
              <option value="tiny">tiny (fast, for tests)</option>
              <option value="small">small (~2 M parameters)</option>
            </select>
            <small>{current('base') === 'random' ? 'architecture of the random base' : 'ignored: the base’s config.json fixes the architecture'}</small>
          </label>
        </div>
        <div className="buttons">
          <button type="submit" className="btn btn-primary" data-testid="apply-config" disabled={!draft || pending}>
            {pending ? <Spinner /> : null} Apply settings
          </button>
          <button type="button" className="btn" data-testid="discard-config" disabled={!draft || pending} onClick={discard}>
            Discard
          </button>
          <span className="muted small">Applying settings starts a new federation: every tab rebuilds its model and data shard.</span>
        </div>
        <ErrorNote message={error} testId="config-error" />
      </form>
    </Card>
  );
}

function ClientsTable({ status }: { status: Status | null }) {
  const now = useNow(1000);
  const clients = status ? [...status.clients].sort((a, b) => a.shard - b.shard || a.name.localeCompare(b.name)) : [];
  return (
    <Card title="Institutions" className="span-2" aside={<span className="muted small">{clients.length} connected</span>}>
      <div className="table-wrap">
        <table className="table" data-testid="clients-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Shard</th>
              <th>Backend</th>
              <th className="num">Examples</th>
              <th>Labels</th>
              <th>Activity</th>
              <th>Last seen</th>
            </tr>
          </thead>
          <tbody>
            {clients.length === 0 && (
              <tr>
                <td colSpan={7} className="empty">
                  No institutions yet. Open <a href="/" target="_blank" rel="noopener">the client page</a> in a few tabs (add <code>?shard=0</code>, <code>?name=Clinic A</code> to choose).
                </td>
              </tr>
            )}
            {clients.map((c) => {
              const act = parseActivity(c.activity);
              return (
                <tr key={c.id} data-testid="client-row" data-client-id={c.id} data-ready={c.ready}>
                  <td>
                    <span className={`dot ${c.ready ? 'dot-on' : 'dot-off'}`} title={c.ready ? 'ready' : 'not ready yet'} /> {c.name}
                  </td>
                  <td>{c.shard}</td>
                  <td title={c.adapterInfo}>{c.backend ? <span className="badge small">{c.backend}</span> : <span className="muted">–</span>}</td>
                  <td className="num">{c.numExamples ? c.numExamples.toLocaleString('en-US') : '–'}</td>
                  <td>{c.labelCounts.length ? <MiniBars counts={c.labelCounts} labels={LABELS} /> : <span className="muted">–</span>}</td>
                  <td className="activity">
                    {act ? (
                      <ProgressBar small value={act.done} max={act.total} testId="client-progress" label={<span className="small">{c.activity}</span>} />
                    ) : (
                      <span className={`small ${!c.ready && c.activity.startsWith('cannot take part') ? 'activity-error' : ''}`} data-testid="client-activity">
                        {c.activity || (c.ready ? 'idle' : 'loading')}
                      </span>
                    )}
                  </td>
                  <td className="muted small" data-testid="client-last-seen">
                    {ago(c.lastSeen, now)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Card>
  );
}

function Charts({ status }: { status: Status | null }) {
  const history = status ? [...status.history].sort((a, b) => a.round - b.round) : [];
  const acc: Row[] = history.map((r) => ({ round: r.round, accuracy: r.metrics.accuracy, macroF1: r.metrics.macroF1 }));
  const loss: Row[] = history.map((r) => ({ round: r.round, loss: r.metrics.loss, trainLoss: r.trainLoss }));
  const lvg: Row[] = history.map((r) => ({ round: r.round, global: r.metrics.accuracy, local: r.localMetrics?.accuracy ?? null }));
  const bytes = history.map((r) => ({ round: r.round, up: r.bytesUp, down: r.bytesDown }));
  const empty = 'Appears after the first evaluation.';
  return (
    <>
      <Card title="Global accuracy and macro-F1">
        <RoundLineChart
          testId="global-accuracy-chart"
          data={acc}
          percent
          empty={empty}
          lines={[
            { key: 'accuracy', name: 'accuracy', color: COLORS.global },
            { key: 'macroF1', name: 'macro-F1', color: COLORS.f1, dashed: true },
          ]}
        />
      </Card>
      <Card title="Loss">
        <RoundLineChart
          testId="loss-chart"
          data={loss}
          empty={empty}
          lines={[
            { key: 'loss', name: 'global test loss', color: COLORS.loss },
            { key: 'trainLoss', name: 'mean local training loss', color: COLORS.train, dashed: true },
          ]}
        />
      </Card>
      <Card title="Local vs global accuracy">
        <RoundLineChart
          testId="local-global-chart"
          data={lvg}
          percent
          empty={empty}
          lines={[
            { key: 'global', name: 'global test set', color: COLORS.global },
            { key: 'local', name: 'own test shards', color: COLORS.local, dashed: true },
          ]}
        />
      </Card>
      <Card title="Traffic per round">
        <BytesChart testId="bytes-chart" data={bytes} />
      </Card>
    </>
  );
}
