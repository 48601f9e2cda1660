// The shell: a top bar with the two views, chosen by location.pathname.
import type { ClientSession } from '../client/session.ts';
import { ClientView } from './ClientView.tsx';
import { CoordinatorView } from './CoordinatorView.tsx';

export type View = 'client' | 'coordinator';

export function viewFromPath(pathname: string): View {
  return /\/coordinator\/?$/.test(pathname) ? 'coordinator' : 'client';
}

export function App(props: { view: 'client'; session: ClientSession } | { view: 'coordinator' }) {
  return (
    <>
      <TopBar view={props.view} />
      <main>{props.view === 'client' ? <ClientView session={props.session} /> : <CoordinatorView />}</main>
      <footer className="footer muted small">
        tabfed · federated LoRA fine-tuning across browser tabs · only adapter weights, counts and metrics leave a tab
      </footer>
    </>
  );
}

function TopBar({ view }: { view: View }) {
  return (
    <nav className="topbar">
      <a className="brand" href="/">
        <Logo /> tabfed
      </a>
      <span className="tagline">federated fine-tuning in your browser tabs</span>
      <div className="nav-links">
        <a href="/" className={view === 'client' ? 'active' : ''} data-testid="nav-client" aria-current={view === 'client' ? 'page' : undefined}>
          Institution
        </a>
        <a href="/coordinator" className={view === 'coordinator' ? 'active' : ''} data-testid="nav-coordinator" aria-current={view === 'coordinator' ? 'page' : undefined}>
          Coordinator
        </a>
      </div>
    </nav>
  );
}

function Logo() {
  return (
    <svg width="22" height="22" viewBox="0 0 32 32" aria-hidden="true">
      <rect x="2" y="6" width="12" height="9" rx="2" fill="#818cf8" />
      <rect x="18" y="6" width="12" height="9" rx="2" fill="#2dd4bf" />
      <rect x="10" y="19" width="12" height="9" rx="2" fill="#fbbf24" />
      <path d="M8 15 L16 19 M24 15 L16 19" stroke="#e2e8f0" strokeWidth="2" />
    </svg>
  );
}

export function StartupError(props: { message: string }) {
  return (
    <>
      <TopBar view="client" />
      <main>
        <div className="page">
          <div className="callout callout-error" role="alert" data-testid="last-error">
            <strong>This page could not start:</strong> {props.message}
          </div>
        </div>
      </main>
    </>
  );
}
