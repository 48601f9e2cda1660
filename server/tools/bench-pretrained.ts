// npm run bench:pretrained [-- --steps 300 --seeds 2 --task all|builtin|fpb --targets q,k,v,o,fc_in,fc_out --fpb-file Sentences_50Agree.txt]
//
// Does pretraining help? LoRA fine-tuning (r=8 on every linear layer, as QLoRA
// recommends, + a classification head)
// from the shipped pretrained base vs. from a seeded random base of the same
// architecture, same tokenizer, same steps, same seeds; on the built-in dataset
// and on Financial PhraseBank (../shared/datasets/fpb). Centralized training:
// the comparison is about the base, not about federation.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoraConfig } from '../../web/src/adapters/spec.ts';
import { buildCentralData, type LabeledDataset } from '../../web/src/data/clientData.ts';
import { labelHistogram } from '../../web/src/data/encode.ts';
import { parseFpb, splitDataset } from '../../web/src/data/fpb.ts';
import { generateDataset, LABELS } from '../../web/src/data/synthetic.ts';
import { baseParameterCount } from '../../web/src/model/config.ts';
import { initBaseWeights } from '../../web/src/model/init.ts';
import { loadBaseModelDir, SHIPPED_MODELS_DIR } from '../../web/src/platform/files.ts';
import { initNodeTf } from '../../web/src/platform/node.ts';
import { fineTune } from '../../web/src/training/finetune.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(SHIPPED_MODELS_DIR, 'tabfed-brown') },
    steps: { type: 'string', default: '300' },
    seeds: { type: 'string', default: '2' },
    batch: { type: 'string', default: '16' },
    lr: { type: 'string', default: '0.003' },
    rank: { type: 'string', default: '8' },
    targets: { type: 'string', default: 'q,k,v,o,fc_in,fc_out' },
    'fpb-file': { type: 'string', default: 'Sentences_50Agree.txt' },
    'random-seed': { type: 'string', default: '1' },
    task: { type: 'string', default: 'all' },
  },
});
const steps = Number(values.steps);
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i + 1);
const lora: LoraConfig = { rank: Number(values.rank), alpha: 2 * Number(values.rank), dropout: 0, targets: values.targets!.split(',') as LoraConfig['targets'] };

await initNodeTf('wasm');
const modelDir = resolve(values.model!);
const pretrained = loadBaseModelDir(modelDir, LABELS.length);
const { model, tokenizer } = pretrained;
const bases = {
  pretrained: pretrained.base,
  random: initBaseWeights(model, Number(values['random-seed'])),
};

const fpbPath = resolve('../shared/datasets/fpb', values['fpb-file']!);
const allTasks: { key: string; name: string; seqLen: number; data: () => LabeledDataset }[] = [
  { key: 'builtin', name: 'built-in (generated financial news)', seqLen: 32, data: () => generateDataset(7) },
  { key: 'fpb', name: `Financial PhraseBank (${values['fpb-file']}, 80/20 split)`, seqLen: 64, data: () => splitDataset(parseFpb(new Uint8Array(readFileSync(fpbPath))), 0.2, 1) },
];
const tasks = allTasks.filter((t) => values.task === 'all' || values.task === t.key);
if (tasks.length === 0) throw new Error(`--task must be all, ${allTasks.map((t) => t.key).join(' or ')}; got "${values.task}"`);

console.log(`base: ${modelDir} (${baseParameterCount(model).toLocaleString('en')} parameters, vocab ${model.vocabSize}, ${model.nLayers} layers, d ${model.dModel})`);
console.log(`LoRA r=${lora.rank} alpha=${lora.alpha} on ${lora.targets.join(',')} + head; ${steps} steps, batch ${values.batch}, Adam lr ${values.lr}; seeds ${seeds.join(', ')}; tfjs wasm in Node\n`);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const pct = (x: number) => (100 * x).toFixed(1);
const rows: string[] = [];
const t0 = performance.now();
for (const task of tasks) {
  const data = buildCentralData({ dataSeed: 7, seqLen: task.seqLen }, tokenizer, task.data());
  const testCounts = labelHistogram(data.globalTest.labels, LABELS.length);
  const majority = Math.max(...testCounts) / data.globalTest.n;
  console.log(`${task.name}: ${data.train.n} train / ${data.globalTest.n} test, seqLen ${task.seqLen}; majority class ${pct(majority)} %`);
  const result: Record<string, { acc: number[]; f1: number[] }> = {};
  for (const [name, base] of Object.entries(bases)) {
    result[name] = { acc: [], f1: [] };
    for (const seed of seeds) {
      const r = await fineTune(model, lora, base, data.train, data.globalTest, { steps, batchSize: Number(values.batch), learningRate: Number(values.lr), seed });
      result[name].acc.push(r.after.accuracy);
      result[name].f1.push(r.after.macroF1);
      console.log(`  ${name.padEnd(10)} seed ${seed}: accuracy ${pct(r.after.accuracy)} %, macro-F1 ${pct(r.after.macroF1)} %, train loss ${r.trainLoss.toFixed(3)} (${(r.ms / steps).toFixed(0)} ms/step)`);
    }
  }
  const p = result.pretrained;
  const q = result.random;
  rows.push(
    `| ${task.name} | ${pct(majority)} | ${pct(mean(q.acc))} ± ${pct(sd(q.acc))} | ${pct(mean(p.acc))} ± ${pct(sd(p.acc))} | ${pct(mean(q.f1))} | ${pct(mean(p.f1))} |`,
  );
}
console.log(`\nmean ± sd over ${seeds.length} seeds, ${steps} LoRA steps each (${((performance.now() - t0) / 1000).toFixed(0)} s in all):\n`);
console.log('| task | majority class % | random base: accuracy % | pretrained base: accuracy % | random: macro-F1 % | pretrained: macro-F1 % |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
