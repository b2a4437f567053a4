// Hovering a valid record shows the prompt the trainer will build and its token counts.
import assert from 'node:assert/strict';
import { e2eTest } from '../harness.mjs';

e2eTest('hover on an alpaca record shows the rendered prompt and token counts', async (wb) => {
  await wb.openFile('alpaca.jsonl');
  const text = await wb.hoverAt(1, 3);
  assert.match(text, /### Instruction:/, `the hover shows the Alpaca prompt template; got:\n${text}`);
  assert.match(text, /Tokens: prompt \d+ · target \d+ · total \d+/, `the hover shows token counts; got:\n${text}`);
  await wb.screenshot('hover');
  await wb.closeAllEditors();
});
