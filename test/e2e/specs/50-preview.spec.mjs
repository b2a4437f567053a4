// "Preview Dataset" opens a webview with the records in a table; dataset text is shown as text.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eTest } from '../harness.mjs';

e2eTest('Preview Dataset on alpaca.jsonl shows its records in a table', async (wb) => {
  const records = readFileSync(join(wb.workspace, 'alpaca.jsonl'), 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim());
  const first = JSON.parse(records[0]);
  await wb.openFile('alpaca.jsonl');
  await wb.runCommand('Fine-Tune: Preview Dataset');
  const frame = wb.webviewFrame();
  const rows = frame.locator('tr[data-line]');
  await rows.first().waitFor({ timeout: 30_000 });
  assert.equal(await rows.first().getAttribute('data-line'), '1');
  await frame.getByText(first.instruction, { exact: false }).first().waitFor();
  assert.ok((await rows.count()) >= Math.min(records.length, 10), `the table shows the records (${await rows.count()} rows for ${records.length} records)`);
  await wb.screenshot('preview-alpaca');
  await wb.closeAllEditors();
});

e2eTest('Preview Dataset shows <script> and <img onerror> in a record as text, without running them', async (wb) => {
  const script = '<script>window.__finetunePwned = 1</script>';
  const img = '<img src=x onerror="window.__finetunePwned = 2">';
  writeFileSync(join(wb.workspace, 'markup.jsonl'), `${JSON.stringify({ instruction: `Explain ${script}`, input: img, output: 'It is markup.' })}\n`);
  await wb.openFile('markup.jsonl');
  await wb.runCommand('Fine-Tune: Preview Dataset');
  const frame = wb.webviewFrame();
  await frame.locator('tr[data-line="1"]').waitFor({ timeout: 30_000 });
  await frame.getByText(script, { exact: false }).first().waitFor();
  await frame.getByText('<img src=x onerror=', { exact: false }).first().waitFor();
  assert.equal(await frame.locator('tr[data-line] img, tr[data-line] script').count(), 0, 'no element was created from the record');
  assert.equal(await frame.locator('body').evaluate(() => window.__finetunePwned ?? null), null, 'no record script ran');
  await frame.locator('tr[data-line="1"]').scrollIntoViewIfNeeded();
  await wb.screenshot('preview-markup-as-text');
  await wb.closeAllEditors();
});
