// A tab closed in the middle of a round does not stop the federation.
import { E2E_CONFIG, expect, tabState, test } from './fixtures.ts';

test('closing a tab mid-round: the round completes with the others and the federation carries on', async ({ federation, openTab }) => {
  const before = await federation.reset({ ...E2E_CONFIG, rounds: 3, minClients: 2, localSteps: 60 });
  // minClients is 2, so open all three before any round can start without the third.
  await federation.control('pause');
  const tabs = [await openTab('?backend=wasm'), await openTab('?backend=wasm'), await openTab('?backend=wasm')];
  await federation.waitFor((s) => s.clients.filter((c) => c.ready).length === 3, 120_000, 'three ready clients');
  await federation.control('start');

  // Wait until round 1's training is under way on the tab we will close.
  const victimId = (await tabState(tabs[2])).clientId!;
  await federation.waitFor(
    (s) => s.round === 1 && s.phase === 'training' && (s.clients.find((c) => c.id === victimId)?.activity ?? '').startsWith('training'),
    120_000,
    'round 1 training on the third tab',
  );
  await tabs[2].close();

  const done = await federation.waitFor((s) => s.federation === before.federation && s.phase === 'done', 6 * 60_000, 'the federation to finish');
  expect(done.history.map((h) => h.round)).toEqual([0, 1, 2, 3]);
  for (const h of done.history.slice(1)) {
    expect(h.participants).toHaveLength(2);
    expect(h.participants).not.toContain(victimId);
  }
  expect(done.clients.map((c) => c.id)).not.toContain(victimId);
  for (const tab of tabs.slice(0, 2)) {
    expect((await tabState(tab)).round).toBe(3);
    expect(tab.errors).toEqual([]);
  }
});
