// The institution's page: what this tab is doing, on what, and how well.
import { useEffect, useSyncExternalStore } from 'react';
import { LABELS } from '../data/synthetic.ts';
import type { ClientPhase, ClientSession, SessionState } from '../client/session.ts';
import type { Metrics } from '../protocol/messages.ts';
import { COLORS, LabelHistogram, RoundLineChart, type Row } from './charts.tsx';
import { BaseSummary } from './BaseModels.tsx';
import { Card, ErrorNote, ProgressBar, Spinner, Stat } from './components.tsx';
import { fixed, formatBytes, formatCount, formatMs, pct } from './format.ts';

const PHASE_LABEL: Record<ClientPhase, string> = {
  connecting: 'connecting',
  loading: 'loading',
  ready: 'ready',
  training: 'training',
  evaluating: 'evaluating',
  error: 'error',
  done: 'done',
};

function phaseWords(s: SessionState): string {
  const total = s.config?.rounds;
  switch (s.phase) {
    case 'connecting':
      return s.notice ?? 'Connecting to the server…';
    case 'loading':
      return s.download
        ? 'Getting ready: downloading the base model (once: this browser keeps a verified copy).'
        : 'Getting ready: getting the base model, building the model and this institution’s data.';
    case 'ready':
      if (s.serverPhase === 'waiting') return 'Ready. Waiting for enough institutions to join before the first round.';
      if (s.serverPhase === 'idle') return 'Ready. Waiting for the coordinator to press Start.';
      if (s.serverPhase === 'training') return 'Ready. Waiting for the server’s next request (other institutions may still be training).';
      return 'Ready. Waiting for the server’s next request.';
    case 'training':
      return `Training the adapter on this institution’s own data (round ${s.progress?.round ?? s.round}${total ? ` of ${total}` : ''}).`;
    case 'evaluating':
      return `Measuring the new global adapter on local and global test sets (round ${s.round}).`;
    case 'error':
      return s.canRetry
        ? 'Stopped: this tab takes no part in rounds until the problem below is fixed. Press Retry to try again.'
        : 'Stopped: this tab cannot take part until the problem below is fixed (reload to try again).';
    case 'done':
      return `Federation finished${total ? `: all ${total} rounds done` : ''}.`;
  }
}

export function ClientView(props: { session: ClientSession }) {
  const s = useSyncExternalStore(props.session.subscribe, props.session.getState);
  // With many tabs open, the tab strip shows who is doing what.
  useEffect(() => {
    document.title = `${s.name} · ${PHASE_LABEL[s.phase]} — tabfed`;
  }, [s.name, s.phase]);
  return (
    <div className="page">
      <StatusBar s={s} session={props.session} />
      {s.phase === 'loading' && s.loading && <LoadingCard s={s} />}
      <div className="columns">
        <div className="column">
          <TrainingCard s={s} />
          <AccuracyCard s={s} />
        </div>
        <div className="column">
          <BackendCard s={s} />
          <DataCard s={s} />
          <ModelCard s={s} />
        </div>
      </div>
    </div>
  );
}

function StatusBar({ s, ...props }: { s: SessionState; session: ClientSession }) {
  return (
    <section className="card statusbar">
      <div className="statusbar-main">
        <div>
          <div className="eyebrow">Institution</div>
          <h1 className="title" data-testid="institution-name">
            {s.name}
          </h1>
          {!s.nameChosen && (
            <div className="muted small">
              Name this institution by adding <code>?name=…</code> to the address.
            </div>
          )}
          <div className="muted" data-testid="shard">
            {s.shard === null ? 'shard not assigned yet' : `data shard ${s.shard}${s.numShards ? ` of ${s.numShards}` : ''}`}
            {s.federation && <span> · federation <code>{s.federation}</code></span>}
          </div>
        </div>
        <div className="statusbar-right">
          <Stat
            label={s.config ? `of ${s.config.rounds} rounds` : 'round'}
            value={<span data-testid="round" data-round={s.round}>{s.round}</span>}
          />
          <span className={`conn ${s.connected ? 'conn-on' : 'conn-off'}`} data-testid="connection">
            {s.connected ? 'connected' : 'offline'}
          </span>
        </div>
      </div>
      <div className="statusline">
        <span className={`phase phase-${s.phase}`} data-testid="phase" data-phase={s.phase}>
          {PHASE_LABEL[s.phase]}
        </span>
        {(s.phase === 'connecting' || s.phase === 'loading' || s.phase === 'evaluating') && <Spinner />}
        <span data-testid="phase-text">{phaseWords(s)}</span>
      </div>
      {s.notice && s.phase !== 'connecting' && (
        <div className="callout callout-info" data-testid="notice">
          {s.notice}
        </div>
      )}
      <ErrorNote message={s.lastError?.message ?? null} at={s.lastError?.at} testId="last-error" />
      {s.phase === 'error' && s.canRetry && (
        <div className="buttons">
          <button type="button" className="btn btn-primary" data-testid="retry-button" onClick={() => props.session.retry()}>
            ↻ Retry
          </button>
          <span className="muted small">The server does not count this tab among the ready institutions until it is set up.</span>
        </div>
      )}
    </section>
  );
}

