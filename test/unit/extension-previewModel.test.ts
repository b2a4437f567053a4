import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as language from '../../language';
import { PreviewModel, pageFormat } from '../../extension/dataset/previewModel';
import { PREVIEW_MAX_LINE_CHARS } from '../../extension/dataset/hoverMarkdown';

const lines = [
  '{"instruction":"Translate to French","input":"Hello","output":"Bonjour"}',
  '',
  '{"instruction":"Summarize","input":"A long text","output":"Short"}',
  '{"instruction":"broken", "output": ',
  '{"instruction":"Translate to German","input":"Hello","output":"Hallo"}',
];

test('a page holds the matching non-blank lines from the offset, rendered in the file format', () => {
  const model = new PreviewModel(lines.join('\n'), { format: 'auto' }, language);
  const all = model.page({ offset: 0, limit: 10, query: '' });
  assert.equal(all.total, 4);
  assert.deepEqual(
    all.rows.map((r) => r.line),
    [0, 2, 3, 4],
  );
  assert.equal(all.rows[0].format, 'alpaca');
  assert.match(all.rows[0].prompt, /### Instruction:\nTranslate to French/);
  assert.equal(all.rows[0].target, 'Bonjour');
  assert.ok(all.rows[0].lossTokens > 0 && all.rows[0].lossTokens <= all.rows[0].totalTokens);
  assert.ok(all.rows[2].error, 'the broken line is a row with its error');

  const second = model.page({ offset: 1, limit: 1, query: 'TRANSLATE' });
  assert.equal(second.total, 2, 'the search is case-insensitive');
  assert.deepEqual(
    second.rows.map((r) => r.line),
    [4],
  );
  assert.equal(model.page({ offset: 0, limit: 5, query: 'no such text' }).total, 0);
});

test("before the statistics are known rows use each record's own format, then the file's", () => {
  const mixed = ['{"text":"just text"}', '{"text":"a review","label":"positive"}', '{"text":"another","label":"negative"}'].join('\n');
  const model = new PreviewModel(mixed, {}, language);
  assert.equal(model.page({ offset: 0, limit: 1, query: '' }).statistics, undefined);
  assert.equal(model.page({ offset: 0, limit: 1, query: '' }).rows[0].format, 'text');
  model.statistics = language.computeStatistics(language.splitLines(mixed), {});
  assert.equal(model.page({ offset: 0, limit: 1, query: '' }).rows[0].format, 'classification');
});

test('rows use the forced format, else the majority format, never "auto"', () => {
  const stats = language.computeStatistics(lines, {});
  assert.equal(pageFormat({ format: 'auto' }, stats), 'alpaca');
  assert.equal(pageFormat({ format: 'completion' }, stats), 'completion');
  assert.equal(pageFormat({}, { ...stats, byFormat: {} }), undefined);
});

test('a record too long to tokenize on the spot becomes an error row instead of freezing the host', () => {
  const long = JSON.stringify({ instruction: 'x', output: 'y'.repeat(PREVIEW_MAX_LINE_CHARS) });
  const model = new PreviewModel(long, {}, language);
  const t0 = performance.now();
  const [row] = model.page({ offset: 0, limit: 1, query: '' }).rows;
  assert.ok(performance.now() - t0 < 200);
  assert.match(row.error ?? '', /too long to render here/);
});
