import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRecord, tokenizeExample } from '../../language/promptFormat';
import { gpt2Tokenizer, GPT2_EOS_ID } from '../../language/tokenizer';
import { countTokensUpTo, exceedsTokenLimit } from '../../language/tokenLength';
import { previewRecord, computeStatistics, previewDataset } from '../../language/preview';

const ALPACA_HEAD =
  'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n';
const ALPACA_NO_INPUT_HEAD = 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n';

test('alpaca uses the Stanford Alpaca template, with the no-input variant for a missing or empty input', () => {
  assert.deepEqual(formatRecord({ instruction: 'Translate to French', input: 'Hello', output: 'Bonjour', task: 'translate' }, 'alpaca'), {
    prompt: `${ALPACA_HEAD}### Instruction:\nTranslate to French\n\n### Input:\nHello\n\n### Response:\n`,
    target: 'Bonjour',
    task: 'translate',
  });
  for (const r of [
    { instruction: 'Name a color', output: 'Blue' },
    { instruction: 'Name a color', input: '', output: 'Blue' },
  ]) {
    assert.deepEqual(formatRecord(r, 'alpaca'), { prompt: `${ALPACA_NO_INPUT_HEAD}### Instruction:\nName a color\n\n### Response:\n`, target: 'Blue' });
  }
  assert.equal(formatRecord({ instruction: 'Q', input: 'I', output: 'O' }, 'alpaca', { template: 'plain' }).prompt, 'Q\n\nI\n\n');
  assert.throws(() => formatRecord({}, 'alpaca', { template: 'fancy' }), /unknown prompt template 'fancy'/);
});

test('chat: the prompt is every message before the last assistant message, the target is that message', () => {
  const r = formatRecord(
    {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
        { role: 'user', content: '2+2?' },
        { role: 'assistant', content: '4' },
      ],
    },
    'chat',
  );
  assert.equal(r.prompt, '<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\nHello\n<|user|>\n2+2?\n<|assistant|>\n');
  assert.equal(r.target, '4');
});

test('completion, text and classification formats', () => {
  assert.deepEqual(formatRecord({ prompt: 'The sky is', completion: ' blue.' }, 'completion'), { prompt: 'The sky is', target: ' blue.' });
  assert.deepEqual(formatRecord({ text: 'Just text.' }, 'text'), { prompt: '', target: 'Just text.' });
  assert.deepEqual(formatRecord({ text: 'Great film', label: 'positive' }, 'classification'), {
    prompt: '### Text:\nGreat film\n\n### Label:\n',
    target: 'positive',
    label: 'positive',
  });
  assert.equal(formatRecord({ text: 'x', label: 2 }, 'classification').label, '2');
});

test('tokenizeExample: prompt + target + eos, loss on the target and eos unless trainOnPrompt', () => {
  const tok = gpt2Tokenizer();
  const t = tokenizeExample({ prompt: 'Hello', target: ' world' }, tok);
  assert.deepEqual(t.ids, [15496, 995, GPT2_EOS_ID]);
  assert.deepEqual(t.lossMask, [false, true, true]);
  assert.deepEqual([t.promptTokens, t.targetTokens], [1, 1]);
  assert.deepEqual(tokenizeExample({ prompt: 'Hello', target: ' world' }, tok, { trainOnPrompt: true }).lossMask, [true, true, true]);
  assert.deepEqual(tokenizeExample({ prompt: '', target: 'Hello world' }, tok).lossMask, [true, true, true]);
  const cut = tokenizeExample({ prompt: 'Hello', target: ' world' }, tok, { maxLength: 2 });
  assert.deepEqual(
    [cut.ids, cut.lossMask],
    [
      [15496, 995],
      [false, true],
    ],
  );
});

