import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRateAt } from '../../trainer/schedule';
import { assertRelClose, f64Ops } from './tolerance';

// The schedule is float64 arithmetic (a ratio, a cosine, a product or two): a few float64 roundings.
const close = (a: number, b: number) => assertRelClose(a, b, f64Ops(8), `learning rate ${a} vs ${b}`);

test('constant schedule keeps the peak learning rate after warm-up', () => {
  const o = { schedule: 'constant' as const, lr: 1e-3, warmupSteps: 0, totalSteps: 10 };
  for (const s of [1, 5, 10]) close(learningRateAt(s, o), 1e-3);
});

test('warm-up rises linearly from lr/warmup to the peak', () => {
  const o = { schedule: 'linear' as const, lr: 1e-3, warmupSteps: 4, totalSteps: 14 };
  close(learningRateAt(1, o), 0.25e-3);
  close(learningRateAt(2, o), 0.5e-3);
  close(learningRateAt(4, o), 1e-3);
  // first step after warm-up is at the peak, then linear decay over the remaining 10 steps
  close(learningRateAt(5, o), 1e-3);
  close(learningRateAt(10, o), 1e-3 * (1 - 5 / 10));
  close(learningRateAt(14, o), 1e-3 * (1 - 9 / 10));
});

test('cosine schedule follows half a cosine from the peak towards zero', () => {
  const o = { schedule: 'cosine' as const, lr: 2e-4, warmupSteps: 0, totalSteps: 8 };
  close(learningRateAt(1, o), 2e-4);
  close(learningRateAt(5, o), 2e-4 * 0.5 * (1 + Math.cos(Math.PI * 0.5)));
  close(learningRateAt(8, o), 2e-4 * 0.5 * (1 + Math.cos((Math.PI * 7) / 8)));
  assert.ok(learningRateAt(8, o) > 0);
});

test('learning rate stays at zero or above past the planned total', () => {
  const o = { schedule: 'linear' as const, lr: 1e-3, warmupSteps: 0, totalSteps: 4 };
  assert.equal(learningRateAt(9, o), 0);
  assert.throws(() => learningRateAt(0, o), /step must be/);
});
