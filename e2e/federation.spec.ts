// Three institutions, each in its own browser context, train one model together.
import { E2E_CONFIG, expect, tabState, test } from './fixtures.ts';

/** Global test accuracy after the last round must beat round 0 (before training) by this much. */
const MARGIN = 0.1;

test('three tabs complete the rounds and the global model improves', async ({ federation, openTab }) => {
  const before = await federation.reset(E2E_CONFIG);
  const tabs = [await openTab('?name=Hospital%20A'), await openTab('?name=Hospital%20B'), await openTab('?name=Bank%20C')];

  const done = await federation.waitFor(
    (s) => s.federation === before.federation && s.phase === 'done',
    6 * 60_000,
    'all rounds to finish',
  );

  expect(done.round).toBe(E2E_CONFIG.rounds);
  expect(done.history.map((h) => h.round)).toEqual([0, 1, 2, 3]);
  for (const h of done.history.slice(1)) expect(h.participants).toHaveLength(3);
  const first = done.history[0].metrics.accuracy;
  const last = done.history[done.history.length - 1].metrics.accuracy;
  console.log(`global accuracy: round 0 ${first.toFixed(3)} -> round ${done.round} ${last.toFixed(3)}`);
  expect(last).toBeGreaterThan(first + MARGIN);

  const shards = new Set(done.clients.map((c) => c.shard));
  expect(shards.size).toBe(3);
  for (const tab of tabs) {
    const s = await tabState(tab);
    expect(s.round).toBe(E2E_CONFIG.rounds);
    expect(s.clientId).toBeTruthy();
    expect(['webgpu', 'webgl', 'wasm', 'cpu']).toContain(s.backend);
    expect(s.lastMetrics?.global.accuracy).toBeCloseTo(last, 1);
    await expect(tab.page.getByTestId('backend-badge')).toContainText(s.backend!);
    expect(tab.errors).toEqual([]);
  }
});
