// npm run screenshots -- [--url http://localhost:3000]
// Against a running server: opens three institution tabs and the coordinator in
// headless Chromium, waits for a few rounds, and saves the README's screenshots
// to public/. Resets the federation to a few short rounds over the shipped
// pretrained base so it takes a few minutes.
import { chromium } from '@playwright/test';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Status } from '../../web/src/protocol/messages.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.ts';

const { values } = parseArgs({ options: { url: { type: 'string', default: 'http://localhost:3000' } } });
const url = values.url!;
const out = (f: string) => fileURLToPath(new URL(`../../public/${f}`, import.meta.url));
const control = (body: unknown) =>
  fetch(`${url}/api/control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const status = async (): Promise<Status> => (await fetch(`${url}/api/status`)).json() as Promise<Status>;

await control({ action: 'configure', config: { base: 'tabfed-brown', rounds: 6, localSteps: 30, learningRate: 0.01, numShards: 3, minClients: 3, dirichletAlpha: 1 } });
await control({ action: 'reset' });
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
const pages = [];
for (const name of ['Hospital A', 'Hospital B', 'Bank C']) {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(`${url}/?backend=wasm&name=${encodeURIComponent(name)}`);
  pages.push(page);
}
const coord = await (await browser.newContext({ viewport: { width: 1280, height: 1400 } })).newPage();
await coord.goto(`${url}/coordinator`);
for (;;) {
  const s = await status();
  if (s.phase === 'done') break;
  if (s.round >= 5 && s.phase === 'training') {
    await pages[0].waitForFunction(() => (window as unknown as { tabfed: { state(): { phase: string } } }).tabfed.state().phase === 'training');
    break;
  }
  await new Promise((r) => setTimeout(r, 1000));
}
await pages[0].screenshot({ path: out('screenshot-client.png'), fullPage: true });
await coord.screenshot({ path: out('screenshot-coordinator.png'), fullPage: true });
console.log('saved public/screenshot-client.png and public/screenshot-coordinator.png');
await browser.close();
