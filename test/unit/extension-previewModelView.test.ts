// Preview Dataset with a dataset model: each valid record's row is the model's rendering in runs (the
// trained assistant turn as its own run, counts in the model's tokens), a record the template rejects is
// an error row with the template's message, and the webview's "Change Model…" message passes the guard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as language from '../../language';
import { isWebviewToHost } from '../../protocol/preview';
import { loadDatasetModel } from '../../extension/dataset/datasetModel';
import { modelRecordView } from '../../extension/dataset/modelView';
import { PreviewModel } from '../../extension/dataset/previewModel';
import { toModelRow } from '../../extension/dataset/previewRows';
import { llamaModelFolder } from './datasetModelFixture';

const GOOD = '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}';
const BAD_ROLES = '{"messages": [{"role": "user", "content": "One"}, {"role": "user", "content": "Two"}, {"role": "assistant", "content": "Three"}]}';

test('rows show the model rendering with the trained turn, and the template error of a rejected record', async () => {
  const model = await loadDatasetModel('./llama', 'setting', { kind: 'folder', dir: llamaModelFolder() });
  const preview = new PreviewModel([GOOD, BAD_ROLES].join('\n'), { format: 'auto' }, language, (record, format) =>
    modelRecordView(record, format, model, 4096),
  );
  const { rows } = preview.page({ offset: 0, limit: 10, query: '' });
  assert.deepEqual(rows[0].rendered, [
    { text: '<s>[INST] Hi [/INST]', trained: false },
    { text: ' Hello! </s>', trained: true },
  ]);
  assert.equal(rows[0].template, "the model's chat template");
  assert.deepEqual([rows[0].totalTokens, rows[0].lossTokens, rows[0].prompt, rows[0].target], [13, 4, '', '']);
  assert.match(rows[1].error ?? '', /rejects this record: Conversation roles must alternate/);
});

test('a long rendering is cut for the row and says so', () => {
  const row = toModelRow(0, 'chat', {
    model: 'm',
    format: 'chat',
    runs: [
      { text: 'x'.repeat(5000), trained: false },
      { text: 'y'.repeat(100), trained: true },
    ],
    totalTokens: 10,
    trainedTokens: 2,
    maxLength: 10,
    truncated: false,
    targetTruncated: false,
  });
  assert.equal(row.truncated, true);
  assert.equal(row.rendered?.at(-1)?.text, 'y'.repeat(100));
  assert.ok((row.rendered ?? []).reduce((n, r) => n + r.text.length, 0) < 4100);
});

test('the webview may ask to change the model; unknown messages are still refused', () => {
  assert.equal(isWebviewToHost({ type: 'chooseModel' }), true);
  assert.equal(isWebviewToHost({ type: 'runCommand', command: 'workbench.action.quit' }), false);
});
