import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInSlices } from '../../extension/dataset/timeSlicer';

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* spin */
  }
}

test('a long job runs in slices with the event loop free between them', async () => {
  let steps = 0;
  let timersRun = 0;
  const job = {
    step(budget: number) {
      busy(Math.min(budget, 5));
      return ++steps === 20;
    },
  };
  // A timer queued now must get to run while the job is still going, not only after it.
  const interval = setInterval(() => timersRun++, 0);
  const run = runInSlices(job, { budgetMs: 5 });
  assert.equal(await run.done, true);
  const timersDuringRun = timersRun;
  clearInterval(interval);
  assert.equal(steps, 20);
  assert.ok(timersDuringRun >= 5, `timers ran ${timersDuringRun} times while the job ran`);
  assert.ok(run.longestSliceMs >= 5 && run.longestSliceMs < 50, `longest slice ${run.longestSliceMs} ms`);
});

test('cancel stops the job before its next slice and resolves false', async () => {
  let steps = 0;
  const run = runInSlices({ step: () => (++steps, false) }, { budgetMs: 1 });
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  run.cancel();
  const stepsAtCancel = steps;
  assert.equal(await run.done, false);
  assert.ok(steps <= stepsAtCancel + 1);
});

test('a step that throws rejects the run instead of escaping to the event loop', async () => {
  const run = runInSlices(
    {
      step: () => {
        throw new Error('boom');
      },
    },
    { budgetMs: 1 },
  );
  await assert.rejects(run.done, /boom/);
});
