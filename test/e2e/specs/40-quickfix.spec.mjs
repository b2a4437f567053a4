// Quick fixes edit the line, and the live diagnostics follow the edit.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eTest } from '../harness.mjs';

/** 0-based index of the first line of `file` (in the test workspace) containing `needle`, and that line. */
function findLine(wb, file, needle) {
  const lines = readFileSync(join(wb.workspace, file), 'utf8').split(/\r?\n/);
  const index = lines.findIndex((l) => l.includes(needle));
  assert.ok(index >= 0, `samples/${file} has a line containing ${needle}`);
  return { index, text: lines[index] };
}

/** Polls the active editor until line `index` satisfies `predicate`; returns its text. */
async function waitForLine(wb, index, predicate) {
  let text = '';
  for (let i = 0; i < 50; i++) {
    text = (await wb.editorLines())[index] ?? '';
    if (predicate(text)) return text;
    await wb.page.waitForTimeout(100);
  }
  return text;
}

e2eTest('quick fix on the alias key "response" rewrites it to "output", and the line\'s problems go away', async (wb) => {
  const { index, text } = findLine(wb, 'mistakes.jsonl', '"response"');
  const line = index + 1;
  const column = text.indexOf('"response"') + 2; // inside the key
  await wb.openFile('mistakes.jsonl');
  // Quick fixes hang off the live diagnostics: wait for them first.
  await wb.waitForProblems((rs) => rs.some((r) => r.text.includes(`[Ln ${line},`)));
  const titles = await wb.applyQuickFix(line, column, /output/);
  assert.ok(
    titles.some((t) => /output/.test(t)),
    `a quick fix mentions "output": ${JSON.stringify(titles)}`,
  );
  const edited = await waitForLine(wb, index, (t) => t.includes('"output"'));
  assert.ok(edited.includes('"output"') && !edited.includes('"response"'), `line ${line} now uses "output": ${edited}`);
  // The edit revalidates the line: it is now a valid record, so none of its problems remain.
  await wb.waitForProblems((rs) => rs.some((r) => / finetune /.test(r.text)) && !rs.some((r) => r.text.includes(`[Ln ${line},`)));
  await wb.screenshot('quick-fix-applied');
  await wb.closeAllEditors();
});

e2eTest('quick fix on a chat role in the wrong case ("User") rewrites it to "user"', async (wb) => {
  const { index, text } = findLine(wb, 'chat-mistakes.jsonl', '"User"');
  const column = text.indexOf('"User"') + 2;
  await wb.openFile('chat-mistakes.jsonl');
  await wb.waitForProblems((rs) => rs.some((r) => r.text.includes(`[Ln ${index + 1},`)));
  await wb.applyQuickFix(index + 1, column, /'user'/);
  const edited = await waitForLine(wb, index, (t) => t.includes('"user"'));
  assert.ok(edited.includes('"role": "user"') && !edited.includes('"User"'), `line ${index + 1} now has role "user": ${edited}`);
  await wb.closeAllEditors();
});
