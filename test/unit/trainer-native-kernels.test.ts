// The `native` backend's kernel table (trainer/compute/nativeKernels.ts): every kernel it replaces with
// the addon's loops or with contiguous copies must give what tfjs's cpu kernel gives on the same inputs,
// the cases it hands back (other dtypes, axes, attributes) must reach the cpu kernel, and its pool of
// freed float32 buffers (trainer/compute/nativeBackend.ts) must never hand out memory a live array uses.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { ADAMW_UPDATE, CROSS_ENTROPY_GRAD, nativeKernelsAvailable } from '../../trainer/compute/kernels';
import type { NativeBackend } from '../../trainer/compute/nativeBackend';
import { seededRandom } from '../../trainer/random';
import { F32_EPS } from './tolerance';
import { buildNativeAddonIfMissing } from './nativeAddon';

/** One float32 ulp relative to the value, at most (2·u; a value just above a power of two has u). */
const ULP = 2 * F32_EPS;
/**
 * glibc's expf/logf/tanhf are within 1–2 ulps of the exact value; V8's Math.exp/log/tanh (fdlibm) are
 * within 1 ulp of the double result, which the cpu kernel then rounds to float32 (½ ulp). The addon's
 * composite formulas (sigmoid 1/(1+e^−x), rsqrt 1/√x, (a−b)²) round after each float32 operation where
 * tfjs rounds once. So the two differ by a few ulps: 4 covers each case with margin. The absolute floor
 * is for results in the subnormal range (exp of a large negative number), where float32 has no ulp of
 * relative size.
 */
const LIBM = { rel: 4 * ULP, abs: 1e-30 };

let available = false;

before(async () => {
  buildNativeAddonIfMissing();
  available = nativeKernelsAvailable();
  await initBackend('cpu');
  if (available) await initBackend('native');
});

/** Seeded normal(0, scale) values with a few exact zeros and negative zeros among them. */
function randomValues(n: number, seed: number, scale = 1): Float32Array {
  const r = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r.next(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.next());
  }
  if (n > 3) [out[1], out[n - 2]] = [0, -0];
  return out;
}

type Input = { values: ArrayLike<number>; shape: number[]; dtype?: 'float32' | 'int32' };
const input = (shape: number[], seed: number, scale = 1): Input => ({ values: randomValues(tf.util.sizeFromShape(shape), seed, scale), shape });

interface Result {
  shape: number[];
  dtype: string;
  values: number[];
}

/** Runs `fn` on fresh tensors of `inputs` on `backend` and reads its result back. */
async function runOn(backend: 'cpu' | 'native', inputs: Input[], fn: (...xs: tf.Tensor[]) => tf.Tensor): Promise<Result> {
  await initBackend(backend);
  assert.equal(tf.getBackend(), backend);
  const xs = inputs.map((i) => tf.tensor(i.values as number[], i.shape, i.dtype ?? 'float32'));
  try {
    const y = fn(...xs);
    const out = { shape: y.shape, dtype: y.dtype, values: Array.from(y.dataSync()) };
    y.dispose();
    return out;
  } finally {
    tf.dispose(xs);
  }
}

/** The cpu backend's result and the native backend's for the same inputs. */
async function both(inputs: Input[], fn: (...xs: tf.Tensor[]) => tf.Tensor): Promise<{ want: Result; got: Result }> {
  const want = await runOn('cpu', inputs, fn);
  const got = await runOn('native', inputs, fn);
  assert.deepEqual(got.shape, want.shape, 'shape');
  assert.equal(got.dtype, want.dtype, 'dtype');
  return { want, got };
}

/**
 * The same values: NaN where the cpu kernel gives NaN. The sign of an exact zero is not compared: IEEE
 * max(0, −0) and −0 + −0 may give either zero (the addon keeps −0 where tfjs's `Math.max`, or its
 * accumulator starting at +0, gives +0), and no later operation of a training step tells them apart.
 */
