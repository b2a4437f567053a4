import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ema, RunModel, groupsByKind, layersFromGroups, summarize } from '../../webview/common/runModel';
import { gpt2SmallParams, recordedRun } from '../browser/fixtures/streams';
import type { StepEvent, TrainerEvent } from '../../protocol/trainer';

const step = (n: number, loss: number, extra: Partial<StepEvent> = {}): StepEvent => ({
  type: 'step',
  time: n,
  step: n,
  epoch: n / 10,
  loss,
  lr: 1e-4,
  gradNorm: 1,
  tokens: 100,
  lossTokens: 40,
  tokensPerSec: 50 * n,
  elapsedSec: n,
  etaSec: 100 - n,
  ...extra,
});

test('the smoothed curve is a debiased EMA: the first point equals the raw loss, later ones lag', () => {
  const m = new RunModel(0.5);
  m.apply([step(1, 4), step(2, 2), step(3, 2)]);
  assert.deepEqual(Array.from(m.smoothed.view()), [4, (0.5 * 0.5 * 4 + 0.5 * 2) / 0.75, (0.5 * (0.25 * 4 + 0.5 * 2) + 0.5 * 2) / 0.875]);
  const ema = new Ema(0);
  assert.equal(ema.next(3), 3, 'no smoothing at 0');
});

test('changing the smoothing recomputes every smoothed point, clamped to [0, 0.99]', () => {
  const m = new RunModel(0.9);
  m.apply([step(1, 4), step(2, 2)]);
  m.setSmoothing(0);
  assert.deepEqual(Array.from(m.smoothed.view()), [4, 2]);
  m.setSmoothing(5);
  assert.equal(m.smoothing, 0.99);
});

test('the x columns: step, fractional epoch and cumulative tokens', () => {
  const m = new RunModel();
  m.apply([step(1, 3, { tokens: 10 }), step(2, 3, { tokens: 20 }), step(3, 3, { tokens: 5 })]);
  assert.deepEqual(Array.from(m.x('step')), [1, 2, 3]);
  assert.deepEqual(Array.from(m.x('epoch')), [0.1, 0.2, 0.3]);
  assert.deepEqual(Array.from(m.x('tokens')), [10, 30, 35]);
});

test('eval losses sit on the row of the step they followed, null elsewhere', () => {
  const m = new RunModel();
  m.apply([step(1, 3), step(2, 3), { type: 'eval', time: 0, step: 2, epoch: 0.2, loss: 2.5, tokens: 1, examples: 1 }, step(3, 3)]);
  assert.deepEqual(m.evalLoss, [null, 2.5, null]);
  assert.equal(m.bestEvalLoss, 2.5);
});

test('per-task curves start when a task first appears and have gaps where a step lacks it', () => {
  const m = new RunModel(0);
  m.apply([step(1, 3), step(2, 3, { taskLosses: { qa: 2 } }), step(3, 3, { taskLosses: { sum: 4 } }), step(4, 3, { taskLosses: { qa: 1, sum: 5 } })]);
  assert.deepEqual(m.taskNames, ['qa', 'sum']);
  assert.deepEqual(m.taskSmoothed.get('qa'), [null, 2, null, 1]);
  assert.deepEqual(m.taskSmoothed.get('sum'), [null, null, 4, 5]);
  assert.equal(m.lossChartData('step').length, 1 + 3 + 2);
  assert.ok(m.takeChanges().has('tasks'));
});

test('a resumed run that repeats steps replaces them instead of drawing them twice', () => {
  const m = new RunModel(0);
  m.apply([step(1, 5), step(2, 4), step(3, 3), { type: 'eval', time: 0, step: 3, epoch: 0.3, loss: 3.5, tokens: 1, examples: 1 }, step(4, 2)]);
  m.apply([{ ...recordedRun({ strategy: 'lora', steps: 2 })[0], resumedFrom: 2 } as TrainerEvent, step(3, 9), step(4, 8)]);
  assert.deepEqual(Array.from(m.step.view()), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(m.loss.view()), [5, 4, 9, 8]);
  assert.deepEqual(m.evalLoss, [null, null, null, null]);
  assert.deepEqual(Array.from(m.tokens.view()), [100, 200, 300, 400]);
  assert.equal(m.status, 'running');
});

test('status: waiting, running, then done.status; an error or a host-reported death is failed', () => {
  const m = new RunModel();
  assert.equal(m.status, 'waiting');
  const events = recordedRun({ strategy: 'full', steps: 5 });
  m.apply(events.slice(0, 4));
  assert.equal(m.status, 'running');
  m.apply(events.slice(4));
  assert.equal(m.status, 'completed');
  assert.equal(m.failureMessage, undefined);

  const failed = new RunModel();
  failed.apply(recordedRun({ strategy: 'full', steps: 5, failAt: { step: 3, message: 'NaN loss' } }));
  assert.equal(failed.status, 'failed');
  assert.equal(failed.failureMessage, 'NaN loss');

  const died = new RunModel();
  died.apply(recordedRun({ strategy: 'full', steps: 5, live: true }));
  died.setHostStatus('failed', 'exited with code 137');
  assert.equal(died.status, 'failed');
  assert.equal(died.failureMessage, 'exited with code 137');

  const stopped = new RunModel();
  stopped.apply([step(1, 2), { type: 'done', time: 0, status: 'early-stopped', step: 1, elapsedSec: 1, outputFiles: [] }]);
  assert.equal(stopped.status, 'early-stopped');
});

