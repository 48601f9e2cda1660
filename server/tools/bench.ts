// npm run bench [-- --browser] [--preset small] [--steps 8]
// Prints ms/step and tokens/s of LoRA training on each backend available, and
// the bytes a federation round moves. Node gives wasm and cpu; --browser adds
// headless Chromium's webgpu, webgl, wasm and cpu through the bench page.
import { parseArgs } from 'node:util';
import { DEFAULT_BENCH, benchTraining, type BenchResult } from '../../web/src/training/bench.ts';
import { initNodeTf } from '../../web/src/platform/node.ts';
import { runBrowserBench } from './browser-bench.ts';

const { values } = parseArgs({
  options: {
    browser: { type: 'boolean', default: false },
    preset: { type: 'string', default: DEFAULT_BENCH.preset },
    steps: { type: 'string', default: String(DEFAULT_BENCH.steps) },
    clients: { type: 'string', default: '3' },
  },
});
const preset = values.preset as 'tiny' | 'small';
const steps = Number(values.steps);
const clients = Number(values.clients);

function row(r: BenchResult, where: string): string {
  return `| ${where} | ${r.backend} | ${r.msPerStep.toFixed(0)} | ${Math.round(r.tokensPerSec)} |`;
}

const results: [string, BenchResult][] = [];
for (const backend of ['wasm', 'cpu'] as const) {
  await initNodeTf(backend);
  const r = await benchTraining({ ...DEFAULT_BENCH, preset, steps: backend === 'cpu' ? Math.min(steps, 2) : steps, warmup: backend === 'cpu' ? 1 : DEFAULT_BENCH.warmup });
  results.push(['Node 20', r]);
  console.error(`node ${backend}: ${r.msPerStep.toFixed(0)} ms/step`);
}
if (values.browser) {
  for (const r of await runBrowserBench({ preset, steps })) results.push(['Chromium (headless)', r]);
}

const r0 = results[0][1];
console.log(`\nLoRA r=${r0.rank} on q,v of the \`${preset}\` preset (${(r0.baseParams / 1e6).toFixed(2)} M base params, ${r0.adapterParams} trainable), batch ${r0.batchSize} x ${r0.seqLen} tokens, Adam:\n`);
console.log('| runtime | backend | ms/step | tokens/s |');
console.log('|---|---|---|---|');
for (const [where, r] of results) console.log(row(r, where));
const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
console.log(`\nBytes per round (adapter + head = ${kb(r0.adapterBytes)} of float32):`);
console.log(`- each client: up ${kb(r0.adapterBytes)} (its update), down ${kb(2 * r0.adapterBytes)} (global for fit + global for evaluation)`);
console.log(`- ${clients} clients: up ${kb(clients * r0.adapterBytes)}, down ${kb(2 * clients * r0.adapterBytes)} per round`);
