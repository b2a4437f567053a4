import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { computeStatistics, splitLines } from '../../language';
import { computeStatisticsInWorker, statisticsWorkerPath, StatisticsCancelled } from '../../extension/dataset/statisticsWorker';

const text = [
  '{"instruction":"Translate","input":"Hello","output":"Bonjour","task":"translate"}',
  '{"instruction":"Translate","input":"Hello","output":"Bonjour","task":"translate"}',
  '{"instruction":"Summarize","input":"Long","output":"Short","task":"summarize"}',
].join('\n');

test('the worker computes the same statistics as the library on the calling thread', async () => {
  const file = statisticsWorkerPath(path.join(__dirname, '../../extension/dataset'));
  assert.ok(file, 'the worker source exists');
  const job = computeStatisticsInWorker(text, { maxTokens: 1024 }, file!);
  assert.deepEqual(await job.result, computeStatistics(splitLines(text), { maxTokens: 1024 }));
});

test('a cancelled job rejects with StatisticsCancelled', async () => {
  const job = computeStatisticsInWorker(text, {}, statisticsWorkerPath(path.join(__dirname, '../../extension/dataset'))!);
  job.cancel();
  await assert.rejects(job.result, StatisticsCancelled);
});
