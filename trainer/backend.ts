// Picks and starts the TensorFlow.js backend, fastest first (DESIGN.md "Compute"): `tensorflow` on a
// CUDA GPU, `webgpu` on a real GPU, `tensorflow` on CPU, `wasm`, `cpu`. wasm and cpu get the kernels of
// trainer/kernels.ts that training needs (notes/tfjs.md).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; the model's backward pass needs them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { registerTrainingKernels } from './kernels';

export type BackendRequest = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendRequest[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendInfo {
  /** tfjs backend name: tensorflow, webgpu, wasm or cpu. */
  backend: string;
  /** What runs it, in words: "CUDA GPU", "CPU (WebAssembly SIMD, 1 thread)", ... */
  device: string;
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
  return { backend: 'wasm', device: `CPU (WebAssembly${simd ? ' SIMD' : ''}, 1 thread)` };
}

async function startCpu(): Promise<BackendInfo> {
  await import('@tensorflow/tfjs-backend-cpu');
  registerTrainingKernels('cpu');
  if (!(await tf.setBackend('cpu'))) throw new BackendUnavailableError('the cpu backend failed to start');
  return { backend: 'cpu', device: 'CPU (plain JavaScript)' };
}

/** tfjs-node(-gpu) through trainer/nativeBackends.ts; null when not installed or not loadable. */
let tensorflowFailure: string | undefined;

async function startTensorflow(gpu: boolean, searchPaths: string[] | undefined): Promise<BackendInfo | null> {
  let native: unknown;
  try {
    const { loadNativeTfjs, nativeTfjsUnavailableReason } = await import('./nativeBackends');
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
      info = (await startTensorflow(true, opts.nativeSearchPaths)) ?? (await startTensorflow(false, opts.nativeSearchPaths));
      // webgpu is only worth it on a real GPU adapter, which this build does not probe yet.
      if (!info) {
        try {
          info = await startWasm();
        } catch {
          info = await startCpu();
        }
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
      throw new BackendUnavailableError("backend 'webgpu' is not available in this build; use --backend auto, wasm or cpu");
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
