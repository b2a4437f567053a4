// gradientsFreeingAsItGoes (trainer/compute/gradients.ts), the training step's backward pass: the same
// walk over tfjs's tape as tf.variableGrads, so the same gradients bit for bit, but freeing each node's
// saved tensors and its outputs' gradients as soon as its gradient has run. It must leak nothing, give
// null for a variable the loss does not reach, accumulate a tensor used twice, and hold fewer bytes at
// its peak than tf.variableGrads does.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { gradientsFreeingAsItGoes } from '../../trainer/compute/gradients';
import { buildModel } from '../../trainer/loadModel';
import { presetConfig, type GPT2Config } from '../../trainer/models/gpt2/config';
import type { TunedModel } from '../../trainer/strategies/tunedModel';

before(async () => {
  await initBackend('cpu');
});

const small: GPT2Config = { vocabSize: 40, nPositions: 32, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEpsilon: 1e-5, dropout: 0 };

/** A padded batch of two rows (the second with padding and ignored labels) over `vocab`. */
function batchTensors(vocab: number) {
  const rows = [
    [5, 9, 1, 33, 2, 30, 4, 4, 17],
    [7, 7, 3, 39, 12, 0, 0, 0, 0],
  ].map((r) => r.map((id) => id % vocab));
  const t = rows[0].length;
  const labels = rows.map((r, b) => r.map((_, i) => (i + 1 < t && (b === 0 || i + 1 < 5) ? r[i + 1] : -1)));
  const mask = rows.map((_, b) => rows[0].map((__, i) => (b === 0 || i < 5 ? 1 : 0)));
  return {
    ids: tf.tensor2d(rows, [2, t], 'int32'),
    labels: tf.tensor2d(labels, [2, t], 'int32'),
    mask: tf.tensor2d(mask, [2, t]),
  };
}

const lossOf = (model: TunedModel, b: ReturnType<typeof batchTensors>) => () => tf.sum(model.tokenLoss(b.ids, b.labels, b.mask, true)) as tf.Scalar;

describe('gradientsFreeingAsItGoes', () => {
  test('gives tf.variableGrads’ value and gradients bit for bit on a small GPT-2 (cpu), and leaks no tensor', () => {
    const model = buildModel(small, { strategy: 'full' }, 4);
    const b = batchTensors(small.vocabSize);
    const vars = model.trainableVariables().map((v) => v.variable);
    const before = tf.memory().numTensors;
    const ours = gradientsFreeingAsItGoes(lossOf(model, b), vars);
    const theirs = tf.variableGrads(lossOf(model, b), vars);
    assert.equal(ours.value.dataSync()[0], theirs.value.dataSync()[0], 'loss');
    assert.equal(ours.grads.length, vars.length);
    vars.forEach((v, i) => {
      const g = ours.grads[i];
      assert.ok(g, `gradient of ${v.name}`);
      assert.deepEqual(g.shape, v.shape, v.name);
      // The same nodes in the same order with the same accumulation: not close, identical.
      assert.deepEqual(g.dataSync(), theirs.grads[v.name].dataSync(), v.name);
    });
    tf.dispose([ours.value, ...(ours.grads as tf.Tensor[]), theirs.value, ...Object.values(theirs.grads)]);
    assert.equal(tf.memory().numTensors, before, 'every saved tensor and intermediate gradient was freed');
    tf.dispose(Object.values(b));
    model.dispose();
  });

  test('a variable the loss does not reach gets null; the others their gradient; nothing leaks', () => {
    const a = tf.variable(tf.tensor1d([1, -2, 3]));
    const unused = tf.variable(tf.tensor1d([4, 5]));
    const before = tf.memory().numTensors;
    const { value, grads } = gradientsFreeingAsItGoes(() => tf.sum(tf.mul(tf.square(a), 0.5)) as tf.Scalar, [a, unused]);
    assert.equal(value.dataSync()[0], 7);
    assert.deepEqual(Array.from(grads[0]!.dataSync()), [1, -2, 3]);
    assert.equal(grads[1], null);
    tf.dispose([value, grads[0]!]);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([a, unused]);
  });

  test('an op using one tensor twice (x·x) gets both gradients summed, and its own dy is not freed twice', () => {
    const x = tf.variable(
      tf.tensor2d([
        [1, -2],
        [0.5, 3],
      ]),
    );
    const before = tf.memory().numTensors;
    // mul's gradient hands back dy·b for a and dy·a for b: both inputs are x, so 2x; then x used a third
    // time through the add, whose gradient accumulates onto the same entry: 2x + 1.
    const { value, grads } = gradientsFreeingAsItGoes(() => tf.sum(tf.add(tf.mul(x, x), x)) as tf.Scalar, [x]);
    assert.equal(value.dataSync()[0], 1 + 4 + 0.25 + 9 + (1 - 2 + 0.5 + 3));
    assert.deepEqual(Array.from(grads[0]!.dataSync()), [3, -3, 2, 7]);
    const want = tf.variableGrads(() => tf.sum(tf.add(tf.mul(x, x), x)) as tf.Scalar, [x]);
    assert.deepEqual(grads[0]!.dataSync(), want.grads[x.name].dataSync());
    tf.dispose([value, grads[0]!, want.value, ...Object.values(want.grads)]);
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  });

  test('a loss that is not a scalar is refused, and the next gradient starts a tape of its own', () => {
    const x = tf.variable(tf.tensor1d([1, 2]));
    assert.throws(() => gradientsFreeingAsItGoes(() => tf.mul(x, 2) as unknown as tf.Scalar, [x]), /scalar/);
    // The refused call's tape must not leak into the next one (its nodes would join the walk).
    const { value, grads } = gradientsFreeingAsItGoes(() => tf.sum(tf.mul(x, 3)) as tf.Scalar, [x]);
    assert.deepEqual(Array.from(grads[0]!.dataSync()), [3, 3]);
    tf.dispose([value, grads[0]!]);
    x.dispose();
  });
});

