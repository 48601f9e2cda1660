// Classification metrics as pure functions.
import type { Metrics } from '../protocol/messages.ts';

export function confusionMatrix(preds: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number[][] {
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][preds[i]]++;
  return m;
}

/** Macro-F1: the unweighted mean of per-class F1 over classes present in labels or predictions. */
export function macroF1(preds: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): number {
  const m = confusionMatrix(preds, labels, numClasses);
  let sum = 0;
  let k = 0;
  for (let c = 0; c < numClasses; c++) {
    const tp = m[c][c];
    const support = m[c].reduce((a, b) => a + b, 0);
    const predicted = m.reduce((a, row) => a + row[c], 0);
    if (support === 0 && predicted === 0) continue;
    sum += tp === 0 ? 0 : (2 * tp) / (support + predicted);
    k++;
  }
  return k === 0 ? 0 : sum / k;
}

export function classificationMetrics(preds: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number, lossSum: number): Metrics {
  const n = labels.length;
  if (n === 0) return { accuracy: 0, macroF1: 0, loss: 0, numExamples: 0 };
  let correct = 0;
  for (let i = 0; i < n; i++) if (preds[i] === labels[i]) correct++;
  return { accuracy: correct / n, macroF1: macroF1(preds, labels, numClasses), loss: lossSum / n, numExamples: n };
}
