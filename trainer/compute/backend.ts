// Picks and starts the TensorFlow.js backend, fastest first (docs/ARCHITECTURE.md "Compute"): `tensorflow` on a
// CUDA GPU, `webgpu` on a real GPU, `tensorflow` on CPU, `native` (the addon's threaded kernels, where it is
// built), `wasm`, `cpu`. native, wasm and cpu get the kernels of trainer/compute/kernels.ts that training
// needs. Where `auto` passes over native, BackendInfo.fallback says why, for the start event and the panel.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; the model's backward pass needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { nativeMatMulActive, registerTrainingKernels } from './kernels';
import { hasNativeKernels, loadNativeBlas, nativeBlasUnavailableReason, openBlasCoreInUse } from '../native/blas';
import { BACKEND_CHOICES, type BackendChoice } from '../../protocol/trainer';

export type BackendRequest = BackendChoice;
export { BACKEND_CHOICES };

export interface BackendInfo {
  /** tfjs backend name: tensorflow, webgpu, wasm or cpu. */
  backend: string;
  /** What runs it, in words: "CUDA GPU", "CPU (WebAssembly SIMD, 1 thread)", ... */
  device: string;
  /** Why the native CPU backend is not the one running, when it would have been picked (auto on a CPU). */
  fallback?: string;
}

/** A backend that was asked for by name and cannot start here. */
export class BackendUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendUnavailableError';
  }
}

/** Folder holding tfjs-backend-wasm's .wasm files: dist/ when bundled, else the npm package. */
export function wasmBinaryDir(): string {
  if (fs.existsSync(path.join(__dirname, 'tfjs-backend-wasm-simd.wasm'))) return __dirname;
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
}

let wasmRegistered = false;

async function startWasm(): Promise<BackendInfo> {
  if (!wasmRegistered) {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(wasmBinaryDir() + path.sep);
    wasmRegistered = true;
  }
  registerTrainingKernels('wasm');
  if (!(await tf.setBackend('wasm'))) throw new BackendUnavailableError('the wasm backend failed to start (its .wasm binaries could not be loaded)');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return { backend: 'wasm', device: `CPU (WebAssembly${simd ? ' SIMD' : ''}, 1 thread${nativeMatMulNote('wasm')})` };
}

/** ", matMul on native BLAS" when the optional addon carries the products, so logs show which path ran. */
function nativeMatMulNote(backend: string): string {
  if (nativeMatMulActive(backend)) {
    // The library's own answer, so that a core type OpenBLAS ignored is not reported as the one used.
    const core = openBlasCoreInUse() ?? process.env.OPENBLAS_CORETYPE;
    return `; matMul: native BLAS${core ? `, OpenBLAS ${core}` : ''}`;
  }
  return nativeBlasUnavailableReason() ? `; native BLAS matMul ${nativeBlasUnavailableReason()}` : '';
}

let nativeFailure: string | undefined;

/**
 * The native backend: tfjs's cpu backend with the addon's kernels (trainer/compute/nativeBackend.ts).
 * Null, with the reason in nativeFailure, where the addon is not built, fails to load or predates
 * the kernels.
 */
async function startNative(): Promise<BackendInfo | null> {
  const addon = loadNativeBlas();
  if (!hasNativeKernels(addon)) {
    nativeFailure = addon
      ? 'the native addon was built before its kernels existed (run `npm run build:native`)'
      : `the native addon is ${nativeBlasUnavailableReason() ?? 'not available'}`;
    return null;
  }
  try {
    await import('@tensorflow/tfjs-backend-cpu');
    const { NATIVE_BACKEND, NativeBackend, poolLimitFromEnv } = await import('./nativeBackend');
    const { registerNativeKernelTable } = await import('./nativeKernels');
    registerNativeKernelTable();
    if (!tf.findBackendFactory(NATIVE_BACKEND)) tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(addon, poolLimitFromEnv()), 0);
    registerTrainingKernels(NATIVE_BACKEND);
    if (!(await tf.setBackend(NATIVE_BACKEND))) throw new Error('tf.setBackend returned false');
  } catch (err) {
    nativeFailure = `the native backend failed to start: ${err instanceof Error ? err.message : String(err)}`;
    return null;
  }
  const core = openBlasCoreInUse() ?? process.env.OPENBLAS_CORETYPE;
  const threads = addon.threads();
  return { backend: 'native', device: `CPU (native kernels, ${threads} thread${threads === 1 ? '' : 's'}; BLAS${core ? `: OpenBLAS ${core}` : ''})` };
}

async function startCpu(): Promise<BackendInfo> {
  await import('@tensorflow/tfjs-backend-cpu');
  registerTrainingKernels('cpu');
  if (!(await tf.setBackend('cpu'))) throw new BackendUnavailableError('the cpu backend failed to start');
  return { backend: 'cpu', device: `CPU (plain JavaScript${nativeMatMulNote('cpu')})` };
}