/** The largest tf.memory().numBytes seen after any kernel while `fn` runs (a wrapper round engine.runKernel). */
function peakBytes(fn: () => void): number {
  const engine = tf.engine() as unknown as { runKernel: (...args: unknown[]) => unknown };
  const original = engine.runKernel;
  let peak = tf.memory().numBytes;
  engine.runKernel = function (this: unknown, ...args: unknown[]) {
    const out = original.apply(this, args);
    peak = Math.max(peak, tf.memory().numBytes);
    return out;
  };
  try {
    fn();
  } finally {
    engine.runKernel = original;
  }
  return peak;
}

describe('memory', () => {
  test('the peak of live bytes during a backward pass of a 4-layer tiny GPT-2 is lower than tf.variableGrads’', () => {
    const config: GPT2Config = { ...presetConfig('tiny'), nLayer: 4 };
    const model = buildModel(config, { strategy: 'full' }, 2);
    const b = batchTensors(config.vocabSize);
    const vars = model.trainableVariables().map((v) => v.variable);
    const base = tf.memory().numBytes;
    let ours: (tf.Tensor | null)[] = [];
    let theirs: tf.NamedTensorMap = {};
    const peakOurs =
      peakBytes(() => {
        const r = gradientsFreeingAsItGoes(lossOf(model, b), vars);
        r.value.dispose();
        ours = r.grads;
      }) - base;
    const oursData = ours.map((g) => g!.dataSync());
    tf.dispose(ours as tf.Tensor[]);
    const peakTheirs =
      peakBytes(() => {
        const r = tf.variableGrads(lossOf(model, b), vars);
        r.value.dispose();
        theirs = r.grads;
      }) - base;
    // The same gradients: only when tensors are freed differs.
    vars.forEach((v, i) => assert.deepEqual(oursData[i], theirs[v.name].dataSync(), v.name));
    tf.dispose(Object.values(theirs));
    // Both end holding one gradient per weight; what freeing saves is the activations and intermediate
    // gradients that tfjs keeps until the whole backward pass is over.
    const gradBytes = vars.reduce((a, v) => a + 4 * v.size, 0);
    assert.ok(peakOurs >= gradBytes, `peak ${peakOurs} below the gradients' own ${gradBytes} bytes: the sampling missed`);
    if (process.env.TOLERANCE_REPORT === '1') process.stderr.write(`peak bytes above the weights: freeing ${peakOurs}, tf.variableGrads ${peakTheirs}\n`);
    assert.ok(peakOurs < peakTheirs, `peak above the weights: gradientsFreeingAsItGoes ${peakOurs} bytes, tf.variableGrads ${peakTheirs} bytes`);
    tf.dispose(Object.values(b));
    model.dispose();
  });
});
