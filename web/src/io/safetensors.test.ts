import { describe, expect, it } from 'vitest';
import {
  decodeBF16,
  decodeF16,
  encodeBF16,
  encodeF16,
  readSafetensors,
  SafetensorsError,
  toFloat32,
  writeSafetensors,
  type Dtype,
  type TensorToWrite,
} from './safetensors.ts';

/** A file from a header (object or literal JSON text) and a data section, header unpadded unless the text pads it. */
function build(header: object | string, data: ArrayLike<number> = []): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (name: string, shape: number[], begin: number) => ({ [name]: { dtype: 'F32', shape, data_offsets: [begin, begin + 4 * shape.reduce((a, b) => a * b, 1)] } });

function expectError(bytes: Uint8Array, message: RegExp): void {
  expect(() => readSafetensors(bytes)).toThrow(SafetensorsError);
  expect(() => readSafetensors(bytes)).toThrow(message);
}

describe('safetensors layout', () => {
  it('reads a hand-built file', () => {
    // a: F32 [2] = [1, -2] at [0, 8); b: U8 [3] = [1, 2, 3] at [8, 11).
    const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]},"__metadata__":{"format":"pt"}}';
    const bytes = build(header, [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 1, 2, 3]);
    const { tensors, metadata } = readSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['a', 'b']);
    expect(tensors.get('a')).toEqual({ dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) });
    expect(tensors.get('b')).toEqual({ dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) });
  });

  it('writes the reference layout byte for byte', () => {
    const bytes = writeSafetensors(
      [
        { name: 'b', dtype: 'U8', shape: [3], data: [1, 2, 3] },
        { name: 'a', dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) },
      ],
      { format: 'pt' },
    );
    // The header is 138 bytes of JSON, padded with 6 spaces to 144; F32 (wider) is laid out first.
    const header = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}';
    expect(header.length).toBe(138);
    const expected = [144, 0, 0, 0, 0, 0, 0, 0, ...new TextEncoder().encode(header + '      '), 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 1, 2, 3];
    expect(bytes.length).toBe(8 + 144 + 11);
    expect(Array.from(bytes)).toEqual(expected);
  });

  it('reads unaligned tensors and unaligned input buffers', () => {
    // U8 [3] first puts the F32 tensor at data offset 3; a 5-byte header keeps it odd in the file too.
    const header = { x: { dtype: 'U8', shape: [3], data_offsets: [0, 3] }, y: { dtype: 'F32', shape: [2], data_offsets: [3, 11] }, z: { dtype: 'F64', shape: [1], data_offsets: [11, 19] } };
    const data = new Uint8Array(19);
    data.set([7, 8, 9]);
    new DataView(data.buffer).setFloat32(3, 1.5, true);
    new DataView(data.buffer).setFloat32(7, -0.25, true);
    new DataView(data.buffer).setFloat64(11, Math.PI, true);
    const file = build(header, data);
    for (const shift of [0, 1, 2, 3]) {
      const holder = new Uint8Array(file.length + shift);
      holder.set(file, shift);
      const t = readSafetensors(holder.subarray(shift)).tensors;
      expect(Array.from(t.get('x')!.data as Uint8Array)).toEqual([7, 8, 9]);
      expect(Array.from(t.get('y')!.data as Float32Array)).toEqual([1.5, -0.25]);
      expect(Array.from(t.get('z')!.data as Float64Array)).toEqual([Math.PI]);
    }
  });

  it('allows empty files and zero-sized tensors', () => {
    expect(readSafetensors(writeSafetensors([])).tensors.size).toBe(0);
    const t = readSafetensors(writeSafetensors([{ name: 'e', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }])).tensors.get('e')!;
    expect(t.shape).toEqual([0, 4]);
    expect(t.data.length).toBe(0);
  });
});