async function assertSame(what: string, inputs: Input[], fn: (...xs: tf.Tensor[]) => tf.Tensor): Promise<void> {
  const { want, got } = await both(inputs, fn);
  for (let i = 0; i < want.values.length; i++) {
    const [g, w] = [got.values[i], want.values[i]];
    if (!(g === w || (Number.isNaN(g) && Number.isNaN(w)))) assert.fail(`${what}[${i}]: native ${g}, cpu ${w}`);
  }
}

/** |native − cpu| ≤ rel·|cpu| + abs element by element; NaN and ±Infinity must match exactly. */
async function assertUlps(what: string, tol: { rel: number; abs: number }, inputs: Input[], fn: (...xs: tf.Tensor[]) => tf.Tensor): Promise<void> {
  const { want, got } = await both(inputs, fn);
  for (let i = 0; i < want.values.length; i++) {
    const [g, w] = [got.values[i], want.values[i]];
    if (!Number.isFinite(w) || !Number.isFinite(g)) {
      if (!Object.is(g, w)) assert.fail(`${what}[${i}]: native ${g}, cpu ${w}`);
      continue;
    }
    const bound = tol.rel * Math.abs(w) + tol.abs;
    if (!(Math.abs(g - w) <= bound)) assert.fail(`${what}[${i}]: native ${g}, cpu ${w} (differ by ${Math.abs(g - w)}, tolerance ${bound})`);
  }
}

/** A test that needs the addon; without it the native backend must refuse to start, with the reason. */
function nativeTest(name: string, fn: () => Promise<void>): void {
  test(name, async () => {
    if (!available) {
      await assert.rejects(initBackend('native'), /backend 'native' is not available/);
      return;
    }
    await fn();
  });
}

const backend = () => tf.backend() as unknown as NativeBackend;

describe('native binary kernels give the cpu kernels’ bits', () => {
  const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
    ['Add', tf.add],
    ['Sub', tf.sub],
    ['Multiply', tf.mul],
    ['RealDiv', tf.div],
    ['Maximum', tf.maximum],
    ['Minimum', tf.minimum],
  ];
  const shapes: [string, number[], number[]][] = [
    ['same shape', [6, 7], [6, 7]],
    ['scalar right', [5, 9], []],
    ['scalar left', [], [5, 9]],
    ['row broadcast', [4, 6], [6]],
    ['column broadcast', [4, 6], [4, 1]],
    ['both sides broadcast', [3, 1, 5], [1, 4, 5]],
    ['rank 4', [2, 3, 4, 5], [2, 1, 4, 5]],
    ['rank 4, inner broadcast', [2, 3, 4, 5], [3, 4, 1]],
  ];
  for (const [name, op] of ops) {
    // + − × ÷ of two float32s, rounded once to float32, is what JavaScript's double arithmetic rounded to
    // float32 gives (double has more than 2·24 + 2 bits); max/min only pick an operand.
    nativeTest(`${name}: same shapes, scalars, row/column and two-sided broadcasts, rank 4`, async () => {
      for (const [what, sa, sb] of shapes) await assertSame(`${name} ${what}`, [input(sa, 1), input(sb, 2)], op);
    });
  }

  nativeTest('Maximum and Minimum propagate NaN from either side, as Math.max/min do', async () => {
    const a: Input = { values: [NaN, 1, -2, NaN, 0, 3], shape: [6] };
    const b: Input = { values: [1, NaN, -3, NaN, -0, 3], shape: [6] };
    await assertSame('Maximum NaN', [a, b], tf.maximum);
    await assertSame('Minimum NaN', [a, b], tf.minimum);
  });

  nativeTest('SquaredDifference: within a few ulps (the addon rounds a − b to float32 before squaring, tfjs squares the double)', async () => {
    for (const [what, sa, sb] of shapes) await assertUlps(`SquaredDifference ${what}`, LIBM, [input(sa, 3), input(sb, 4)], tf.squaredDifference);
  });

  nativeTest('int32 Add falls back to the cpu kernel and stays exact and int32', async () => {
    const big: Input = { values: [2 ** 30, -7, 123456789, 5], shape: [4], dtype: 'int32' };
    const other: Input = { values: [2 ** 30 - 1, 7, 987654321, -5], shape: [4], dtype: 'int32' };
    await assertSame('int32 add', [big, other], tf.add);
    const { got } = await both([big, other], tf.add);
    assert.equal(got.dtype, 'int32');
    assert.deepEqual(got.values, [2 ** 31 - 1, 0, 1111111110, 0]);
  });
});

