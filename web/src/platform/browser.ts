// The browser's tfjs setup and backend choice: try webgpu, webgl, wasm and cpu,
// and pick the fastest that works. A software WebGPU adapter (SwiftShader,
// isFallbackAdapter) is ~30x slower than wasm here, so it is not a candidate
// unless asked for with ?backend=webgpu.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendTry {
  name: string;
  ok: boolean;
  ms?: number;
  note?: string;
}

export interface BackendChoice {
  backend: string;
  adapterInfo: string;
  isFallbackAdapter: boolean | null;
  tried: BackendTry[];
}

let wasmConfigured = false;
function configureWasm(): void {
  if (wasmConfigured) return;
  wasmConfigured = true;
  // Threaded wasm breaks under vite's minifier and gives nothing on 2 cores.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setWasmPaths(new URL('tfjs-wasm/', document.baseURI).href);
}

interface GpuProbe {
  available: boolean;
  isFallback: boolean | null;
  info: string;
}

async function probeWebGpu(): Promise<GpuProbe> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { available: false, isFallback: null, info: 'navigator.gpu is missing' };
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { available: false, isFallback: null, info: 'no WebGPU adapter' };
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const isFallback = info?.isFallbackAdapter ?? legacy ?? null;
  const desc = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'WebGPU adapter';
  return { available: true, isFallback, info: isFallback ? `${desc} (software fallback adapter)` : desc };
}

function webglRenderer(): string {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return 'WebGL2';
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return ext ? String(gl.getParameter(ext.UNMASKED_RENDERER_WEBGL)) : String(gl.getParameter(gl.RENDERER));
}

function describe(name: string, gpu: GpuProbe | null): string {
  if (name === 'webgpu') return gpu?.info ?? 'WebGPU';
  if (name === 'webgl') return webglRenderer();
  if (name === 'wasm') return tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'WebAssembly SIMD, 1 thread' : 'WebAssembly, 1 thread';
  return 'plain JavaScript';
}

/** A forward+backward micro-step shaped like a small transformer layer; returns ms per step. */
async function microStep(): Promise<number> {
  const x = tf.randomNormal([256, 128], 0, 1, 'float32', 1);
  const w1 = tf.variable(tf.randomNormal([128, 512], 0, 0.05, 'float32', 2));
  const w2 = tf.variable(tf.randomNormal([512, 128], 0, 0.05, 'float32', 3));
  const run = async () => {
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.matMul(tf.tanh(tf.matMul(x, w1)), w2))) as tf.Scalar, [w1, w2]);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  };
  try {
    await run(); // warm-up: shader compilation, wasm tier-up
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) await run();
    return (performance.now() - t0) / 3;
  } finally {
    tf.dispose([x, w1, w2]);
  }
}

async function activate(name: string): Promise<void> {
  if (name === 'wasm') configureWasm();
  const ok = await tf.setBackend(name).catch((e: unknown) => {
    throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  });
  if (!ok) throw new Error(`${name} failed to initialise`);
  await tf.ready();
}

/**
 * `requested` (from ?backend=) forces one backend and fails loudly if it does not
 * work. Otherwise: a real (non-fallback) WebGPU adapter wins outright; else the
 * working backends among webgl and wasm race a micro-step and the fastest wins;
 * cpu is the last resort.
 */
export async function selectBackend(requested?: string | null): Promise<BackendChoice> {
  const tried: BackendTry[] = [];
  const gpu = await probeWebGpu().catch((e: unknown) => ({ available: false, isFallback: null, info: String(e) }) as GpuProbe);
  const choice = (name: string): BackendChoice => ({
    backend: name,
    adapterInfo: describe(name, gpu),
    isFallbackAdapter: name === 'webgpu' ? gpu.isFallback : null,
    tried,
  });

  if (requested) {
    if (!(BACKENDS as readonly string[]).includes(requested)) {
      throw new Error(`unknown backend "${requested}" in ?backend= (choose one of ${BACKENDS.join(', ')})`);
    }
    if (requested === 'webgpu' && !gpu.available) throw new Error(`WebGPU is not available in this browser (${gpu.info})`);
    await activate(requested);
    tried.push({ name: requested, ok: true, note: 'requested with ?backend=' });
    return choice(requested);
  }

  if (gpu.available && gpu.isFallback === false) {
    try {
      await activate('webgpu');
      tried.push({ name: 'webgpu', ok: true, note: 'hardware adapter' });
      return choice('webgpu');
    } catch (e) {
      tried.push({ name: 'webgpu', ok: false, note: String(e) });
    }
  } else {
    tried.push({ name: 'webgpu', ok: false, note: gpu.available ? 'software fallback adapter: slower than wasm' : gpu.info });
  }

  let best: { name: string; ms: number } | null = null;
  for (const name of ['webgl', 'wasm']) {
    try {
      await activate(name);
      const ms = await microStep();
      tried.push({ name, ok: true, ms });
      if (!best || ms < best.ms) best = { name, ms };
    } catch (e) {
      tried.push({ name, ok: false, note: e instanceof Error ? e.message : String(e) });
    }
  }
  const pick = best?.name ?? 'cpu';
  await activate(pick);
  if (!best) tried.push({ name: 'cpu', ok: true, note: 'last resort' });
  return choice(pick);
}