function LoadingCard({ s }: { s: SessionState }) {
  const steps = s.loading ?? [];
  const done = steps.filter((x) => x.state === 'done').length;
  return (
    <Card title="Getting ready" className="loading-card" testId="loading">
      <ProgressBar value={done} max={steps.length} testId="loading-progress" label={`${done} of ${steps.length} steps`} />
      <ol className="steps">
        {steps.map((x) => (
          <li key={x.key} className={`step step-${x.state}`}>
            <span className="step-icon">{x.state === 'done' ? '✓' : x.state === 'running' ? <Spinner /> : '○'}</span>
            {x.label}
          </li>
        ))}
      </ol>
      {s.download && (
        <ProgressBar
          testId="download-progress"
          value={s.download.done}
          max={s.download.total}
          label={
            <>
              <span>{s.download.file ? `Downloading ${s.download.file}` : 'Downloaded'}</span>
              <span className="muted">
                {formatBytes(s.download.done)} of {formatBytes(s.download.total)}
              </span>
            </>
          }
        />
      )}
    </Card>
  );
}

function TrainingCard({ s }: { s: SessionState }) {
  const p = s.progress;
  return (
    <Card title="Local training" aside={s.lastFit && <span className="muted small">last: round {s.lastFit.round}</span>}>
      {p ? (
        <ProgressBar
          testId="train-progress"
          value={p.step}
          max={p.steps}
          label={
            <>
              <span>
                Round {p.round}: step {p.step} of {p.steps}
              </span>
              <span className="muted">loss {p.step > 0 ? fixed(p.loss) : '–'}</span>
            </>
          }
        />
      ) : (
        <ProgressBar
          testId="train-progress"
          value={s.lastFit ? s.lastFit.steps : 0}
          max={s.lastFit ? s.lastFit.steps : 1}
          tone="ok"
          label={
            s.lastFit ? (
              <>
                <span>
                  Round {s.lastFit.round}: {s.lastFit.steps} steps in {formatMs(s.lastFit.ms)}
                </span>
                <span className="muted">mean loss {fixed(s.lastFit.trainLoss)}</span>
              </>
            ) : (
              <span className="muted">No local training yet: the server asks selected institutions to train each round.</span>
            )
          }
        />
      )}
      <div className="metrics-row">
        <MetricPair title="Global test set" m={s.lastMetrics?.global} color={COLORS.global} testId="metrics-global" />
        <MetricPair title="Local test set" m={s.lastMetrics?.local} color={COLORS.local} testId="metrics-local" />
      </div>
    </Card>
  );
}

function MetricPair(props: { title: string; m: Metrics | undefined; color: string; testId: string }) {
  const m = props.m;
  return (
    <div className="metric-pair" data-testid={props.testId} style={{ borderColor: props.color }}>
      <div className="muted small">{props.title}</div>
      <div className="metric-big">{m ? pct(m.accuracy) : '–'}</div>
      <div className="muted small">
        accuracy · macro-F1 {m ? pct(m.macroF1) : '–'} · loss {m ? fixed(m.loss) : '–'}
        {m ? ` · ${m.numExamples} examples` : ''}
      </div>
    </div>
  );
}

