// The bench page: /bench.html?backend=wasm&preset=small&steps=8 (or &base=tabfed-brown
// for a model under /models/) runs the shared training bench on one backend and
// leaves the result in window.__bench, with the tab's memory after training.
import { loadBaseFiles, type BaseFileBytes } from '../basemodel/load.ts';
import { BASE_FILE_NAMES } from '../protocol/base.ts';
import { selectBackend } from '../platform/browser.ts';
import { DEFAULT_BENCH, benchTraining, type BenchBase, type BenchResult } from '../training/bench.ts';

export interface TabMemory {
  /** performance.measureUserAgentSpecificMemory(): the whole tab (JS, wasm memory, DOM); needs cross-origin isolation. */
  tabBytes: number | null;
  /** Chromium's performance.memory.usedJSHeapSize (JS heap only). */
  jsHeapBytes: number | null;
}

declare global {
  interface Window {
    __bench?: { result?: BenchResult & { adapterInfo: string; memory: TabMemory; fileBytes: number | null }; error?: string };
  }
}

async function fetchBase(name: string): Promise<{ base: BenchBase; fileBytes: number }> {
  const url = (f: string) => `/models/${encodeURIComponent(name)}/${f}`;
  const get = async (f: string) => {
    const r = await fetch(url(f));
    if (!r.ok) throw new Error(`GET ${url(f)}: HTTP ${r.status}`);
    return r;
  };
  const bytes = await Promise.all(BASE_FILE_NAMES.map(async (f) => new Uint8Array(await (await get(f)).arrayBuffer())));
  const files: BaseFileBytes = Object.fromEntries(BASE_FILE_NAMES.map((f, i) => [f, bytes[i]]));
  const loaded = loadBaseFiles(files, 3);
  return { base: { name, model: loaded.model, weights: loaded.base }, fileBytes: files['model.safetensors']!.byteLength };
}

async function tabMemory(): Promise<TabMemory> {
  const perf = performance as Performance & {
    measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }>;
    memory?: { usedJSHeapSize: number };
  };
  let tabBytes: number | null = null;
  if (self.crossOriginIsolated && perf.measureUserAgentSpecificMemory) tabBytes = (await perf.measureUserAgentSpecificMemory()).bytes;
  return { tabBytes, jsHeapBytes: perf.memory?.usedJSHeapSize ?? null };
}

const q = new URLSearchParams(location.search);
const out = document.getElementById('out')!;
try {
  const choice = await selectBackend(q.get('backend'));
  const fetched = q.get('base') ? await fetchBase(q.get('base')!) : null;
  const result = await benchTraining({
    ...DEFAULT_BENCH,
    preset: (q.get('preset') as 'tiny' | 'small') ?? DEFAULT_BENCH.preset,
    base: fetched?.base,
    steps: Number(q.get('steps') ?? DEFAULT_BENCH.steps),
    warmup: Number(q.get('warmup') ?? DEFAULT_BENCH.warmup),
  });
  window.__bench = { result: { ...result, adapterInfo: choice.adapterInfo, memory: await tabMemory(), fileBytes: fetched?.fileBytes ?? null } };
  out.textContent = JSON.stringify(window.__bench, null, 2);
} catch (e) {
  window.__bench = { error: e instanceof Error ? e.message : String(e) };
  out.textContent = `bench failed: ${window.__bench.error}`;
}
