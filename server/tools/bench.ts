// npm run bench [-- --browser] [--model tabfed-brown|small|tiny] [--steps 8]
// Prints ms/step and tokens/s of LoRA training on each backend available, the
// memory it takes, the bytes a federation round moves, and one causal-LM
// training step at the reference config (wasm in Node; npm run bench:lm has more). Node gives wasm and
// cpu; --browser adds headless Chromium's webgpu, webgl, wasm and cpu through the
// bench page (run `npm run build` first). --model: a model under public/models/
// (default: the shipped pretrained base) or a preset's seeded random base.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBaseModelDir, SHIPPED_MODELS_DIR } from '../../web/src/platform/files.ts';
import { initNodeTf } from '../../web/src/platform/node.ts';
import { DEFAULT_BENCH, benchLmStep, benchTraining, REFERENCE_LM, type BenchBase, type BenchResult } from '../../web/src/training/bench.ts';
import { runBrowserBench, type BrowserBenchResult } from './browser-bench.ts';

const { values } = parseArgs({
  options: {
    browser: { type: 'boolean', default: false },
    model: { type: 'string', default: 'tabfed-brown' },
    steps: { type: 'string', default: String(DEFAULT_BENCH.steps) },
    clients: { type: 'string', default: '3' },
  },
});
const name = values.model!;
const steps = Number(values.steps);
const clients = Number(values.clients);
const isPreset = name === 'tiny' || name === 'small';

let base: BenchBase | undefined;
let fileBytes: number | null = null;
if (!isPreset) {
  const dir = join(SHIPPED_MODELS_DIR, name);
  const loaded = loadBaseModelDir(dir, 3);
  base = { name, model: loaded.model, weights: loaded.base };
  fileBytes = statSync(join(dir, 'model.safetensors')).size;
}

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const results: [string, BenchResult | BrowserBenchResult, string][] = [];
for (const backend of ['wasm', 'cpu'] as const) {
  await initNodeTf(backend);
  const r = await benchTraining({
    ...DEFAULT_BENCH,
    preset: isPreset ? name : DEFAULT_BENCH.preset,
    base,
    steps: backend === 'cpu' ? Math.min(steps, 2) : steps,
    warmup: backend === 'cpu' ? 1 : DEFAULT_BENCH.warmup,
  });
  results.push(['Node 20', r, `process RSS ${MiB(process.memoryUsage().rss)}`]);
  console.error(`node ${backend}: ${r.msPerStep.toFixed(0)} ms/step`);
}
// One causal-LM step at the reference config (the pretraining path), wasm in Node.
await initNodeTf('wasm');
const lm = await benchLmStep(REFERENCE_LM, { batchSize: 16, steps: 3, warmup: 2 });
console.error(`node wasm causal-LM reference step: ${lm.msPerStep.toFixed(0)} ms/step`);
if (values.browser) {
  for (const r of await runBrowserBench({ model: name, steps })) {
    const mem = r.memory.tabBytes !== null ? `tab ${MiB(r.memory.tabBytes)}` : r.memory.jsHeapBytes !== null ? `JS heap ${MiB(r.memory.jsHeapBytes)}` : 'n/a';
    results.push(['Chromium (headless)', r, mem]);
  }
}

const r0 = results[0][1];
const what = isPreset ? `the \`${name}\` preset's seeded random base` : `the \`${name}\` base (public/models/${name}/model.safetensors, ${MiB(fileBytes!)})`;
console.log(`\nLoRA r=${DEFAULT_BENCH.lora.rank} on q,v of ${what}: ${(r0.baseParams / 1e6).toFixed(2)} M base params, ${r0.adapterParams} trainable; batch ${r0.batchSize} x ${r0.seqLen} tokens, Adam:\n`);
console.log('| runtime | backend | ms/step | tokens/s | tfjs tensors | memory after training |');
console.log('|---|---|---|---|---|---|');
for (const [where, r, mem] of results) console.log(`| ${where} | ${r.backend} | ${r.msPerStep.toFixed(0)} | ${Math.round(r.tokensPerSec)} | ${MiB(r.tensorBytes)} | ${mem} |`);
const c = REFERENCE_LM;
console.log(
  `\nCausal-LM training step (forward, backward, Adam; every weight trained) at the reference config (vocab ${c.vocabSize}, ${c.nLayers} layers, ${c.nHeads} heads, ` +
    `d ${c.dModel}, context ${c.contextLength}, batch ${lm.batchSize}; ${(lm.params / 1e6).toFixed(2)} M params), wasm in Node: ${lm.msPerStep.toFixed(0)} ms/step, ${Math.round(lm.tokensPerSec)} tokens/s`,
);
const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
console.log(`\nBytes per round (adapter + head = ${kb(r0.adapterBytes)} of float32):`);
console.log(`- each client: up ${kb(r0.adapterBytes)} (its update), down ${kb(2 * r0.adapterBytes)} (global for fit + global for evaluation)`);
console.log(`- ${clients} clients: up ${kb(clients * r0.adapterBytes)}, down ${kb(2 * clients * r0.adapterBytes)} per round`);