function AccuracyCard({ s }: { s: SessionState }) {
  const data: Row[] = s.history.map((h) => ({ round: h.round, local: h.local.accuracy, global: h.global.accuracy }));
  return (
    <Card title="Accuracy per round">
      <RoundLineChart
        testId="accuracy-chart"
        data={data}
        percent
        empty="Each round, this tab measures the global adapter on its own test shard and on the shared global test set."
        lines={[
          { key: 'global', name: 'global test set', color: COLORS.global },
          { key: 'local', name: 'local test set', color: COLORS.local, dashed: true },
        ]}
      />
    </Card>
  );
}

function BackendCard({ s }: { s: SessionState }) {
  const b = s.backend;
  return (
    <Card title="Compute backend">
      {b ? (
        <>
          <div className={`badge badge-backend ${b.isFallbackAdapter ? 'badge-warn' : ''}`} data-testid="backend-badge" data-backend={b.backend}>
            <strong>{b.backend}</strong>
            {b.adapterInfo && <span> · {b.adapterInfo}</span>}
          </div>
          {b.isFallbackAdapter && (
            <p className="callout callout-warn small" data-testid="fallback-note">
              This GPU adapter is a software fallback (no real GPU is used), so training is much slower than on real hardware.
            </p>
          )}
          <ul className="tried">
            {b.tried.map((t, i) => (
              <li key={`${t.name}-${i}`} className={t.ok ? 'ok' : 'no'}>
                <span>{t.ok ? '✓' : '✗'}</span> <strong>{t.name}</strong>
                {t.ms !== undefined && <span className="muted"> {formatMs(t.ms)}</span>}
                {t.note && <span className="muted"> — {t.note}</span>}
              </li>
            ))}
          </ul>
        </>
      ) : (
        <div className="badge badge-pending" data-testid="backend-badge" data-backend="">
          <Spinner /> probing WebGPU, WebGL, WASM and CPU…
        </div>
      )}
    </Card>
  );
}

function ModelCard({ s }: { s: SessionState }) {
  const c = s.config;
  const share = s.baseParams && s.adapterParams ? s.adapterParams / (s.baseParams + s.adapterParams) : null;
  return (
    <Card title="Model">
      <div className="stats">
        <Stat label="base parameters (frozen)" value={formatCount(s.baseParams ?? s.base?.params)} testId="params-base" hint={(s.baseParams ?? s.base?.params)?.toLocaleString('en-US')} />
        <Stat label="adapter parameters (trained)" value={formatCount(s.adapterParams)} testId="params-adapter" hint={s.adapterParams?.toLocaleString('en-US')} />
        <Stat label="sent per update" value={s.adapterParams ? formatBytes(s.adapterParams * 4) : '–'} />
      </div>
      {share !== null && <ProgressBar small value={share} max={1} label={<span className="muted small">adapter is {pct(share, 2)} of all weights</span>} />}
      <BaseSummary base={s.base} testId="base-info" />
      {s.baseLoad && s.baseLoad.id === s.base?.id && (
        <div className="muted small" data-testid="base-files">
          {s.baseLoad.downloaded.length === 0
            ? 'files verified (size and sha256) from this browser’s cache'
            : s.baseLoad.cached.length === 0
              ? 'files downloaded and verified (size and sha256); this browser keeps a copy'
              : `${s.baseLoad.downloaded.join(', ')} downloaded, the rest from this browser’s cache; all verified (size and sha256)`}
        </div>
      )}
      {c && (
        <div className="muted small">
          {c.base === 'random' ? (
            <>
              preset <strong>{c.preset}</strong> ·{' '}
            </>
          ) : null}
          LoRA rank {c.lora.rank}, alpha {c.lora.alpha} on {c.lora.targets.join(', ')} · seed {c.modelSeed}
        </div>
      )}
    </Card>
  );
}

function DataCard({ s }: { s: SessionState }) {
  return (
    <Card title="This institution’s data">
      <LabelHistogram testId="label-histogram" counts={s.labelCounts} labels={LABELS} />
      <div className="muted small">
        {s.numTrain !== null ? `${s.numTrain} training examples · ${s.numTest} local test · ${s.numGlobalTest} global test` : 'not built yet'}
        {s.config && ` · label skew α = ${s.config.dirichletAlpha}`}
      </div>
      <div className="muted small">Only adapter weights, counts and metrics leave this tab; the text and labels stay here.</div>
    </Card>
  );
}
