// Named float32 tensors as plain typed arrays: what crosses the wire and what
// the federation math works on. No tfjs here.

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export type Weights = NamedTensor[];

export interface TensorHeader {
  name: string;
  shape: number[];
}

/** On the wire: headers in order, then every tensor's float32 values back to back (little-endian). */
export interface WirePayload {
  tensors: TensorHeader[];
  data: ArrayBuffer | Uint8Array;
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function weightsByteLength(w: Weights): number {
  return w.reduce((n, t) => n + t.data.byteLength, 0);
}

export function encodeWeights(w: Weights): WirePayload {
  const total = w.reduce((n, t) => n + t.data.length, 0);
  const flat = new Float32Array(total);
  let off = 0;
  for (const t of w) {
    if (t.data.length !== sizeOf(t.shape)) throw new Error(`tensor "${t.name}": ${t.data.length} values for shape [${t.shape}]`);
    flat.set(t.data, off);
    off += t.data.length;
  }
  return { tensors: w.map((t) => ({ name: t.name, shape: [...t.shape] })), data: flat.buffer };
}

export function cloneWeights(w: Weights): Weights {
  return w.map((t) => ({ name: t.name, shape: [...t.shape], data: new Float32Array(t.data) }));
}

/** Largest absolute elementwise difference; throws when names or shapes differ. */
export function maxAbsDiff(a: Weights, b: Weights): number {
  if (a.length !== b.length) throw new Error(`weights differ in tensor count: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i].name !== b[i].name || a[i].data.length !== b[i].data.length) {
      throw new Error(`weights differ at ${i}: ${a[i].name} vs ${b[i].name}`);
    }
    for (let j = 0; j < a[i].data.length; j++) m = Math.max(m, Math.abs(a[i].data[j] - b[i].data[j]));
  }
  return m;
}
