// The model's compute kernels, each a small function with its own gradient (tf.customGrad), so that a
// faster implementation can replace one without touching the model. On tfjs's own wasm kernels every
// matrix product is an untransposed 2-D matMul (XNNPACK's fast path, docs/ARCHITECTURE.md "Compute"), with explicit
// transposes instead of transposeA/B flags; where matMul runs on the native BLAS addon
// (trainer/compute/kernels.ts), webgpu or tensorflow, the flags are free and used instead. No op of rank 5.
// A weight that is frozen (a plain tensor, not a trainable variable) is closed over rather than passed
// in, so its gradient is never computed.
import * as tf from '@tensorflow/tfjs-core';
import { fusedKernels } from './fused';
import { ADAMW_UPDATE, CROSS_ENTROPY_GRAD, nativeMatMulActive, type AdamWUpdateAttrs } from './kernels';

export function isTrainable(t: tf.Tensor): boolean {
  return t instanceof tf.Variable && t.trainable;
}

type Saved = tf.Tensor[];
type OpBody = (...args: never[]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] };

/** tf.customGrad for a body with typed parameters (tensors..., save); gradFunc returns one cotangent per tensor input. */
function customOp(body: OpBody): (...inputs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
}

/**
 * Whether products must be written as explicit transposes plus untransposed 2-D matMuls: only on
 * wasm's own kernels (XNNPACK's fast path). The native BLAS kernel, webgpu and tensorflow take the
 * transpose flags for free, and cpu's kernel is indifferent.
 */
export function needsExplicitTransposes(): boolean {
  return tf.getBackend() === 'wasm' && !nativeMatMulActive('wasm');
}

/** op(a)·op(b) for 2-D a, b: transpose flags, or explicit transposes where needsExplicitTransposes(). */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false, transposeB = false): tf.Tensor2D {
  if (!needsExplicitTransposes()) return tf.matMul(a, b, transposeA, transposeB);
  return tf.matMul(transposeA ? tf.transpose(a) : a, transposeB ? tf.transpose(b) : b);
}

/**
 * Column sums of x [N, M] as a [1, N]·[N, M] product: wasm reduces over a non-last axis by transposing
 * first, which costs more than this matMul.
 */
const transpose3 = (x: tf.Tensor) => tf.transpose(x, [0, 2, 1]) as tf.Tensor3D;

export function columnSum(x: tf.Tensor2D): tf.Tensor1D {
  return tf.reshape(tf.matMul(tf.ones([1, x.shape[0]]), x), [x.shape[1]]);
}