describe('native unary kernels', () => {
  // Negatives, zeros, NaN and ±Infinity among the values, for Log/Sqrt/Rsqrt (NaN, −Infinity) and Relu.
  const special: Input = { values: [-3, -1e-30, -0, 0, 1e-30, 0.5, 1, 2, 80, -80, NaN, Infinity, -Infinity, 1e-40], shape: [14] };
  const random = input([7, 9], 5, 2);
  const exact: [string, (x: tf.Tensor) => tf.Tensor][] = [
    ['Neg', tf.neg],
    ['Sqrt', tf.sqrt],
    ['Square', tf.square],
    ['Relu', tf.relu],
    ['Abs', tf.abs],
    ['Reciprocal', tf.reciprocal],
  ];
  for (const [name, op] of exact) {
    // Each is one correctly rounded float32 operation (or none), as tfjs's double result rounded once.
    nativeTest(`${name}: the cpu kernel's bits, NaN, negatives and zeros included`, async () => {
      await assertSame(name, [random], op);
      await assertSame(`${name} special values`, [special], op);
    });
  }
  const libm: [string, (x: tf.Tensor) => tf.Tensor][] = [
    ['Exp', tf.exp],
    ['Log', tf.log],
    ['Rsqrt', tf.rsqrt],
    ['Sigmoid', tf.sigmoid],
    ['Tanh', tf.tanh],
  ];
  for (const [name, op] of libm) {
    nativeTest(`${name}: within ${LIBM.rel / ULP} ulps of the cpu kernel, NaN and infinities where it gives them`, async () => {
      await assertUlps(name, LIBM, [random], op);
      await assertUlps(`${name} special values`, LIBM, [special], op);
    });
  }
  nativeTest('Log of positive values near 1 keeps its relative accuracy (no cancellation in either)', async () => {
    const r = seededRandom(8);
    const values = Array.from({ length: 64 }, () => Math.fround(1 + (r.next() - 0.5) * 1e-3));
    await assertUlps('Log near 1', LIBM, [{ values, shape: [64] }], tf.log);
  });
});

