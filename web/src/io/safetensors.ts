// Hugging Face safetensors, read and written with Uint8Array/DataView only (no
// Node APIs), so the same code runs in a tab, in Node and on the server.
//
// Layout: u64 little-endian header length N | N bytes of UTF-8 JSON header |
// data section. The header maps tensor names to
// { dtype, shape, data_offsets: [begin, end] } (offsets relative to the data
// section) plus an optional "__metadata__": { string: string }. Validation
// follows the reference implementation (huggingface/safetensors): the tensors
// must tile the data section exactly, with no gaps, overlaps or trailing bytes.

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`safetensors: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** The reference implementation refuses headers above 100 MB. */
export const MAX_HEADER_SIZE = 100_000_000;

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'U64' | 'I32' | 'U32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL';

export type TensorData = Float64Array | Float32Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array | BigInt64Array | BigUint64Array;

interface ArrayCtor {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData;
  readonly name: string;
}

/** Storage per dtype. F16 and BF16 keep their raw bits in a Uint16Array (see toFloat32, encodeF16, encodeBF16). */
const DTYPES: Record<Dtype, { size: number; array: ArrayCtor }> = {
  F64: { size: 8, array: Float64Array },
  F32: { size: 4, array: Float32Array },
  F16: { size: 2, array: Uint16Array },
  BF16: { size: 2, array: Uint16Array },
  I64: { size: 8, array: BigInt64Array },
  U64: { size: 8, array: BigUint64Array },
  I32: { size: 4, array: Int32Array },
  U32: { size: 4, array: Uint32Array },
  I16: { size: 2, array: Int16Array },
  U16: { size: 2, array: Uint16Array },
  I8: { size: 1, array: Int8Array },
  U8: { size: 1, array: Uint8Array },
  BOOL: { size: 1, array: Uint8Array },
};
export const DTYPE_NAMES = Object.keys(DTYPES) as Dtype[];

/** Dtypes the format defines that this module does not decode (named in the error, not called unknown). */
const UNSUPPORTED = ['F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64'];

export interface SafeTensor {
  dtype: Dtype;
  shape: number[];
  /**
   * Little-endian values decoded for this host. When the bytes are aligned (and
   * the host is little-endian) this is a view into the input buffer, not a copy.
   */
  data: TensorData;
}

export interface SafetensorsFile {
  /** In data-offset order. */
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

export interface TensorToWrite {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** The dtype's own typed array (Uint16Array of raw bits for F16/BF16); a plain number[] is also accepted for the other non-64-bit-integer dtypes. */
  data: TensorData | number[];
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function dtypeSize(dtype: Dtype): number {
  return DTYPES[dtype].size;
}

function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.hasOwn(DTYPES, s);
}

function checkDtype(name: string, dtype: unknown): Dtype {
  if (isDtype(dtype)) return dtype;
  if (typeof dtype === 'string' && UNSUPPORTED.includes(dtype)) throw new SafetensorsError(`tensor "${name}": unsupported dtype "${dtype}" (supported: ${DTYPE_NAMES.join(', ')})`);
  throw new SafetensorsError(`tensor "${name}": unknown dtype ${JSON.stringify(dtype)} (supported: ${DTYPE_NAMES.join(', ')})`);
}

function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw new SafetensorsError(`tensor "${name}": shape must be an array, got ${JSON.stringify(shape)}`);
  for (const s of shape) {
    if (!Number.isSafeInteger(s) || s < 0) throw new SafetensorsError(`tensor "${name}": shape entries must be non-negative integers, got [${shape.map((x) => JSON.stringify(x))}]`);
  }
  return shape as number[];
}

/** Product of the shape, refusing sizes past 2^53 (the reference refuses overflow). */
function elementCount(name: string, shape: number[]): number {
  let n = 1;
  for (const s of shape) {
    n *= s;
    if (!Number.isSafeInteger(n)) throw new SafetensorsError(`tensor "${name}": shape [${shape}] is too large`);
  }
  return n;
}

// ---------------------------------------------------------------- reading

function readHeaderLength(bytes: Uint8Array): number {
  if (bytes.length < 8) throw new SafetensorsError(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) throw new SafetensorsError(`header length ${n} exceeds the ${MAX_HEADER_SIZE}-byte limit`);
  if (8n + n > BigInt(bytes.length)) throw new SafetensorsError(`header length ${n} runs past the end of the ${bytes.length}-byte file`);
  return Number(n);
}

function parseHeaderJson(raw: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new SafetensorsError('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new SafetensorsError('header JSON is not an object');
  const dup = firstDuplicateTopLevelKey(text);
  if (dup !== undefined) throw new SafetensorsError(`duplicate tensor name "${dup}" in the header`);
  return json as Record<string, unknown>;
}

/**
 * JSON.parse keeps the last of two equal keys silently, so scan the (already
 * valid) JSON text for the keys of the top-level object.
 */
function firstDuplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth !== 1) continue;
      let j = i + 1;
      while (/\s/.test(text[j])) j++;
      if (text[j] !== ':') continue;
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (seen.has(key)) return key;
      seen.add(key);
    }
  }
  return undefined;
}

function parseMetadata(m: unknown): Record<string, string> {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new SafetensorsError('"__metadata__" must be an object of strings');
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') throw new SafetensorsError(`"__metadata__" value for "${k}" must be a string, got ${JSON.stringify(v)}`);
  }
  return { ...(m as Record<string, string>) };
}

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, info: unknown): Entry {
  if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new SafetensorsError(`tensor "${name}": header entry must be an object`);
  const { dtype, shape, data_offsets: off } = info as Record<string, unknown>;
  const d = checkDtype(name, dtype);
  const s = checkShape(name, shape);
  if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw new SafetensorsError(`tensor "${name}": data_offsets must be two non-negative integers, got ${JSON.stringify(off)}`);
  }
  const [begin, end] = off as number[];
  if (end < begin) throw new SafetensorsError(`tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
  const want = elementCount(name, s) * DTYPES[d].size;
  if (end - begin !== want) {
    throw new SafetensorsError(`tensor "${name}": data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${d} [${s}] needs ${want}`);
  }
  return { name, dtype: d, shape: s, begin, end };
}

