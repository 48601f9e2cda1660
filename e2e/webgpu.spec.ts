// A WebGPU tab (software adapter here) federates with wasm tabs: one model.
import { E2E_CONFIG, expect, tabState, test } from './fixtures.ts';

/** Global test accuracy after round 2 must beat round 0 by this much (seeded: 0.28 -> 0.43 when written). */
const MARGIN = 0.1;

test('a webgpu tab and two wasm tabs aggregate into one model whose accuracy rises', async ({ federation, openTab }) => {
  // WebGPU on SwiftShader is ~50x slower than wasm (about 2 s a step and a minute per
  // evaluation of the tiny preset here): fewer rounds and steps, longer deadlines.
  const before = await federation.reset({ ...E2E_CONFIG, localSteps: 10, rounds: 2, roundTimeoutMs: 300_000, evalTimeoutMs: 300_000 });
  const gpu = await openTab('?backend=webgpu&name=GPU%20clinic');
  const cpus = [await openTab('?backend=wasm'), await openTab('?backend=wasm')];

  const done = await federation.waitFor((s) => s.federation === before.federation && s.phase === 'done', 7 * 60_000, 'all rounds to finish');
  const gpuState = await tabState(gpu);
  expect(gpuState.backend).toBe('webgpu');
  for (const h of done.history.slice(1)) expect(h.participants).toContain(gpuState.clientId);
  const backends = done.clients.map((c) => c.backend).sort();
  expect(backends).toEqual(['wasm', 'wasm', 'webgpu']);

  const first = done.history[0].metrics.accuracy;
  const last = done.history[done.history.length - 1].metrics.accuracy;
  console.log(`global accuracy with a webgpu client: round 0 ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  expect(last).toBeGreaterThan(first + MARGIN);
  // Every tab, whatever its backend, evaluated the same global adapter on the same global test set.
  for (const tab of [gpu, ...cpus]) {
    const s = await tabState(tab);
    expect(s.lastMetrics!.global.accuracy).toBeCloseTo(last, 1);
    expect(tab.errors).toEqual([]);
  }
});
