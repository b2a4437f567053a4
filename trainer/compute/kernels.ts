// Kernels registered over TensorFlow.js's own where training on wasm/cpu needs them (docs/ARCHITECTURE.md "Compute"):
// - UnsortedSegmentSum, the gradient of the embedding gather: missing on wasm, and on cpu its cost
//   grows with the number of segments (vocabulary); a plain scatter-add is linear in the input.
// - Identity on wasm: the stock kernel copies; tfjs calls it for every tensor a kernel saves for its
//   gradient (tf.clone), so the backward pass paid a full copy of most activations. Sharing the buffer
//   (as the cpu backend does) is safe because tfjs tensors are immutable.
// - Slice on wasm: the stock kernel copies the whole input out of the wasm heap for every slice, so
//   cutting a [B·H, T, D] tensor into per-head matrices costs B·H full copies; this one reads a view.
// - BatchMatMul on wasm, cpu and native through the native BLAS addon (trainer/native/blas.ts), when
//   it was built: every core and a tuned sgemm instead of one wasm thread. Batch shapes it does not
//   handle (batch broadcasting other than one side being a single matrix) go to the stock kernel.
// On the native backend (trainer/compute/nativeBackend.ts) the cross-entropy gradient and AdamW run in
// the addon's threaded C loops, with the same arithmetic as the JavaScript ones here.
import * as tf from '@tensorflow/tfjs-core';
import { hasNativeKernels, loadNativeBlas, type NativeBlas } from '../native/blas';
import { NativeBackend } from './nativeBackend';
import { copySlice } from './nativeKernels';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown };

type KernelBackend = {
  readSync?(dataId: object): unknown;
  data?: { get(dataId: object): { values: unknown } };
  makeOutput?(shape: number[], dtype: string): tf.TensorInfo;
  typedArrayFromHeap?(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  makeTensorInfo?(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo;
};

function valuesOf(backend: KernelBackend, t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array {
  if (backend.typedArrayFromHeap) return backend.typedArrayFromHeap(t);
  if (backend.data) return backend.data.get(t.dataId).values as Float32Array | Int32Array;
  return backend.readSync!(t.dataId) as Float32Array | Int32Array;
}

/**
 * New float32 outputs of these shapes on any of the three CPU backends; `views()` gives their values to
 * fill, read only after every allocation (growing the wasm heap detaches older views). A native
 * output comes from its pool and a wasm one from the heap: neither is zeroed.
 */
function newOutputs(backend: unknown, shapes: number[][]): { infos: tf.TensorInfo[]; views: () => Float32Array[] } {
  const b = backend as KernelBackend;
  if (backend instanceof NativeBackend) {
    const outs = shapes.map((shape) => backend.alloc(shape));
    return { infos: outs.map((o) => o.info), views: () => outs.map((o) => o.values) };
  }
  if (b.makeOutput && b.typedArrayFromHeap) {
    const infos = shapes.map((shape) => b.makeOutput!(shape, 'float32'));
    return { infos, views: () => infos.map((t) => b.typedArrayFromHeap!(t) as Float32Array) };
  }
  const values = shapes.map((shape) => new Float32Array(tf.util.sizeFromShape(shape)));
  const infos = shapes.map((shape, i) => b.makeTensorInfo!(shape, 'float32', values[i]));
  return { infos, views: () => values };
}

/** out[segmentIds[i], :] += x[i, :]; ids outside [0, numSegments) are dropped, as in TensorFlow. */
function unsortedSegmentSum({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const b = backend as KernelBackend;
  const x = inputs.x as tf.TensorInfo;
  const ids = inputs.segmentIds as tf.TensorInfo;
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const rows = tf.util.sizeFromShape(ids.shape);
  const inner = rows === 0 ? 0 : tf.util.sizeFromShape(x.shape) / rows;
  const outShape = [numSegments, ...x.shape.slice(ids.shape.length)];
  const out = newOutputs(backend, [outShape]);
  const [view] = out.views();
  view.fill(0);
  // Read the inputs after allocating the output: a wasm allocation may move the heap.
  const xv = valuesOf(b, x);
  const iv = valuesOf(b, ids);
  for (let r = 0; r < rows; r++) {
    const s = iv[r];
    if (s < 0 || s >= numSegments) continue;
    const src = r * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) view[dst + j] += xv[src + j];
  }
  return out.infos[0];
}

/** Slice on the wasm heap without copying the input: one `copyWithin`-style set per contiguous run. */
function wasmSlice({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const b = backend as Required<Pick<KernelBackend, 'makeOutput' | 'typedArrayFromHeap'>>;
  const x = inputs.x as tf.TensorInfo;
  const { begin, size: sizeAttr } = attrs as { begin: number | number[]; size: number | number[] };
  const [begin_, size_] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, sizeAttr);
  const out = b.makeOutput(size_, x.dtype);
  if (tf.util.sizeFromShape(size_) > 0) copySlice(b.typedArrayFromHeap(x), x.shape, begin_, size_, b.typedArrayFromHeap(out));
  return out;
}

function wasmIdentity({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  (backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Name of the fused cross-entropy gradient kernel (wasm and cpu); ops.ts falls back to one-hot ops elsewhere. */
export const CROSS_ENTROPY_GRAD = 'FinetuneCrossEntropyGrad';

/**
 * d loss / d logits for per-row cross-entropy, given the softmax P [N, V], labels [N] (int32, < 0 =
 * ignored) and per-row weights w [N]: out = P·w with w subtracted at each row's label. One pass, and
 * no [N, V] one-hot tensor (200 MB per batch at GPT-2's vocabulary).
 */
function crossEntropyGrad({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const b = backend as KernelBackend;
  const probs = inputs.probs as tf.TensorInfo;
  const labels = inputs.labels as tf.TensorInfo;
  const weights = inputs.weights as tf.TensorInfo;
  const [n, v] = probs.shape;
  const out = newOutputs(backend, [[n, v]]);
  const [o] = out.views();
  const p = valuesOf(b, probs);
  const l = valuesOf(b, labels);
  const w = valuesOf(b, weights);
  if (backend instanceof NativeBackend) {
    backend.addon.crossEntropyGrad(p as Float32Array, l as Int32Array, w as Float32Array, o, n, v);
    return out.infos[0];
  }
  for (let r = 0; r < n; r++) {
    const wr = w[r];
    const base = r * v;
    if (wr === 0) {
      o.fill(0, base, base + v);
      continue;
    }
    for (let j = 0; j < v; j++) o[base + j] = p[base + j] * wr;
    if (l[r] >= 0) o[base + l[r]] -= wr;
  }
  return out.infos[0];
}

/** Name of the fused AdamW update kernel (wasm and cpu); ops.ts adamwUpdate falls back to tf ops elsewhere. */
export const ADAMW_UPDATE = 'FinetuneAdamWUpdate';

export interface AdamWUpdateAttrs {
  beta1: number;
  beta2: number;
  /** lr / (1 − β1^t). */
  stepSize: number;
  /** √(1 − β2^t). */
  sqrtBias2: number;
  epsilon: number;
  /** 1 − lr·weightDecay for decayed weights, else 1. */
  decayFactor: number;
}

/**
 * One AdamW update of a weight in one pass: m' = β1·m + (1−β1)·g, v' = β2·v + (1−β2)·g²,
 * w' = decay·w − stepSize·m' / (√v'/√(1−β2^t) + ε). Outputs [w', m', v']. tfjs's op-by-op form of the
 * same update runs about a dozen passes over every weight, each allocating a tensor the weight's size.
 */
function adamwUpdate({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo[] {
  const b = backend as KernelBackend;
  const w = inputs.w as tf.TensorInfo;
  const { beta1, beta2, stepSize, sqrtBias2, epsilon, decayFactor } = attrs as unknown as AdamWUpdateAttrs;
  const n = tf.util.sizeFromShape(w.shape);
  const out = newOutputs(backend, [w.shape, w.shape, w.shape]);
  const [wo, mo, vo] = out.views();
  const [wv, gv, mv, vv] = ['w', 'g', 'm', 'v'].map((k) => valuesOf(b, inputs[k] as tf.TensorInfo) as Float32Array);
  if (backend instanceof NativeBackend) {
    backend.addon.adamw(wv, gv, mv, vv, wo, mo, vo, beta1, beta2, stepSize, sqrtBias2, epsilon, decayFactor);
    return out.infos;
  }
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const inv = 1 / sqrtBias2;
  for (let i = 0; i < n; i++) {
    const g = gv[i];
    const m1 = Math.fround(beta1 * mv[i] + c1 * g);
    const v1 = Math.fround(beta2 * vv[i] + c2 * g * g);
    mo[i] = m1;
    vo[i] = v1;
    wo[i] = decayFactor * wv[i] - (stepSize * m1) / (Math.sqrt(v1) * inv + epsilon);
  }
  return out.infos;
}

/** BatchMatMul (tf.matMul) through native sgemm, reading and writing the backend's memory in place. */
function nativeBatchMatMul(blas: NativeBlas, fallback: tf.KernelFunc) {
  return (args: KernelArgs): tf.TensorInfo => {
    const b = args.backend as KernelBackend;
    const a = args.inputs.a as tf.TensorInfo;
    const bb = args.inputs.b as tf.TensorInfo;
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (a.dtype !== 'float32' || bb.dtype !== 'float32') return fallback(args as never) as tf.TensorInfo;
    const ra = a.shape.length;
    const rb = bb.shape.length;
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const kb = transposeB ? bb.shape[rb - 1] : bb.shape[rb - 2];
    const n = transposeB ? bb.shape[rb - 2] : bb.shape[rb - 1];
    const outerA = a.shape.slice(0, -2);
    const outerB = bb.shape.slice(0, -2);
    const batchA = tf.util.sizeFromShape(outerA);
    const batchB = tf.util.sizeFromShape(outerB);
    // The batch dimensions broadcast as in tf.matMul; sgemm handles equal batches and one side being a
    // single matrix (a stride of 0 repeats it), the stock kernel the rest.
    let outer: number[];
    try {
      outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
    } catch {
      return fallback(args as never) as tf.TensorInfo;
    }
    const batch = tf.util.sizeFromShape(outer);
    if (k !== kb || (batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return fallback(args as never) as tf.TensorInfo;
    const outShape = [...outer, m, n];
    const out = newOutputs(b, [outShape]);
    const [cv] = out.views();
    blas.sgemm(
      valuesOf(b, a) as Float32Array,
      valuesOf(b, bb) as Float32Array,
      cv,
      batch,
      m,
      n,
      k,
      transposeA,
      transposeB,
      batchA === 1 ? 0 : m * k,
      batchB === 1 ? 0 : k * n,
    );
    return out.infos[0];
  };
}

/** Stock kernels replaced here, kept so that a replacement can hand back what it does not cover. */
const stockKernels = new Map<string, tf.KernelConfig>();

/** True when tf.matMul on `backendName` runs through the native BLAS addon. */
export function nativeMatMulActive(backendName: string = tf.getBackend()): boolean {
  return nativeMatMulBackends.has(backendName);
}
const nativeMatMulBackends = new Set<string>();

const registered = new Set<string>();

function replaceKernel(kernelName: string, backendName: string, kernelFunc: (args: KernelArgs) => tf.TensorInfo, setupFunc?: tf.KernelSetupFunc): void {
  const stock = tf.getKernel(kernelName, backendName);
  if (stock) {
    const key = `${kernelName}/${backendName}`;
    if (!stockKernels.has(key)) stockKernels.set(key, stock);
    tf.unregisterKernel(kernelName, backendName);
  }
  tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc, setupFunc });
  // A setup function (wasm binds its exports there) runs when the backend starts; when it is already
  // running, run it now.
  const running = (tf.engine().registry as Record<string, tf.KernelBackend>)[backendName];
  if (setupFunc && running) setupFunc(running);
}

/**
 * Registers the training kernels for `backendName` (wasm or cpu; others are left alone). Idempotent.
 * `nativeBlas: false` keeps tfjs's own matMul even where the native addon loads.
 */
export function registerTrainingKernels(backendName: string, opts: { nativeBlas?: boolean } = {}): void {
  const cpuLike = backendName === 'wasm' || backendName === 'cpu' || backendName === 'native';
  const wantNative = cpuLike && (opts.nativeBlas !== false || backendName === 'native');
  const blas = wantNative ? loadNativeBlas() : null;
  const key = `BatchMatMul/${backendName}`;
  if (blas && !nativeMatMulBackends.has(backendName) && tf.getKernel('BatchMatMul', backendName)) {
    const stock = stockKernels.get(key) ?? tf.getKernel('BatchMatMul', backendName)!;
    // The stock kernel's setup still runs: the native one hands it the cases sgemm does not cover.
    replaceKernel('BatchMatMul', backendName, nativeBatchMatMul(blas, stock.kernelFunc), stock.setupFunc);
    nativeMatMulBackends.add(backendName);
  } else if (!blas && nativeMatMulBackends.has(backendName)) {
    const stock = stockKernels.get(key)!;
    replaceKernel('BatchMatMul', backendName, stock.kernelFunc as unknown as (args: KernelArgs) => tf.TensorInfo, stock.setupFunc);
    nativeMatMulBackends.delete(backendName);
  }
  if (registered.has(backendName)) return;
  if (cpuLike) {
    replaceKernel('UnsortedSegmentSum', backendName, unsortedSegmentSum);
    replaceKernel(CROSS_ENTROPY_GRAD, backendName, crossEntropyGrad);
    replaceKernel(ADAMW_UPDATE, backendName, adamwUpdate as unknown as (args: KernelArgs) => tf.TensorInfo);
  }
  if (backendName === 'wasm') {
    replaceKernel('Slice', backendName, wasmSlice);
    replaceKernel('Identity', backendName, wasmIdentity);
  }
  registered.add(backendName);
}

/** Whether the addon that loads here can run the native backend (sgemm and the threaded kernels). */
export function nativeKernelsAvailable(): boolean {
  return hasNativeKernels(loadNativeBlas());
}