describe('native reductions', () => {
  const x = input([4, 5, 6], 11);
  // The addon sums in double in the cpu kernel's order (both transpose the reduced axes innermost
  // first), then rounds once, as the cpu kernel's JavaScript number does.
  const exactCases: [string, (x: tf.Tensor) => tf.Tensor][] = [
    ['Sum last axis', (t) => tf.sum(t, -1)],
    ['Sum first axis', (t) => tf.sum(t, 0)],
    ['Sum axes [0, 2]', (t) => tf.sum(t, [0, 2])],
    ['Sum all', (t) => tf.sum(t)],
    ['Sum last axis, keepDims', (t) => tf.sum(t, -1, true)],
    ['Sum axes [0, 1], keepDims', (t) => tf.sum(t, [0, 1], true)],
    ['Max last axis', (t) => tf.max(t, -1)],
    ['Max first axis', (t) => tf.max(t, 0)],
    ['Max axes [0, 2], keepDims', (t) => tf.max(t, [0, 2], true)],
    ['Min last axis', (t) => tf.min(t, -1)],
    ['Min first axis, keepDims', (t) => tf.min(t, 0, true)],
    ['Min axes [1, 2]', (t) => tf.min(t, [1, 2])],
  ];
  for (const [name, op] of exactCases) nativeTest(`${name}: the cpu kernel's bits`, () => assertSame(name, [x], op));

  nativeTest('Max and Min of a row holding NaN are NaN, wherever the NaN is', async () => {
    const withNaN: Input = { values: [NaN, 1, 2, 3, 4, NaN, 6, 7, 8, 9, 10, NaN, 0, 1, 2, 3], shape: [4, 4] };
    for (const [name, op] of [
      ['Max', (t: tf.Tensor) => tf.max(t, -1)],
      ['Min', (t: tf.Tensor) => tf.min(t, -1)],
      ['Max axis 0', (t: tf.Tensor) => tf.max(t, 0)],
      ['Min axis 0', (t: tf.Tensor) => tf.min(t, 0)],
    ] as const)
      await assertSame(`${name} with NaN`, [withNaN], op);
    const { got } = await both([withNaN], (t) => tf.max(t, -1));
    assert.deepEqual(got.values, [NaN, NaN, NaN, 3]);
  });

  nativeTest('Mean over last, first and several axes, keepDims: within the rounding of the cpu kernel’s divide-then-sum', async () => {
    // tfjs divides every element by n (one float32 rounding each) and sums; the addon sums and divides
    // once. Those differ by at most (n + 1)·u of Σ|x|/n plus the final rounding of each: normwise per row.
    for (const [name, axes, keepDims] of [
      ['last', -1, false],
      ['first', 0, false],
      ['[0, 2]', [0, 2], true],
      ['all', undefined, false],
    ] as const) {
      const { want, got } = await both([x], (t) => tf.mean(t, axes as number | number[] | undefined, keepDims));
      const absMean = await runOn('cpu', [x], (t) => tf.mean(tf.abs(t), axes as number | number[] | undefined, keepDims));
      const n = tf.util.sizeFromShape(x.shape) / want.values.length;
      want.values.forEach((w, i) => {
        const bound = (n + 1) * F32_EPS * absMean.values[i] + 2 * F32_EPS * Math.abs(w);
        assert.ok(Math.abs(got.values[i] - w) <= bound, `Mean ${name}[${i}]: native ${got.values[i]}, cpu ${w}, tolerance ${bound}`);
      });
    }
  });
});

