import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { AdamW, clipByGlobalNorm, globalNorm, GradientAccumulator } from '../../trainer/optimizer';
import { assertAllClose, assertRelClose, elementwise } from './tolerance';

// no "install the node backend" banner in the test output
tf.env().set('PROD', true);

/** PyTorch's AdamW update in plain float64, the yardstick. */
function referenceAdamW(p: number[], grads: number[][], lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number[] {
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  let params = [...p];
  grads.forEach((g, k) => {
    const t = k + 1;
    params = params.map((x, i) => {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const decayed = x * (1 - lr * wd);
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
      return decayed - (lr / (1 - b1 ** t)) * (m[i] / denom);
    });
  });
  return params;
}

/** float32 against the float64 reference: `ops` roundings per element (normwise, see tolerance.ts). */
const approx = (actual: ArrayLike<number>, expected: number[], ops: number, what: string) => assertAllClose(actual, expected, elementwise(ops), what);
/** One AdamW step rounds about a dozen times per element (moments, bias corrections, square root, division, decay). */
const ADAMW_OPS = 12;

test('AdamW matches a float64 PyTorch-style update over two steps, with decoupled decay', async () => {
  await tf.setBackend('cpu');
  const p0 = [0.5, -1.25, 2.0, 0.01];
  const grads = [
    [0.1, -0.2, 0.3, 0.0],
    [-0.05, 0.4, 0.1, 1e-3],
  ];
  const w = tf.variable(tf.tensor1d(p0));
  const bias = tf.variable(tf.tensor1d(p0));
  const opt = new AdamW(
    [
      { name: 'w', variable: w, decay: true },
      { name: 'b', variable: bias, decay: false },
    ],
    { weightDecay: 0.1 },
  );
  for (const g of grads) {
    const gt = tf.tensor1d(g);
    opt.applyGradients([gt, gt], 0.01);
    gt.dispose();
  }
  approx(w.dataSync(), referenceAdamW(p0, grads, 0.01, 0.1), 2 * ADAMW_OPS, 'AdamW with decay, 2 steps');
  // the no-decay variable follows Adam without the decay term
  approx(bias.dataSync(), referenceAdamW(p0, grads, 0.01, 0), 2 * ADAMW_OPS, 'Adam without decay, 2 steps');
  assert.notDeepEqual(Array.from(w.dataSync()), Array.from(bias.dataSync()));
  assert.equal(opt.stateBytes(), 2 * 4 * 8);
  opt.dispose();
  w.dispose();
  bias.dispose();
});

test('AdamW does not leak tensors across steps, and dispose frees its state', async () => {
  await tf.setBackend('cpu');
  const start = tf.memory().numTensors;
  const init = tf.ones([3, 2]);
  const w = tf.variable(init);
  init.dispose();
  const opt = new AdamW([{ name: 'w', variable: w, decay: true }], { weightDecay: 0.01 });
  const g = tf.fill([3, 2], 0.5);
  opt.applyGradients([g], 1e-3);
  const before = tf.memory().numTensors;
  opt.applyGradients([g], 1e-3);
  assert.equal(tf.memory().numTensors, before);
  g.dispose();
  opt.dispose();
  w.dispose();
  assert.equal(tf.memory().numTensors, start);
});

test('global norm clipping scales every gradient by max/(norm+1e-6) only when above the limit', async () => {
  await tf.setBackend('cpu');
  const a = tf.tensor1d([3, 0]);
  const b = tf.tensor2d([[0, 4]]);
  const norm = globalNorm([a, b]);
  assertRelClose(norm, 5, elementwise(5), 'global norm of [3, 0], [0, 4]');
  const [ca, cb] = clipByGlobalNorm([a, b], norm, 1);
  approx(ca.dataSync(), [3 / (5 + 1e-6), 0], 3, 'clipped a');
  approx(cb.dataSync(), [0, 4 / (5 + 1e-6)], 3, 'clipped b');
  assertRelClose(globalNorm([ca, cb]), 5 / (5 + 1e-6), elementwise(3 + 5), 'norm after clipping');
  const x = tf.tensor1d([0.3, 0.4]);
  const [same] = clipByGlobalNorm([x], 0.5, 1);
  assert.equal(same, x);
  for (const t of [ca, cb, x]) t.dispose();
});

test('gradient accumulation averages micro-batch gradients', async () => {
  await tf.setBackend('cpu');
  const acc = new GradientAccumulator();
  acc.add([tf.tensor1d([1, 2])]);
  acc.add([tf.tensor1d([3, 6])]);
  acc.add([tf.tensor1d([2, 1])]);
  assert.equal(acc.microBatches, 3);
  const [mean] = acc.mean()!;
  approx(mean.dataSync(), [2, 3], 4, 'mean of 3 micro-batches');
  assert.equal(acc.mean(), undefined);
  mean.dispose();
});
