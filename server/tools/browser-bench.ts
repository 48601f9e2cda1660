// Runs the bench page in headless Chromium on every backend, against the built app.
import { chromium } from '@playwright/test';
import express from 'express';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../../web/src/training/bench.ts';
import type { TabMemory } from '../../web/src/bench/main.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.ts';

const DIST = fileURLToPath(new URL('../../dist', import.meta.url));
/** Base models are not copied into dist/: the server serves them from public/models/, and so does the bench. */
const MODELS = fileURLToPath(new URL('../../public/models', import.meta.url));

export type BrowserBenchResult = BenchResult & { memory: TabMemory };

/** Chromium measures a tab's memory only when the page is cross-origin isolated; the flag skips the wait for a GC. */
const ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export async function runBrowserBench(o: { model: string; steps: number }): Promise<BrowserBenchResult[]> {
  if (!existsSync(`${DIST}/bench.html`)) throw new Error('dist/bench.html is missing: run `npm run build` first');
  const isolated = { setHeaders: (res: express.Response) => res.set(ISOLATION_HEADERS) };
  const app = express().use(express.static(DIST, isolated)).use('/models', express.static(MODELS, isolated));
  const server = app.listen(0);
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, '--enable-blink-features=ForceEagerMeasureMemory'] });
  const results: BrowserBenchResult[] = [];
  const which = o.model === 'tiny' || o.model === 'small' ? `preset=${o.model}` : `base=${encodeURIComponent(o.model)}`;
  try {
    for (const backend of ['webgpu', 'webgl', 'wasm', 'cpu']) {
      // Software WebGPU and cpu take seconds per step: time fewer of them.
      const steps = backend === 'wasm' ? o.steps : 2;
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/bench.html?backend=${backend}&${which}&steps=${steps}&warmup=1`);
      await page.waitForFunction(() => window.__bench !== undefined, null, { timeout: 600_000 });
      const r = await page.evaluate(() => window.__bench!);
      await page.close();
      if (r.result) {
        console.error(`chromium ${backend} (${r.result.adapterInfo}): ${r.result.msPerStep.toFixed(0)} ms/step`);
        results.push({ ...r.result, backend: `${backend} (${r.result.adapterInfo})` });
      } else console.error(`chromium ${backend}: unavailable (${r.error})`);
    }
  } finally {
    await browser.close();
    server.close();
  }
  return results;
}
