// The optional native addon: an N-API module (trainer/native/matmul.c: BLAS products; kernels.c: the
// native backend's threaded loops) compiled against the system BLAS by `npm run build:native`. It is
// never required: where it was not built (no compiler, no BLAS, a .vsix installed on another platform)
// or cannot be loaded, this module answers null and the trainer keeps tfjs's own wasm/cpu kernels.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

export interface NativeBlas {
  /**
   * c[i] = op(a[i])·op(b[i]) for i < batch (row-major float32); a[i] starts at i·strideA (0 repeats
   * one matrix), b[i] at i·strideB, c[i] at i·m·n; op transposes when its flag is set.
   */
  sgemm(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    batch: number,
    m: number,
    n: number,
    k: number,
    transposeA: boolean,
    transposeB: boolean,
    strideA: number,
    strideB: number,
  ): void;
  /** OpenBLAS's kernel set in use ("SkylakeX", "Haswell", …); absent with Accelerate and in addons built before it. */
  coreName?(): string;
}

/** The addon's other kernels (trainer/native/kernels.c); argument layouts are documented there. */
export interface NativeKernelFns {
  /** out = a op b; meta = [rank, shape…, strideA…, strideB…] (collapsed, in elements; 0 broadcasts). */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, meta: Int32Array): void;
  unary(op: number, x: Float32Array, out: Float32Array): void;
  /** out[r] = reduction over x[r·inner … (r+1)·inner). */
  reduce(op: number, x: Float32Array, out: Float32Array, rows: number, inner: number): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  /** meta = [rank, outShape…, inStride…]. */
  transpose(x: Float32Array, out: Float32Array, meta: Int32Array): void;
  crossEntropyGrad(probs: Float32Array, labels: Int32Array, weights: Float32Array, out: Float32Array, n: number, v: number): void;
  adamw(
    w: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    wOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    beta1: number,
    beta2: number,
    stepSize: number,
    sqrtBias2: number,
    epsilon: number,
    decayFactor: number,
  ): void;
  /** Threads the OpenMP loops use. */
  threads(): number;
  /** LayerNorm (rms 0) or RMSNorm (rms 1) over rows; xhat may be empty (nothing kept). */
  norm(
    x: Float32Array,
    g: Float32Array,
    b: Float32Array,
    y: Float32Array,
    xhat: Float32Array,
    rstd: Float32Array,
    rows: number,
    cols: number,
    eps: number,
    rms: number,
  ): void;
  normGrad(dy: Float32Array, xhat: Float32Array, rstd: Float32Array, g: Float32Array, dx: Float32Array, rows: number, cols: number, rms: number): void;
  gelu(x: Float32Array, y: Float32Array): void;
  geluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  softmaxGrad(p: Float32Array, dp: Float32Array, out: Float32Array, rows: number, cols: number, scale: number): void;
  swiglu(g: Float32Array, u: Float32Array, y: Float32Array): void;
  swigluGrad(g: Float32Array, u: Float32Array, dy: Float32Array, dg: Float32Array, du: Float32Array): void;
  sumSquares(x: Float32Array, out: Float32Array): void;
}

/** Everything the addon exports; addons built before the kernels existed have sgemm only. */
export type NativeAddon = NativeBlas & NativeKernelFns;

/** True when the loaded addon has the native backend's kernels as well as sgemm. */
export function hasNativeKernels(blas: NativeBlas | null): blas is NativeAddon {
  return !!blas && typeof (blas as Partial<NativeKernelFns>).binary === 'function' && typeof (blas as Partial<NativeKernelFns>).adamw === 'function';
}

export const NATIVE_ADDON_FILE = 'finetune_native.node';

/** Where the addon may be: next to the bundle (dist/), or in the source tree's node-gyp build folder. */
export function nativeAddonCandidates(baseDir: string = __dirname): string[] {
  return [
    path.join(baseDir, NATIVE_ADDON_FILE),
    path.join(baseDir, 'build', 'Release', NATIVE_ADDON_FILE),
    path.join(baseDir, 'native', 'build', 'Release', NATIVE_ADDON_FILE),
    path.join(baseDir, '..', 'trainer', 'native', 'build', 'Release', NATIVE_ADDON_FILE),
  ];
}

/**
 * OpenBLAS picks its kernels from the CPU model, and under a hypervisor that reports a generic model
 * ("Intel(R) Xeon(R) Processor") it falls back to its oldest SSE3 kernels (Prescott), measured 5x
 * slower here than its AVX-512 ones. Choosing the core type from the instruction-set flags the CPU
 * does report avoids that; it only applies if set before the library loads, and a user's own
 * OPENBLAS_CORETYPE wins.
 */
export function openBlasCoreType(cpuFlags: ReadonlySet<string>): string | undefined {
  if (['avx512f', 'avx512vl', 'avx512bw', 'avx512dq', 'avx512cd'].every((f) => cpuFlags.has(f))) return 'SkylakeX';
  if (cpuFlags.has('avx2') && cpuFlags.has('fma')) return 'Haswell';
  return undefined;
}

function linuxCpuFlags(): Set<string> {
  try {
    const m = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return new Set(m ? m[1].trim().split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

let cached: { blas: NativeBlas | null; reason?: string } | undefined;

/**
 * The addon, or null (with `nativeBlasUnavailableReason()`). FINETUNE_NATIVE_BLAS=0 turns it off, for
 * comparisons and to rule it out when something looks wrong.
 */
export function loadNativeBlas(): NativeBlas | null {
  if (cached) return cached.blas;
  if (process.env.FINETUNE_NATIVE_BLAS === '0') {
    cached = { blas: null, reason: 'turned off by FINETUNE_NATIVE_BLAS=0' };
    return null;
  }
  const file = nativeAddonCandidates().find((f) => fs.existsSync(f));
  if (!file) {
    cached = { blas: null, reason: 'not built (run `npm run build:native`)' };
    return null;
  }
  if (process.platform === 'linux' && process.env.OPENBLAS_CORETYPE === undefined) {
    const core = openBlasCoreType(linuxCpuFlags());
    if (core) process.env.OPENBLAS_CORETYPE = core;
  }
  try {
    // createRequire keeps this a run-time load that the bundler leaves alone.
    const mod = createRequire(__filename)(file) as Partial<NativeBlas>;
    if (typeof mod.sgemm !== 'function') throw new Error(`${file} has no sgemm export`);
    // One tiny product proves the BLAS library behind it resolves and computes.
    const c = new Float32Array(1);
    mod.sgemm(new Float32Array([2]), new Float32Array([3]), c, 1, 1, 1, 1, false, false, 0, 0);
    if (c[0] !== 6) throw new Error(`${file} computed 2·3 = ${c[0]}`);
    cached = { blas: mod as NativeBlas };
  } catch (err) {
    cached = { blas: null, reason: `failed to load: ${err instanceof Error ? err.message : String(err)}` };
  }
  return cached.blas;
}

/** The OpenBLAS kernel set the loaded addon runs, as the library reports it (undefined when not known). */
export function openBlasCoreInUse(): string | undefined {
  const blas = loadNativeBlas();
  const name = typeof blas?.coreName === 'function' ? blas.coreName() : undefined;
  return name || undefined;
}

export function nativeBlasUnavailableReason(): string | undefined {
  return cached?.reason;
}
