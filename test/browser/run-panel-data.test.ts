// The training panel's Data line in Debian's chromium: a run's start event with the preparation counts
// (records left out for no trained token, truncated records, trained tokens) is shown as text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { recordedRun } from './fixtures/streams';
import { startHarness, type Harness } from './harness';
import type { StartEvent, TrainerEvent } from '../../protocol/trainer';

let harness: Harness;
before(async () => {
  harness = await startHarness();
});
after(async () => {
  await harness?.close();
});

test('the Data line shows trained records and tokens, the records left out with their lines and the truncated ones', async () => {
  const p = await harness.open('run');
  try {
    const [start, ...rest] = recordedRun({ strategy: 'lora', steps: 5 });
    const dataset = {
      ...(start as StartEvent).dataset,
      train: 1204,
      eval: 0,
      skipped: 0,
      trainTokens: 98_112,
      trainLossTokens: 41_220,
      noTrainedToken: 3,
      noTrainedTokenLines: [17, 40, 311],
      truncated: 12,
      targetTruncated: 3,
    };
    await p.send({ type: 'events', events: [{ ...start, dataset } as TrainerEvent, ...rest], reset: true });
    const summary = p.page.locator('#data-summary');
    await summary.waitFor({ timeout: 5000 });
    assert.equal(
      await summary.textContent(),
      '1,204 training records · 98,112 tokens (41,220 trained) · 3 skipped: no trained tokens after truncation (lines 17, 40, 311) · 12 truncated (3 lose trained tokens)',
    );
    await p.posted();
  } finally {
    await p.close();
  }
  assert.deepEqual(p.problems, [], 'no CSP violation, console error, page error or dialog');
});
