// The kernels of trainer/compute/ops.ts against float64 references written out in plain JS, the kernels
// trainer/compute/kernels.ts registers, and backend selection.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendUnavailableError, initBackend } from '../../trainer/compute/backend';
import { CROSS_ENTROPY_GRAD, nativeKernelsAvailable } from '../../trainer/compute/kernels';
import { attentionMaskBias, batchedMatMul, causalSelfAttention, crossEntropy, geluNew, layerNorm } from '../../trainer/compute/ops';
import { againstExact, assertAllClose, elementwise, reorderedSum } from './tolerance';

function rand(n: number, seed: number, scale = 1): number[] {
  // A small LCG: the references below must see the same numbers as the tensors.
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

/**
 * float32 kernels against float64 references (see tolerance.ts): `tol` comes from the kernel's sums and
 * element-wise operations. The finite differences below are float64 with h = 1e-6, whose own error
 * (h²·f'''/6 + 2^-53·|f|/h, about 1e-10) is far below float32 rounding.
 */
function assertClose(actual: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assertAllClose(actual, want, tol, what);
}

const C = Math.sqrt(2 / Math.PI);
const geluRef = (x: number) => 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x ** 3)));

before(async () => {
  await initBackend('wasm');
});

describe('ops against float64 references', () => {
  test('gelu_new and its derivative', () => {
    const xs = rand(64, 1, 4);
    const x = tf.tensor1d(xs);
    const y = geluNew(x).dataSync();
    // About ten operations, tanh among them (a few ulps).
    assertClose(y, xs.map(geluRef), elementwise(16), 'gelu_new');
    const g = tf
      .grad((t: tf.Tensor) => tf.sum(geluNew(t)))(x)
      .dataSync();
    const h = 1e-6;
    assertClose(
      g,
      xs.map((v) => (geluRef(v + h) - geluRef(v - h)) / (2 * h)),
      elementwise(32),
      "gelu_new'",
    );
  });

  test('layerNorm and its gradients', () => {
    const [n, e] = [3, 6];
    const xs = rand(n * e, 2, 3);
    const gs = rand(e, 3).map((v) => 1 + v);
    const bs = rand(e, 4);
    const f64 = (x: number[], gain: number[], bias: number[]) => {
      const out: number[] = [];
      for (let r = 0; r < n; r++) {
        const row = x.slice(r * e, r * e + e);
        const mean = row.reduce((a, b) => a + b) / e;
        const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / e;
        row.forEach((val, j) => out.push(((val - mean) / Math.sqrt(v + 1e-5)) * gain[j] + bias[j]));
      }
      return out;
    };
    const weights = rand(n * e, 5);
    const loss = (x: number[], gain: number[], bias: number[]) => f64(x, gain, bias).reduce((a, v, i) => a + v * weights[i], 0);
    const g = tf.variable(tf.tensor1d(gs));
    const b = tf.variable(tf.tensor1d(bs));
    const x = tf.tensor2d(xs, [n, e]);
    // Mean and variance over the row (e terms each), then a few element-wise operations; the gradients
    // also sum over the rows and the weighted outputs.
    const ln = againstExact([e, e]) + elementwise(8);
    const lnGrad = againstExact([e, e, e, n * e]) + elementwise(16);
    assertClose(layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5).dataSync(), f64(xs, gs, bs), ln, 'layerNorm');
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.mul(layerNorm(x, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5), tf.tensor2d(weights, [n, e]))) as tf.Scalar,
      [g, b],
    );
    const h = 1e-6;
    const fd = (arr: number[], i: number, f: (a: number[]) => number) => {
      const p = arr.slice();
      const m = arr.slice();
      p[i] += h;
      m[i] -= h;
      return (f(p) - f(m)) / (2 * h);
    };
    assertClose(
      grads[g.name].dataSync(),
      gs.map((_, i) => fd(gs, i, (a) => loss(xs, a, bs))),
      lnGrad,
      'dgain',
    );
    assertClose(
      grads[b.name].dataSync(),
      bs.map((_, i) => fd(bs, i, (a) => loss(xs, gs, a))),
      lnGrad,
      'dbias',
    );
    const dx = tf
      .grad((t: tf.Tensor) => tf.sum(tf.mul(layerNorm(t as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5), tf.tensor2d(weights, [n, e]))))(x)
      .dataSync();
    assertClose(
      dx,
      xs.map((_, i) => fd(xs, i, (a) => loss(a, gs, bs))),
      lnGrad,
      'dx',
    );
  });

  test('cross-entropy: loss, ignored labels, and softmax − one-hot gradient', () => {
    const [n, v] = [4, 7];
    const logits = rand(n * v, 6, 5);
    const labels = [3, -1, 0, 6];
    const ce = crossEntropy(tf.tensor2d(logits, [n, v]), tf.tensor1d(labels, 'int32')).dataSync();
    const want: number[] = [];
    const grad: number[] = [];
    for (let r = 0; r < n; r++) {
      const row = logits.slice(r * v, r * v + v);
      const max = Math.max(...row);
      const z = row.reduce((a, b) => a + Math.exp(b - max), 0);
      want.push(labels[r] < 0 ? 0 : max + Math.log(z) - row[labels[r]]);
      row.forEach((val, j) => grad.push(labels[r] < 0 ? 0 : Math.exp(val - max) / z - (j === labels[r] ? 1 : 0)));
    }
    // Log-sum-exp over the v logits, then a subtraction; the gradient is softmax − one-hot.
    const ceTol = againstExact([v]) + elementwise(4);
    assertClose(ce, want, ceTol, 'loss');
    const g = tf
      .grad((t: tf.Tensor) => tf.sum(crossEntropy(t as tf.Tensor2D, tf.tensor1d(labels, 'int32'))))(tf.tensor2d(logits, [n, v]))
      .dataSync();
    assertClose(g, grad, ceTol, 'dlogits');
    // Backends without the fused gradient kernel (tensorflow, webgpu) take the one-hot path: same numbers.
    const kernel = tf.getKernel(CROSS_ENTROPY_GRAD, 'wasm')!;
    tf.unregisterKernel(CROSS_ENTROPY_GRAD, 'wasm');
    try {
      const g2 = tf
        .grad((t: tf.Tensor) => tf.sum(crossEntropy(t as tf.Tensor2D, tf.tensor1d(labels, 'int32'))))(tf.tensor2d(logits, [n, v]))
        .dataSync();
      assertClose(g2, grad, ceTol, 'dlogits without the fused kernel');
    } finally {
      tf.registerKernel(kernel);
    }
    assert.throws(() => crossEntropy(tf.tensor2d(logits, [n, v]), tf.tensor1d([1, 2, 7, 0], 'int32')), /label 7 is outside the vocabulary \(7 tokens\)/);
  });

  test('causal self-attention with padding equals a naive float64 implementation', () => {
    const [b, t, h, d] = [2, 4, 2, 3];
    const e = h * d;
    const qkv = rand(b * t * 3 * e, 7, 2);
    const mask = [1, 1, 1, 1, 1, 1, 0, 0];
    const got = causalSelfAttention(tf.tensor2d(qkv, [b * t, 3 * e]), b, t, h, attentionMaskBias(tf.tensor2d(mask, [b, t]))).dataSync();
    const want = new Array<number>(b * t * e).fill(0);
    const at = (bi: number, ti: number, part: number, hi: number, di: number) => qkv[(bi * t + ti) * 3 * e + part * e + hi * d + di];
    for (let bi = 0; bi < b; bi++) {
      for (let hi = 0; hi < h; hi++) {
        for (let ti = 0; ti < t; ti++) {
          const keys = [...Array(t).keys()].filter((s) => s <= ti && mask[bi * t + s] === 1);
          const scores = keys.map((s) => [...Array(d).keys()].reduce((a, di) => a + at(bi, ti, 0, hi, di) * at(bi, s, 1, hi, di), 0) / Math.sqrt(d));
          const max = Math.max(...scores);
          const w = scores.map((sc) => Math.exp(sc - max));
          const z = w.reduce((a, c) => a + c);
          for (let di = 0; di < d; di++) want[(bi * t + ti) * e + hi * d + di] = keys.reduce((a, s, k) => a + (w[k] / z) * at(bi, s, 2, hi, di), 0);
        }
      }
    }
    // Scores over the head width, softmax and weighted values over the positions.
    assertClose(got, want, againstExact([d, t, t]) + elementwise(6), 'attention');
  });

  test('batchedMatMul equals tf.matMul on 3-D tensors', () => {
    const a = tf.tensor3d(rand(3 * 4 * 5, 8), [3, 4, 5]);
    const b = tf.tensor3d(rand(3 * 5 * 2, 9), [3, 5, 2]);
    assertClose(batchedMatMul(a, b).dataSync(), tf.matMul(a, b).dataSync(), reorderedSum(5), 'bmm');
  });
});

