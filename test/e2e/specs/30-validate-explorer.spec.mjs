// Explorer right-click "Validate Dataset" validates a file that is not open and reports.
import assert from 'node:assert/strict';
import { e2eTest } from '../harness.mjs';

e2eTest('Explorer "Validate Dataset" on mistakes.jsonl reports errors in a notification and in Problems', async (wb) => {
  await wb.closeAllEditors();
  await wb.explorerContextMenu('mistakes.jsonl', 'Validate Dataset');
  const note = await wb.waitForNotification(/mistakes\.jsonl.*\d+ errors?/);
  assert.match(note, /[1-9]\d* errors?/, `the notification counts the errors: ${note}`);
  const rows = await wb.waitForProblems((rs) => rs.some((r) => / finetune /.test(r.text)) && rs.some((r) => /Validate Dataset:/.test(r.text)));
  assert.ok(
    rows.some((r) => /mistakes\.jsonl/.test(r.text)),
    'problems are listed under mistakes.jsonl',
  );
  await wb.screenshot('validate-dataset-problems');
  await wb.clearNotifications();
});
