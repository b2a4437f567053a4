// Kernels registered over TensorFlow.js's own where training on wasm/cpu needs them (notes/tfjs.md):
// - UnsortedSegmentSum, the gradient of the embedding gather: missing on wasm, and on cpu its cost
//   grows with the number of segments (vocabulary); a plain scatter-add is linear in the input.
// - Identity on wasm: the stock kernel copies; tfjs calls it for every tensor a kernel saves for its
//   gradient (tf.clone), so the backward pass paid a full copy of most activations. Sharing the buffer
//   (as the cpu backend does) is safe because tfjs tensors are immutable.
// - Slice on wasm: the stock kernel copies the whole input out of the wasm heap for every slice, so
//   cutting a [B·H, T, D] tensor into per-head matrices costs B·H full copies; this one reads a view.
import * as tf from '@tensorflow/tfjs-core';

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

const size = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

/** out[segmentIds[i], :] += x[i, :]; ids outside [0, numSegments) are dropped, as in TensorFlow. */
function unsortedSegmentSum({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const b = backend as KernelBackend;
  const x = inputs.x as tf.TensorInfo;
  const ids = inputs.segmentIds as tf.TensorInfo;
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const rows = size(ids.shape);
  const inner = rows === 0 ? 0 : size(x.shape) / rows;
  const outShape = [numSegments, ...x.shape.slice(ids.shape.length)];
  const accumulate = (out: Float32Array) => {
    // Read the inputs after allocating the output: a wasm allocation may move the heap.
    const xv = valuesOf(b, x);
    const iv = valuesOf(b, ids);
    for (let r = 0; r < rows; r++) {
      const s = iv[r];
      if (s < 0 || s >= numSegments) continue;
      const src = r * inner;
      const dst = s * inner;
      for (let j = 0; j < inner; j++) out[dst + j] += xv[src + j];
    }
  };
  if (b.makeOutput && b.typedArrayFromHeap) {
    const out = b.makeOutput(outShape, 'float32');
    const view = b.typedArrayFromHeap(out) as Float32Array;
    view.fill(0);
    accumulate(view);
    return out;
  }
  const out = new Float32Array(numSegments * inner);
  accumulate(out);
  return b.makeTensorInfo!(outShape, 'float32', out);
}

/** Slice on the wasm heap without copying the input: one `copyWithin`-style set per contiguous run. */
function wasmSlice({ inputs, attrs, backend }: KernelArgs): tf.TensorInfo {
  const b = backend as Required<Pick<KernelBackend, 'makeOutput' | 'typedArrayFromHeap'>>;
  const x = inputs.x as tf.TensorInfo;
  const { begin, size: sizeAttr } = attrs as { begin: number | number[]; size: number | number[] };
  const [begin_, size_] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, sizeAttr);
  const out = b.makeOutput(size_, x.dtype);
  if (size(size_) === 0) return out;
  const xv = b.typedArrayFromHeap(x);
  const ov = b.typedArrayFromHeap(out);
  const rank = x.shape.length;
  // Merge the trailing dimensions that are taken whole into one contiguous run.
  let run = 1;
  let d = rank - 1;
  while (d >= 0 && size_[d] === x.shape[d] && begin_[d] === 0) run *= x.shape[d--];
  if (d < 0) {
    ov.set(xv);
    return out;
  }
  run *= size_[d];
  const strides = tf.util.computeStrides(x.shape);
  const outer = size_.slice(0, d);
  const idx = new Array<number>(outer.length).fill(0);
  const base = begin_.reduce((acc, bi, i) => acc + bi * (i < rank - 1 ? strides[i] : 1), 0);
  const count = size(outer);
  let at = 0;
  for (let n = 0; n < count; n++) {
    let off = base;
    for (let i = 0; i < outer.length; i++) off += idx[i] * strides[i];
    ov.set(xv.subarray(off, off + run), at);
    at += run;
    for (let i = outer.length - 1; i >= 0; i--) {
      if (++idx[i] < outer[i]) break;
      idx[i] = 0;
    }
  }
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
  const fill = (out: Float32Array) => {
    const p = valuesOf(b, probs);
    const l = valuesOf(b, labels);
    const w = valuesOf(b, weights);
    for (let r = 0; r < n; r++) {
      const wr = w[r];
      const base = r * v;
      if (wr === 0) {
        out.fill(0, base, base + v);
        continue;
      }
      for (let j = 0; j < v; j++) out[base + j] = p[base + j] * wr;
      if (l[r] >= 0) out[base + l[r]] -= wr;
    }
  };
  if (b.makeOutput && b.typedArrayFromHeap) {
    const out = b.makeOutput([n, v], 'float32');
    fill(b.typedArrayFromHeap(out) as Float32Array);
    return out;
  }
  const out = new Float32Array(n * v);
  fill(out);
  return b.makeTensorInfo!([n, v], 'float32', out);
}

const registered = new Set<string>();

function replaceKernel(kernelName: string, backendName: string, kernelFunc: (args: KernelArgs) => tf.TensorInfo): void {
  if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

/** Registers the training kernels for `backendName` (wasm or cpu; others are left alone). Idempotent. */
export function registerTrainingKernels(backendName: string): void {
  if (registered.has(backendName)) return;
  if (backendName === 'wasm' || backendName === 'cpu') {
    replaceKernel('UnsortedSegmentSum', backendName, unsortedSegmentSum);
    replaceKernel(CROSS_ENTROPY_GRAD, backendName, crossEntropyGrad);
  }
  if (backendName === 'wasm') {
    replaceKernel('Slice', backendName, wasmSlice);
    replaceKernel('Identity', backendName, wasmIdentity);
  }
  registered.add(backendName);
}
