// Each institution gets its own BrowserContext (like tldraw's e2e fixtures);
// all are closed after the test. Waits poll real state, never fixed sleeps.
import { test as base, expect, type APIRequestContext, type BrowserContext, type Page } from '@playwright/test';
import type { FederationConfig } from '../web/src/protocol/config.ts';
import type { Status } from '../web/src/protocol/messages.ts';

export interface Tab {
  page: Page;
  context: BrowserContext;
  /** console errors and uncaught page errors seen so far */
  errors: string[];
  close(): Promise<void>;
}

export interface TabState {
  clientId: string | null;
  round: number;
  phase: string;
  backend: string | null;
  lastMetrics: { local: { accuracy: number }; global: { accuracy: number } } | null;
  lastError: string | null;
  base: string | null;
  baseLoad: { id: string; cached: string[]; downloaded: string[]; repaired: string[] } | null;
  canRetry: boolean;
}

/** The e2e federation: the random base of the tiny preset and a few short rounds, so three tabs finish in minutes on 2 cores. */
export const E2E_CONFIG: Partial<FederationConfig> = {
  base: 'random',
  preset: 'tiny',
  rounds: 3,
  localSteps: 30,
  batchSize: 16,
  learningRate: 0.01,
  numShards: 3,
  // Mild label skew: the accuracy rise within 3 rounds is then large and reliable
  // (npm run bench:federated -- --clients 3 --rounds 3 --alpha 5: 0.28 -> 0.50).
  dirichletAlpha: 5,
  minClients: 3,
  autoStart: true,
  roundTimeoutMs: 180_000,
  evalTimeoutMs: 120_000,
};

export class Federation {
  constructor(private readonly request: APIRequestContext) {}

  async status(): Promise<Status> {
    const r = await this.request.get('/api/status');
    expect(r.ok()).toBe(true);
    return (await r.json()) as Status;
  }

  async control(action: 'start' | 'pause' | 'reset' | 'configure', config?: Partial<FederationConfig>): Promise<void> {
    const r = await this.request.post('/api/control', { data: { action, config } });
    expect(r.ok(), await r.text()).toBe(true);
  }

  /** A fresh federation with this config: configure, then reset (new id, round 0, empty history). */
  async reset(config: Partial<FederationConfig>): Promise<Status> {
    await this.control('pause');
    await this.control('configure', config);
    await this.control('reset');
    return this.status();
  }

  async waitFor(pred: (s: Status) => boolean, timeout = 6 * 60_000, what = 'federation state'): Promise<Status> {
    let last: Status | null = null;
    await expect
      .poll(async () => pred((last = await this.status())), { timeout, intervals: [250, 500, 1000], message: `waiting for ${what}` })
      .toBe(true);
    return last!;
  }
}

/** Opens the institution page in a new context; beforeGoto may set up routes first (e.g. to corrupt a download). */
export type OpenTab = (query?: string, beforeGoto?: (page: Page) => Promise<void>) => Promise<Tab>;

export const test = base.extend<{ federation: Federation; openTab: OpenTab }>({
  federation: async ({ request }, use) => {
    await use(new Federation(request));
  },
  openTab: async ({ browser, baseURL }, use) => {
    const tabs: Tab[] = [];
    await use(async (query = '', beforeGoto) => {
      const context = await browser.newContext({ baseURL });
      const page = await context.newPage();
      await beforeGoto?.(page);
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      await page.goto(`/${query}`);
      const tab: Tab = { page, context, errors, close: () => context.close() };
      tabs.push(tab);
      return tab;
    });
    await Promise.all(tabs.map((t) => t.context.close().catch(() => undefined)));
  },
});

export function tabState(tab: Tab): Promise<TabState> {
  return tab.page.evaluate(() => (window as unknown as { tabfed: { state(): TabState } }).tabfed.state());
}

export { expect };
