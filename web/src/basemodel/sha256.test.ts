import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../data/rng.ts';
import { sha256Hex, sha256Plain } from './sha256.ts';

const reference = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function bytes(n: number, seed: number): Uint8Array {
  const rng = mulberry32(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(rng() * 256));
}

describe('sha256', () => {
  it('matches the FIPS 180-4 example', () => {
    expect(sha256Plain(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Plain(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('the plain implementation agrees with node:crypto around every padding boundary', () => {
    for (const n of [1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 100_003]) {
      const b = bytes(n, n);
      expect(sha256Plain(b), `${n} bytes`).toBe(reference(b));
    }
  });

  it('sha256Hex (crypto.subtle) agrees with the plain one, also on a view into a larger buffer', async () => {
    const big = bytes(5000, 3);
    const view = big.subarray(7, 4007);
    expect(await sha256Hex(view)).toBe(reference(view));
    expect(await sha256Hex(view)).toBe(sha256Plain(view));
  });
});
