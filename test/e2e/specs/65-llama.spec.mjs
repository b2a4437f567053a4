// A Llama-family model folder of the workspace through the quick pick: Browse… takes it, LoRA with the
// family's own targets trains to completion, the last step showed the memory and time estimates, the
// panel's per-layer rows end with the final norm, and Try It generates from the adapter. The folder is
// the GQA fixture (test/fixtures/llama/llama-gqa) with a character-level tokenizer (one character per id,
// U+0100 + id), as test/unit/trainer-llama-engine.test.ts gives it one.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { e2eTest, runIds, runsDir, tryItGenerate, until } from '../harness.mjs';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'llama', 'llama-gqa');
const EOS = 2;
const charOf = (id) => String.fromCodePoint(0x100 + id);

/** The fixture as a workspace folder with its tokenizer files, and a text dataset in its vocabulary. */
function writeWorkspaceModel(workspace) {
  const dir = join(workspace, 'models', 'llama-gqa');
  mkdirSync(dir, { recursive: true });
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(FIXTURE, f), join(dir, f));
  const vocab = Object.fromEntries(Array.from({ length: 256 }, (_, id) => [charOf(id), id]));
  const special = { id: EOS, content: charOf(EOS), single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  const model = {
    type: 'BPE',
    dropout: null,
    unk_token: charOf(0),
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    vocab,
    merges: [],
  };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model,
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: charOf(EOS) }));
  const records = Array.from({ length: 8 }, (_, r) => ({ text: Array.from({ length: 12 }, (_, i) => charOf(10 + ((r * 7 + i * 3) % 200))).join('') }));
  writeFileSync(join(workspace, 'llama-text.jsonl'), records.map((x) => JSON.stringify(x)).join('\n') + '\n');
  return dir;
}

// Written when the suite loads this spec, before the workbench opens, so that the Explorer lists them.
const folder = writeWorkspaceModel(process.env.FINETUNE_E2E_WORKSPACE);

e2eTest(
  'Fine-tune… with a Llama-family folder of the workspace (Browse…) trains LoRA to completion and Try It generates',
  async (wb) => {
    const before = new Set(runIds());
    await wb.closeAllEditors();
    await wb.runCommand('View: Show Explorer');
    await wb.explorerContextMenu('llama-text.jsonl', 'Fine-tune…', { timeout: 60_000 });
    const answering = wb.answerQuickInputs(
      (title) => {
        if (/Base Model$/.test(title)) return 'Browse';
        if (/model folder/i.test(title)) return `${folder}/`;
        if (/Epochs$/.test(title)) return '4';
        return undefined;
      },
      { settleMs: 8000 },
    );
    // VS Code's own folder dialog: Enter on a folder's path either takes it or opens it, whose button then
    // takes it. Once the path is typed, the button is pressed while the dialog stays open: a press made
    // while the dialog is still listing the folder is ignored (seen in CI), so it is pressed again.
    const dialogInput = wb.page.locator('.quick-input-widget input.input').first();
    await until(async () => ((await dialogInput.inputValue().catch(() => '')) === `${folder}/` ? true : undefined), 'the folder typed into the dialog', 60_000);
    const useButton = wb.page.locator('.quick-input-widget .monaco-button', { hasText: 'Use This Model' });
    for (let tries = 0; tries < 15; tries++) {
      await wb.page.waitForTimeout(1500);
      if (!(await useButton.isVisible().catch(() => false))) break;
      await useButton.click({ timeout: 2000 }).catch(() => {});
    }
    const titles = await answering;
    assert.ok(titles.includes('Fine-tune llama-text.jsonl: Start'), JSON.stringify(titles));
    const id = await until(() => runIds().find((r) => !before.has(r)), 'the new run folder', 30_000);
    const config = JSON.parse(readFileSync(join(runsDir(), id, 'run.json'), 'utf8'));
    assert.deepEqual([config.model, config.strategy, config.loraTargets], [folder, 'lora', 'default']);
    await wb.page.locator(`.tabs-container .tab[aria-label*="Training: ${id}"]`).waitFor({ timeout: 30_000 });
    const frame = wb.webviewFrame();
    const status = frame.locator('#status');
    await until(async () => ['completed', 'failed', 'stopped'].includes((await status.textContent()).trim()), 'the run to end', 120_000);
    assert.equal(
      (await status.textContent()).trim(),
      'completed',
      await frame
        .locator('#error')
        .innerText()
        .catch(() => ''),
    );
    const events = readFileSync(join(runsDir(), id, 'events.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const params = events.find((e) => e.type === 'params');
    assert.equal(params.perLayer.at(-1).name, 'norm', 'a tied head has no row of its own');
    assert.ok(readFileSync(join(runsDir(), id, 'output', 'adapter_config.json'), 'utf8').includes('q_proj'));
    await wb.screenshot('llama-panel-completed');

    const answer = await tryItGenerate(frame, charOf(10) + charOf(13) + charOf(16));
    assert.ok(answer.length > 0, 'Try It generated text');
    await wb.screenshotOf('.part.editor', 'llama-panel-try-it');
  },
  { timeout: 170_000 },
);