/** y = x·W + b for x [N, in], W [in, out] (HF Conv1D layout), b [out] or null. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | null): tf.Tensor2D {
  const trainW = isTrainable(w);
  const trainB = b !== null && isTrainable(b);
  if (!trainW && !trainB) {
    // Frozen layer: only the input's gradient, dx = dy·Wᵀ.
    const f = customOp((xx: tf.Tensor, save: (t: Saved) => void) => {
      save([]);
      const y = b ? tf.add(tf.matMul(xx as tf.Tensor2D, w), b) : tf.matMul(xx as tf.Tensor2D, w);
      return { value: y, gradFunc: (dy: tf.Tensor) => matMul2d(dy as tf.Tensor2D, w, false, true) };
    });
    return f(x) as tf.Tensor2D;
  }
  const withBias = b !== null;
  const f = customOp((...args: (tf.Tensor | ((t: Saved) => void))[]) => {
    const save = args[args.length - 1] as (t: Saved) => void;
    const [xx, ww, bb] = args as tf.Tensor[];
    save([xx, ww]);
    const prod = tf.matMul(xx as tf.Tensor2D, ww as tf.Tensor2D);
    const y = withBias ? tf.add(prod, bb) : prod;
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as tf.Tensor2D[];
        const d = dy as tf.Tensor2D;
        const dx = matMul2d(d, sw, false, true);
        const dw = matMul2d(sx, d, true, false);
        return withBias ? [dx, dw, columnSum(d)] : [dx, dw];
      },
    };
  });
  return (withBias ? f(x, w, b!) : f(x, w)) as tf.Tensor2D;
}

/** LayerNorm over the last axis of x [N, E] with gain g and bias b (both [E]). */
export function layerNorm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D {
  const trainParams = isTrainable(g) || isTrainable(b);
  const fused = fusedKernels();
  const forward = (xx: tf.Tensor) => {
    if (fused) return fused.norm(xx as tf.Tensor2D, g, b, eps);
    const mean = tf.mean(xx, -1, true);
    const xc = tf.sub(xx, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
    const xhat = tf.mul(xc, rstd);
    return { xhat, rstd, y: tf.add(tf.mul(xhat, g), b) };
  };
  // dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)), with dx̂ = dy · g.
  const inputGrad = (dy: tf.Tensor, xhat: tf.Tensor, rstd: tf.Tensor) => {
    if (fused) return fused.normGrad(dy, xhat, rstd, g, false);
    const dxhat = tf.mul(dy, g);
    const inner = tf.sub(tf.sub(dxhat, tf.mean(dxhat, -1, true)), tf.mul(xhat, tf.mean(tf.mul(dxhat, xhat), -1, true)));
    return tf.mul(inner, rstd);
  };
  if (!trainParams) {
    const f = customOp((xx: tf.Tensor, save: (t: Saved) => void) => {
      const { xhat, rstd, y } = forward(xx);
      save([xhat, rstd]);
      return { value: y, gradFunc: (dy: tf.Tensor, [xhat_, rstd_]: tf.Tensor[]) => inputGrad(dy, xhat_, rstd_) };
    });
    return f(x) as tf.Tensor2D;
  }
  const f = customOp((xx: tf.Tensor, _g: tf.Tensor, _b: tf.Tensor, save: (t: Saved) => void) => {
    const { xhat, rstd, y } = forward(xx);
    save([xhat, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [xhat_, rstd_]: tf.Tensor[]) => [
        inputGrad(dy, xhat_, rstd_),
        columnSum(tf.mul(dy, xhat_) as tf.Tensor2D),
        columnSum(dy as tf.Tensor2D),
      ],
    };
  });
  return f(x, g, b) as tf.Tensor2D;
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * GPT-2's gelu_new, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), written as x·σ(2z) (the same
 * function: 0.5·(1 + tanh z) = σ(2z)) because wasm's sigmoid is vectorised and its tanh is not.
 */
export function geluNew(x: tf.Tensor): tf.Tensor {
  const fused = fusedKernels();
  if (fused) {
    // One pass each way, and only x is kept: σ is recomputed in the backward pass.
    const f = customOp((xx: tf.Tensor, save: (t: Saved) => void) => {
      save([xx]);
      return { value: fused.gelu(xx), gradFunc: (dy: tf.Tensor, [sx]: tf.Tensor[]) => fused.geluGrad(sx, dy) };
    });
    return f(x);
  }
  const f = customOp((xx: tf.Tensor, save: (t: Saved) => void) => {
    const x2 = tf.square(xx);
    const z2 = tf.mul(tf.mul(xx, tf.add(tf.mul(x2, 0.044715), 1)), 2 * GELU_C);
    const s = tf.sigmoid(z2);
    save([xx, s]);
    return {
      value: tf.mul(xx, s),
      gradFunc: (dy: tf.Tensor, [sx, ss]: tf.Tensor[]) => {
        // d/dx x·σ(2z) = σ + x·2σ(1−σ)·√(2/π)·(1 + 3·0.044715·x²)
        const dz = tf.add(tf.mul(tf.square(sx), 3 * 0.044715 * 2 * GELU_C), 2 * GELU_C);
        const grad = tf.add(ss, tf.mul(tf.mul(sx, tf.mul(ss, tf.sub(1, ss))), dz));
        return tf.mul(dy, grad);
      },
    };
  });
  return f(x);
}

/**
 * Batched product op(a[i])·op(b[i]) for a [N, ·, ·], b [N, ·, ·]: one batched matMul (one native
 * sgemm loop, one GPU dispatch), or on wasm's own kernels N untransposed 2-D products (the only ones
 * XNNPACK runs fast).
 */
export function batchedMatMul(a: tf.Tensor3D, b: tf.Tensor3D, transposeA = false, transposeB = false): tf.Tensor3D {
  if (!needsExplicitTransposes()) return tf.matMul(a, b, transposeA, transposeB);
  if (transposeA) a = transpose3(a);
  if (transposeB) b = transpose3(b);
  const [n, m, k] = a.shape;
  const p = b.shape[2];
  const a2 = tf.reshape(a, [n * m, k]);
  const b2 = tf.reshape(b, [n * k, p]);
  const parts: tf.Tensor2D[] = [];
  for (let i = 0; i < n; i++) parts.push(tf.matMul(tf.slice(a2, [i * m, 0], [m, k]), tf.slice(b2, [i * k, 0], [k, p])));
  return tf.reshape(tf.concat(parts, 0), [n, m, p]);
}

/**
 * Causal multi-head self-attention core: qkv [B·T, 3E] (c_attn's output) to [B·T, E] (before c_proj).
 * `maskBias` [B, 1, T, T] (or broadcastable) is added to the scaled scores: 0 where a query may look,
 * a large negative number where it may not (the future, padding). `dropout` applies to the
 * probabilities. The gradient is written out by hand so that it, too, uses untransposed products only.
 */
export function causalSelfAttention(
  qkv: tf.Tensor2D,
  batch: number,
  seq: number,
  nHead: number,
  maskBias: tf.Tensor,
  dropout?: (p: tf.Tensor) => tf.Tensor,
): tf.Tensor2D {
  const e = qkv.shape[1] / 3;
  const d = e / nHead;
  const bh = batch * nHead;
  const scale = 1 / Math.sqrt(d);
  const f = customOp((x: tf.Tensor, save: (t: Saved) => void) => {
    // [B·T, 3E] -> [B, T, 3H, D] -> [B, 3H, T, D]; q, k, v are the three H-wide blocks of axis 1.
    const heads = tf.transpose(tf.reshape(x, [batch, seq, 3 * nHead, d]), [0, 2, 1, 3]);
    const part = (i: number) => tf.reshape(tf.slice(heads, [0, i * nHead, 0, 0], [batch, nHead, seq, d]), [bh, seq, d]) as tf.Tensor3D;
    const q = part(0);
    const k = part(1);
    const v = part(2);
    const scores = tf.add(tf.reshape(tf.mul(batchedMatMul(q, k, false, true), scale), [batch, nHead, seq, seq]), maskBias);
    const probs = tf.reshape(tf.softmax(scores), [bh, seq, seq]) as tf.Tensor3D;
    const used = dropout ? (dropout(probs) as tf.Tensor3D) : probs;
    const out = batchedMatMul(used, v); // [B·H, T, D]
    save([q, k, v, probs, used]);
    const y = tf.reshape(tf.transpose(tf.reshape(out, [batch, nHead, seq, d]), [0, 2, 1, 3]), [batch * seq, e]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [sq, sk, sv, sprobs, sused]: tf.Tensor[]) => {
        const dOut = tf.reshape(tf.transpose(tf.reshape(dy, [batch, seq, nHead, d]), [0, 2, 1, 3]), [bh, seq, d]) as tf.Tensor3D;
        const dv = batchedMatMul(sused as tf.Tensor3D, dOut, true, false);
        let dProbs = batchedMatMul(dOut, sv as tf.Tensor3D, false, true) as tf.Tensor;
        // Dropout's mask is sused / sprobs (0 or 1/keep); route the gradient through it.
        if (dropout) dProbs = tf.mul(dProbs, tf.divNoNan(sused, sprobs));
        const fused = fusedKernels();
        const dScores = (
          fused
            ? fused.softmaxGrad(sprobs, dProbs, scale)
            : tf.mul(tf.sub(tf.mul(sprobs, dProbs), tf.mul(sprobs, tf.sum(tf.mul(sprobs, dProbs), -1, true))), scale)
        ) as tf.Tensor3D;
        const dq = batchedMatMul(dScores, sk as tf.Tensor3D);
        const dk = batchedMatMul(dScores, sq as tf.Tensor3D, true, false);
        const dHeads = tf.concat(
          [dq, dk, dv].map((t) => tf.reshape(t, [batch, nHead, seq, d])),
          1,
        ); // [B, 3H, T, D]
        return tf.reshape(tf.transpose(dHeads, [0, 2, 1, 3]), [batch * seq, 3 * e]);
      },
    };
  });
  return f(qkv) as tf.Tensor2D;
}

