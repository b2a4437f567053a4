// The ETA a run reports (trainer/eta.ts): steps of different padded lengths, a slow first step.
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EtaEstimator, paddedTokens } from '../../trainer/eta';

describe('run ETA', () => {
  test('a step costs each micro-batch size times its longest example', () => {
    assert.equal(
      paddedTokens(
        [
          [0, 1],
          [2, 3, 4],
        ],
        [10, 30, 5, 5, 7],
      ),
      2 * 30 + 3 * 7,
    );
  });

  test('with a fixed part per step and steps of different lengths, the rest of the run is predicted exactly; the slow first step is left out', () => {
    const time = (cost: number) => 1.5 + 0.02 * cost; // 1.5 s per step plus 20 ms per padded token
    const eta = new EtaEstimator();
    eta.record(128, 3 * time(128)); // warm-up: three times slower
    for (const cost of [40, 128, 64, 90, 128, 50]) eta.record(cost, time(cost));
    const left = [70, 128, 33];
    const actual = left.reduce((a, c) => a + time(c), 0);
    const predicted = eta.etaSec(
      left.reduce((a, c) => a + c, 0),
      left.length,
    )!;
    assert.ok(Math.abs(predicted / actual - 1) < 1e-9, `${predicted} vs ${actual}`);
  });

  test('equal steps give steps left × their time; before any step there is no ETA; a lone first step is used until another comes', () => {
    const eta = new EtaEstimator();
    assert.equal(eta.etaSec(100, 1), undefined);
    eta.record(64, 8);
    assert.equal(eta.etaSec(640, 10), 80);
    eta.record(64, 2);
    eta.record(64, 2);
    assert.equal(eta.etaSec(640, 10), 20);
  });

  test('the rate follows the recent window, not the whole run', () => {
    const eta = new EtaEstimator(4);
    eta.record(10, 1);
    for (let i = 0; i < 10; i++) eta.record(10, 1);
    for (let i = 0; i < 4; i++) eta.record(10, 3); // the machine got slower
    assert.equal(eta.etaSec(100, 10), 30);
  });
});
