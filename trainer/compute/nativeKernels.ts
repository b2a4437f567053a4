// The `native` backend's kernel table (docs/ARCHITECTURE.md "Compute"): every kernel of tfjs's cpu
// backend, with the ones a training step spends its time in replaced by the addon's threaded loops
// (trainer/native/kernels.c) or by copies of contiguous runs. Each replacement covers float32 and hands
// anything else (int32 arithmetic, bool, unusual attributes) to the cpu kernel it replaces, so the
// table is never missing a kernel and never computes a case differently from tfjs.
import * as tf from '@tensorflow/tfjs-core';
import { FUSED } from './fused';
import { NATIVE_BACKEND, type NativeBackend } from './nativeBackend';

type Args = { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown };
type Kernel = (args: Args) => tf.TensorInfo | tf.TensorInfo[];

const contiguousStrides = (shape: readonly number[]) => {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
};

/**
 * Drops extent-1 dimensions and merges neighbours that every operand walks contiguously
 * (stride[d] = stride[d+1]·shape[d+1]), so the addon's loops see the fewest, longest rows.
 */
export function collapseDims(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, i) => outStrides[i][last] === s[d] * shape[d])) {
      outShape[last] *= shape[d];
      strides.forEach((s, i) => (outStrides[i][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, i) => outStrides[i].push(s[d]));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [1]) };
  return { shape: outShape, strides: outStrides };
}

/** meta for the addon's binary(): the output shape with each operand's broadcast strides. */
export function broadcastMeta(outShape: readonly number[], aShape: readonly number[], bShape: readonly number[]): Int32Array {
  const stridesFor = (shape: readonly number[]) => {
    const own = contiguousStrides(shape);
    const pad = outShape.length - shape.length;
    return outShape.map((_, d) => (d < pad || shape[d - pad] === 1 ? 0 : own[d - pad]));
  };
  const c = collapseDims(outShape, [stridesFor(aShape), stridesFor(bShape)]);
  return Int32Array.from([c.shape.length, ...c.shape, ...c.strides[0], ...c.strides[1]]);
}

/** meta for the addon's transpose(): the output shape and the input stride of each output dimension. */
export function transposeMeta(xShape: readonly number[], perm: readonly number[]): Int32Array {
  const inStrides = contiguousStrides(xShape);
  const c = collapseDims(
    perm.map((p) => xShape[p]),
    [perm.map((p) => inStrides[p])],
  );
  return Int32Array.from([c.shape.length, ...c.shape, ...c.strides[0]]);
}

const BINARY_OPS: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6 };
const UNARY_OPS: Record<string, number> = { Neg: 0, Exp: 1, Log: 2, Sqrt: 3, Rsqrt: 4, Square: 5, Sigmoid: 6, Tanh: 7, Relu: 8, Abs: 9, Reciprocal: 10 };
const REDUCE_OPS: Record<string, { op: number; axisAttr: string }> = {
  Sum: { op: 0, axisAttr: 'axis' },
  Mean: { op: 1, axisAttr: 'axis' },
  Max: { op: 2, axisAttr: 'reductionIndices' },
  Min: { op: 3, axisAttr: 'axis' },
};

const isF32 = (...ts: tf.TensorInfo[]) => ts.every((t) => t.dtype === 'float32');

function binaryKernel(op: number, stock: Kernel): Kernel {
  return (args) => {
    const be = args.backend as NativeBackend;
    const a = args.inputs.a as tf.TensorInfo;
    const b = args.inputs.b as tf.TensorInfo;
    if (!isF32(a, b)) return stock(args);
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const out = be.alloc(outShape);
    if (out.values.length > 0)
      be.addon.binary(op, be.valuesOf(a) as Float32Array, be.valuesOf(b) as Float32Array, out.values, broadcastMeta(outShape, a.shape, b.shape));
    return out.info;
  };
}

