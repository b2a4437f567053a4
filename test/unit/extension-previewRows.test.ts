import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toPreviewRow } from '../../extension/dataset/previewRows';
import { normalizeQuery, isWebviewToHost, MAX_PREVIEW_LIMIT } from '../../protocol/preview';

test('a record becomes a row with its loss token count and cut texts', () => {
  const row = toPreviewRow(
    7,
    {
      format: 'classification',
      label: 'positive',
      prompt: 'p'.repeat(10),
      target: 'positive',
      promptTokens: 3,
      targetTokens: 1,
      totalTokens: 5,
      tokens: [
        { id: 1, text: 'a', inLoss: false },
        { id: 2, text: 'b', inLoss: true },
        { id: 3, text: 'c', inLoss: true },
      ],
    },
    5,
  );
  assert.equal(row.line, 7);
  assert.equal(row.lossTokens, 2);
  assert.equal(row.prompt, 'ppppp…');
  assert.equal(row.target, 'posit…');
  assert.equal(row.truncated, true);
  assert.equal(row.label, 'positive');
  assert.equal('task' in row, false);
});

test('an invalid line becomes a row carrying its error', () => {
  const row = toPreviewRow(3, { error: 'Unexpected end of JSON' });
  assert.equal(row.error, 'Unexpected end of JSON');
  assert.equal(row.totalTokens, 0);
});

test('queries from the webview are clamped to sane numbers', () => {
  assert.deepEqual(normalizeQuery({ offset: -5, limit: 1e9, query: 'x' }), { offset: 0, limit: MAX_PREVIEW_LIMIT, query: 'x' });
  assert.deepEqual(normalizeQuery({ offset: Number.NaN, limit: 0, query: 3 as unknown as string }), { offset: 0, limit: 1, query: '' });
  assert.deepEqual(normalizeQuery(undefined), { offset: 0, limit: 25, query: '' });
  assert.equal(isWebviewToHost({ type: 'query', offset: 0 }), true);
  assert.equal(isWebviewToHost({ type: 'page' }), false);
  assert.equal(isWebviewToHost(null), false);
});
