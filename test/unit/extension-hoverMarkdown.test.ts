import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordPreview } from '../../language/types';
import {
  codeBlock,
  escapeMarkdown,
  hoverMarkdown,
  lossMaskText,
  tooLongHoverMarkdown,
  truncateText,
  HOVER_TOKEN_LIMIT,
} from '../../extension/dataset/hoverMarkdown';

/** CommonMark: a fence closes on a line of up to 3 spaces, then at least as many backticks, then blanks. */
function closesFence(line: string, fence: string): boolean {
  const m = /^ {0,3}(`+)\s*$/.exec(line);
  return !!m && m[1].length >= fence.length;
}

function preview(prompt: string, target: string): RecordPreview {
  return {
    format: 'alpaca',
    task: 'translate',
    prompt,
    target,
    promptTokens: 2,
    targetTokens: 2,
    totalTokens: 4,
    tokens: [
      { id: 1, text: 'Hi', inLoss: false },
      { id: 2, text: '\n', inLoss: false },
      { id: 3, text: ' there', inLoss: true },
      { id: 50256, text: '<|endoftext|>', inLoss: true },
    ],
  };
}

test('dataset text full of backticks cannot close its code block early', () => {
  const hostile = 'a\n```\n<img src=x onerror=alert(1)>\n````\n[link](command:foo)';
  const block = codeBlock(hostile);
  const lines = block.trimEnd().split('\n');
  const fence = /^`+/.exec(lines[0])![0];
  assert.ok(fence.length >= 5);
  const inner = lines.slice(1, -1);
  assert.equal(inner.join('\n'), hostile);
  assert.ok(!inner.some((l) => closesFence(l, fence)), 'no inner line closes the fence');
  assert.ok(closesFence(lines[lines.length - 1], fence));
});

test('text outside code blocks is escaped so it cannot form links, HTML or emphasis', () => {
  const escaped = escapeMarkdown('[x](command:evil) <b>*hi*</b> `c`\nnext');
  assert.ok(!/(^|[^\\])[[\]()<>*`]/.test(escaped), escaped);
  assert.ok(!escaped.includes('\n'));
});

test('the hover shows format, task, token counts, prompt, target and loss mask with the task escaped', () => {
  const md = hoverMarkdown({ ...preview('Below is ```an``` instruction', 'Bonjour'), task: '<script>' }, 'alpaca');
  assert.match(md, /alpaca/);
  assert.match(md, /task \\<script\\>/);
  assert.match(md, /prompt 2 · target 2 · total 4 · loss on 2/);
  assert.match(md, /````text\nBelow is ```an``` instruction\n````/);
  assert.match(md, /```text\nBonjour\n```/);
  assert.match(md, /Hi↵\n⟦ there⟧⟦<\|endoftext\|>⟧/);
});

test('long records keep the head and the tail of the loss mask', () => {
  const tokens = Array.from({ length: 1000 }, (_, i) => ({ id: i, text: `t${i} `, inLoss: i >= 900 }));
  const text = lossMaskText(tokens);
  assert.match(text, /^t0 /);
  assert.match(text, /⟦t999 ⟧$/);
  assert.match(text, new RegExp(`… ${1000 - HOVER_TOKEN_LIMIT} tokens …`));
  assert.ok(!text.includes('t100 '));
});

test('truncation never splits a surrogate pair and says how much was cut', () => {
  const text = 'ab🤗cd';
  const cut = truncateText(text, 3);
  assert.ok(cut.startsWith('ab\n'), JSON.stringify(cut));
  assert.match(cut, /4 more characters/);
  assert.equal(truncateText('short', 10), 'short');
});

test('the hover of a record too long to render says so without tokenizing it', () => {
  const md = tooLongHoverMarkdown(5_000_000);
  assert.match(md, /5,000,000 characters/);
  assert.match(md, /up to 100,000/);
});