function unaryKernel(op: number, stock: Kernel): Kernel {
  return (args) => {
    const be = args.backend as NativeBackend;
    const x = args.inputs.x as tf.TensorInfo;
    if (!isF32(x)) return stock(args);
    const out = be.alloc(x.shape);
    be.addon.unary(op, be.valuesOf(x) as Float32Array, out.values);
    return out.info;
  };
}

/** A float32 transpose through the addon (also used by the reductions over non-trailing axes). */
function transposeF32(be: NativeBackend, x: tf.TensorInfo, perm: readonly number[]): tf.TensorInfo {
  const out = be.alloc(perm.map((p) => x.shape[p]));
  if (out.values.length > 0) be.addon.transpose(be.valuesOf(x) as Float32Array, out.values, transposeMeta(x.shape, perm));
  return out.info;
}

function transposeKernel(stock: Kernel): Kernel {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (!isF32(x)) return stock(args);
    return transposeF32(args.backend as NativeBackend, x, (args.attrs as { perm: number[] }).perm);
  };
}

function reduceKernel(op: number, axisAttr: string, stock: Kernel): Kernel {
  return (args) => {
    const be = args.backend as NativeBackend;
    const x = args.inputs.x as tf.TensorInfo;
    if (!isF32(x) || tf.util.sizeFromShape(x.shape) === 0) return stock(args);
    const attrs = args.attrs as Record<string, unknown>;
    const rank = x.shape.length;
    const axes = tf.util.parseAxisParam(attrs[axisAttr] as number | number[], x.shape);
    const perm = tf.backend_util.getAxesPermutation(axes, rank);
    let input = x;
    let reduceAxes = axes;
    if (perm != null) {
      input = transposeF32(be, x, perm);
      reduceAxes = tf.backend_util.getInnerMostAxes(axes.length, rank);
    }
    const [outShape, reduceShape] = tf.backend_util.computeOutAndReduceShapes(input.shape, reduceAxes);
    const out = be.alloc(attrs.keepDims ? tf.backend_util.expandShapeToKeepDim(outShape, axes) : outShape);
    be.addon.reduce(op, be.valuesOf(input) as Float32Array, out.values, tf.util.sizeFromShape(outShape), tf.util.sizeFromShape(reduceShape));
    if (input !== x) be.disposeIntermediateTensorInfo(input);
    return out.info;
  };
}

function softmaxKernel(stock: Kernel): Kernel {
  return (args) => {
    const be = args.backend as NativeBackend;
    const x = args.inputs.logits as tf.TensorInfo;
    const dim = (args.attrs as { dim: number }).dim;
    const rank = x.shape.length;
    if (!isF32(x) || rank === 0 || (dim !== -1 && dim !== rank - 1) || tf.util.sizeFromShape(x.shape) === 0) return stock(args);
    const cols = x.shape[rank - 1];
    const out = be.alloc(x.shape);
    be.addon.softmax(be.valuesOf(x) as Float32Array, out.values, tf.util.sizeFromShape(x.shape) / cols, cols);
    return out.info;
  };
}

/**
 * Copies x[begin … begin+size) into `out` (row-major), one contiguous run at a time: the trailing
 * dimensions taken whole merge into a single run, so a slice of rows is one copy.
 */
export function copySlice(
  xv: Float32Array | Int32Array | Uint8Array,
  xShape: number[],
  begin: number[],
  sizes: number[],
  ov: Float32Array | Int32Array | Uint8Array,
): void {
  if (tf.util.sizeFromShape(sizes) === 0) return;
  const rank = xShape.length;
  let run = 1;
  let d = rank - 1;
  while (d >= 0 && sizes[d] === xShape[d] && begin[d] === 0) run *= xShape[d--];
  if (d < 0) {
    ov.set(xv.subarray(0, run));
    return;
  }
  run *= sizes[d];
  const strides = contiguousStrides(xShape);
  const outer = sizes.slice(0, d);
  const idx = new Array<number>(outer.length).fill(0);
  const base = begin.reduce((acc, bi, i) => acc + bi * strides[i], 0);
  const count = tf.util.sizeFromShape(outer);
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
}

