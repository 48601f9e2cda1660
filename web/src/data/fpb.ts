// Financial PhraseBank v1.0 (Malo et al., 2014): Sentences_{50,66,75,All}Agree.txt.
// ISO-8859-1 text, CRLF line ends, one `sentence@label` per line (the last '@'
// splits), labels negative / neutral / positive. Sentences are already split into
// space-separated tokens, the layout the rest of tabfed's text uses.
import { LABELS, type Example } from './synthetic.ts';
import type { LabeledDataset } from './clientData.ts';
import { deriveSeed, mulberry32, shuffleInPlace } from './rng.ts';

export const FPB_FILES = ['Sentences_50Agree.txt', 'Sentences_66Agree.txt', 'Sentences_75Agree.txt', 'Sentences_AllAgree.txt'] as const;

export class FpbFormatError extends Error {
  constructor(message: string) {
    super(`Financial PhraseBank: ${message}`);
    this.name = 'FpbFormatError';
  }
}

/** Parses a file's bytes (latin-1); every line must be `sentence@label`. Labels use LABELS' ids. */
export function parseFpb(bytes: Uint8Array): Example[] {
  const text = new TextDecoder('latin1').decode(bytes);
  const out: Example[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const at = line.lastIndexOf('@');
    if (at < 0) throw new FpbFormatError(`line ${i + 1} has no "@label": "${line.slice(0, 60)}"`);
    const sentence = line.slice(0, at).trim();
    const name = line.slice(at + 1).trim();
    const label = (LABELS as readonly string[]).indexOf(name);
    if (label < 0) throw new FpbFormatError(`line ${i + 1} has label "${name}", expected one of ${LABELS.join(', ')}`);
    if (!sentence) throw new FpbFormatError(`line ${i + 1} has an empty sentence`);
    out.push({ text: sentence, label });
  });
  if (out.length === 0) throw new FpbFormatError('the file has no sentences');
  return out;
}

/**
 * A seeded, stratified train/test split (each label keeps its share in both).
 * Same seed, same split.
 */
export function splitDataset(examples: readonly Example[], testFraction: number, seed: number): LabeledDataset {
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`splitDataset: testFraction must be in (0, 1), got ${testFraction}`);
  const train: Example[] = [];
  const test: Example[] = [];
  const byLabel = new Map<number, Example[]>();
  for (const e of examples) {
    if (!byLabel.has(e.label)) byLabel.set(e.label, []);
    byLabel.get(e.label)!.push(e);
  }
  for (const label of [...byLabel.keys()].sort((a, b) => a - b)) {
    const xs = shuffleInPlace([...byLabel.get(label)!], mulberry32(deriveSeed(seed, `split/${label}`)));
    const nTest = Math.round(xs.length * testFraction);
    test.push(...xs.slice(0, nTest));
    train.push(...xs.slice(nTest));
  }
  const rng = mulberry32(deriveSeed(seed, 'split/order'));
  return { train: shuffleInPlace(train, rng), test: shuffleInPlace(test, rng) };
}
