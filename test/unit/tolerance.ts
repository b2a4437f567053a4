// Every numeric tolerance of the test suite, in one place, each derived from what float32 arithmetic
// and the optimizer guarantee rather than from what one machine happened to produce. A tolerance that
// only holds on one CPU fails in CI's second run of the numeric tests under another OpenBLAS kernel set
// (scripts/test-numeric.mjs). TOLERANCE_REPORT=1 prints how much of its tolerance each check used.
//
// The model of float32 error used throughout: every operation rounds to nearest with unit roundoff
// u = 2^-24 ≈ 6e-8, and a sum or dot product of n terms, in whatever order or blocking, is within n·u
// of the exact value relative to Σ|terms| in the worst case (Higham, "Accuracy and Stability of
// Numerical Algorithms", §3.1) and within λ·√n·u with probability at least 1 − 2n·exp(−λ²/2) when the
// roundings are independent (Higham & Mary, "A New Approach to Probabilistic Rounding Error Analysis",
// SIAM J. Sci. Comput. 2019, Thm 2.4). Sums up to a few hundred terms use the worst case; the long ones
// of a language model (50,257 vocabulary logits, millions of squared gradients) use λ = 8, whose
// failure probability is below 1e-9 even for those. Through a network an output carries one rounding
// factor (1 + δ) per term of every sum on its path, so the same bound applies with n = the total length
// of the sums along the path (Higham & Mary's analysis is of exactly such products of (1 + δ)). Two
// implementations that order one computation differently (tfjs's kernels and OpenBLAS's, wasm and
// webgpu, one batch or several) are each within the bound of the exact result, so they differ by at
// most twice it. Array comparisons are normwise: an element is compared relative to the
// largest magnitude of its tensor (Σ|terms| of a dot product is of that size; an element that cancels
// to near zero keeps the absolute error of its terms).
import * as assert from 'node:assert/strict';
import type { ModelDims } from '../../trainer/models/model';
import { modelDims, type ModelConfig } from '../../trainer/models/registry';

/** Unit roundoff of float32 (round to nearest). */
export const F32_EPS = 2 ** -24;

/** Unit roundoff of float16 (10-bit mantissa) and bfloat16 (7-bit): what a weight loses when stored so. */
export const F16_EPS = 2 ** -11;
export const BF16_EPS = 2 ** -8;

/** λ of the probabilistic bound (see the top of this file). */
const LAMBDA = 8;

/** Bound on the relative error of one float32 n-term sum: n·u, or λ·√n·u where that is smaller (long sums). */
export function sumError(n: number): number {
  return Math.min(n, LAMBDA * Math.sqrt(n)) * F32_EPS;
}

/** Relative distance of two float32 evaluations of one n-term sum in different orders. */
export function reorderedSum(n: number): number {
  return 2 * sumError(n);
}

/**
 * Relative distance of two float32 evaluations, in different orders, of a computation made of sums of
 * the given lengths one after the other: one long chain of roundings whose length is their total.
 */
export function reordered(sums: readonly number[]): number {
  return reorderedSum(sums.reduce((a, b) => a + b, 0));
}

/**
 * The sums of a GPT-2 forward pass over `tokens` positions, for reordered(): in each block the two layer
 * norms (n_embd), the four products over the width (c_attn, c_proj, mlp.c_fc: n_embd; mlp.c_proj:
 * 4·n_embd), the attention scores (head width) and the softmax and weighted values over the positions;
 * then ln_f, the LM head (n_embd), the log-sum-exp over the vocabulary and the loss over the tokens. The
 * backward pass runs the same chain again.
 */
export function gpt2Sums(shape: { vocabSize: number; nEmbd: number; nLayer: number; nHead: number } | ModelConfig, tokens: number, backward = false): number[] {
  const c = 'nEmbd' in shape ? shape : gpt2Shape(modelDims(shape));
  const block = [c.nEmbd, c.nEmbd, c.nEmbd / c.nHead, tokens, tokens, c.nEmbd, c.nEmbd, c.nEmbd, 4 * c.nEmbd];
  const forward = [...Array.from({ length: c.nLayer }, () => block).flat(), c.nEmbd, c.nEmbd, c.vocabSize, tokens];
  return backward ? [...forward, ...forward] : forward;
}