test('token counting without the tokenizer equals the tokenizer, and stops early past the limit', () => {
  const tok = gpt2Tokenizer();
  const texts = [
    "Hello world! It's 2024 — naïve café, 日本語 and emoji 😀.\n\n  Indented\tline's end   ",
    'ÃÂÃÂÃÂ '.repeat(50),
    ' '.repeat(10) + 'x' + '\n'.repeat(5),
    Array.from({ length: 2000 }, (_, i) => `w${i % 50}`).join(' '),
  ];
  for (const t of texts) assert.equal(countTokensUpTo(t), tok.encode(t).length, JSON.stringify(t.slice(0, 40)));
  const long = 'word '.repeat(5000);
  assert.ok(countTokensUpTo(long, 100) > 100);
  assert.equal(exceedsTokenLimit('Hello', ' world', 3), false);
  assert.equal(exceedsTokenLimit('Hello', ' world', 2), true);
  assert.equal(exceedsTokenLimit('', 'a\n'.repeat(600), 1024), true); // 1200 tokens in 1200 bytes
  assert.equal(exceedsTokenLimit('', 'abc '.repeat(300), 1024), false); // 1200 bytes but 300 tokens
});

test('previewRecord renders the exact prompt and target with token-level loss flags', () => {
  const p = previewRecord('{"instruction":"Say hi","output":"Hi"}');
  assert.ok(!('error' in p));
  if ('error' in p) return;
  assert.equal(p.format, 'alpaca');
  assert.equal(p.prompt, `${ALPACA_NO_INPUT_HEAD}### Instruction:\nSay hi\n\n### Response:\n`);
  assert.equal(p.totalTokens, p.promptTokens + p.targetTokens + 1);
  assert.equal(p.tokens.length, p.totalTokens);
  assert.equal(p.tokens.filter((t) => t.inLoss).length, p.targetTokens + 1);
  assert.equal(p.tokens.map((t) => t.text).join(''), p.prompt + p.target + '<|endoftext|>');
  assert.match((previewRecord('{"instruction":') as { error: string }).error, /invalid JSON/);
  const forced = previewRecord('{"text":"abc","label":"x"}', { format: 'classification', trainOnPrompt: true });
  assert.ok(!('error' in forced) && forced.tokens.every((t) => t.inLoss));
});

test('computeStatistics and previewDataset: formats, tasks, labels, duplicates, histogram, paging and search', () => {
  const lines = [
    '{"instruction":"Translate","input":"Hello","output":"Bonjour","task":"translate"}',
    '{"instruction":"Translate","input":"Hello","output":"Bonjour","task":"translate"}',
    '{"instruction":"Summarize","input":"' + 'long text '.repeat(30) + '","output":"short","task":"summarize"}',
    '{"prompt":"a","completion":"b"}',
    'not json',
    '',
  ];
  const s = computeStatistics(lines, { maxTokens: 40 });
  assert.equal(s.records, 4);
  assert.deepEqual(s.byFormat, { alpaca: 3, completion: 1 });
  assert.deepEqual(s.byTask, { translate: 2, summarize: 1 });
  assert.equal(s.duplicates, 1);
  assert.equal(s.overLength, 3); // the template alone is ~40 tokens
  assert.equal(
    s.lengthHistogram.reduce((n, b) => n + b.count, 0),
    3,
  );
  assert.ok(s.minTokens > 0 && s.maxTokens >= s.minTokens && s.meanTokens >= s.minTokens);
  const page = previewDataset(lines.join('\n'), {}, { offset: 1, limit: 2 });
  assert.equal(page.total, 5);
  assert.deepEqual(
    page.rows.map((r) => r.line),
    [1, 2],
  );
  const search = previewDataset(lines.join('\n'), {}, { query: 'SUMMARIZE' });
  assert.deepEqual(
    search.rows.map((r) => r.line),
    [2],
  );
  const bad = previewDataset(lines.join('\n'), {}, { query: 'not json' });
  assert.ok('error' in bad.rows[0].preview);
});

test("the ASCII pre-tokenizer splits exactly like GPT-2's regex", async () => {
  const { forEachPreToken } = await import('../../language/tokenLength');
  const regex = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
  let seed = 5;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const alphabet = 'ab Z09\'srevltmd  \t\n\r\u000b\u000c.,!-_"\\/\u0000\u007f()';
  for (let k = 0; k < 3000; k++) {
    let s = '';
    const n = Math.floor(rand() * 30);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
    const mine: string[] = [];
    forEachPreToken(s, (w) => (mine.push(w), false));
    assert.deepEqual(mine, s.match(regex) ?? [], JSON.stringify(s));
  }
});