describe('training kernels and backends', () => {
  test('the wasm embedding gradient (UnsortedSegmentSum) scatter-adds rows and drops out-of-range ids', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
    const out = tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, 5], 'int32'), 3);
    assert.deepEqual(Array.from(out.dataSync()), [3, 4, 0, 0, 6, 8]);
    const g = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(tf.gather(w, tf.tensor1d([1, 1, 0], 'int32')), tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]))))(
      tf.zeros([3, 2]),
    );
    assert.deepEqual(Array.from(g.dataSync()), [5, 6, 4, 6, 0, 0]);
  });

  test('the wasm Identity kernel shares the buffer: a clone outlives its original, and the memory is freed with the last', () => {
    const before = tf.memory().numBytes;
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    a.dispose();
    assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3]);
    b.dispose();
    assert.equal(tf.memory().numBytes, before);
  });

  test('the wasm Slice kernel agrees with the cpu backend on strided and contiguous slices', async () => {
    const values = rand(2 * 3 * 4 * 5, 10);
    const cases: [number[], number[]][] = [
      [
        [0, 1, 0, 0],
        [2, 2, 4, 5],
      ],
      [
        [1, 0, 1, 2],
        [1, 3, 2, 3],
      ],
      [
        [0, 0, 0, 0],
        [2, 3, 4, 5],
      ],
      [
        [1, 2, 3, 4],
        [1, 1, 1, 1],
      ],
    ];
    const onWasm = cases.map(([begin, size]) => Array.from(tf.slice(tf.tensor4d(values, [2, 3, 4, 5]), begin, size).dataSync()));
    await initBackend('cpu');
    try {
      cases.forEach(([begin, size], i) => assert.deepEqual(onWasm[i], Array.from(tf.slice(tf.tensor4d(values, [2, 3, 4, 5]), begin, size).dataSync())));
    } finally {
      await initBackend('wasm');
    }
  });

  test('the cpu backend gets the fast UnsortedSegmentSum too', async () => {
    await initBackend('cpu');
    try {
      const out = tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3]), tf.tensor1d([1, 1, -1], 'int32'), 50000);
      assert.equal(out.shape[0], 50000);
      assert.deepEqual(Array.from(out.dataSync().slice(0, 3)), [0, 3, 0]);
    } finally {
      await initBackend('wasm');
    }
  });

  test('a forced backend that is missing fails with a clear message; initBackend is idempotent', async () => {
    await assert.rejects(initBackend('webgpu'), (err: Error) => err instanceof BackendUnavailableError && /webgpu' is not available/.test(err.message));
    await assert.rejects(initBackend('bogus' as never), /unknown backend 'bogus'/);
    // tfjs-node is not installed here (its install needs a download this machine cannot make).
    await assert.rejects(initBackend('tensorflow', { nativeSearchPaths: [] }), /backend 'tensorflow' is not available: @tensorflow\/tfjs-node/);
    // Without tfjs-node, auto lands on the native CPU backend where its addon is built, else on wasm
    // with the reason native was passed over.
    const auto = await initBackend('auto', { nativeSearchPaths: [] });
    if (nativeKernelsAvailable()) assert.equal(auto.backend, 'native');
    else {
      assert.equal(auto.backend, 'wasm');
      assert.match(auto.fallback ?? '', /^native CPU backend not used: /);
    }
    const a = await initBackend('wasm');
    const b = await initBackend('wasm');
    assert.deepEqual(a, b);
    assert.equal(tf.getBackend(), 'wasm');
  });

  test('without the native addon, auto falls back to wasm and says why; a forced native backend is refused with the reason', () => {
    const script = `
      const { initBackend } = require(${JSON.stringify(path.join(__dirname, '../../trainer/compute/backend.ts'))});
      (async () => {
        const info = await initBackend('auto', { nativeSearchPaths: [] });
        let forced = '';
        try { await initBackend('native'); } catch (err) { forced = err.message; }
        console.log(JSON.stringify({ backend: info.backend, fallback: info.fallback, forced }));
      })();`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', env: { ...process.env, FINETUNE_NATIVE_BLAS: '0' } });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(out.backend, 'wasm');
    assert.equal(out.fallback, 'native CPU backend not used: the native addon is turned off by FINETUNE_NATIVE_BLAS=0');
    assert.match(out.forced, /backend 'native' is not available: the native addon is turned off by FINETUNE_NATIVE_BLAS=0/);
  });
});
