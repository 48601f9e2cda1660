// npm run bench:federated [-- --base tabfed-brown|random --preset tiny --clients 4 --rounds 10 --steps 20 --alpha 0.5 --lr 0.003 --rank 8 --targets q,v]
// (defaults: the app's default federation config)
// The experiment tabfed lets people watch, run in one process: FedAvg over K
// non-IID shards vs. centralized training on the union vs. each institution
// alone, same model, same optimizer, same number of local steps per client.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NUM_CLASSES } from '../../web/src/data/synthetic.ts';
import { buildCentralData, buildClientData, type ClientData } from '../../web/src/data/clientData.ts';
import { WordTokenizer } from '../../web/src/data/tokenizer.ts';
import { fedAvg } from '../../web/src/federation/fedavg.ts';
import type { Weights } from '../../web/src/federation/weights.ts';
import { presetConfig, type PresetName } from '../../web/src/model/config.ts';
import { loadBaseModelDir, SHIPPED_MODELS_DIR } from '../../web/src/platform/files.ts';
import { initNodeTf } from '../../web/src/platform/node.ts';
import { DEFAULT_CONFIG, type FederationConfig } from '../../web/src/protocol/config.ts';
import { LoraTrainer } from '../../web/src/training/trainer.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string', default: DEFAULT_CONFIG.base },
    preset: { type: 'string', default: DEFAULT_CONFIG.preset },
    clients: { type: 'string', default: String(DEFAULT_CONFIG.numShards) },
    rounds: { type: 'string', default: String(DEFAULT_CONFIG.rounds) },
    steps: { type: 'string', default: String(DEFAULT_CONFIG.localSteps) },
    alpha: { type: 'string', default: String(DEFAULT_CONFIG.dirichletAlpha) },
    lr: { type: 'string', default: String(DEFAULT_CONFIG.learningRate) },
    targets: { type: 'string', default: DEFAULT_CONFIG.lora.targets.join(',') },
    rank: { type: 'string', default: String(DEFAULT_CONFIG.lora.rank) },
  },
});
const K = Number(values.clients);
const R = Number(values.rounds);
const cfg: FederationConfig = {
  ...DEFAULT_CONFIG,
  base: values.base!,
  preset: values.preset as PresetName,
  numShards: K,
  dirichletAlpha: Number(values.alpha),
  rounds: R,
  localSteps: Number(values.steps),
  learningRate: Number(values.lr),
  lora: { ...DEFAULT_CONFIG.lora, rank: Number(values.rank), alpha: 2 * Number(values.rank), targets: values.targets!.split(',') as FederationConfig['lora']['targets'] },
};
// The base: a model under public/models/ (the app's default) or 'random' (the preset's seeded init).
const pretrained = cfg.base === 'random' ? null : loadBaseModelDir(join(SHIPPED_MODELS_DIR, cfg.base), NUM_CLASSES);
const model = pretrained?.model ?? presetConfig(cfg.preset);
const fit = (seed: number, steps = cfg.localSteps) => ({ steps, batchSize: cfg.batchSize, learningRate: cfg.learningRate, seed });

await initNodeTf('wasm');
const t0 = performance.now();
const tokenizer = pretrained?.tokenizer ?? WordTokenizer.builtin(model.vocabSize);
const shards: ClientData[] = Array.from({ length: K }, (_, k) => buildClientData(cfg, k, tokenizer));
const central = buildCentralData(cfg, tokenizer);
const trainer = pretrained ? LoraTrainer.fromBase(model, cfg.lora, pretrained.base, cfg.modelSeed) : LoraTrainer.create(model, cfg.lora, { modelSeed: cfg.modelSeed });
const initial = await trainer.getAdapter();
const accuracyOf = async (w: Weights) => {
  trainer.setAdapter(w);
  return (await trainer.evaluate(central.globalTest)).accuracy;
};

// Federated: R rounds of FedAvg over all K clients.
let global = initial;
const fedCurve = [await accuracyOf(global)];
for (let r = 1; r <= R; r++) {
  const results = [];
  for (let k = 0; k < K; k++) {
    trainer.setAdapter(global);
    await trainer.train(shards[k].train, fit(r * 1000 + k));
    results.push({ weights: await trainer.getAdapter(), numExamples: shards[k].train.n });
  }
  global = fedAvg(results);
  fedCurve.push(await accuracyOf(global));
  console.error(`round ${r}: federated global accuracy ${fedCurve[r].toFixed(3)}`);
}

// Centralized: one learner on the union, the same total number of steps as all clients together.
trainer.setAdapter(initial);
await trainer.train(central.train, fit(42, R * K * cfg.localSteps));
const centralAcc = (await trainer.evaluate(central.globalTest)).accuracy;

// Local only: each institution trains alone for R rounds' worth of steps.
const localAccs: number[] = [];
for (let k = 0; k < K; k++) {
  trainer.setAdapter(initial);
  await trainer.train(shards[k].train, fit(7 + k, R * cfg.localSteps));
  localAccs.push((await trainer.evaluate(central.globalTest)).accuracy);
}
trainer.dispose();

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const baseName = pretrained ? `\`${cfg.base}\` pretrained base` : `\`${cfg.preset}\` preset's random base`;
console.log(`\n${baseName}, LoRA r=${cfg.lora.rank} on ${cfg.lora.targets.join(',')}, ${K} clients, Dirichlet alpha ${cfg.dirichletAlpha}, ${R} rounds x ${cfg.localSteps} local steps, batch ${cfg.batchSize}, lr ${cfg.learningRate}; accuracy on the global test set (${central.globalTest.n} examples):\n`);
console.log('| setting | accuracy |');
console.log('|---|---|');
console.log(`| before training (round 0) | ${pct(fedCurve[0])} |`);
console.log(`| federated (FedAvg) | ${pct(fedCurve[R])} |`);
console.log(`| centralized (union of shards) | ${pct(centralAcc)} |`);
console.log(`| local only, mean of ${K} institutions | ${pct(localAccs.reduce((a, b) => a + b, 0) / K)} |`);
console.log(`| local only, best institution | ${pct(Math.max(...localAccs))} |`);
console.log(`\nfederated accuracy per round: ${fedCurve.map((a) => a.toFixed(3)).join(' ')}`);
console.log(`(${((performance.now() - t0) / 1000).toFixed(0)} s on wasm)`);
