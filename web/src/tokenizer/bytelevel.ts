// GPT-2's byte-level alphabet and pre-tokenizer, as Hugging Face's ByteLevel
// pre-tokenizer applies them (so a vocabulary trained here loads anywhere).

/**
 * Byte -> printable character: printable Latin-1 bytes stay themselves, the
 * rest (controls, space, ...) move to U+0100 and up (space -> 'Ġ', '\n' -> 'Ċ').
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(keep(b) ? b : next++);
  return out;
})();

export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** GPT-2's split: contractions, letters, digits, other symbols, each with at most one leading space. */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const utf8 = new TextEncoder();

/** Pre-tokens of text, each as byte-level characters. */
export function byteLevelPieces(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(GPT2_SPLIT)) {
    let s = '';
    for (const b of utf8.encode(m[0])) s += BYTE_TO_CHAR[b];
    out.push(s);
  }
  return out;
}
