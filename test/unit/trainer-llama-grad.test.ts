// The Llama family's kernels (trainer/models/llama/ops.ts: RMSNorm, RoPE, GQA's key/value repeat, SwiGLU)
// against float64 references written out in plain JS, their hand-written gradients against float64
// finite differences, the RoPE tables against transformers' formulas, and whole tiny models of each
// family (biases, an untied head, llama3 RoPE, q/k norms, attention dropout) against float32 central
// differences.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import type { NamedTensor } from '../../trainer/models/model';
import type { LlamaConfig } from '../../trainer/models/llama/config';
import { LlamaModel } from '../../trainer/models/llama/model';
import { repeatKv, rmsNorm, rope, ropeInvFreq, ropeTables, swiglu } from '../../trainer/models/llama/ops';
import { checkpointShapes } from '../../trainer/models/llama/weights';
import { againstExact, assertAllClose, elementwise, F32_EPS } from './tolerance';
import { TEST_BACKEND } from './testBackend';

function rand(n: number, seed: number, scale = 1): number[] {
  // A small LCG: the references below must see the same numbers as the tensors.
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

/**
 * Central differences of a float64 function with h = 1e-6: their own error (h²·f'''/6 + 2^-53·|f|/h,
 * about 1e-10) is far below float32 rounding, so the tolerances are the float32 kernels' alone.
 */
function fd(arr: number[], i: number, f: (a: number[]) => number, h = 1e-6): number {
  const p = arr.slice();
  const m = arr.slice();
  p[i] += h;
  m[i] -= h;
  return (f(p) - f(m)) / (2 * h);
}

/** Σ y·weights for outputs y of a float64 reference: a scalar whose gradient is the vector–Jacobian product with `weights`. */
const weighted = (y: number[], weights: number[]) => y.reduce((a, v, i) => a + v * weights[i], 0);

/** d/dx of Σ op(x)·weights through tfjs, for the op's hand-written gradient. */
function vjp(op: (...t: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], weights: number[]): Float32Array[] {
  const grads = tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(op(...t), tf.tensor(weights, op(...t).shape))))(inputs);
  return grads.map((g) => g.dataSync() as Float32Array);
}

before(async () => {
  await initBackend(TEST_BACKEND);
});