describe('safetensors round trips', () => {
  const cases: TensorToWrite[] = [
    { name: 'f64', dtype: 'F64', shape: [2, 2], data: new Float64Array([Math.PI, -0, Infinity, 1e-310]) },
    { name: 'f32', dtype: 'F32', shape: [3], data: new Float32Array([1.5, -Infinity, 3.4028234663852886e38]) },
    { name: 'f16', dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0x7e00]) },
    { name: 'bf16', dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xff80]) },
    { name: 'i64', dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 62n + 1n]) },
    { name: 'u64', dtype: 'U64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
    { name: 'i32', dtype: 'I32', shape: [3], data: new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1]) },
    { name: 'u32', dtype: 'U32', shape: [1], data: new Uint32Array([2 ** 32 - 1]) },
    { name: 'i16', dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
    { name: 'u16', dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
    { name: 'i8', dtype: 'I8', shape: [1, 3], data: new Int8Array([-128, 0, 127]) },
    { name: 'u8', dtype: 'U8', shape: [2], data: new Uint8Array([0, 255]) },
    { name: 'bool', dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
  ];

  for (const c of cases) {
    it(`round-trips ${c.dtype}`, () => {
      // An odd-sized U8 neighbour checks that the writer keeps wider tensors aligned.
      const file = readSafetensors(writeSafetensors([c, { name: 'pad', dtype: 'U8', shape: [3], data: [1, 2, 3] }], { k: 'v' }));
      expect(file.metadata).toEqual({ k: 'v' });
      const t = file.tensors.get(c.name)!;
      expect(t.dtype).toBe(c.dtype);
      expect(t.shape).toEqual(c.shape);
      expect(t.data).toEqual(c.data);
    });
  }

  it('round-trips all dtypes in one file, in name order within a dtype size', () => {
    const file = readSafetensors(writeSafetensors(cases));
    expect([...file.tensors.keys()]).toEqual(['f64', 'i64', 'u64', 'f32', 'i32', 'u32', 'bf16', 'f16', 'i16', 'u16', 'bool', 'i8', 'u8']);
    for (const c of cases) expect(file.tensors.get(c.name)!.data).toEqual(c.data);
  });

  it('accepts plain arrays for numeric dtypes and rejects them where bits would be ambiguous', () => {
    const t = readSafetensors(writeSafetensors([{ name: 'a', dtype: 'I32', shape: [2], data: [5, -6] }])).tensors.get('a')!;
    expect(t.data).toEqual(new Int32Array([5, -6]));
    expect(() => writeSafetensors([{ name: 'h', dtype: 'F16', shape: [1], data: new Float32Array([1]) }])).toThrow(/F16 data must be a Uint16Array \(raw bits: use encodeF16\)/);
    expect(() => writeSafetensors([{ name: 'h', dtype: 'BF16', shape: [1], data: [1] }])).toThrow(/use encodeBF16/);
  });

  it('rejects bad tensors on write', () => {
    expect(() => writeSafetensors([{ name: 'a', dtype: 'F32', shape: [3], data: new Float32Array(2) }])).toThrow(/"a": shape \[3\] needs 3 values, got 2/);
    const a = { name: 'a', dtype: 'F32' as const, shape: [1], data: new Float32Array(1) };
    expect(() => writeSafetensors([a, a])).toThrow(/duplicate tensor name "a"/);
    expect(() => writeSafetensors([{ ...a, dtype: 'Q4' as Dtype }])).toThrow(/unknown dtype "Q4"/);
    expect(() => writeSafetensors([{ ...a, name: '__metadata__' }])).toThrow(/invalid tensor name/);
  });
});

