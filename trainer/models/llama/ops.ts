// The Llama family's own compute kernels, each a small function with its own gradient (tf.customGrad)
// like the shared ones in compute/ops.ts: RMSNorm, rotary embeddings in transformers' rotate_half layout
// (with the RoPE tables computed in float32 exactly as transformers computes them, llama3 scaling
// included), grouped-query attention's key/value repeat, and the SwiGLU gate. A weight that is frozen
// (not a trainable variable) is closed over, so its gradient is never computed. No op of rank 5.
import * as tf from '@tensorflow/tfjs-core';
import { fusedKernels } from '../../compute/fused';
import { columnSum, isTrainable } from '../../compute/ops';
import type { RopeScaling } from './config';

type Saved = tf.Tensor[];
type OpBody = (...args: never[]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] };

function customOp(body: OpBody): (...inputs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
}

/**
 * RMSNorm over the last axis of x [N, D] with gain w [D]: x · rsqrt(mean(x²) + eps) · w (LlamaRMSNorm,
 * in float32). With x̂ = x·r and g = dy·w: dx = r · (g − x̂ · mean(g · x̂)), dw = Σ_rows dy · x̂.
 */
export function rmsNorm(x: tf.Tensor2D, w: tf.Tensor1D, eps: number): tf.Tensor2D {
  const fused = fusedKernels();
  const forward = (xx: tf.Tensor) => {
    if (fused) {
      const { y, xhat, rstd } = fused.norm(xx as tf.Tensor2D, w, null, eps);
      return { xhat, r: rstd, y };
    }
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(xx), -1, true), eps));
    const xhat = tf.mul(xx, r);
    return { xhat, r, y: tf.mul(xhat, w) };
  };
  const inputGrad = (dy: tf.Tensor, xhat: tf.Tensor, r: tf.Tensor) => {
    if (fused) return fused.normGrad(dy, xhat, r, w, true);
    const g = tf.mul(dy, w);
    return tf.mul(tf.sub(g, tf.mul(xhat, tf.mean(tf.mul(g, xhat), -1, true))), r);
  };
  if (!isTrainable(w)) {
    const f = customOp((xx: tf.Tensor, save: (t: Saved) => void) => {
      const { xhat, r, y } = forward(xx);
      save([xhat, r]);
      return { value: y, gradFunc: (dy: tf.Tensor, [sx, sr]: tf.Tensor[]) => inputGrad(dy, sx, sr) };
    });
    return f(x) as tf.Tensor2D;
  }
  const f = customOp((xx: tf.Tensor, _w: tf.Tensor, save: (t: Saved) => void) => {
    const { xhat, r, y } = forward(xx);
    save([xhat, r]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [sx, sr]: tf.Tensor[]) => [inputGrad(dy, sx, sr), columnSum(tf.mul(dy, sx) as tf.Tensor2D)],
    };
  });
  return f(x, w) as tf.Tensor2D;
}

/** Float32 rounding of a JavaScript number: the tables below repeat transformers' float32 arithmetic step by step. */
const f32 = Math.fround;

/**
 * RoPE's inverse frequencies as transformers computes them in float32: 1 / θ^(2i/d) over head_dim d
 * (`_compute_default_rope_parameters`), then for rope type llama3 `_compute_llama3_parameters`: low
 * frequencies (wavelength above original / low_freq_factor) divided by `factor`, high ones kept, and
 * the band between interpolated.
 */
export function ropeInvFreq(headDim: number, theta: number, rope: RopeScaling): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f32(1 / f32(theta ** f32((2 * i) / headDim)));
  if (rope.type !== 'llama3') return inv;
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: old } = rope;
  const lowFreqWavelen = old / low;
  const highFreqWavelen = old / high;
  // torch evaluates `scalar / tensor` as tensor.reciprocal() * scalar, each rounded to float32.
  for (let i = 0; i < half; i++) {
    const wavelen = f32(f32(1 / inv[i]) * f32(2 * Math.PI));
    const scaled = wavelen > lowFreqWavelen ? f32(inv[i] / f32(factor)) : inv[i];
    const smooth = f32(f32(f32(f32(1 / wavelen) * old) - low) / f32(high - low));
    const smoothed = f32(f32(f32(f32(1 - smooth) * scaled) / f32(factor)) + f32(smooth * scaled));
    const medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    inv[i] = medium ? smoothed : scaled;
  }
  return inv;
}

/**
 * cos and sin [seq, headDim] of positions 0…seq−1 (LlamaRotaryEmbedding.forward: the float32 product
 * position · inv_freq, repeated for both halves, then cos and sin in float32).
 */