/** The tensors, sorted by offset, must tile [0, dataLength) exactly. */
function checkLayout(entries: Entry[], dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev = '';
  for (const e of entries) {
    if (e.end > dataLength) throw new SafetensorsError(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] go past the end of the ${dataLength}-byte data section`);
    if (e.begin < pos) throw new SafetensorsError(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap tensor "${prev}" (which ends at ${pos})`);
    if (e.begin > pos) throw new SafetensorsError(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] leave a gap of ${e.begin - pos} bytes after offset ${pos}`);
    pos = e.end;
    prev = e.name;
  }
  if (pos !== dataLength) throw new SafetensorsError(`tensors cover ${pos} bytes but the data section has ${dataLength} (trailing bytes)`);
}

/** Typed-array view of little-endian bytes: a view when possible, else an aligned (and, on big-endian hosts, swapped) copy. */
function view(bytes: Uint8Array, start: number, byteLength: number, dtype: Dtype): TensorData {
  const { size, array } = DTYPES[dtype];
  const abs = bytes.byteOffset + start;
  if (LITTLE_ENDIAN_HOST && abs % size === 0) return new array(bytes.buffer, abs, byteLength / size);
  const copy = bytes.slice(start, start + byteLength);
  if (!LITTLE_ENDIAN_HOST) swapBytes(copy, size);
  return new array(copy.buffer, 0, byteLength / size);
}

function swapBytes(b: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}

export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  const n = readHeaderLength(bytes);
  const header = parseHeaderJson(bytes.subarray(8, 8 + n));
  const dataStart = 8 + n;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') metadata = parseMetadata(info);
    else entries.push(parseEntry(name, info));
  }
  checkLayout(entries, bytes.length - dataStart);
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: view(bytes, dataStart + e.begin, e.end - e.begin, e.dtype) });
  }
  return { tensors, metadata };
}

// ---------------------------------------------------------------- half floats

let f16Table: Float32Array | undefined;

/** IEEE binary16 bits -> value; every one of the 65536 patterns is tabulated once. */
export function decodeF16(bits: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16Value(h);
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16Table[bits[i]];
  return out;
}

function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** bfloat16 is the top half of a float32: exact, NaN payloads included. */
export function decodeBF16(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
  return new Float32Array(u.buffer);
}

/** Round half to even. */
function roundEven(x: number): number {
  const f = Math.floor(x);
  const r = x - f;
  return r > 0.5 || (r === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/**
 * Bits of x in a binary float with expBits/mantBits, rounded to nearest even
 * directly from the float64 value (no double rounding through float32).
 * Overflow gives infinity; NaN gives the quiet NaN.
 */
function encodeFloat(x: number, expBits: number, mantBits: number): number {
  const bias = (1 << (expBits - 1)) - 1;
  const infBits = ((1 << expBits) - 1) << mantBits;
  if (Number.isNaN(x)) return infBits | (1 << (mantBits - 1));
  const sign = x < 0 || Object.is(x, -0) ? 1 << (expBits + mantBits) : 0;
  const a = Math.abs(x);
  const minExp = 1 - bias;
  // Subnormal range: the unit is 2^(minExp - mantBits); rounding up may reach the smallest normal, whose bits follow on.
  if (a < 2 ** minExp) return sign | roundEven(a * 2 ** (mantBits - minExp));
  if (a >= 2 ** (bias + 1)) return sign | infBits;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundEven(a * 2 ** (mantBits - e)); // in [2^mantBits, 2^(mantBits+1)]
  if (m === 2 ** (mantBits + 1)) {
    m /= 2;
    e++;
  }
  if (e > bias) return sign | infBits;
  return sign | ((e + bias) << mantBits) | (m - 2 ** mantBits);
}

export function encodeF16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encodeFloat(values[i], 5, 10);
  return out;
}

export function encodeBF16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encodeFloat(values[i], 8, 7);
  return out;
}

/** Values of any dtype as float32 (F32 data is returned as is, not copied). 64-bit integers may lose precision. */
export function toFloat32(t: SafeTensor): Float32Array {
  if (t.dtype === 'F32') return t.data as Float32Array;
  if (t.dtype === 'F16') return decodeF16(t.data as Uint16Array);
  if (t.dtype === 'BF16') return decodeBF16(t.data as Uint16Array);
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < t.data.length; i++) out[i] = Number(t.data[i]);
  return out;
}

// ---------------------------------------------------------------- writing

function storageOf(t: TensorToWrite): TensorData {
  const ctor = DTYPES[t.dtype].array;
  if (t.data instanceof ctor) return t.data;
  const halfOrBig = ['F16', 'BF16', 'I64', 'U64'].includes(t.dtype);
  if (Array.isArray(t.data) && !halfOrBig) {
    const out = new ctor(new ArrayBuffer(t.data.length * DTYPES[t.dtype].size), 0, t.data.length) as Exclude<TensorData, BigInt64Array | BigUint64Array>;
    out.set(t.data);
    return out;
  }
  const hint = t.dtype === 'F16' ? ' (raw bits: use encodeF16)' : t.dtype === 'BF16' ? ' (raw bits: use encodeBF16)' : '';
  throw new SafetensorsError(`tensor "${t.name}": ${t.dtype} data must be a ${ctor.name}${hint}, got ${t.data.constructor.name}`);
}

function checkToWrite(t: TensorToWrite, seen: Set<string>): TensorData {
  if (typeof t.name !== 'string' || t.name === '' || t.name === '__metadata__') throw new SafetensorsError(`invalid tensor name ${JSON.stringify(t.name)}`);
  if (seen.has(t.name)) throw new SafetensorsError(`duplicate tensor name "${t.name}"`);
  seen.add(t.name);
  checkDtype(t.name, t.dtype);
  const n = elementCount(t.name, checkShape(t.name, t.shape));
  const data = storageOf(t);
  if (data.length !== n) throw new SafetensorsError(`tensor "${t.name}": shape [${t.shape}] needs ${n} values, got ${data.length}`);
  return data;
}

function littleEndianBytes(data: TensorData, size: number): Uint8Array {
  const b = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST) return b;
  const copy = b.slice();
  swapBytes(copy, size);
  return copy;
}

/**
 * Serializes like the reference implementation: tensors laid out by dtype size
 * (largest first, so every tensor is naturally aligned) then by name; the
 * header lists "__metadata__" first, then the tensors in that order, padded
 * with spaces to a multiple of 8 bytes.
 */
export function writeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const seen = new Set<string>();
  const items = tensors.map((t) => ({ t, data: checkToWrite(t, seen), size: DTYPES[t.dtype].size }));
  items.sort((a, b) => b.size - a.size || (a.t.name < b.t.name ? -1 : a.t.name > b.t.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = parseMetadata(metadata);
  let offset = 0;
  for (const { t, data } of items) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.fill(0x20, 8, 8 + padded);
  out.set(json, 8);
  let pos = 8 + padded;
  for (const { data, size } of items) {
    out.set(littleEndianBytes(data, size), pos);
    pos += data.byteLength;
  }
  return out;
}
