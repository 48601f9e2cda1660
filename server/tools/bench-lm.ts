// npm run bench:lm [-- --steps 5] [--warmup 2] [--profile] [--proposals]
// Times causal-LM training steps with every base weight trained (forward,
// backward, Adam) on tfjs-backend-wasm in Node: the reference config (vocab 4096,
// 4 layers, 4 heads, d 128, context 128, batch 16 x 128) and the `small` preset.
// --profile adds the kernels that take the time in one reference step;
// --proposals times lm.ts's drop-ins for shared model code against ops.ts and
// transformer.ts (attention core, GELU, 2-D transpose), forward and backward.
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { presetConfig, type ModelConfig } from '../../web/src/model/config.ts';
import { gelu, geluTanh, registerFastMatMulGradient } from '../../web/src/model/ops.ts';
import { attentionCore } from '../../web/src/model/transformer.ts';
import { initNodeTf } from '../../web/src/platform/node.ts';
import { causalAttention, LmTrainer, transpose2d } from '../../web/src/training/lm.ts';
import { benchLmStep, randomIds, REFERENCE_LM } from '../../web/src/training/bench.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    batch: { type: 'string', default: '16' },
    profile: { type: 'boolean', default: false },
    proposals: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const batchSize = Number(values.batch);

/** MatMul FLOPs of one training step: forward (linears, attention scores and mixing, tied head) x 3 for the backward. */
function matmulFlops(c: ModelConfig, B: number, T: number): number {
  const N = B * T;
  const d = c.dModel;
  const linears = c.nLayers * (4 * d * d + 2 * d * c.mlpRatio * d);
  const attention = c.nLayers * 4 * B * T * T * d;
  const head = 2 * N * d * c.vocabSize;
  return 3 * (2 * N * linears + attention + head);
}

interface Result {
  name: string;
  c: ModelConfig;
  params: number;
  msPerStep: number;
  tokensPerSec: number;
  gflop: number;
  loss: number;
}

async function bench(name: string, c: ModelConfig, B: number): Promise<Result> {
  const inspect = values.profile && name === 'reference' ? (t: LmTrainer, o: tf.Optimizer) => profile(t, o, randomIds(B, c.contextLength, c.vocabSize, 999), B, c.contextLength) : undefined;
  const r = await benchLmStep(c, { batchSize: B, steps, warmup }, inspect);
  return { name, c, params: r.params, msPerStep: r.msPerStep, tokensPerSec: r.tokensPerSec, gflop: matmulFlops(c, B, c.contextLength) / 1e9, loss: r.loss };
}

/** Kernel time of one step by kernel, and by kernel and input shapes. */
async function profile(trainer: LmTrainer, optimizer: tf.Optimizer, ids: Int32Array, B: number, T: number): Promise<void> {
  const info = await tf.profile(async () => {
    await trainer.step(optimizer, ids, B, T);
  });
  const byName = new Map<string, [number, number]>();
  const byShape = new Map<string, [number, number]>();
  let total = 0;
  for (const k of info.kernels) {
    if (k.name.endsWith('__op')) continue; // an op's own scope (fused matMul), its kernel is listed too
    const ms = (await k.kernelTimeMs) as number;
    total += ms;
    const shapes = k.inputShapes.map((s) => `[${s}]`);
    const shape = `${k.name} ${shapes.length > 4 ? `${shapes.slice(0, 2).join(' ')} ... (${shapes.length} inputs)` : shapes.join(' ')}`;
    for (const [m, key] of [[byName, k.name], [byShape, shape]] as const) {
      const e = m.get(key) ?? [0, 0];
      m.set(key, [e[0] + ms, e[1] + 1]);
    }
  }
  const top = (m: Map<string, [number, number]>, n: number) =>
    [...m].sort((a, b) => b[1][0] - a[1][0]).slice(0, n).map(([k, [ms, calls]]) => `  ${ms.toFixed(1).padStart(7)} ms ${String(calls).padStart(5)}x  ${k}`);
  console.error(`\nprofile of one reference step: ${total.toFixed(0)} ms of kernels`);
  console.error(top(byName, 12).join('\n'));
  console.error('  -- by input shapes');
  console.error(top(byShape, Number(process.env.LM_PROFILE_ROWS ?? 20)).join('\n'));
}

