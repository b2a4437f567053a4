// The fused AdamW update (trainer/compute/kernels.ts, ops.adamwUpdate) against PyTorch's AdamW arithmetic in
// float64, over several steps, with and without weight decay, on wasm and cpu.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { ADAMW_UPDATE } from '../../trainer/compute/kernels';
import { adamwUpdate } from '../../trainer/compute/ops';
import { assertAllClose, elementwise } from './tolerance';

function reference(w0: number[], grads: number[][], lr: number, wd: number, decay: boolean) {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const w = [...w0];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < w.length; i++) {
      if (decay) w[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
      w[i] -= (lr / (1 - b1 ** t)) * (m[i] / denom);
    }
  });
  return { w, m, v };
}

for (const backend of ['wasm', 'cpu'] as const) {
  for (const decay of [true, false]) {
    test(`${backend}: fused AdamW matches PyTorch's update over 5 steps (weight decay ${decay ? 'on' : 'off'})`, async () => {
      await initBackend(backend);
      assert.ok(tf.getKernel(ADAMW_UPDATE, backend), 'the fused kernel is registered');
      const n = 257;
      const w0 = Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
      const grads = Array.from({ length: 5 }, (_, s) => Array.from({ length: n }, (_, i) => Math.cos(i * (s + 1)) * (i % 7 === 0 ? 1e-6 : 0.3)));
      const [lr, wd] = [1e-2, 0.1];
      let w: tf.Tensor = tf.tensor1d(w0);
      let m: tf.Tensor = tf.zeros([n]);
      let v: tf.Tensor = tf.zeros([n]);
      grads.forEach((gv, s) => {
        const t = s + 1;
        const g = tf.tensor1d(gv);
        const out = adamwUpdate(w, g, m, v, {
          beta1: 0.9,
          beta2: 0.999,
          epsilon: 1e-8,
          stepSize: lr / (1 - 0.9 ** t),
          sqrtBias2: Math.sqrt(1 - 0.999 ** t),
          decayFactor: decay ? 1 - lr * wd : 1,
        });
        tf.dispose([w, m, v, g]);
        [w, m, v] = out;
      });
      const want = reference(w0, grads, lr, wd, decay);
      for (const [name, got, exp] of [
        ['w', w, want.w],
        ['m', m, want.m],
        ['v', v, want.v],
      ] as const) {
        const data = got.dataSync();
        // About a dozen float32 roundings per element and step (moments, square root, division, decay), 5 steps.
        assertAllClose(data, exp, elementwise(12 * 5), `${backend} ${name} after 5 steps`);
      }
      tf.dispose([w, m, v]);
      await initBackend('wasm');
    });
  }
}