describe('Llama kernels against float64 references and finite differences', () => {
  test('RMSNorm: x · rsqrt(mean(x²) + eps) · w, and its gradients in x and w (trainable and frozen)', () => {
    const [n, d, eps] = [3, 8, 1e-6];
    const xs = rand(n * d, 1, 3);
    const ws = rand(d, 2).map((v) => 1 + v);
    const f64 = (x: number[], w: number[]) => {
      const out: number[] = [];
      for (let r = 0; r < n; r++) {
        const row = x.slice(r * d, r * d + d);
        const rs = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / d + eps);
        row.forEach((v, j) => out.push(v * rs * w[j]));
      }
      return out;
    };
    const weights = rand(n * d, 3);
    const x = tf.tensor2d(xs, [n, d]);
    const w = tf.variable(tf.tensor1d(ws));
    // The mean of squares (d terms), then a few element-wise operations; the gradients sum over the row
    // (g·x̂, d terms) and, for w, over the rows.
    assertAllClose(rmsNorm(x, w as tf.Tensor1D, eps).dataSync(), f64(xs, ws), againstExact([d]) + elementwise(6), 'rmsNorm');
    const gradTol = againstExact([d, d, n]) + elementwise(12);
    const [dx, dw] = vjp((a, b) => rmsNorm(a as tf.Tensor2D, b as tf.Tensor1D, eps), [x, w], weights);
    assertAllClose(
      dx,
      xs.map((_, i) => fd(xs, i, (a) => weighted(f64(a, ws), weights))),
      gradTol,
      'rmsNorm dx',
    );
    assertAllClose(
      dw,
      ws.map((_, i) => fd(ws, i, (a) => weighted(f64(xs, a), weights))),
      gradTol,
      'rmsNorm dw',
    );
    // A frozen gain is closed over: the input's gradient is the same.
    const frozen = tf.tensor1d(ws);
    const [dxFrozen] = vjp((a) => rmsNorm(a as tf.Tensor2D, frozen, eps), [x], weights);
    assertAllClose(dxFrozen, dx, elementwise(2), 'rmsNorm dx, frozen gain');
  });

  test('RoPE in the rotate_half layout per head, and its gradient (the transposed rotation)', () => {
    const [b, t, h, d] = [2, 5, 3, 8];
    const { cos, sin } = ropeTables(ropeInvFreq(d, 10000, { type: 'default' }), t);
    const xs = rand(b * t * h * d, 4, 2);
    const f64 = (x: number[]) =>
      x.map((v, idx) => {
        const j = idx % d;
        const pos = Math.floor(idx / (h * d)) % t;
        const rot = j < d / 2 ? -x[idx + d / 2] : x[idx - d / 2];
        return v * cos[pos * d + j] + rot * sin[pos * d + j];
      });
    const x = tf.tensor2d(xs, [b * t, h * d]);
    const c = tf.tensor2d(cos, [t, d]);
    const s = tf.tensor2d(sin, [t, d]);
    // Two products and a sum per element (cos and sin are the same float32 tables on both sides).
    assertAllClose(rope(x, b, t, h, c, s).dataSync(), f64(xs), elementwise(3), 'rope');
    const weights = rand(xs.length, 5);
    const [dx] = vjp((a) => rope(a as tf.Tensor2D, b, t, h, c, s), [x], weights);
    assertAllClose(
      dx,
      xs.map((_, i) => fd(xs, i, (a) => weighted(f64(a), weights))),
      elementwise(6),
      'rope dx',
    );
  });

  test("GQA's repeat_kv: each key/value head repeated in place, and the gradient summing the copies", () => {
    const [n, kv, rep, d] = [4, 2, 3, 5];
    const xs = rand(n * kv * d, 6);
    const f64 = (x: number[]) => {
      const out: number[] = [];
      for (let r = 0; r < n; r++) for (let k = 0; k < kv; k++) for (let c = 0; c < rep; c++) for (let j = 0; j < d; j++) out.push(x[r * kv * d + k * d + j]);
      return out;
    };
    const x = tf.tensor2d(xs, [n, kv * d]);
    assert.deepEqual(Array.from(repeatKv(x, kv, rep).dataSync()), f64(xs).map(Math.fround));
    const weights = rand(n * kv * rep * d, 7);
    const [dx] = vjp((a) => repeatKv(a as tf.Tensor2D, kv, rep), [x], weights);
    assertAllClose(
      dx,
      xs.map((_, i) => fd(xs, i, (a) => weighted(f64(a), weights))),
      againstExact([rep]) + elementwise(1),
      'repeat_kv dx',
    );
    assert.equal(repeatKv(x, kv, 1), x, 'one repeat is the identity');
  });

  test('SwiGLU: silu(gate) · up, and its gradients in gate and up', () => {
    const n = 24;
    const gs = rand(n, 8, 6);
    const us = rand(n, 9, 2);
    const f64 = (g: number[], u: number[]) => g.map((v, i) => (v / (1 + Math.exp(-v))) * u[i]);
    const [g, u] = [tf.tensor2d(gs, [4, 6]), tf.tensor2d(us, [4, 6])];
    // The sigmoid (a few ulps) and three operations; the gradients about twice that.
    assertAllClose(swiglu(g, u).dataSync(), f64(gs, us), elementwise(8), 'swiglu');
    const weights = rand(n, 10);
    const [dg, du] = vjp((a, b) => swiglu(a as tf.Tensor2D, b as tf.Tensor2D), [g, u], weights);
    assertAllClose(
      dg,
      gs.map((_, i) => fd(gs, i, (a) => weighted(f64(a, us), weights))),
      elementwise(16),
      'swiglu dgate',
    );
    assertAllClose(
      du,
      us.map((_, i) => fd(us, i, (a) => weighted(f64(gs, a), weights))),
      elementwise(16),
      'swiglu dup',
    );
  });

  test("RoPE tables: transformers' inverse frequencies, llama3's three bands, cos/sin of position × frequency", () => {
    const d = 16;
    const theta = 500000;
    const plain = ropeInvFreq(d, theta, { type: 'default' });
    const exact = Array.from({ length: d / 2 }, (_, i) => 1 / theta ** ((2 * i) / d));
    // float32 evaluation of a power and a reciprocal.
    assertAllClose(plain, exact, elementwise(4), 'inv_freq');
    const rope3 = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 };
    const scaled = ropeInvFreq(d, theta, rope3);
    const bands = exact.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < 64 / 4) return f; // high frequency: kept
      if (wavelen > 64 / 1) return f / 8; // low frequency: divided by the factor
      const smooth = (64 / wavelen - 1) / (4 - 1);
      return (1 - smooth) * (f / 8) + smooth * f;
    });
    assert.ok(bands.some((f, i) => f === exact[i]) && bands.some((f, i) => f === exact[i] / 8), 'the test covers the kept and the divided bands');
    assert.ok(
      bands.some((f, i) => f !== exact[i] && f !== exact[i] / 8),
      'and the interpolated one',
    );
    assertAllClose(scaled, bands, elementwise(12), 'llama3 inv_freq');
    const { cos, sin } = ropeTables(scaled, 5);
    for (let t = 0; t < 5; t++) {
      for (let i = 0; i < d / 2; i++) {
        const angle = t * scaled[i];
        for (const j of [i, i + d / 2]) {
          assert.ok(
            Math.abs(cos[t * d + j] - Math.cos(angle)) <= 4 * F32_EPS && Math.abs(sin[t * d + j] - Math.sin(angle)) <= 4 * F32_EPS,
            `table at ${t}, ${j}`,
          );
        }
      }
    }
  });
});