/** tfjs-node(-gpu) through trainer/nativeBackends.ts; null when not installed or not loadable. */
let tensorflowFailure: string | undefined;

async function startTensorflow(gpu: boolean, searchPaths: string[] | undefined): Promise<BackendInfo | null> {
  let native: unknown;
  try {
    const { loadNativeTfjs, nativeTfjsUnavailableReason } = await import('../nativeBackends');
    native = loadNativeTfjs({ gpu, searchPaths });
    if (!native) tensorflowFailure = nativeTfjsUnavailableReason();
  } catch (err) {
    tensorflowFailure = err instanceof Error ? err.message : String(err);
    return null;
  }
  if (!native) return null;
  if (!tf.findBackend('tensorflow') || !(await tf.setBackend('tensorflow'))) {
    tensorflowFailure = 'the package loaded but did not register a working tensorflow backend with this copy of tfjs-core';
    return null;
  }
  return { backend: 'tensorflow', device: gpu ? 'CUDA GPU (libtensorflow)' : 'CPU (libtensorflow)' };
}

// ---------------------------------------------------------------------------------------------------
// webgpu through Dawn (the `webgpu` npm package, prebuilt for Linux, macOS and Windows).

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}
interface DawnModule {
  create(options: string[]): { requestAdapter(options?: object): Promise<GpuAdapterLike | null> };
  globals: Record<string, unknown>;
}

/** An adapter that rasterises on the CPU (Mesa llvmpipe/lavapipe/softpipe, SwiftShader, WARP): never worth picking automatically. */
export function isSoftwareAdapter(adapter: GpuAdapterLike): boolean {
  if (adapter.isFallbackAdapter || adapter.info?.isFallbackAdapter) return true;
  const i = adapter.info ?? {};
  const text = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ');
  return /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b|software/i.test(text);
}

/** "GPU name (description)" from what the adapter reports. */
export function adapterDescription(adapter: GpuAdapterLike): string {
  const i = adapter.info ?? {};
  const name = [i.vendor, i.device || i.architecture].filter(Boolean).join(' ').trim();
  const parts = [name, i.description].filter((x): x is string => !!x && x.length > 0);
  return parts.length ? [...new Set(parts)].join(', ') : 'unknown adapter';
}

let webgpuFailure: string | undefined;

/**
 * Whether a GPU device node exists (Linux: /dev/dri/renderD*, /dev/nvidia*; elsewhere assumed). `auto`
 * skips Dawn where there is none: its probe costs time and prints Vulkan warnings to stderr.
 */
