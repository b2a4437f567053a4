// The packaged extension is installed in code-server and activates lazily when a .jsonl file opens.
import assert from 'node:assert/strict';
import { e2eTest } from '../harness.mjs';

e2eTest('workbench opens the samples, and opening a .jsonl file activates the extension with its commands', async (wb) => {
  const explorer = await wb.page.locator('.explorer-folders-view .monaco-list-row .label-name').allInnerTexts();
  assert.ok(explorer.includes('mistakes.jsonl'), `the samples workspace is open (explorer shows ${explorer.join(', ')})`);
  await wb.openFile('alpaca.jsonl');
  const row = await wb.findCommand('Fine-Tune: Validate Dataset');
  assert.ok(row, 'the command palette lists "Fine-Tune: Validate Dataset" for an open .jsonl file');
  await wb.escape();
  await wb.runCommand('Developer: Show Running Extensions');
  const running = wb.page.locator('.runtime-extensions-editor .monaco-list-row', { hasText: 'Fine-Tune Studio' }).first();
  await running.waitFor();
  // "Activating..." turns into the activation time once activate() has returned.
  await running.filter({ hasText: /Activation: \d+ms/ }).waitFor();
  assert.doesNotMatch(await running.innerText(), /error|failed/i, 'the extension activated without an error');
  await wb.screenshot('running-extensions');
  await wb.closeAllEditors();
});