function sliceKernel(stock: Kernel): Kernel {
  return (args) => {
    const be = args.backend as NativeBackend;
    const x = args.inputs.x as tf.TensorInfo;
    if (!isF32(x)) return stock(args);
    const { begin, size: sizeAttr } = args.attrs as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, sizeAttr);
    tf.slice_util.assertParamsValid(x as tf.Tensor, b, s);
    const out = be.alloc(s);
    copySlice(be.valuesOf(x), x.shape, b, s, out.values);
    return out.info;
  };
}

function concatKernel(stock: Kernel): Kernel {
  return (args) => {
    const be = args.backend as NativeBackend;
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    if (inputs.length === 0 || !isF32(...inputs)) return stock(args);
    const axis = tf.util.parseAxisParam((args.attrs as { axis: number }).axis, inputs[0].shape)[0];
    tf.backend_util.assertParamsConsistent(
      inputs.map((t) => t.shape),
      axis,
    );
    const outShape = tf.backend_util.computeOutShape(
      inputs.map((t) => t.shape),
      axis,
    );
    const out = be.alloc(outShape);
    if (out.values.length === 0) return out.info;
    const outer = tf.util.sizeFromShape(outShape.slice(0, axis));
    const chunks = inputs.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
    const views = inputs.map((t) => be.valuesOf(t));
    const row = tf.util.sizeFromShape(outShape.slice(axis));
    for (let o = 0; o < outer; o++) {
      let at = o * row;
      for (let i = 0; i < inputs.length; i++) {
        const c = chunks[i];
        if (c === 0) continue;
        out.values.set(views[i].subarray(o * c, o * c + c), at);
        at += c;
      }
    }
    return out.info;
  };
}

/** SplitV as copies of contiguous runs (the cpu kernel's slices index element by element off the last axis). */
function splitKernel(stock: Kernel): Kernel {
  return (args) => {
    const be = args.backend as NativeBackend;
    const x = args.inputs.x as tf.TensorInfo;
    if (!isF32(x)) return stock(args);
    const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, ax);
    const begin = new Array<number>(x.shape.length).fill(0);
    const xv = be.valuesOf(x);
    return sizes.map((n) => {
      const part = [...x.shape];
      part[ax] = n;
      const out = be.alloc(part);
      copySlice(xv, x.shape, begin, part, out.values);
      begin[ax] += n;
      return out.info;
    });
  };
}

/** Tile: each output row copies its source row (or repeats it along the last axis). */
function tileKernel(stock: Kernel): Kernel {
  return (args) => {
    const be = args.backend as NativeBackend;
    const x = args.inputs.x as tf.TensorInfo;
    const reps = (args.attrs as { reps: number[] }).reps;
    if (!isF32(x) || x.shape.length === 0 || reps.length !== x.shape.length) return stock(args);
    const rank = x.shape.length;
    const outShape = x.shape.map((d, i) => d * reps[i]);
    const out = be.alloc(outShape);
    if (out.values.length === 0) return out.info;
    const xv = be.valuesOf(x);
    const inStrides = contiguousStrides(x.shape);
    const last = x.shape[rank - 1];
    const outRow = outShape[rank - 1];
    const rows = out.values.length / outRow;
    const outer = outShape.slice(0, -1);
    const idx = new Array<number>(outer.length).fill(0);
    for (let r = 0; r < rows; r++) {
      let src = 0;
      for (let d = 0; d < outer.length; d++) src += (idx[d] % x.shape[d]) * inStrides[d];
      const row = xv.subarray(src, src + last);
      for (let k = 0; k < reps[rank - 1]; k++) out.values.set(row, r * outRow + k * last);
      for (let d = outer.length - 1; d >= 0; d--) {
        if (++idx[d] < outer[d]) break;
        idx[d] = 0;
      }
    }
    return out.info;
  };
}