test('a jsonl backlog applies like the events, skipping lines that are not trainer events', () => {
  const events = recordedRun({ strategy: 'lora', steps: 30, evalEvery: 10, tasks: ['a'] });
  const a = new RunModel();
  a.apply(events);
  const b = new RunModel();
  const skipped = b.applyJsonl(events.map((e) => JSON.stringify(e)).join('\n') + '\nnot json\n{"no":"type"}\n\n');
  assert.equal(skipped, 2);
  assert.deepEqual(Array.from(b.smoothed.view()), Array.from(a.smoothed.view()));
  assert.deepEqual(summarize(b), summarize(a));
});

test("a backlog goes through the host's event guard: an unknown event type and an event without its time are skipped", () => {
  const m = new RunModel();
  const text = [step(1, 3), { type: 'telemetry', time: 1 }, { type: 'step', step: 2, loss: 1 }, step(3, 2)].map((e) => JSON.stringify(e)).join('\n');
  assert.equal(m.applyJsonl(text), 2);
  assert.deepEqual(Array.from(m.step.view()), [1, 3]);
});

test('per-layer bars come from the module groups when the trainer sends no per-layer breakdown', () => {
  const bars = layersFromGroups([
    { name: 'embeddings', total: 100, trainable: 0 },
    { name: 'h.0.attn', total: 10, trainable: 0 },
    { name: 'h.0.mlp', total: 20, trainable: 20 },
    { name: 'h.1.attn', total: 10, trainable: 10 },
    { name: 'lm_head (tied to wte)', total: 0, trainable: 0 },
    { name: 'lora', total: 8, trainable: 8 },
  ]);
  assert.deepEqual(bars, [
    { name: 'embeddings', frozen: 100, trainable: 0, added: 0 },
    { name: 'h.0', frozen: 10, trainable: 20, added: 0 },
    { name: 'h.1', frozen: 0, trainable: 10, added: 0 },
    { name: 'lora', frozen: 0, trainable: 0, added: 8 },
  ]);
  const m = new RunModel();
  const perLayer = [{ name: 'h.0', frozen: 1, trainable: 2, added: 3 }];
  m.apply([{ ...gpt2SmallParams('lora', 0), perLayer }]);
  assert.deepEqual(m.layerBreakdown(), perLayer);
  // The shape trainer/params.ts computes is understood too.
  const fromTrainer = new RunModel();
  fromTrainer.apply([{ ...gpt2SmallParams('lora', 0), perLayer: [{ layer: 0, total: 10, trainable: 0, frozen: true, lora: 4 }] } as never]);
  assert.deepEqual(fromTrainer.layerBreakdown(), [{ name: 'h.0', frozen: 10, trainable: 0, added: 4 }]);
  // Anything else falls back to the groups.
  const odd = new RunModel();
  odd.apply([{ ...gpt2SmallParams('lora', 0), perLayer: [{ what: 1 }] } as never]);
  assert.equal(odd.layerBreakdown().length, 15);
});

test('the module table folds blocks by kind', () => {
  assert.deepEqual(
    groupsByKind([
      { name: 'h.0.attn', total: 10, trainable: 1 },
      { name: 'h.1.attn', total: 10, trainable: 2 },
      { name: 'ln_f', total: 3, trainable: 3 },
    ]),
    [
      { name: 'attn', total: 20, trainable: 3 },
      { name: 'ln_f', total: 3, trainable: 3 },
    ],
  );
});

test('the compare summary: wall time, mean tokens/s over steps, final and best eval loss', () => {
  const m = new RunModel();
  m.apply([step(1, 3), step(2, 2), { type: 'eval', time: 0, step: 2, epoch: 0.2, loss: 2.4, tokens: 1, examples: 1 }]);
  const s = summarize(m);
  assert.equal(s.meanTokensPerSec, 75);
  assert.equal(s.finalTrainLoss, 2);
  assert.equal(s.bestEvalLoss, 2.4);
  assert.equal(s.wallSec, 2);
  assert.equal(s.steps, 2);
});

test('100,000 steps apply in well under a second', () => {
  const events = recordedRun({ strategy: 'lora', steps: 100_000, evalEvery: 1000, tasks: ['a', 'b'], live: true });
  const t0 = performance.now();
  const m = new RunModel();
  m.apply(events);
  const ms = performance.now() - t0;
  assert.equal(m.rows, 100_000);
  assert.ok(ms < 1500, `${ms.toFixed(0)} ms`);
});