describe('native softmax, transpose, slice, concat, gather, addN', () => {
  nativeTest('Softmax on rank 2 and rank 4 (last axis): within a few ulps (exp, and one rounded 1/Σ times each)', async () => {
    await assertUlps('Softmax rank 2', LIBM, [input([6, 11], 21, 3)], (t) => tf.softmax(t));
    await assertUlps('Softmax rank 4', LIBM, [input([2, 3, 4, 9], 22, 3)], (t) => tf.softmax(t));
    // Large logits: the max subtraction keeps them finite on both.
    await assertUlps('Softmax large logits', LIBM, [input([3, 50], 23, 200)], (t) => tf.softmax(t));
  });

  nativeTest('Softmax over a dimension that is not the last goes to the cpu kernel, which refuses it in the same words', async () => {
    const run = (name: 'cpu' | 'native') => runOn(name, [input([3, 4], 24)], (t) => tf.engine().runKernel('Softmax', { logits: t }, { dim: 0 }) as tf.Tensor);
    await assert.rejects(run('cpu'), /Softmax along a non-last dimension/);
    await assert.rejects(run('native'), /Softmax along a non-last dimension/);
  });

  nativeTest('Transpose [0, 2, 1, 3], [1, 0], [2, 0, 1], and int32: the same values', async () => {
    await assertSame('transpose [0,2,1,3]', [input([2, 3, 4, 5], 31)], (t) => tf.transpose(t, [0, 2, 1, 3]));
    await assertSame('transpose [1,0]', [input([7, 3], 32)], (t) => tf.transpose(t, [1, 0]));
    await assertSame('transpose [2,0,1]', [input([3, 4, 5], 33)], (t) => tf.transpose(t, [2, 0, 1]));
    await assertSame('transpose of extent-1 dims', [input([1, 4, 1, 3], 34)], (t) => tf.transpose(t, [3, 2, 1, 0]));
    await assertSame('transpose int32', [{ values: [1, 2, 3, 4, 5, 6], shape: [2, 3], dtype: 'int32' }], (t) => tf.transpose(t));
  });

  nativeTest('Slice: whole rows, inner (strided) windows, one element, empty, int32', async () => {
    const x = input([4, 6, 5], 41);
    await assertSame('slice whole rows', [x], (t) => tf.slice(t, [1, 0, 0], [2, 6, 5]));
    await assertSame('slice trailing dims whole', [x], (t) => tf.slice(t, [1, 2, 0], [3, 3, 5]));
    await assertSame('slice strided window', [x], (t) => tf.slice(t, [0, 1, 1], [4, 2, 3]));
    await assertSame('slice last column', [x], (t) => tf.slice(t, [0, 0, 4], [-1, -1, 1]));
    await assertSame('slice one element', [x], (t) => tf.slice(t, [3, 5, 4], [1, 1, 1]));
    await assertSame('slice empty', [x], (t) => tf.slice(t, [2, 0, 0], [0, 6, 5]));
    await assertSame('slice int32', [{ values: [1, 2, 3, 4, 5, 6], shape: [2, 3], dtype: 'int32' }], (t) => tf.slice(t, [0, 1], [2, 2]));
  });

  nativeTest('Concat on axis 0, 1 and the last, with a zero-size input among them', async () => {
    const cat =
      (axis: number) =>
      (...ts: tf.Tensor[]) =>
        tf.concat(ts, axis);
    await assertSame('concat axis 0', [input([2, 3, 4], 51), input([0, 3, 4], 52), input([3, 3, 4], 53)], cat(0));
    await assertSame('concat axis 1', [input([2, 1, 4], 54), input([2, 0, 4], 55), input([2, 5, 4], 56)], cat(1));
    await assertSame('concat last axis', [input([2, 3, 2], 57), input([2, 3, 0], 58), input([2, 3, 7], 59)], cat(-1));
    await assertSame('concat all empty but one', [input([0, 3], 60), input([2, 3], 61)], cat(0));
  });

  nativeTest('SplitV along the first, a middle and the last axis, in equal and in given sizes, copies exactly', async () => {
    const x = input([4, 6, 8], 62);
    // Each part of a split, concatenated back along another axis, so that one tensor carries them all.
    const parts = (sizes: number | number[], axis: number) => (t: tf.Tensor) =>
      tf.concat(
        tf.split(t, sizes, axis).map((p) => tf.reshape(p, [-1])),
        0,
      );
    await assertSame('split axis 0', [x], parts(2, 0));
    await assertSame('split axis 1, sizes', [x], parts([1, 3, 2], 1));
    await assertSame('split last axis', [x], parts([4, 4], -1));
    await assertSame('split last axis, a zero-size part', [x], parts([0, 5, 3], 2));
  });

  nativeTest('Tile of rank 2 and rank 4 (repeats on the last axis, on middle axes, none) copies exactly', async () => {
    await assertSame('tile rank 2', [input([3, 4], 63)], (t) => tf.tile(t, [2, 3]));
    await assertSame('tile like repeat_kv', [input([5, 2, 1, 3], 64)], (t) => tf.tile(t, [1, 1, 4, 1]));
    await assertSame('tile nothing', [input([2, 3], 65)], (t) => tf.tile(t, [1, 1]));
  });

  nativeTest('GatherV2 on axis 0 (repeated indices, rank-2 indices) is exact; an index out of range throws; axis 1 falls back', async () => {
    const table = input([5, 3, 2], 71);
    const ids = (values: number[], shape: number[]): Input => ({ values, shape, dtype: 'int32' });
    await assertSame('gather axis 0', [table, ids([4, 0, 0, 2], [4])], (x, i) => tf.gather(x, i, 0));
    await assertSame('gather axis 0, rank-2 ids', [table, ids([1, 3, 3, 1, 0, 4], [2, 3])], (x, i) => tf.gather(x, i, 0));
    await assertSame('gather axis 1', [table, ids([2, 0, 1, 1], [4])], (x, i) => tf.gather(x, i, 1));
    for (const bad of [5, -1]) {
      for (const name of ['cpu', 'native'] as const) {
        await assert.rejects(
          runOn(name, [table, ids([0, bad], [2])], (x, i) => tf.gather(x, i, 0)),
          /GatherV2: the index value -?\d+ is not in \[0, 4\]/,
          `${name}: index ${bad}`,
        );
      }
    }
  });

  nativeTest('AddN of 3 (float32 additions in order, rounded after each) and of int32 (fallback)', async () => {
    await assertSame('addN of 3', [input([4, 7], 81), input([4, 7], 82), input([4, 7], 83)], (...ts) => tf.addN(ts));
    const i = (v: number[]): Input => ({ values: v, shape: [3], dtype: 'int32' });
    await assertSame('addN int32', [i([1, 2, 3]), i([4, 5, 6]), i([7, 8, 2 ** 30])], (...ts) => tf.addN(ts));
  });
});