/** Median ms of f (tensors read back, then disposed) over reps runs after 2 warm-ups. */
async function timeIt(f: () => tf.Tensor[], reps = 9): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < reps + 2; i++) {
    const t0 = performance.now();
    const out = tf.tidy(f);
    await Promise.all(out.map((t) => t.data()));
    tf.dispose(out);
    if (i >= 2) times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(reps / 2)];
}


async function proposals(): Promise<string[]> {
  registerFastMatMulGradient();
  const rows: string[] = [];
  const row = (what: string, a: number, b: number) => rows.push(`| ${what} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(1)}x |`);
  for (const [label, B, T, d] of [['LoRA bench shape (`small`, 16 x 32, d 160, 4 heads)', 16, 32, 160], ['reference shape (16 x 128, d 128, 4 heads)', 16, 128, 128]] as const) {
    const [q, k, v, r] = [1, 2, 3, 4].map((seed) => tf.randomNormal([B * T, d], 0, 1, 'float32', seed) as tf.Tensor2D);
    const run = (attn: typeof causalAttention) => () => {
      const [dq, dk, dv] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attn(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, B, T, 4), r)))([q, k, v]);
      return [dq, dk, dv];
    };
    row(`attention core, forward + backward, ${label}`, await timeIt(run(attentionCore)), await timeIt(run(causalAttention)));
    tf.dispose([q, k, v, r]);
  }
  const u = tf.randomNormal([2048, 512], 0, 1, 'float32', 5);
  row('GELU [2048, 512], forward + backward (tanh form vs the sigmoid form ops.ts now uses)', await timeIt(() => tf.grads((x: tf.Tensor) => tf.sum(geluTanh(x)))([u])), await timeIt(() => tf.grads((x: tf.Tensor) => tf.sum(gelu(x)))([u])));
  for (const cols of [128, 512]) {
    const x = tf.randomNormal([2048, cols]);
    row(`2-D transpose [2048, ${cols}] (\`tf.transpose\` vs \`transpose2d\`)`, await timeIt(() => [tf.transpose(x)], 21), await timeIt(() => [transpose2d(x)], 21));
    x.dispose();
  }
  u.dispose();
  return rows;
}

const backend = await initNodeTf('wasm');
const results: Result[] = [];
results.push(await bench('reference', REFERENCE_LM, batchSize));
console.error(`reference: ${results[0].msPerStep.toFixed(0)} ms/step`);
results.push(await bench('small', presetConfig('small'), batchSize));
console.error(`small: ${results[1].msPerStep.toFixed(0)} ms/step`);

const cfgText = (c: ModelConfig) => `vocab ${c.vocabSize}, ${c.nLayers} layers, ${c.nHeads} heads, d ${c.dModel}, context ${c.contextLength}`;
console.log(`\nCausal LM, all base weights trained (Adam), batch ${batchSize} x context, Node ${process.versions.node} tfjs ${backend}, ${steps} steps after ${warmup} warm-up:\n`);
console.log('| model | params | ms/step | tokens/s | matMul GFLOP/step | GFLOPS |');
console.log('|---|---|---|---|---|---|');
for (const r of results) {
  const label = r.name === 'reference' ? `reference (${cfgText(r.c)})` : `\`${r.name}\` preset (${cfgText(r.c)})`;
  console.log(`| ${label} | ${(r.params / 1e6).toFixed(2)} M | ${r.msPerStep.toFixed(0)} | ${Math.round(r.tokensPerSec)} | ${r.gflop.toFixed(1)} | ${((r.gflop * 1000) / r.msPerStep).toFixed(1)} |`);
}

if (values.proposals) {
  const rows = await proposals();
  console.log('\nDrop-ins in lm.ts for shared code, ms (median), wasm:\n');
  console.log('| what | shared code now | lm.ts | speed-up |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(r);
}
