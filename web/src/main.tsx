/// <reference types="vite/client" />
// Entry: the coordinator view at /coordinator, the institution (client) everywhere else.
// The client's code (tfjs, model, data) loads only on the client view.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { describeError } from './client/errors.ts';
import { App, StartupError, viewFromPath } from './ui/App.tsx';
import './ui/styles.css';

const root = createRoot(document.getElementById('root')!);

if (viewFromPath(location.pathname) === 'coordinator') {
  document.title = 'Coordinator · tabfed';
  root.render(
    <StrictMode>
      <App view="coordinator" />
    </StrictMode>,
  );
} else {
  import('./client/session.ts')
    .then(({ startSession }) => {
      const session = startSession();
      root.render(
        <StrictMode>
          <App view="client" session={session} />
        </StrictMode>,
      );
    })
    .catch((e: unknown) => root.render(<StartupError message={describeError(e)} />));
}
