// `finetune eval` on a chat file against PyTorch: the fixture of test/fixtures/chat-eval/make.sh is a
// Qwen3-architecture model with Qwen3's tokenizer (cut to its first 512 ids) and chat template, seven
// conversations (cut by the 96-token context: one inside its answer, one before it, one just after its
// <|im_end|>), their `finetune preview --json` (checked against jinja2 and the assistant spans by
// reference/chat_ref.py check) and the loss transformers' ForCausalLMLoss gives over those labels.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run as evalRun } from '../../cli/eval';
import { IGNORED_LABEL, run as previewRun, type PreviewEntry } from '../../cli/preview';
import { initBackend } from '../../trainer/compute/backend';
import { IGNORE_LABEL, loadDataset } from '../../trainer/data';
import { modelTokenizer } from '../../trainer/modelTokenizer';
import { captureStdout } from './captureStdout';
import { assertRelClose } from './tolerance';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'chat-eval');
const MODEL = path.join(FIXTURE, 'qwen3-chat');
const DATA = path.join(FIXTURE, 'chat.jsonl');
const PREVIEW: PreviewEntry[] = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'preview.json'), 'utf8')).records;
const EXPECTED: { loss: number; tokens: number; examples: number } = JSON.parse(fs.readFileSync(path.join(MODEL, 'expected-eval.json'), 'utf8'));

/** Labels the shifted loss scores: every trained one but the first token's (no logit predicts it). */
const scored = (labels: readonly number[]) => labels.slice(1).filter((l) => l !== IGNORED_LABEL).length;

before(async () => {
  await initBackend('wasm');
});

describe('finetune eval on a chat file', () => {
  test("the committed preview is what `finetune preview --json` prints today (the reference's labels are the trainer's)", async () => {
    const { code, out } = await captureStdout(() => previewRun(['--data', DATA, '--model', MODEL, '--json']));
    assert.equal(code, 0, out);
    assert.deepEqual(JSON.parse(out).records, PREVIEW);
    // The fixture holds what it says: three records cut, one of them with nothing left to train.
    const context = JSON.parse(fs.readFileSync(path.join(MODEL, 'config.json'), 'utf8')).max_position_embeddings as number;
    const cut = PREVIEW.filter((r) => r.ids!.length === context);
    assert.deepEqual(
      cut.map((r) => scored(r.labels!) > 0),
      [true, false, true],
    );
  });

  test("eval loss on a chat file equals the PyTorch reference's loss over the same labels within 1e-4", async () => {
    const { code, out } = await captureStdout(() => evalRun(['--model', MODEL, '--data', DATA, '--backend', 'wasm', '--json']));
    assert.equal(code, 0, out);
    const got = JSON.parse(out.trim().split('\n').pop()!) as { loss: number; tokens: number; examples: number };
    assert.equal(got.tokens, EXPECTED.tokens);
    assert.equal(got.examples, EXPECTED.examples);
    // The bound; the Llama parity tests hold the forward pass itself to float32 reordering.
    assertRelClose(got.loss, EXPECTED.loss, 1e-4, 'chat eval loss');
  });

  test('`bin/finetune eval` on a chat file takes the loss over exactly the trained tokens: its labels are the preview’s, shifted', async () => {
    const { tokenizer, maxPositions } = await modelTokenizer(MODEL);
    const data = await loadDataset(DATA, { tokenizer, maxLength: maxPositions, trainOnPrompt: false, skipInvalid: false });
    const byLine = new Map(data.examples.map((e) => [e.line + 1, e]));
    let total = 0;
    for (const r of PREVIEW) {
      const example = byLine.get(r.line);
      const n = scored(r.labels!);
      total += n;
      if (n === 0) {
        assert.equal(example, undefined, `line ${r.line} has no trained token and is left out`);
        continue;
      }
      assert.ok(example, `line ${r.line} is evaluated`);
      assert.deepEqual(example.inputIds, r.ids!.slice(0, -1), `line ${r.line}: inputs`);
      assert.deepEqual(
        example.labels,
        r.labels!.slice(1).map((l) => (l === IGNORED_LABEL ? IGNORE_LABEL : l)),
        `line ${r.line}: labels`,
      );
      assert.equal(example.lossTokens, n);
    }
    assert.equal(total, EXPECTED.tokens);
    assert.equal(data.examples.length, EXPECTED.examples);
  });
});
