import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finishedMessage, summaryDiagnosticMessage } from '../../extension/dataset/validationSummary';

const counts = { format: 'alpaca', records: 12, errors: 6, warnings: 1, truncated: false };

test('the finished notification names the file and counts errors, warnings and records', () => {
  assert.equal(finishedMessage('mistakes.jsonl', counts, 7), 'Validate Dataset: mistakes.jsonl: 6 errors, 1 warning in 12 records (alpaca).');
  assert.equal(
    finishedMessage('big.jsonl', { ...counts, errors: 5000, truncated: true }, 1000),
    'Validate Dataset: big.jsonl: 5,000 errors, 1 warning in 12 records (alpaca). Problems lists the first 1,000 problems.',
  );
});

test('the summary diagnostic says when only part of the problems are listed', () => {
  assert.equal(summaryDiagnosticMessage(counts, 7), 'Validate Dataset: 6 errors, 1 warning in 12 records (alpaca)');
  assert.match(summaryDiagnosticMessage({ ...counts, truncated: true }, 3), /only the first 3 problems are listed$/);
});