/** Gather along axis 0 (the embedding lookup): one row copy per index, indices checked as tfjs does. */
function gatherKernel(stock: Kernel): Kernel {
  return (args) => {
    const be = args.backend as NativeBackend;
    const x = args.inputs.x as tf.TensorInfo;
    const indices = args.inputs.indices as tf.TensorInfo;
    const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
    const parsed = tf.util.parseAxisParam(axis, x.shape)[0];
    if (!isF32(x) || parsed !== 0 || (batchDims ?? 0) !== 0 || x.shape.length === 0) return stock(args);
    const ids = be.valuesOf(indices);
    const rows = x.shape[0];
    const inner = tf.util.sizeFromShape(x.shape.slice(1));
    const out = be.alloc([...indices.shape, ...x.shape.slice(1)]);
    const xv = be.valuesOf(x);
    for (let i = 0; i < ids.length; i++) {
      const r = ids[i];
      if (r < 0 || r >= rows) throw new Error(`GatherV2: the index value ${r} is not in [0, ${rows - 1}]`);
      out.values.set(xv.subarray(r * inner, r * inner + inner), i * inner);
    }
    return out.info;
  };
}

function addNKernel(stock: Kernel): Kernel {
  return (args) => {
    const be = args.backend as NativeBackend;
    const inputs = args.inputs as unknown as tf.TensorInfo[];
    if (inputs.length < 2 || !isF32(...inputs) || inputs.some((t) => !tf.util.arraysEqual(t.shape, inputs[0].shape))) return stock(args);
    const out = be.alloc(inputs[0].shape);
    const meta = Int32Array.from([1, out.values.length, 1, 1]);
    if (out.values.length === 0) return out.info;
    be.addon.binary(0, be.valuesOf(inputs[0]) as Float32Array, be.valuesOf(inputs[1]) as Float32Array, out.values, meta);
    for (let i = 2; i < inputs.length; i++) be.addon.binary(0, out.values, be.valuesOf(inputs[i]) as Float32Array, out.values, meta);
    return out.info;
  };
}

const f32 = (be: NativeBackend, t: tf.TensorInfo) => {
  if (t.dtype !== 'float32') throw new Error(`fused kernels take float32 tensors, not ${t.dtype}`);
  return be.valuesOf(t) as Float32Array;
};
const rowsCols = (t: tf.TensorInfo) => {
  const cols = t.shape[t.shape.length - 1];
  return [tf.util.sizeFromShape(t.shape) / cols, cols];
};

