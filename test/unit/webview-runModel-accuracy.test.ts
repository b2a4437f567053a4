// The panel model's classification-head parts (eval accuracy and per-class counts) and a resumed run
// whose events.jsonl holds a stopped segment then a new start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunModel, perClassRows } from '../../webview/common/runModel';
import { recordedRun } from '../browser/fixtures/streams';
import type { EvalEvent, StepEvent, TrainerEvent } from '../../protocol/trainer';

const step = (n: number, loss: number): StepEvent => ({
  type: 'step',
  time: n,
  step: n,
  epoch: n / 10,
  loss,
  lr: 1e-4,
  gradNorm: 1,
  tokens: 100,
  lossTokens: 40,
  tokensPerSec: 50,
  elapsedSec: n,
  etaSec: 10 - n,
});
const evalAt = (n: number, accuracy?: number, perClass?: Record<string, { correct: number; total: number }>): TrainerEvent =>
  ({ type: 'eval', time: n, step: n, epoch: n / 10, loss: 1, tokens: 1, examples: 10, accuracy, perClass }) as EvalEvent;

test('eval accuracy sits on the row of its step; latest and best are kept, and the change is reported', () => {
  const m = new RunModel();
  m.apply([step(1, 3), step(2, 3), evalAt(2, 0.4), step(3, 3), step(4, 3), evalAt(4, 0.7), step(5, 3), evalAt(5, 0.6)]);
  assert.deepEqual(m.evalAccuracy, [null, 0.4, null, 0.7, 0.6]);
  assert.equal(m.lastAccuracy, 0.6);
  assert.equal(m.bestAccuracy, 0.7);
  assert.equal(m.accuracyChartData('step')[1], m.evalAccuracy);
  assert.ok(m.takeChanges().has('accuracy'));
});

test('an LM run has no accuracy: nothing to show and no accuracy change', () => {
  const m = new RunModel();
  m.apply([step(1, 3), evalAt(1)]);
  assert.equal(m.lastAccuracy, undefined);
  assert.equal(m.latestPerClass(), undefined);
  assert.ok(!m.takeChanges().has('accuracy'));
});

test('the per-class table comes from the latest eval that has counts; malformed entries are left out', () => {
  const m = new RunModel();
  m.apply([
    step(1, 3),
    evalAt(1, 0.5, { pos: { correct: 1, total: 2 }, neg: { correct: 1, total: 2 } }),
    step(2, 3),
    evalAt(2, 0.75, { pos: { correct: 2, total: 2 }, neg: { correct: 1, total: 2 }, empty: { correct: 0, total: 0 } }),
  ]);
  assert.deepEqual(m.latestPerClass(), {
    step: 2,
    rows: [
      { label: 'pos', correct: 2, total: 2, accuracy: 1 },
      { label: 'neg', correct: 1, total: 2, accuracy: 0.5 },
      { label: 'empty', correct: 0, total: 0, accuracy: undefined },
    ],
  });
  assert.deepEqual(perClassRows({ a: { correct: '1', total: 2 }, b: null, c: { correct: 1, total: -1 }, d: { correct: 3, total: 4 } }), [
    { label: 'd', correct: 3, total: 4, accuracy: 0.75 },
  ]);
  assert.deepEqual(perClassRows([1, 2]), []);
  assert.deepEqual(perClassRows(undefined), []);
});

test('a stopped run resumed in the same events.jsonl is running again, and its replayed steps drop their accuracy', () => {
  const run = recordedRun({ strategy: 'full', steps: 4 });
  const start = run.find((e) => e.type === 'start')!;
  const m = new RunModel();
  m.apply([
    start,
    step(1, 3),
    step(2, 3),
    evalAt(2, 0.5),
    step(3, 3),
    evalAt(3, 0.6),
    { type: 'done', time: 9, status: 'stopped', step: 3, elapsedSec: 3, outputFiles: [], checkpoint: '/r/checkpoints/step-2' },
  ]);
  assert.equal(m.status, 'stopped');
  m.apply([{ ...start, resumedFrom: 2 }]);
  assert.equal(m.status, 'running', 'the second start of --resume');
  assert.equal(m.done, undefined);
  m.apply([step(3, 2)]);
  assert.deepEqual(m.evalAccuracy, [null, 0.5, null], 'step 3 was replayed: its old eval is gone from the curve');
  m.apply([
    evalAt(3, 0.9),
    step(4, 2),
    { type: 'done', time: 20, status: 'completed', step: 4, elapsedSec: 5, outputFiles: ['model.safetensors'], outputDir: '/r/output' },
  ]);
  assert.deepEqual(m.evalAccuracy, [null, 0.5, 0.9, null]);
  assert.equal(m.lastAccuracy, 0.9);
  assert.equal(m.status, 'completed');
});
