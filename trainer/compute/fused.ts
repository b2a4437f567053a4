// Fused layers (docs/ARCHITECTURE.md "Compute"): LayerNorm/RMSNorm, gelu_new, SwiGLU and the softmax
// backward as single kernels, each with its gradient as another. Only the native backend registers
// them (trainer/compute/nativeKernels.ts, the addon's loops); compute/ops.ts and the Llama family's
// ops ask `fusedKernels()` and otherwise compose the same arithmetic from tf ops, so every backend
// computes the same function.
import * as tf from '@tensorflow/tfjs-core';

export const FUSED = {
  norm: 'FinetuneNorm',
  normGrad: 'FinetuneNormGrad',
  gelu: 'FinetuneGelu',
  geluGrad: 'FinetuneGeluGrad',
  softmaxGrad: 'FinetuneSoftmaxGrad',
  swiglu: 'FinetuneSwiglu',
  swigluGrad: 'FinetuneSwigluGrad',
  sumSquares: 'FinetuneSumSquares',
} as const;

const run = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, number> = {}) =>
  tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap) as unknown;

export interface FusedKernels {
  /** y, x̂ and the per-row rstd [N, 1] of LayerNorm (b given) or RMSNorm (b null) over the last axis of x [N, E]. */
  norm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D | null, eps: number): { y: tf.Tensor2D; xhat: tf.Tensor2D; rstd: tf.Tensor2D };
  normGrad(dy: tf.Tensor, xhat: tf.Tensor, rstd: tf.Tensor, g: tf.Tensor1D, rms: boolean): tf.Tensor2D;
  gelu(x: tf.Tensor): tf.Tensor;
  geluGrad(x: tf.Tensor, dy: tf.Tensor): tf.Tensor;
  /** (p·dp − p·Σ_row(p·dp))·scale over the last axis. */
  softmaxGrad(p: tf.Tensor, dp: tf.Tensor, scale: number): tf.Tensor;
  swiglu(gate: tf.Tensor, up: tf.Tensor): tf.Tensor;
  swigluGrad(gate: tf.Tensor, up: tf.Tensor, dy: tf.Tensor): [tf.Tensor, tf.Tensor];
  /** Σ x² as a scalar. */
  sumSquares(x: tf.Tensor): tf.Scalar;
}

const kernels: FusedKernels = {
  norm: (x, g, b, eps) => {
    const [y, xhat, rstd] = run(FUSED.norm, b ? { x, g, b } : { x, g }, { eps, rms: b ? 0 : 1 }) as tf.Tensor2D[];
    return { y, xhat, rstd };
  },
  normGrad: (dy, xhat, rstd, g, rms) => run(FUSED.normGrad, { dy, xhat, rstd, g }, { rms: rms ? 1 : 0 }) as tf.Tensor2D,
  gelu: (x) => run(FUSED.gelu, { x }) as tf.Tensor,
  geluGrad: (x, dy) => run(FUSED.geluGrad, { x, dy }) as tf.Tensor,
  softmaxGrad: (p, dp, scale) => run(FUSED.softmaxGrad, { p, dp }, { scale }) as tf.Tensor,
  swiglu: (gate, up) => run(FUSED.swiglu, { gate, up }) as tf.Tensor,
  swigluGrad: (gate, up, dy) => run(FUSED.swigluGrad, { gate, up, dy }) as [tf.Tensor, tf.Tensor],
  sumSquares: (x) => run(FUSED.sumSquares, { x }) as tf.Scalar,
};

/** The fused kernels where the running backend has them (native), else null. */
export function fusedKernels(): FusedKernels | null {
  return tf.getKernel(FUSED.norm, tf.getBackend()) ? kernels : null;
}