/** Additive attention mask [B, 1, T, T]: 0 where query t may attend key s (s ≤ t and s not padding), −1e9 elsewhere. */
export function attentionMaskBias(attentionMask: tf.Tensor2D): tf.Tensor4D {
  const [batch, seq] = attentionMask.shape;
  const mask = attentionMask.dataSync();
  const bias = new Float32Array(batch * seq * seq);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      const row = (b * seq + t) * seq;
      for (let s = 0; s < seq; s++) bias[row + s] = s <= t && mask[b * seq + s] > 0 ? 0 : -1e9;
    }
  }
  return tf.tensor4d(bias, [batch, 1, seq, seq]);
}

/** logits = h·Wteᵀ for h [N, E] and the (tied) token embedding wte [V, E]. */
export function tiedLmHead(h: tf.Tensor2D, wte: tf.Tensor2D): tf.Tensor2D {
  if (!isTrainable(wte)) {
    const f = customOp((hh: tf.Tensor, save: (t: Saved) => void) => {
      save([]);
      return { value: matMul2d(hh as tf.Tensor2D, wte, false, true), gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, wte) };
    });
    return f(h) as tf.Tensor2D;
  }
  const f = customOp((hh: tf.Tensor, ww: tf.Tensor, save: (t: Saved) => void) => {
    save([hh, ww]);
    return {
      value: matMul2d(hh as tf.Tensor2D, ww as tf.Tensor2D, false, true),
      gradFunc: (dy: tf.Tensor, [sh, sw]: tf.Tensor[]) => {
        const d = dy as tf.Tensor2D;
        // dWte = dyᵀ·h. Measured on wasm, transposing dy and multiplying by the small h beats (hᵀ·dy)ᵀ,
        // whose right operand (all of dy) XNNPACK has to repack.
        return [tf.matMul(d, sw as tf.Tensor2D), matMul2d(d, sh as tf.Tensor2D, true, false)];
      },
    };
  });
  return f(h, wte) as tf.Tensor2D;
}