export function ropeTables(invFreq: Float32Array, seq: number): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const d = 2 * half;
  const cos = new Float32Array(seq * d);
  const sin = new Float32Array(seq * d);
  for (let t = 0; t < seq; t++) {
    for (let i = 0; i < half; i++) {
      const angle = f32(t * invFreq[i]);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[t * d + i] = cos[t * d + half + i] = c;
      sin[t * d + i] = sin[t * d + half + i] = s;
    }
  }
  return { cos, sin };
}

/** [−x2, x1] over the last axis of x [B, T, H, D] (transformers' rotate_half); its transpose is [g2, −g1]. */
function rotateHalf(x: tf.Tensor4D, transpose = false): tf.Tensor4D {
  const [b, t, h, d] = x.shape;
  const x1 = tf.slice(x, [0, 0, 0, 0], [b, t, h, d / 2]);
  const x2 = tf.slice(x, [0, 0, 0, d / 2], [b, t, h, d / 2]);
  return tf.concat(transpose ? [x2, tf.neg(x1)] : [tf.neg(x2), x1], 3);
}

/**
 * Rotary position embedding of x [B·T, H·D] (a q or k projection's output, heads side by side):
 * x·cos + rotate_half(x)·sin per head, with cos and sin [T, D]. It is linear in x, so the gradient is
 * the transposed map: dy·cos + rotate_halfᵀ(dy·sin).
 */
export function rope(x: tf.Tensor2D, batch: number, seq: number, heads: number, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor2D {
  const d = x.shape[1] / heads;
  const c = tf.reshape(cos, [1, seq, 1, d]);
  const s = tf.reshape(sin, [1, seq, 1, d]);
  const f = customOp((xx: tf.Tensor, save: (t: Saved) => void) => {
    save([]);
    const x4 = tf.reshape(xx, [batch, seq, heads, d]) as tf.Tensor4D;
    const y = tf.add(tf.mul(x4, c), tf.mul(rotateHalf(x4), s));
    return {
      value: tf.reshape(y, [batch * seq, heads * d]),
      gradFunc: (dy: tf.Tensor) => {
        const g = tf.reshape(dy, [batch, seq, heads, d]) as tf.Tensor4D;
        const dx = tf.add(tf.mul(g, c), rotateHalf(tf.mul(g, s) as tf.Tensor4D, true));
        return tf.reshape(dx, [batch * seq, heads * d]);
      },
    };
  });
  return f(x) as tf.Tensor2D;
}

/**
 * Grouped-query attention's repeat_kv on x [N, KV·D]: each of the KV heads repeated `nRep` times in
 * place (torch.repeat_interleave over heads), giving [N, KV·nRep·D]. The gradient sums the copies.
 */
export function repeatKv(x: tf.Tensor2D, kvHeads: number, nRep: number): tf.Tensor2D {
  if (nRep === 1) return x;
  const [n, width] = x.shape;
  const d = width / kvHeads;
  const f = customOp((xx: tf.Tensor, save: (t: Saved) => void) => {
    save([]);
    const y = tf.tile(tf.reshape(xx, [n, kvHeads, 1, d]), [1, 1, nRep, 1]);
    return {
      value: tf.reshape(y, [n, kvHeads * nRep * d]),
      gradFunc: (dy: tf.Tensor) => tf.reshape(tf.sum(tf.reshape(dy, [n, kvHeads, nRep, d]), 2), [n, width]),
    };
  });
  return f(x) as tf.Tensor2D;
}

/**
 * SwiGLU's gate: silu(gate) · up (LlamaMLP: down_proj(act_fn(gate_proj(x)) * up_proj(x)), act_fn silu).
 * With s = σ(g): d/dg = up · s · (1 + g · (1 − s)), d/dup = g · s.
 */
export function swiglu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  const fused = fusedKernels();
  if (fused) {
    // One pass each way, keeping only the two inputs (σ is recomputed in the backward pass).
    const f = customOp((g: tf.Tensor, u: tf.Tensor, save: (t: Saved) => void) => {
      save([g, u]);
      return { value: fused.swiglu(g, u), gradFunc: (dy: tf.Tensor, [sg, su]: tf.Tensor[]) => fused.swigluGrad(sg, su, dy) };
    });
    return f(gate, up) as tf.Tensor2D;
  }
  const f = customOp((g: tf.Tensor, u: tf.Tensor, save: (t: Saved) => void) => {
    const s = tf.sigmoid(g);
    const silu = tf.mul(g, s);
    save([g, u, s, silu]);
    return {
      value: tf.mul(silu, u),
      gradFunc: (dy: tf.Tensor, [sg, su, ss, ssilu]: tf.Tensor[]) => {
        const dSilu = tf.mul(ss, tf.add(1, tf.mul(sg, tf.sub(1, ss))));
        return [tf.mul(tf.mul(dy, su), dSilu), tf.mul(dy, ssilu)];
      },
    };
  });
  return f(gate, up) as tf.Tensor2D;
}
