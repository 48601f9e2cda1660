// npm run swarm -- --clients 4 [--url http://localhost:3000] [--backend wasm]
// Opens N headless Chromium tabs, each in its own browser context, against a
// running tabfed server, and follows the federation until it is done (or
// Ctrl-C). Uses the system Chromium; never downloads a browser.
import { chromium, type Browser } from '@playwright/test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { ClientStatus, Status } from '../../web/src/protocol/messages.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.ts';

const POLL_MS = 2000;
/** Consecutive failed polls (at POLL_MS) before the swarm gives up on the server. */
const MAX_POLL_FAILURES = 15;
const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'];

interface Options {
  clients: number;
  url: URL;
  backend: string | undefined;
}

function fail(message: string): never {
  console.error(`swarm: ${message}`);
  process.exit(1);
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '4' },
      url: { type: 'string', default: 'http://localhost:3000' },
      backend: { type: 'string' },
    },
  });
  const clients = Number(values.clients);
  if (!Number.isInteger(clients) || clients < 1 || clients > 64) fail(`--clients must be an integer in 1..64, got "${values.clients}"`);
  if (values.backend !== undefined && !BACKENDS.includes(values.backend)) fail(`--backend must be one of ${BACKENDS.join(', ')}`);
  let url: URL;
  try {
    url = new URL(values.url!);
  } catch {
    fail(`--url is not a URL: "${values.url}"`);
  }
  return { clients, url, backend: values.backend };
}

async function fetchStatus(base: URL): Promise<Status> {
  const res = await fetch(new URL('/api/status', base), { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET /api/status answered ${res.status}`);
  return (await res.json()) as Status;
}

function why(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  return err.cause?.code ?? err.cause?.message ?? err.message;
}

function tabUrl(o: Options, i: number): string {
  const url = new URL('/', o.url);
  url.searchParams.set('name', `Swarm ${i + 1}`);
  if (o.backend) url.searchParams.set('backend', o.backend);
  return url.href;
}

async function openTabs(browser: Browser, o: Options): Promise<void> {
  for (let i = 0; i < o.clients; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const tag = `[Swarm ${i + 1}]`;
    page.on('pageerror', (e) => console.error(`${tag} page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') console.error(`${tag} ${m.text()}`);
    });
    await page.goto(tabUrl(o, i));
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Prints what changed since the last poll: tabs that joined or got ready, rounds that closed. */
class Reporter {
  private joined = new Set<string>();
  private ready = new Set<string>();
  private recorded = new Map<string, number>();
  private lastLine = '';

  report(s: Status): void {
    for (const c of s.clients) this.client(c);
    const seen = this.recorded.get(s.federation) ?? 0;
    for (const h of s.history.slice(seen)) {
      const parts = h.round === 0 ? 'before training' : `${h.participants.length} tab(s), ${(h.durationMs / 1000).toFixed(1)} s`;
      console.log(`round ${h.round}/${s.config.rounds}: global accuracy ${pct(h.metrics.accuracy)}, macro-F1 ${pct(h.metrics.macroF1)}, loss ${h.metrics.loss.toFixed(3)} (${parts})`);
    }
    this.recorded.set(s.federation, s.history.length);
    const line = `[${s.phase}] ${s.message}`;
    if (line !== this.lastLine) console.log(line);
    this.lastLine = line;
  }

  private client(c: ClientStatus): void {
    if (!this.joined.has(c.id)) {
      this.joined.add(c.id);
      console.log(`joined: ${c.name} (${c.id}, shard ${c.shard})`);
    }
    if (c.ready && !this.ready.has(c.id)) {
      this.ready.add(c.id);
      console.log(`ready:  ${c.name} on ${c.backend}${c.adapterInfo ? ` (${c.adapterInfo})` : ''}, ${c.numExamples} training examples`);
    }
  }
}

/** Polls until the federation finishes a run that was under way while the swarm watched; null when stopped. */
async function follow(o: Options, signal: AbortSignal): Promise<Status | null> {
  const reporter = new Reporter();
  let active = false;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const s = await fetchStatus(o.url);
      failures = 0;
      reporter.report(s);
      if (s.phase !== 'done') active = true;
      else if (active) return s;
    } catch (e) {
      if (++failures >= MAX_POLL_FAILURES) throw new Error(`lost the server at ${o.url.origin}: ${why(e)}`);
      if (failures === 1) console.error(`swarm: cannot reach the server (${why(e)}); still trying`);
    }
    await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
  }
  return null;
}

async function main(): Promise<void> {
  const o = options();
  let first: Status;
  try {
    first = await fetchStatus(o.url);
  } catch (e) {
    fail(`cannot reach a tabfed server at ${o.url.origin} (${why(e)}). Start one with \`npm start\` or pass --url.`);
  }
  console.log(`swarm: federation ${first.federation.slice(0, 8)} at ${o.url.origin}: ${first.phase}, round ${first.round}/${first.config.rounds}, preset ${first.config.preset}`);
  if (first.phase === 'done') console.log('swarm: this federation is already done; reset it from /coordinator to run again');

  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  } catch (e) {
    fail(`cannot start Chromium at ${CHROMIUM_PATH} (set CHROMIUM_PATH): ${(e as Error).message.split('\n')[0]}`);
  }
  const stop = new AbortController();
  const close = async (code: number) => {
    stop.abort();
    await browser.close().catch(() => undefined);
    process.exit(code);
  };
  process.once('SIGINT', () => void close(130));
  process.once('SIGTERM', () => void close(143));

  try {
    console.log(`swarm: opening ${o.clients} tab(s)${o.backend ? ` on ${o.backend}` : ''}`);
    await openTabs(browser, o);
    const done = await follow(o, stop.signal);
    if (!done) return; // Ctrl-C: close() is under way
    const last = done.history.at(-1);
    console.log(`swarm: done after ${done.round} rounds${last ? `; global accuracy ${pct(done.history[0].metrics.accuracy)} -> ${pct(last.metrics.accuracy)}` : ''}`);
    await close(0);
  } catch (e) {
    console.error(`swarm: ${(e as Error).message}`);
    await close(1);
  }
}

await main();