export function mayHaveGpu(devDir = '/dev'): boolean {
  if (process.platform !== 'linux') return true;
  try {
    if (fs.readdirSync(devDir).some((f) => f.startsWith('nvidia'))) return true;
    return fs.readdirSync(path.join(devDir, 'dri')).some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

function loadDawn(): DawnModule {
  // The package's own index.js is an ES module; its native part is a plain addon, loaded at run time.
  const req = createRequire(__filename);
  const dir = path.dirname(req.resolve('webgpu/package.json'));
  const arch = process.platform === 'darwin' ? 'universal' : process.arch;
  const file = path.join(dir, 'dist', `${process.platform}-${arch}`, 'dawn.node');
  if (!fs.existsSync(file)) throw new Error(`the webgpu package has no build for ${process.platform}-${arch}`);
  return req(file) as DawnModule;
}

/**
 * webgpu on a real GPU (Vulkan, Metal, D3D12); with `allowSoftware` it also takes Mesa's llvmpipe
 * through OpenGL ES in Dawn's compatibility mode, which trains correctly on a machine without a GPU
 * but ~10x slower than wasm: only for testing the path (FINETUNE_WEBGPU_SOFTWARE=1 with a forced
 * `--backend webgpu`). Null, with the reason in webgpuFailure, when there is no such adapter.
 */
async function startWebgpu(allowSoftware: boolean): Promise<BackendInfo | null> {
  let dawn: DawnModule;
  try {
    dawn = loadDawn();
  } catch (err) {
    webgpuFailure = `the webgpu package is not installed or cannot load (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
    return null;
  }
  let gpu = dawn.create([]);
  let adapterOptions: object = { powerPreference: 'high-performance' };
  let adapter = await gpu.requestAdapter(adapterOptions);
  let software = adapter ? isSoftwareAdapter(adapter) : false;
  if ((!adapter || software) && allowSoftware) {
    if (process.platform === 'linux' && !process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
    const gles = dawn.create(['backend=opengles']);
    const glOptions = { featureLevel: 'compatibility' };
    const glAdapter = await gles.requestAdapter(glOptions);
    if (glAdapter) {
      gpu = gles;
      adapterOptions = glOptions;
      adapter = glAdapter;
      software = isSoftwareAdapter(glAdapter);
    }
  }
  if (!adapter) {
    webgpuFailure = `no WebGPU adapter was found (no Vulkan, Metal or D3D12 GPU)${allowSoftware ? ', and no OpenGL ES software fallback' : ''}`;
    return null;
  }
  if (software && !allowSoftware) {
    webgpuFailure = `only a software adapter was found (${adapterDescription(adapter)}; set FINETUNE_WEBGPU_SOFTWARE=1 to use it anyway, for testing)`;
    return null;
  }
  // tfjs-backend-webgpu looks for navigator.gpu when it is loaded and asks it for an adapter when the
  // backend starts; hand it the instance and options chosen here (a fresh adapter each time: one that
  // made a device is spent).
  const chosen = gpu;
  const chosenOptions = adapterOptions;
  Object.assign(globalThis, dawn.globals);
  const nav = ((globalThis as { navigator?: object }).navigator ?? {}) as Record<string, unknown>;
  Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
  nav.gpu = { requestAdapter: () => chosen.requestAdapter(chosenOptions), getPreferredCanvasFormat: () => 'rgba8unorm' };
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(tf.engine().registryFactory as Record<string, unknown>)['webgpu']) {
    webgpuFailure = 'tfjs-backend-webgpu did not register (navigator.gpu was not seen)';
    return null;
  }
  try {
    if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend returned false');
  } catch (err) {
    webgpuFailure = `the webgpu backend failed to start: ${err instanceof Error ? err.message : String(err)}`;
    return null;
  }
  return { backend: 'webgpu', device: `GPU: ${adapterDescription(adapter)}${software ? ' (software rasterizer: slow, for testing only)' : ''}` };
}

let current: { requested: BackendRequest; info: BackendInfo } | undefined;

/**
 * Starts the backend (idempotent: the same request returns the running one). `auto` takes the first
 * that works; a named backend that cannot start is an error, never a silent fallback.
 */
export async function initBackend(requested: BackendRequest = 'auto', opts: { nativeSearchPaths?: string[] } = {}): Promise<BackendInfo> {
  if (!BACKEND_CHOICES.includes(requested)) {
    throw new BackendUnavailableError(`unknown backend '${String(requested)}' (choose ${BACKEND_CHOICES.join(', ')})`);
  }
  if (current && current.requested === requested && tf.getBackend() === current.info.backend) return current.info;
  // PROD silences tfjs's console banners ("looks like you are running TensorFlow.js in Node.js"), which
  // would otherwise land in the trainer's stderr log on every run.
  tf.env().set('PROD', true);
  let info: BackendInfo | null = null;
  switch (requested) {
    case 'auto':
      info = await startTensorflow(true, opts.nativeSearchPaths);
      // webgpu only on a real GPU adapter; a software one is slower than wasm.
      if (!info && mayHaveGpu()) info = await startWebgpu(false).catch(() => null);
      if (!info) info = await startTensorflow(false, opts.nativeSearchPaths);
      if (!info) {
        info = await startNative();
        const whyNotNative = info ? undefined : nativeFailure;
        if (!info) {
          try {
            info = await startWasm();
          } catch {
            info = await startCpu();
          }
        }
        if (whyNotNative) info = { ...info, fallback: `native CPU backend not used: ${whyNotNative}` };
      }
      break;
    case 'tensorflow':
      info = (await startTensorflow(true, opts.nativeSearchPaths)) ?? (await startTensorflow(false, opts.nativeSearchPaths));
      if (!info) {
        throw new BackendUnavailableError(
          `backend 'tensorflow' is not available: @tensorflow/tfjs-node (or -node-gpu) is not installed or failed to load${tensorflowFailure ? ` (${tensorflowFailure})` : ''}; install it or use --backend wasm`,
        );
      }
      break;
    case 'webgpu':
      info = await startWebgpu(process.env.FINETUNE_WEBGPU_SOFTWARE === '1').catch((err: unknown) => {
        webgpuFailure = err instanceof Error ? err.message : String(err);
        return null;
      });
      if (!info) throw new BackendUnavailableError(`backend 'webgpu' is not available: ${webgpuFailure ?? 'unknown reason'}; use --backend auto, wasm or cpu`);
      break;
    case 'native':
      info = await startNative();
      if (!info) throw new BackendUnavailableError(`backend 'native' is not available: ${nativeFailure ?? 'unknown reason'}; use --backend auto or wasm`);
      break;
    case 'wasm':
      info = await startWasm();
      break;
    case 'cpu':
      info = await startCpu();
      break;
  }
  current = { requested, info: info! };
  return info!;
}
