// The `native` backend (docs/ARCHITECTURE.md "Compute"): tfjs's cpu backend, whose tensors are plain
// TypedArrays in the process's own memory (no 4 GiB WebAssembly heap), with the kernels a training
// step spends its time in replaced by the N-API addon's (trainer/native/): BLAS matrix products and
// OpenMP-threaded elementwise, reduction, softmax and transpose loops on every core. Every kernel it
// does not replace is the cpu backend's own, so nothing is missing; the replacements hand the cases
// they do not cover (other dtypes, unusual attributes) back to those.
// Float32 outputs come from a pool of freed buffers of the same length: a training step allocates the
// same shapes every time, so after the first step almost nothing is allocated (no page faults, no
// garbage-collector lag in the peak RSS).
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from '../native/blas';

/** Freed float32 buffers kept for reuse, at most this many bytes (FINETUNE_NATIVE_POOL_MB overrides). */
export const DEFAULT_POOL_LIMIT_BYTES = 1024 * 2 ** 20;

export class NativeBackend extends MathBackendCPU {
  private readonly pool = new Map<number, Float32Array[]>();
  private pooledBytes = 0;
  /** Buffers this backend allocated and may recycle; one handed out by readSync leaves the set. */
  private readonly owned = new WeakSet<Float32Array>();
  /** The owned array behind each ArrayBuffer, to recognise views of it. */
  private readonly byBuffer = new WeakMap<ArrayBufferLike, Float32Array>();

  constructor(
    readonly addon: NativeAddon,
    private readonly poolLimitBytes = DEFAULT_POOL_LIMIT_BYTES,
  ) {
    super();
  }

  /** A new float32 tensor of `shape` whose values (not zeroed) the caller fills. */
  alloc(shape: number[]): { info: tf.TensorInfo; values: Float32Array } {
    const n = tf.util.sizeFromShape(shape);
    let values = this.pool.get(n)?.pop();
    if (values) this.pooledBytes -= values.byteLength;
    else {
      values = new Float32Array(n);
      this.owned.add(values);
      this.byBuffer.set(values.buffer, values);
    }
    return { info: this.makeTensorInfo(shape, 'float32', values), values };
  }

  /** The values of a tensor on this backend, without a copy. */
  valuesOf(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array {
    return this.data.get(t.dataId)!.values as Float32Array | Int32Array | Uint8Array;
  }

  /**
   * A buffer something else may still read is never recycled: an array handed out by readSync
   * (dataSync() returns it as is), or one a tensor views. The cpu kernels the native table keeps
   * (SplitV, Unpack, StridedSlice) make contiguous pieces as subarray views of their input.
   */
  private share(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    const base = this.byBuffer.get(values.buffer);
    if (base) this.owned.delete(base);
  }

  override readSync(dataId: object): tf.backend_util.BackendValues {
    const values = super.readSync(dataId);
    this.share(values);
    return values;
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): object {
    // A view of a buffer this backend owns (not the buffer's own array, which alloc() stores).
    if (values instanceof Float32Array && !this.owned.has(values)) this.share(values);
    return super.write(values, shape, dtype);
  }

  override disposeData(dataId: object, force = false): boolean {
    const entry = this.data.get(dataId);
    const freed = super.disposeData(dataId, force);
    if (freed && entry && !this.data.has(dataId)) this.recycle(entry.values);
    return freed;
  }

  private recycle(values: unknown): void {
    if (!(values instanceof Float32Array) || !this.owned.has(values) || values.length === 0) return;
    if (this.pooledBytes + values.byteLength > this.poolLimitBytes) return;
    let list = this.pool.get(values.length);
    if (!list) this.pool.set(values.length, (list = []));
    list.push(values);
    this.pooledBytes += values.byteLength;
  }

  /** Bytes held by the pool of freed buffers (they count in RSS but not in tf.memory()). */
  pooledByteCount(): number {
    return this.pooledBytes;
  }

  override dispose(): void {
    this.pool.clear();
    this.pooledBytes = 0;
    super.dispose();
  }
}

export const NATIVE_BACKEND = 'native';

/** Pool limit from FINETUNE_NATIVE_POOL_MB (0 turns pooling off). */
export function poolLimitFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const mb = Number(env.FINETUNE_NATIVE_POOL_MB);
  return env.FINETUNE_NATIVE_POOL_MB !== undefined && Number.isFinite(mb) && mb >= 0 ? mb * 2 ** 20 : DEFAULT_POOL_LIMIT_BYTES;
}
