// The bench page: /bench.html?backend=wasm&preset=small&steps=8 runs the shared
// training bench on one backend and leaves the result in window.__bench.
import { selectBackend } from '../platform/browser.ts';
import { DEFAULT_BENCH, benchTraining, type BenchResult } from '../training/bench.ts';

declare global {
  interface Window {
    __bench?: { result?: BenchResult & { adapterInfo: string }; error?: string };
  }
}

const q = new URLSearchParams(location.search);
const out = document.getElementById('out')!;
try {
  const choice = await selectBackend(q.get('backend'));
  const result = await benchTraining({
    ...DEFAULT_BENCH,
    preset: (q.get('preset') as 'tiny' | 'small') ?? DEFAULT_BENCH.preset,
    steps: Number(q.get('steps') ?? DEFAULT_BENCH.steps),
    warmup: Number(q.get('warmup') ?? DEFAULT_BENCH.warmup),
  });
  window.__bench = { result: { ...result, adapterInfo: choice.adapterInfo } };
  out.textContent = JSON.stringify(window.__bench, null, 2);
} catch (e) {
  window.__bench = { error: e instanceof Error ? e.message : String(e) };
  out.textContent = `bench failed: ${window.__bench.error}`;
}