function gpt2Shape(d: ModelDims): { vocabSize: number; nEmbd: number; nLayer: number; nHead: number } {
  return { vocabSize: d.vocabSize, nEmbd: d.hiddenSize, nLayer: d.numLayers, nHead: d.numHeads };
}

/** Bound on the relative error of one float32 result against the exact (float64) one: its sums' bounds added. */
export function againstExact(sums: readonly number[]): number {
  return sumError(sums.reduce((a, b) => a + b, 0));
}

/**
 * Relative error of an element-wise float32 formula against float64: one rounding per operation, and
 * the transcendental functions (exp, log, tanh, sqrt) of tfjs's kernels are within a few ulps, counted
 * as `ops` too.
 */
export function elementwise(ops: number): number {
  return ops * F32_EPS;
}

/** Unit roundoff of float64. */
export const F64_EPS = 2 ** -53;

/** Relative error of a plain JavaScript (float64) formula of `ops` operations against the same value written another way. */
export function f64Ops(ops: number): number {
  return 2 * ops * F64_EPS;
}

/**
 * How far one weight can drift between two correct backends after `steps` AdamW steps at rate `lr`:
 * Adam's update lr·m̂/(√v̂ + ε) has magnitude at most about lr (exactly lr·|g|/(|g| + ε) ≤ lr on the
 * first step; Kingma & Ba §2.1), and a gradient element that is as small as the backends' rounding
 * differences can have opposite signs on the two, so they may move that weight in opposite directions:
 * 2·lr per step. Decoupled weight decay moves both alike (lr·λ·w), which rounding changes by far less.
 */
export function adamDrift(lr: number, steps: number): number {
  return 2 * lr * steps;
}

const report = process.env.TOLERANCE_REPORT === '1';

function used(what: string, error: number, tolerance: number): void {
  if (report)
    process.stderr.write(`tolerance ${what}: ${error.toExponential(2)} of ${tolerance.toExponential(2)} (${((100 * error) / tolerance).toFixed(1)}%)\n`);
}

/** |actual − want| ≤ rel·|want|. */
export function assertRelClose(actual: number, want: number, rel: number, what: string): void {
  const error = Math.abs(actual - want);
  used(what, error, rel * Math.abs(want));
  assert.ok(
    error <= rel * Math.abs(want),
    `${what}: ${actual} vs ${want} (relative error ${(error / Math.abs(want)).toExponential(2)}, tolerance ${rel.toExponential(2)})`,
  );
}

/** |actual − want| ≤ abs, for quantities whose bound is absolute (a weight's drift, a probability). */
export function assertAbsClose(actual: number, want: number, abs: number, what: string): void {
  const error = Math.abs(actual - want);
  used(what, error, abs);
  assert.ok(error <= abs, `${what}: ${actual} vs ${want} (differ by ${error.toExponential(2)}, tolerance ${abs.toExponential(2)})`);
}

/** Normwise: every |actual[i] − want[i]| ≤ rel·max|want| (see the top of this file); returns the worst relative error. */
export function assertAllClose(actual: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): number {
  assert.equal(actual.length, want.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  // An all-zero reference (a gradient that vanishes on both sides) is compared at the smallest normal float32.
  scale = Math.max(scale, 2 ** -126);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(actual[i] - want[i]);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  used(what, worst, rel * scale);
  assert.ok(
    worst <= rel * scale,
    `${what}[${at}]: ${actual[at]} vs ${want[at]} (differ by ${(worst / scale).toExponential(2)} of the largest magnitude ${scale.toExponential(2)}, tolerance ${rel.toExponential(2)})`,
  );
  return worst / scale;
}

/** Element-wise absolute: every |actual[i] − want[i]| ≤ abs; returns the worst difference. */
export function assertAllAbsClose(actual: ArrayLike<number>, want: ArrayLike<number>, abs: number, what: string): number {
  assert.equal(actual.length, want.length, `${what}: length`);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(actual[i] - want[i]);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  used(what, worst, abs);
  assert.ok(worst <= abs, `${what}[${at}]: ${actual[at]} vs ${want[at]} (differ by ${worst.toExponential(2)}, tolerance ${abs.toExponential(2)})`);
  return worst;
}