describe('the training kernels the addon runs on native (trainer/compute/kernels.ts)', () => {
  // Both are written to do the JavaScript kernel's arithmetic in the same order (double where it uses
  // JavaScript numbers, the same float32 roundings, no FMA contraction), so they give its bits.
  nativeTest('the fused AdamW update gives the JavaScript kernel’s w′, m′ and v′ bit for bit', async () => {
    const shape = [300, 130]; // above the threading threshold
    const attrs = {
      beta1: 0.9,
      beta2: 0.999,
      stepSize: 1e-3 / (1 - 0.9 ** 3),
      sqrtBias2: Math.sqrt(1 - 0.999 ** 3),
      epsilon: 1e-8,
      decayFactor: 1 - 1e-3 * 0.01,
    };
    const v = input(shape, 111, 1e-3);
    const positive = { values: Float32Array.from(v.values as Float32Array, Math.abs), shape };
    for (const k of [0, 1, 2]) {
      await assertSame(`AdamW output ${k}`, [input(shape, 112), input(shape, 113, 1e-2), input(shape, 114, 1e-3), positive], (w, g, m, vv) => {
        const outs = tf.engine().runKernel(ADAMW_UPDATE, { w, g, m, v: vv }, attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
        outs.forEach((o, i) => i !== k && o.dispose());
        return outs[k];
      });
    }
  });

  nativeTest('the cross-entropy gradient gives the JavaScript kernel’s bits, ignored labels and zero-weight rows included', async () => {
    const [n, vocab] = [300, 120];
    const probs = input([n, vocab], 121);
    const r = seededRandom(122);
    const labels: Input = { values: Array.from({ length: n }, (_, i) => (i % 7 === 3 ? -1 : r.int(vocab))), shape: [n], dtype: 'int32' };
    const weights: Input = { values: Array.from({ length: n }, (_, i) => (i % 11 === 5 ? 0 : 1 / (1 + (i % 5)))), shape: [n] };
    await assertSame(
      'cross-entropy gradient',
      [probs, labels, weights],
      (p, l, w) => tf.engine().runKernel(CROSS_ENTROPY_GRAD, { probs: p, labels: l, weights: w }) as tf.Tensor,
    );
  });
});

describe('native kernels above the threading threshold', () => {
  // The addon splits its outer loop over the cores from 32,768 elements on (PARALLEL_MIN in
  // kernels.c): every row's offsets are computed from its own index there, so a threaded run must give
  // exactly what a single-threaded one does, which is the cpu kernel's result.
  const big = input([64, 40, 30], 101);
  nativeTest('binary broadcasts, unary maths, reductions, softmax and transposes of 76,800 elements', async () => {
    await assertSame('Add, both sides broadcast', [input([64, 1, 30], 102), input([1, 40, 30], 103)], tf.add);
    await assertSame('Multiply, column broadcast', [big, input([64, 40, 1], 104)], tf.mul);
    await assertSame('Maximum, same shape', [big, input([64, 40, 30], 105)], tf.maximum);
    await assertSame('Relu', [big], tf.relu);
    await assertUlps('Exp', LIBM, [big], tf.exp);
    await assertSame('Sum last axis', [big], (t) => tf.sum(t, -1));
    await assertSame('Sum first axis', [big], (t) => tf.sum(t, 0));
    await assertSame('Max axes [0, 2]', [big], (t) => tf.max(t, [0, 2]));
    await assertUlps('Softmax', LIBM, [big], (t) => tf.softmax(t));
    await assertSame('Transpose [2, 0, 1]', [big], (t) => tf.transpose(t, [2, 0, 1]));
    await assertSame('Transpose [1, 0, 2]', [big], (t) => tf.transpose(t, [1, 0, 2]));
  });
});

describe('the native backend’s buffer pool', () => {
  const N = 1000;

  nativeTest('a dataSync() array keeps its values after its tensor is disposed and more tensors of its size are made', async () => {
    await initBackend('native');
    const a = tf.tensor1d(randomValues(N, 91));
    const t = tf.add(a, 1);
    const values = t.dataSync();
    const copy = Float32Array.from(values);
    const pooled = backend().pooledByteCount();
    t.dispose();
    assert.equal(backend().pooledByteCount(), pooled, 'a handed-out array does not enter the pool');
    const more = Array.from({ length: 4 }, (_, k) => tf.mul(a, -(k + 2)));
    assert.deepEqual(values, copy);
    tf.dispose([a, ...more]);
  });

  nativeTest('a disposed output goes to the pool and the next output of its size takes it back', async () => {
    await initBackend('native');
    const a = tf.tensor1d(randomValues(N, 92));
    const t = tf.add(a, 1);
    const before = backend().pooledByteCount();
    t.dispose();
    assert.equal(backend().pooledByteCount(), before + 4 * N, 'grows by the freed buffer');
    const u = tf.mul(a, 3);
    assert.equal(backend().pooledByteCount(), before, 'shrinks when it is reused');
    // The reused (not zeroed) buffer is fully overwritten.
    assert.deepEqual(
      Array.from(u.dataSync()),
      Array.from(a.dataSync(), (v) => Math.fround(v * 3)),
    );
    tf.dispose([a, u]);
  });

  // Several cpu kernels the native table keeps (SplitV, Unpack, StridedSlice, which all call the cpu
  // slice) return a subarray *view* into their input's buffer for a contiguous piece. Such an output
  // shares memory with a pooled buffer: when the input is disposed, the pool must not hand that buffer
  // to the next output while the view is alive. tf.split is in every concat's gradient.
  for (const [name, pieces] of [
    ['tf.split', (x: tf.Tensor) => tf.split(x, 2, 0)],
    ['tf.unstack', (x: tf.Tensor) => tf.unstack(x)],
    ['tf.stridedSlice', (x: tf.Tensor) => [tf.stridedSlice(x, [1, 0], [2, 4], [1, 1])]],
  ] as const) {
    nativeTest(`${name} of a native output keeps its values after the source is disposed and its size is allocated again`, async () => {
      await initBackend('native');
      const a = tf.tensor2d([
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ]);
      const x = tf.add(a, 0);
      const parts = pieces(x);
      const want = parts.map((p) => Array.from(p.dataSync()));
      x.dispose();
      const reuse = tf.mul(a, -100);
      assert.deepEqual(
        parts.map((p) => Array.from(p.dataSync())),
        want,
      );
      tf.dispose([a, reuse, ...parts]);
    });
  }
});
