// Small building blocks shared by both views.
import { useEffect, useState, type ReactNode } from 'react';

export function Card(props: { title?: ReactNode; aside?: ReactNode; className?: string; children: ReactNode; testId?: string }) {
  return (
    <section className={`card ${props.className ?? ''}`} data-testid={props.testId}>
      {(props.title || props.aside) && (
        <header className="card-head">
          {props.title && <h2>{props.title}</h2>}
          {props.aside && <div className="card-aside">{props.aside}</div>}
        </header>
      )}
      {props.children}
    </section>
  );
}

export function ProgressBar(props: { value: number; max: number; label?: ReactNode; testId?: string; small?: boolean; tone?: 'accent' | 'ok' | 'warn' }) {
  const frac = props.max > 0 ? Math.min(1, Math.max(0, props.value / props.max)) : 0;
  return (
    <div className={`progress ${props.small ? 'progress-small' : ''}`} data-testid={props.testId}>
      <div
        className="progress-track"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={props.max}
        aria-valuenow={props.value}
        data-value={props.value}
        data-max={props.max}
      >
        <div className={`progress-fill tone-${props.tone ?? 'accent'}`} style={{ width: `${(frac * 100).toFixed(1)}%` }} />
      </div>
      {props.label !== undefined && <div className="progress-label">{props.label}</div>}
    </div>
  );
}

export function Spinner() {
  return <span className="spinner" aria-hidden="true" />;
}

export function Stat(props: { label: ReactNode; value: ReactNode; hint?: string; testId?: string }) {
  return (
    <div className="stat" title={props.hint}>
      <div className="stat-value" data-testid={props.testId}>
        {props.value}
      </div>
      <div className="stat-label">{props.label}</div>
    </div>
  );
}

export function ErrorNote(props: { message: string | null; testId: string; at?: number }) {
  if (!props.message) return <div data-testid={props.testId} hidden />;
  return (
    <div className="callout callout-error" role="alert" data-testid={props.testId}>
      <strong>Problem:</strong> {props.message}
      {props.at !== undefined && <span className="muted small"> · {new Date(props.at).toLocaleTimeString()}</span>}
    </div>
  );
}

export function ChartEmpty(props: { children: ReactNode }) {
  return <div className="chart-empty">{props.children}</div>;
}

/** Re-renders every `ms` so "3 s ago" keeps counting. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}
