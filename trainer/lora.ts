// LoRA (Hu et al. 2021) on a GPT-2 Conv1D: y = x·W0 + b0 + (α/r)·dropout(x)·Aᵀ·Bᵀ, with W0, b0 frozen,
// A [r, in] initialised like PEFT (kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in)) and B [out, r]
// zero, so training starts exactly at the base model. A and B are kept transposed (Aᵀ [in, r],
// Bᵀ [r, out]) because that makes both products untransposed; PEFT's layout is produced on save.
import * as tf from '@tensorflow/tfjs-core';
import { linear } from './ops';

export interface LoraOptions {
  r: number;
  alpha: number;
  dropout: number;
  seed: number;
}

export class LoraLinear {
  /** Aᵀ: [in, r]. */
  readonly aT: tf.Variable<tf.Rank.R2>;
  /** Bᵀ: [r, out]. */
  readonly bT: tf.Variable<tf.Rank.R2>;
  /** α / r, applied in this one place. */
  readonly scaling: number;
  readonly r: number;
  readonly dropout: number;

  constructor(
    /** HF module name, e.g. `transformer.h.0.attn.c_attn`. */
    readonly module: string,
    readonly weight: tf.Tensor2D,
    readonly bias: tf.Tensor1D,
    opts: LoraOptions,
  ) {
    const [inDim, outDim] = weight.shape;
    this.r = opts.r;
    this.dropout = opts.dropout;
    this.scaling = opts.alpha / opts.r;
    const bound = 1 / Math.sqrt(inDim);
    // tf.variable copies its initial value: tidy disposes the temporaries.
    this.aT = tf.tidy(() => tf.variable(tf.randomUniform([inDim, opts.r], -bound, bound, 'float32', opts.seed), true));
    this.bT = tf.tidy(() => tf.variable(tf.zeros([opts.r, outDim]), true));
  }

  /** x [N, in] -> [N, out]. `dropoutSeed` is required when training with dropout. */
  apply(x: tf.Tensor2D, training: boolean, dropoutSeed?: number): tf.Tensor2D {
    const base = linear(x, this.weight, this.bias);
    const input = training && this.dropout > 0 ? (tf.dropout(x, this.dropout, undefined, dropoutSeed) as tf.Tensor2D) : x;
    // Scale the r-wide intermediate rather than the out-wide update: same product, a far smaller tensor.
    const update = linear(tf.mul(linear(input, this.aT, null), this.scaling) as tf.Tensor2D, this.bT, null);
    return tf.add(base, update);
  }

  /** W0 + (α/r)·(B·A)ᵀ in Conv1D layout [in, out]: the weight a merged model carries. */
  mergedWeight(): tf.Tensor2D {
    return tf.tidy(() => tf.add(this.weight, tf.mul(tf.matMul(this.aT, this.bT), this.scaling)));
  }

  /** PEFT's tensors: lora_A.weight [r, in] and lora_B.weight [out, r]. */
  peftTensors(): { a: { shape: number[]; data: Float32Array }; b: { shape: number[]; data: Float32Array } } {
    return tf.tidy(() => {
      const a = tf.transpose(this.aT);
      const b = tf.transpose(this.bT);
      return { a: { shape: a.shape, data: a.dataSync() as Float32Array }, b: { shape: b.shape, data: b.dataSync() as Float32Array } };
    });
  }

  /** Loads PEFT's lora_A [r, in] and lora_B [out, r]; shapes must match this layer. */
  loadPeft(a: { shape: readonly number[]; data: Float32Array }, b: { shape: readonly number[]; data: Float32Array }): void {
    const [inDim, outDim] = this.weight.shape;
    const want = (name: string, got: readonly number[], shape: number[]) => {
      if (got.length !== 2 || got[0] !== shape[0] || got[1] !== shape[1]) {
        throw new Error(`${this.module}.${name}: shape [${got.join(', ')}] does not match [${shape.join(', ')}] (r=${this.r})`);
      }
    };
    want('lora_A.weight', a.shape, [this.r, inDim]);
    want('lora_B.weight', b.shape, [outDim, this.r]);
    tf.tidy(() => {
      this.aT.assign(tf.transpose(tf.tensor2d(a.data, [this.r, inDim])));
      this.bT.assign(tf.transpose(tf.tensor2d(b.data, [outDim, this.r])));
    });
  }

  dispose(): void {
    this.aT.dispose();
    this.bT.dispose();
  }
}