describe('whole models: every gradient matches float32 central differences', () => {
  const tiny: LlamaConfig = {
    modelType: 'llama',
    vocabSize: 13,
    hiddenSize: 8,
    intermediateSize: 12,
    numLayers: 1,
    numHeads: 2,
    numKvHeads: 1,
    headDim: 4,
    maxPositions: 8,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    rope: { type: 'llama3', factor: 4, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 4 },
    ropeForm: 'classic',
    attentionBias: true,
    mlpBias: true,
    tieWordEmbeddings: false,
    attentionDropout: 0,
    initializerRange: 0.02,
  };

  /** Random weights of every tensor (norm gains around 1), so that no gradient is trivially 0. */
  function model(c: LlamaConfig, seed: number): LlamaModel {
    const weights = new Map<string, NamedTensor>();
    let i = 0;
    for (const [key, shape] of checkpointShapes(c)) {
      const t = tf.randomNormal(shape, key.endsWith('norm.weight') ? 1 : 0, 0.4, 'float32', seed + i++);
      weights.set(key, { shape, data: t.dataSync() as Float32Array });
      t.dispose();
    }
    return LlamaModel.fromWeights(c, weights, seed);
  }

  const ids = () =>
    tf.tensor2d(
      [
        [1, 5, 7, 2, 11],
        [3, 3, 12, 0, 0],
      ],
      [2, 5],
      'int32',
    );
  const labels = () =>
    tf.tensor2d(
      [
        [5, 7, 2, 11, -1],
        [3, 12, -1, -1, -1],
      ],
      [2, 5],
      'int32',
    );
  const mask = () =>
    tf.tensor2d(
      [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 0, 0],
      ],
      [2, 5],
    );

  function lossOf(m: LlamaModel, training: boolean): tf.Scalar {
    m.dropoutCounter = 0; // the same dropout masks on every evaluation
    return tf.sum(m.tokenLoss(ids(), labels(), mask(), training));
  }

  /** d loss / d v at the largest-gradient coordinates of every parameter against central differences; returns how many were checked. */
  function checkGradients(m: LlamaModel, training: boolean, coords = 2): number {
    const vars = m.namedParameters();
    const { grads } = tf.variableGrads(
      () => lossOf(m, training),
      vars.map(([, v]) => v),
    );
    const h = 1e-2;
    let checked = 0;
    for (const [name, variable] of vars) {
      const g = grads[variable.name].dataSync();
      const values = variable.dataSync().slice();
      // The coordinates with the largest gradients: small ones drown in float32 rounding.
      const order = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]));
      for (const i of order.slice(0, coords)) {
        const at = (delta: number) => {
          const v = values.slice();
          v[i] += delta;
          variable.assign(tf.tensor(v, variable.shape));
          return tf.tidy(() => lossOf(m, training).dataSync()[0]);
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        variable.assign(tf.tensor(values, variable.shape));
        // Float32 central differences with h = 1e-2 agree to a few 1e-3 relative (the GPT-2 model's check uses the same bound).
        assert.ok(
          Math.abs(numeric - g[i]) <= 5e-3 * Math.max(Math.abs(numeric), Math.abs(g[i])) + 1e-3,
          `${name}[${i}]: analytic ${g[i]} vs numeric ${numeric}`,
        );
        checked++;
      }
    }
    tf.dispose(grads);
    return checked;
  }

  test('Llama: GQA, biases on attention and MLP, an untied head, llama3 RoPE', () => {
    const m = model(tiny, 1);
    // embed, 4 attention weights + 4 biases, 3 MLP weights + 3 biases, 2 norms, the final norm, lm_head.
    assert.equal(checkGradients(m, false), 2 * 19);
    m.dispose();
  });

  test('Qwen2 (q/k/v biases) with attention dropout in training: the same masks give matching gradients', () => {
    const m = model({ ...tiny, modelType: 'qwen2', rope: { type: 'default' }, attentionDropout: 0.2, tieWordEmbeddings: true }, 2);
    checkGradients(m, true);
    m.dispose();
  });

  test('Qwen3: q/k norms over a head_dim other than hidden / heads, tied head', () => {
    const m = model({ ...tiny, modelType: 'qwen3', headDim: 6, attentionBias: false, tieWordEmbeddings: true, rope: { type: 'default' } }, 3);
    // embed, 4 attention weights, q_norm, k_norm, 3 MLP weights, 2 norms, the final norm.
    assert.equal(checkGradients(m, false), 2 * 13);
    m.dispose();
  });
});