/** The fused layers of trainer/compute/fused.ts, on the addon's loops. */
const FUSED_KERNELS: Record<string, Kernel> = {
  [FUSED.norm]: ({ inputs, attrs, backend }) => {
    const be = backend as NativeBackend;
    const x = inputs.x as tf.TensorInfo;
    const { eps, rms } = attrs as { eps: number; rms: number };
    const [rows, cols] = rowsCols(x);
    const y = be.alloc(x.shape);
    const xhat = be.alloc(x.shape);
    const rstd = be.alloc([rows, 1]);
    const b = inputs.b ? f32(be, inputs.b as tf.TensorInfo) : new Float32Array(0);
    be.addon.norm(f32(be, x), f32(be, inputs.g as tf.TensorInfo), b, y.values, xhat.values, rstd.values, rows, cols, eps, rms);
    return [y.info, xhat.info, rstd.info];
  },
  [FUSED.normGrad]: ({ inputs, attrs, backend }) => {
    const be = backend as NativeBackend;
    const dy = inputs.dy as tf.TensorInfo;
    const [rows, cols] = rowsCols(dy);
    const dx = be.alloc(dy.shape);
    be.addon.normGrad(
      f32(be, dy),
      f32(be, inputs.xhat as tf.TensorInfo),
      f32(be, inputs.rstd as tf.TensorInfo),
      f32(be, inputs.g as tf.TensorInfo),
      dx.values,
      rows,
      cols,
      (attrs as { rms: number }).rms,
    );
    return dx.info;
  },
  [FUSED.gelu]: ({ inputs, backend }) => {
    const be = backend as NativeBackend;
    const x = inputs.x as tf.TensorInfo;
    const y = be.alloc(x.shape);
    be.addon.gelu(f32(be, x), y.values);
    return y.info;
  },
  [FUSED.geluGrad]: ({ inputs, backend }) => {
    const be = backend as NativeBackend;
    const x = inputs.x as tf.TensorInfo;
    const dx = be.alloc(x.shape);
    be.addon.geluGrad(f32(be, x), f32(be, inputs.dy as tf.TensorInfo), dx.values);
    return dx.info;
  },
  [FUSED.softmaxGrad]: ({ inputs, attrs, backend }) => {
    const be = backend as NativeBackend;
    const p = inputs.p as tf.TensorInfo;
    const [rows, cols] = rowsCols(p);
    const out = be.alloc(p.shape);
    be.addon.softmaxGrad(f32(be, p), f32(be, inputs.dp as tf.TensorInfo), out.values, rows, cols, (attrs as { scale: number }).scale);
    return out.info;
  },
  [FUSED.swiglu]: ({ inputs, backend }) => {
    const be = backend as NativeBackend;
    const gate = inputs.gate as tf.TensorInfo;
    const y = be.alloc(gate.shape);
    be.addon.swiglu(f32(be, gate), f32(be, inputs.up as tf.TensorInfo), y.values);
    return y.info;
  },
  [FUSED.swigluGrad]: ({ inputs, backend }) => {
    const be = backend as NativeBackend;
    const gate = inputs.gate as tf.TensorInfo;
    const dg = be.alloc(gate.shape);
    const du = be.alloc(gate.shape);
    be.addon.swigluGrad(f32(be, gate), f32(be, inputs.up as tf.TensorInfo), f32(be, inputs.dy as tf.TensorInfo), dg.values, du.values);
    return [dg.info, du.info];
  },
  [FUSED.sumSquares]: ({ inputs, backend }) => {
    const be = backend as NativeBackend;
    const out = be.alloc([]);
    be.addon.sumSquares(f32(be, inputs.x as tf.TensorInfo), out.values);
    return out.info;
  },
};

/** Kernel names this module replaces with its own; the rest of the cpu table is registered as is. */
export const NATIVE_KERNEL_NAMES: readonly string[] = [
  ...Object.keys(BINARY_OPS),
  ...Object.keys(UNARY_OPS),
  ...Object.keys(REDUCE_OPS),
  'Softmax',
  'Transpose',
  'Slice',
  'Concat',
  'GatherV2',
  'AddN',
  'SplitV',
  'Tile',
];

let registered = false;

/** Registers the `native` backend's kernel table (idempotent); the cpu backend must be loaded. */
export function registerNativeKernelTable(): void {
  if (registered) return;
  const stock = new Map<string, Kernel>();
  for (const k of tf.getKernelsForBackend('cpu')) {
    stock.set(k.kernelName, k.kernelFunc as unknown as Kernel);
    if (!NATIVE_KERNEL_NAMES.includes(k.kernelName)) tf.registerKernel({ ...k, backendName: NATIVE_BACKEND });
  }
  const own = (name: string, make: (stock: Kernel) => Kernel) => {
    const s = stock.get(name);
    if (!s) throw new Error(`tfjs's cpu backend has no ${name} kernel to fall back to`);
    tf.registerKernel({ kernelName: name, backendName: NATIVE_BACKEND, kernelFunc: make(s) as unknown as tf.KernelFunc });
  };
  for (const [name, op] of Object.entries(BINARY_OPS)) own(name, (s) => binaryKernel(op, s));
  for (const [name, op] of Object.entries(UNARY_OPS)) own(name, (s) => unaryKernel(op, s));
  for (const [name, { op, axisAttr }] of Object.entries(REDUCE_OPS)) own(name, (s) => reduceKernel(op, axisAttr, s));
  own('Softmax', softmaxKernel);
  own('Transpose', transposeKernel);
  own('Slice', sliceKernel);
  own('Concat', concatKernel);
  own('GatherV2', gatherKernel);
  own('AddN', addNKernel);
  own('SplitV', splitKernel);
  own('Tile', tileKernel);
  for (const [kernelName, kernelFunc] of Object.entries(FUSED_KERNELS))
    tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  registered = true;
}
