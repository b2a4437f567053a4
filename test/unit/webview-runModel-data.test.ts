// The training panel's data line (webview/run/dataSummary.ts) from the start event the panel model
// keeps: trained records and tokens, records left out for no trained token with their lines, cut records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunModel } from '../../webview/common/runModel';
import { dataSummaryLine } from '../../webview/run/dataSummary';
import { recordedRun } from '../browser/fixtures/streams';
import type { DatasetSummary, StartEvent, TrainerEvent } from '../../protocol/trainer';

/** The recorded run's start event with `dataset` replaced, through the panel model as the panel reads it. */
function shownFor(dataset: DatasetSummary): string {
  const [start, ...rest] = recordedRun({ strategy: 'lora', steps: 2 });
  const m = new RunModel();
  m.apply([{ ...(start as StartEvent), dataset } as TrainerEvent, ...rest]);
  assert.ok(m.start?.dataset);
  return dataSummaryLine(m.start.dataset);
}

const base: DatasetSummary = { train: 1204, eval: 0, skipped: 0, trainTokens: 98_112, evalTokens: 0, format: 'chat' };

test('the data line shows trained records and tokens, records left out for no trained token with their lines, and cut records', () => {
  const line = shownFor({
    ...base,
    trainLossTokens: 41_220,
    noTrainedToken: 3,
    noTrainedTokenLines: [17, 40, 311],
    truncated: 12,
    targetTruncated: 5,
  });
  assert.equal(
    line,
    '1,204 training records · 98,112 tokens (41,220 trained) · 3 skipped: no trained tokens after truncation (lines 17, 40, 311) · 12 truncated (5 lose trained tokens)',
  );
});

test('more left-out records than listed lines end the list with an ellipsis; one of each reads in the singular', () => {
  const lines = Array.from({ length: 20 }, (_, i) => 1000 + i);
  assert.match(
    shownFor({ ...base, noTrainedToken: 25, noTrainedTokenLines: lines }),
    /25 skipped: no trained tokens after truncation \(lines 1,000, .*, 1,019, …\)/,
  );
  assert.equal(
    shownFor({ ...base, train: 1, trainTokens: 1, trainLossTokens: 1, noTrainedToken: 1, noTrainedTokenLines: [2], truncated: 1 }),
    '1 training record · 1 token (1 trained) · 1 skipped: no trained tokens after truncation (line 2) · 1 truncated',
  );
});

test('eval records and invalid records skipped are named; nothing left out or cut adds nothing', () => {
  assert.equal(
    shownFor({ ...base, eval: 60, skipped: 2, trainLossTokens: 500, noTrainedToken: 0, noTrainedTokenLines: [], truncated: 0, targetTruncated: 0 }),
    '1,204 training records · 98,112 tokens (500 trained) · 60 eval records · 2 invalid skipped',
  );
});

test('a run written before the counts existed shows what its start event has (no trained-token count, no guesses)', () => {
  assert.equal(shownFor(base), '1,204 training records · 98,112 tokens');
});