describe('half floats', () => {
  const f16Cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [65504, 0x7bff], // max
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];

  it('encodes and decodes F16 special values', () => {
    for (const [x, bits] of f16Cases) {
      expect(encodeF16([x])[0], `encode ${x}`).toBe(bits);
      expect(Object.is(decodeF16(new Uint16Array([bits]))[0], x), `decode ${bits.toString(16)}`).toBe(true);
    }
    expect(encodeF16([NaN])[0]).toBe(0x7e00);
    expect(decodeF16(new Uint16Array([0x7e00, 0xfc01]))).toEqual(new Float32Array([NaN, NaN]));
  });

  it('rounds F16 to nearest, ties to even', () => {
    expect(encodeF16([1 + 2 ** -11])[0]).toBe(0x3c00); // tie, down to even
    expect(encodeF16([1 + 3 * 2 ** -11])[0]).toBe(0x3c02); // tie, up to even
    expect(encodeF16([1 + 2 ** -11 + 2 ** -30])[0]).toBe(0x3c01);
    expect(encodeF16([65519])[0]).toBe(0x7bff);
    expect(encodeF16([65520])[0]).toBe(0x7c00); // tie past max goes to infinity
    expect(encodeF16([-1e6])[0]).toBe(0xfc00);
    expect(encodeF16([2 ** -25])[0]).toBe(0x0000); // tie, down to zero
    expect(encodeF16([-(2 ** -25) * 1.01])[0]).toBe(0x8001);
    expect(encodeF16([1023.5 * 2 ** -24])[0]).toBe(0x0400); // subnormal rounds up into the normals
  });

  it('F16 decode then encode is the identity on every non-NaN pattern', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = encodeF16(decodeF16(all));
    for (let h = 0; h < 65536; h++) {
      const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (!nan && back[h] !== h) throw new Error(`0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
    }
  });

  it('F16 encoding picks the nearest value for random inputs', () => {
    let s = 12345;
    const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 20000; i++) {
      const x = (next() - 0.5) * 2 ** Math.floor(next() * 44 - 28);
      const h = encodeF16([x])[0];
      const [v, lo, hi] = decodeF16(new Uint16Array([h, h - 1, h + 1]));
      if ((h & 0x7fff) > 0 && (h & 0x7fff) < 0x7bff) {
        expect(Math.abs(x - v)).toBeLessThanOrEqual(Math.min(Math.abs(x - lo), Math.abs(x - hi)));
      }
    }
  });

  it('encodes and decodes BF16 special values', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3f80],
      [-2, 0xc000],
      [2 ** -133, 0x0001], // smallest subnormal
      [127 * 2 ** -133, 0x007f], // largest subnormal
      [2 ** -126, 0x0080], // smallest normal
      [(2 - 2 ** -7) * 2 ** 127, 0x7f7f], // max
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
    ];
    for (const [x, bits] of cases) {
      expect(encodeBF16([x])[0], `encode ${x}`).toBe(bits);
      expect(Object.is(decodeBF16(new Uint16Array([bits]))[0], x), `decode ${bits.toString(16)}`).toBe(true);
    }
    expect(encodeBF16([NaN])[0]).toBe(0x7fc0);
    expect(Number.isNaN(decodeBF16(new Uint16Array([0xffc1]))[0])).toBe(true);
    expect(encodeBF16([3.4028234663852886e38])[0]).toBe(0x7f80); // float32 max is past bf16 max + half an ulp
  });

  it('BF16 encoding of float32 values matches the round-to-nearest-even bit trick', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    let s = 99;
    for (let i = 0; i < 20000; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      u[0] = s;
      if (Number.isNaN(f[0])) continue;
      const expected = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) & 0xffff;
      if (encodeBF16(f)[0] !== expected) throw new Error(`0x${u[0].toString(16)}: got 0x${encodeBF16(f)[0].toString(16)}, expected 0x${expected.toString(16)}`);
    }
  });

  it('toFloat32 decodes any dtype', () => {
    const values = [0, -0, 1, -2.5, 2 ** -24, 3072, Infinity, NaN]; // exact in both formats
    const file = readSafetensors(
      writeSafetensors([
        { name: 'h', dtype: 'F16', shape: [8], data: encodeF16(values) },
        { name: 'b', dtype: 'BF16', shape: [8], data: encodeBF16(values) },
        { name: 'i', dtype: 'I8', shape: [2], data: [-3, 4] },
        { name: 'l', dtype: 'I64', shape: [1], data: new BigInt64Array([-7n]) },
      ]),
    );
    expect(toFloat32(file.tensors.get('h')!)).toEqual(new Float32Array(values));
    expect(toFloat32(file.tensors.get('b')!)).toEqual(new Float32Array(values));
    expect(toFloat32(file.tensors.get('i')!)).toEqual(new Float32Array([-3, 4]));
    expect(toFloat32(file.tensors.get('l')!)).toEqual(new Float32Array([-7]));
  });
});

describe('malformed safetensors', () => {
  it('file shorter than 8 bytes', () => {
    expectError(new Uint8Array(5), /file is 5 bytes, shorter than the 8-byte header length/);
  });

  it('header length past the end of the file', () => {
    const bytes = build('{}');
    new DataView(bytes.buffer).setBigUint64(0, 100n, true);
    expectError(bytes, /header length 100 runs past the end of the 10-byte file/);
  });

  it('header length above the limit', () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 40n, true);
    expectError(bytes, /exceeds the 100000000-byte limit/);
  });

  it('header not valid JSON', () => {
    expectError(build('{"a": '), /header is not valid JSON/);
  });

  it('header not UTF-8', () => {
    const bytes = build('{ }');
    bytes[9] = 0xff;
    expectError(bytes, /header is not valid UTF-8/);
  });

  it('header not an object', () => {
    expectError(build('[1, 2]'), /header JSON is not an object/);
    expectError(build('null'), /header JSON is not an object/);
  });

  it('bad metadata', () => {
    expectError(build({ __metadata__: { n: 1 } }), /"__metadata__" value for "n" must be a string/);
  });

  it('unknown dtype', () => {
    expectError(build({ a: { dtype: 'F12', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor "a": unknown dtype "F12"/);
    expectError(build({ a: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /tensor "a": unsupported dtype "F8_E4M3"/);
  });

  it('shape and size mismatch', () => {
    expectError(build({ a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, new Uint8Array(12)), /tensor "a": data_offsets \[0, 12\] hold 12 bytes, but F32 \[2,2\] needs 16/);
  });

  it('offsets out of range', () => {
    expectError(build(f32('a', [2], 0), new Uint8Array(4)), /tensor "a": data_offsets \[0, 8\] go past the end of the 4-byte data section/);
    expectError(build({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, new Uint8Array(4)), /tensor "a": data_offsets must be two non-negative integers/);
    expectError(build({ a: { dtype: 'U8', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)), /tensor "a": data_offsets \[4, 0\] end before they begin/);
  });

  it('overlapping offsets', () => {
    expectError(build({ ...f32('a', [2], 0), ...f32('b', [2], 4) }, new Uint8Array(12)), /tensor "b": data_offsets \[4, 12\] overlap tensor "a"/);
  });

  it('gaps and uncovered data', () => {
    expectError(build({ ...f32('a', [1], 0), ...f32('b', [1], 8) }, new Uint8Array(12)), /tensor "b": data_offsets \[8, 12\] leave a gap of 4 bytes after offset 4/);
    expectError(build(f32('a', [1], 4), new Uint8Array(8)), /tensor "a": data_offsets \[4, 8\] leave a gap of 4 bytes after offset 0/);
    expectError(build(f32('a', [1], 0), new Uint8Array(6)), /tensors cover 4 bytes but the data section has 6/);
  });

  it('negative or non-integer shape entries', () => {
    expectError(build({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }), /tensor "a": shape entries must be non-negative integers, got \[-1\]/);
    expectError(build({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 0] } }), /tensor "a": shape entries must be non-negative integers/);
    expectError(build({ a: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor "a": shape entries must be non-negative integers, got \["2"\]/);
    expectError(build({ a: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor "a": shape must be an array/);
  });

  it('duplicate names', () => {
    const entry = '{"dtype":"U8","shape":[1],"data_offsets":[0,1]}';
    expectError(build(`{"a":${entry}, "a" :${entry}}`, [1]), /duplicate tensor name "a"/);
    // Equal keys in nested objects, or escaped spellings of different names, are not duplicates.
    const ok = readSafetensors(build(`{"__metadata__":{"k":"{\\"a\\":1}","j":"x"},"a\\"":${entry}}`, [1]));
    expect([...ok.tensors.keys()]).toEqual(['a"']);
    expectError(build(`{"\\u0061":${entry},"a":${entry}}`, [1]), /duplicate tensor name "a"/);
  });
});