/**
 * Per-row cross-entropy of logits [N, V] against labels [N] (int32; a negative label means "ignore"
 * and gives 0 loss and 0 gradient). The forward pass keeps the softmax P (one fused kernel on wasm,
 * cheaper than a separate exp); loss = −log P[label], gradient = (P − one-hot) per row. P[label] is
 * floored at 1e-38 (float32's smallest normal), which caps a row's loss at ~87.5 instead of +∞.
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  const [n, v] = logits.shape;
  const labelValues = labels.dataSync();
  const valid = new Float32Array(n);
  const flat = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const l = labelValues[i];
    if (l >= v) throw new Error(`label ${l} is outside the vocabulary (${v} tokens)`);
    valid[i] = l >= 0 ? 1 : 0;
    flat[i] = i * v + Math.max(0, l);
  }
  // Tensors the gradient needs must go through save(): anything else made in the forward pass is
  // disposed before the backward pass runs.
  const f = customOp((lg: tf.Tensor, save: (t: Saved) => void) => {
    const validT = tf.tensor1d(valid);
    const probs = tf.softmax(lg);
    const picked = tf.gather(tf.reshape(probs, [n * v]), tf.tensor1d(flat, 'int32'));
    const loss = tf.mul(tf.neg(tf.log(tf.maximum(picked, 1e-38))), validT);
    save([probs, validT]);
    return {
      value: loss,
      gradFunc: (dy: tf.Tensor, [sprobs, svalid]: tf.Tensor[]) => {
        const w = tf.mul(dy, svalid);
        const labelT = tf.tensor1d(
          Array.from(labelValues, (l) => (l >= 0 ? l : -1)),
          'int32',
        );
        if (tf.getKernel(CROSS_ENTROPY_GRAD, tf.getBackend())) {
          return tf.engine().runKernel(CROSS_ENTROPY_GRAD, { probs: sprobs, labels: labelT, weights: w }) as tf.Tensor;
        }
        return tf.mul(tf.sub(sprobs, tf.oneHot(labelT, v)), tf.reshape(w, [n, 1]));
      },
    };
  });
  return f(logits) as tf.Tensor1D;
}

/**
 * One AdamW step for weight w with gradient g and moments m, v (see AdamWUpdateAttrs): returns
 * [w', m', v'] for the caller to assign. One fused pass on wasm/cpu (trainer/compute/kernels.ts); elsewhere
 * the same arithmetic as tf ops.
 */
export function adamwUpdate(w: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: AdamWUpdateAttrs): [tf.Tensor, tf.Tensor, tf.Tensor] {
  if (tf.getKernel(ADAMW_UPDATE, tf.getBackend())) {
    return tf.engine().runKernel(ADAMW_UPDATE, { w, g, m, v }, attrs as unknown as tf.NamedAttrMap) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
  }
  return tf.tidy(() => {
    const m1 = tf.add(tf.mul(m, attrs.beta1), tf.mul(g, 1 - attrs.beta1));
    const v1 = tf.add(tf.mul(v, attrs.beta2), tf.mul(tf.square(g), 1 - attrs.beta2));
    const base = attrs.decayFactor === 1 ? w : tf.mul(w, attrs.decayFactor);
    const update = tf.div(tf.mul(m1, attrs.stepSize), tf.add(tf.div(tf.sqrt(v1), attrs.sqrtBias2), attrs.epsilon));
    return [tf.sub(base, update), m1, v1] as [tf.Tensor, tf.Tensor, tf.Tensor];
  });
}
