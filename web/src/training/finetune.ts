// One LoRA fine-tuning run from given base weights, start to finish: the unit of
// the "does pretraining help?" comparison (bench-pretrained, its test).
import type { LoraConfig } from '../adapters/spec.ts';
import type { ModelConfig } from '../model/config.ts';
import type { HostWeights } from '../model/init.ts';
import { LoraTrainer } from './trainer.ts';
import type { EncodedSet, FitOptions, Metrics } from './types.ts';

export interface FineTuneResult {
  /** Test metrics before any step (the adapter's fresh head) and after fit.steps steps. */
  before: Metrics;
  after: Metrics;
  trainLoss: number;
  ms: number;
}

/** A fresh adapter (seeded by fit.seed) over base, trained on train, evaluated on test. */
export async function fineTune(model: ModelConfig, lora: LoraConfig, base: HostWeights, train: EncodedSet, test: EncodedSet, fit: FitOptions): Promise<FineTuneResult> {
  const trainer = LoraTrainer.fromBase(model, lora, base, fit.seed);
  try {
    const before = await trainer.evaluate(test);
    const report = await trainer.train(train, fit);
    return { before, after: await trainer.evaluate(test), trainLoss: report.loss, ms: report.ms };
  } finally {
    trainer.dispose();
  }
}
