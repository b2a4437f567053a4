import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordScanner } from '../../language/recordScan';
import { analyzeLine, checkLine, checkOptions } from '../../language/lineAnalysis';
import { validateChunk } from '../../language/chunkValidator';
import { countUtf8TokensUpTo, countTokensUpTo, surelyMerged, surelyMergedAscii, surelyMergedUtf8 } from '../../language/tokenLength';
import type { DatasetFormat, ValidationOptions } from '../../language/types';

// The fast path may only prove lines clean: whatever it accepts, the full path (analyzeLine + checkLine)
// must find clean too, with the same best format, fingerprint, task and label.

let seed = 7;
const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const words = ['the', 'model', "don't", "it's", 'data', '42', '3.14', '!!', '  ', '\t', 'héllo', '日本', '😀', 'a\nb', 'q"uote', 'back\\slash', "we'll", 'x'];
const sentence = (n: number) => Array.from({ length: n }, () => pick(words)).join(pick([' ', '', '  ']));

function randomRecord(): Record<string, unknown> {
  const shape = pick(['alpaca', 'alpaca', 'alpaca-noinput', 'completion', 'text', 'classification', 'odd']);
  const s = () => (rand() < 0.08 ? pick(['', ' ', '  \t ', '\u00a0']) : sentence(1 + Math.floor(rand() * 12)));
  let r: Record<string, unknown>;
  if (shape === 'alpaca') r = { instruction: s(), input: s(), output: s() };
  else if (shape === 'alpaca-noinput') r = { instruction: s(), output: s() };
  else if (shape === 'completion') r = { prompt: s(), completion: s() };
  else if (shape === 'text') r = { text: s() };
  else if (shape === 'classification') r = { text: s(), label: rand() < 0.2 ? 3 : pick(['pos', 'neg', ' ', 'neutral']) };
  else
    r = pick([
      { instruction: 1, output: 'x' },
      { instruction: 'a', output: 'b', extra: 'c' },
      { messages: [] },
      { task: 'only' },
      {},
      { instruction: 'a', output: ['b'] },
    ]);
  if (rand() < 0.15) r.task = pick(['summarize', 'translate', ' ', 'constructor']);
  return r;
}

/** Ways to write the same record: key order, whitespace, escapes. */
function render(r: Record<string, unknown>): string {
  let entries = Object.entries(r);
  if (rand() < 0.3) entries = entries.reverse();
  const ws = () => pick(['', '', ' ', '\t', ' \r ']);
  const str = (v: unknown) => {
    let t = JSON.stringify(v);
    if (typeof v === 'string' && rand() < 0.2) t = t.replace(/[a-z]/, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
    if (typeof v === 'string' && rand() < 0.1) t = t.replace(/\//g, '\\/');
    return t;
  };
  return ws() + '{' + ws() + entries.map(([k, v]) => `${str(k)}${ws()}:${ws()}${str(v)}`).join(ws() + ',' + ws()) + ws() + '}' + ws();
}

/** Damage that the fast path must never accept (it may or may not be invalid JSON: the full path decides). */
function damage(line: string): string {
  const i = Math.floor(rand() * (line.length + 1));
  switch (Math.floor(rand() * 7)) {
    case 0:
      return line.slice(0, i);
    case 1:
      return line.slice(0, i) + '\t' + line.slice(i);
    case 2:
      return line.slice(0, i) + pick(['\\', '"', ',', '}', '{', ':', '\\x', '\\u12']) + line.slice(i);
    case 3:
      return line + pick([' x', '{}', ',', ' //']);
    case 4:
      return line.replace('}', ',}');
    case 5:
      return line.slice(0, i) + line.slice(i + 1);
    default:
      return line.replace(/"(\w+)":/, '"$1":"dup",  "$1":');
  }
}

function compare(lines: string[], options: ValidationOptions): { fast: number; total: number } {
  const check = checkOptions(options);
  const forced = check.forced ? (options.format as DatasetFormat) : undefined;
  const sc = new RecordScanner({ forced, maxTokens: check.maxTokens, template: check.template });
  let fast = 0;
  for (const raw of lines) {
    const bytes = Buffer.from(raw);
    const line = bytes.toString('utf8'); // what a file's bytes decode to (a lone surrogate became U+FFFD)
    sc.setBytes(bytes);
    if (!sc.scan(0, bytes.length)) continue;
    fast++;
    const a = analyzeLine(line);
    assert.equal(a.kind, 'record', line);
    const key = forced ?? a.best!;
    const c = checkLine(a, key, check);
    assert.deepEqual(c.diagnostics, [], `fast path accepted ${JSON.stringify(line)}`);
    assert.equal(sc.best, a.best, line);
    assert.equal(sc.fingerprint, a.fingerprint, `fingerprint of ${JSON.stringify(line)}`);
    assert.equal(sc.task, a.task, line);
    if (key === 'classification') assert.equal(sc.label, c.label, line);
  }
  return { fast, total: lines.length };
}

test('whatever the fast path accepts, the full path finds clean, with the same format, fingerprint, task and label', () => {
  const lines: string[] = [];
  for (let i = 0; i < 4000; i++) {
    const line = render(randomRecord());
    lines.push(line, damage(line));
  }
  for (const options of [{}, { maxTokens: 64 }, { format: 'alpaca' as const }, { format: 'classification' as const, maxTokens: 40 }, { template: 'plain' }]) {
    const { fast, total } = compare(lines, options);
    assert.ok(fast >= 100, `the fast path took only ${fast} of ${total} lines with ${JSON.stringify(options)}`);
  }
});

test('the fast path takes clean records written in any style, and counts tokens only near the limit', () => {
  const clean = [
    '{"instruction":"Translate to French.","input":"Good morning","output":"Bonjour"}',
    '{"output":"Bonjour","instruction":"Translate to French."}',
    ' { "instruction" : "a\\n\\"b\\"" ,\t"output":"\\u00e9t\\u00E9 😀 日本" } \r',
    '{"prompt":"2+2=","completion":" 4"}',
    '{"text":"just text","task":"lm"}',
    '{"text":"great film","label":"positive"}',
    '{"instruction":"Summarize.","input":"","output":"' + 'word '.repeat(300) + 'end"}',
  ];
  const sc = new RecordScanner({ maxTokens: 1024 });
  for (const line of clean) {
    const b = Buffer.from(line);
    sc.setBytes(b);
    assert.ok(sc.scan(0, b.length), line);
  }
  // 600 words are 600+ tokens: over a 512 limit, under a 1024 one; the verdicts match the full path's.
  const long = JSON.stringify({ instruction: 'Summarize the text.', input: 'data '.repeat(600).trim(), output: 'ok' });
  const bytes = Buffer.from(long);
  for (const [maxTokens, fits] of [
    [1024, true],
    [512, false],
  ] as const) {
    const s = new RecordScanner({ maxTokens });
    s.setBytes(bytes);
    assert.equal(s.scan(0, bytes.length), fits, `maxTokens ${maxTokens}`);
    const c = checkLine(analyzeLine(long), 'alpaca', checkOptions({ maxTokens }));
    assert.equal(c.overLength, !fits);
  }
});

test('token counts on UTF-8 bytes equal countTokensUpTo on the same text, with the same early stop', () => {
  const ascii = [
    "'s",
    "'t",
    "'re",
    "'ve",
    "'m",
    "'ll",
    "'d",
    "'x",
    ' ',
    '  ',
    '\n',
    '\n\n',
    '\t',
    ' hello',
    'World',
    '123',
    ' 45',
    '!?',
    ' ...',
    '"',
    "'",
    'abc',
  ];
  // Letters, numbers (Nd, Nl, No), white space, marks and symbols beyond ASCII, in 2, 3 and 4 bytes.
  const unicode = [
    'é',
    'café',
    ' naïve',
    '日本語',
    '\u3000',
    '\u00a0',
    ' \u2003x',
    '😀',
    ' 😀😀',
    '٣٤',
    'Ⅻ',
    '½',
    'e\u0301',
    '—',
    '“q”',
    'Ωμέγα',
    '\ufeff',
    '𝒳',
  ];
  for (let n = 0; n < 1500; n++) {
    const pieces = n % 2 ? ascii : [...ascii, ...unicode];
    const text = Array.from({ length: Math.floor(rand() * 40) }, () => pick(pieces)).join('');
    const b = Buffer.from(text, 'utf8');
    assert.equal(countUtf8TokensUpTo(b, 0, b.length), countTokensUpTo(text), JSON.stringify(text));
    const limit = Math.floor(rand() * 10);
    const fast = countUtf8TokensUpTo(b, 0, b.length, limit);
    const slow = countTokensUpTo(text, limit);
    assert.equal(fast > limit, slow > limit, JSON.stringify(text));
    if (slow <= limit) assert.equal(fast, slow);
  }
});

test('the token bounds without BPE never undercount: bytes less the merges surely made, in whole texts and in pieces', () => {
  const ascii = [
    'the',
    ' the',
    'hello',
    ' world',
    "don't",
    "it's",
    "we're",
    "'s",
    "'ll",
    "'re",
    "'ve",
    "'d",
    "'m",
    "'t",
    "'",
    "''",
    "'S",
    ' ',
    '  ',
    '\n',
    '\t',
    '\r',
    '1',
    ' 42',
    '3.14',
    '!',
    ' ?!',
    '#',
    '...',
    'x',
    'qq',
    'zzzz',
    'A',
    'mIxEd',
    '\u0001',
  ];
  const unicode = ['é', ' café', '日本', '😀', '\u00a0', '\u3000', '—'];
  for (let n = 0; n < 3000; n++) {
    const pieces = n % 3 ? ascii : [...ascii, ...unicode];
    const text = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => pick(pieces)).join('');
    const b = Buffer.from(text, 'utf8');
    const count = countUtf8TokensUpTo(b, 0, b.length);
    const spaces = surelyMergedUtf8(b, 0, b.length);
    assert.equal(surelyMerged(text), spaces, JSON.stringify(text));
    assert.ok(count <= b.length - spaces, `${JSON.stringify(text)}: ${count} tokens, bound ${b.length - spaces}`);
    if (b.length === text.length) {
      // ASCII: a text assembled from pieces (a template's and a record's) is bounded by the pieces' sum.
      const cuts = [0, Math.floor(rand() * (b.length + 1)), Math.floor(rand() * (b.length + 1)), b.length].sort((x, y) => x - y);
      let merged = 0;
      for (let k = 0; k < 3; k++) merged += surelyMergedAscii(b, cuts[k], cuts[k + 1]);
      assert.ok(count <= b.length - merged, `${JSON.stringify(text)} cut at ${cuts}: ${count} tokens, bound ${b.length - merged}`);
    }
  }
});

test("records near the token limit get the full path's too-long verdict from the fast path", () => {
  const vocabulary = [
    'the',
    'model',
    'answers',
    "don't",
    "it's",
    "we're",
    '42',
    '3.14',
    'hello,',
    'world!',
    '(x)',
    'zzzz',
    "'s",
    "'ll",
    'UPPER',
    'a1b2',
    ' ',
    '  ',
  ];
  for (let n = 0; n < 400; n++) {
    const text = (k: number) => Array.from({ length: k }, () => pick(vocabulary)).join(pick([' ', ' ', '']));
    const line = JSON.stringify({ instruction: text(3), input: text(Math.floor(rand() * 120)), output: text(Math.floor(rand() * 60)) });
    const tokens = 40 + Math.floor(rand() * 200);
    for (const maxTokens of [tokens, Math.floor(tokens / 2), tokens * 2]) {
      const b = Buffer.from(line);
      const sc = new RecordScanner({ maxTokens });
      sc.setBytes(b);
      const full = checkLine(analyzeLine(line), 'alpaca', checkOptions({ maxTokens }));
      assert.equal(sc.scan(0, b.length), !full.overLength && full.diagnostics.length === 0, `${line} at ${maxTokens}`);
    }
  }
});

test('a chunk validates to the same summary with and without the fast path', () => {
  const lines: string[] = [];
  for (let i = 0; i < 1500; i++) {
    const line = render(randomRecord());
    lines.push(rand() < 0.2 ? damage(line) : line);
    if (rand() < 0.05) lines.push(line); // duplicates
    if (rand() < 0.02) lines.push(pick(['', '   ', '[1]', 'null', '{"a":{"b":[1,2,{"c":null}]}}']));
  }
  const chunk = (badLine: number) => {
    const parts = [Buffer.from('\uFEFF')];
    lines.forEach((l, i) => {
      parts.push(Buffer.from(l));
      if (i === badLine) parts.push(Buffer.from([0xff, 0xc3])); // invalid UTF-8 on one line
      parts.push(Buffer.from(i % 3 ? '\n' : '\r\n'));
    });
    return Buffer.concat(parts);
  };
  for (const bytes of [chunk(-1), chunk(700)]) {
    for (const options of [{}, { maxTokens: 30 }, { format: 'alpaca' as const }, { format: 'text' as const }]) {
      const fast = validateChunk(bytes, true, { options, cap: 10_000 });
      // An empty user schema accepts everything but turns the fast path off.
      const full = validateChunk(bytes, true, { options: { ...options, userSchema: {} }, cap: 10_000 });
      assert.deepEqual(fast, full, JSON.stringify(options));
      assert.ok(fast.records > 1000);
    }
  }
});

test('the fast path leaves surrogate escapes and repeated keys to the full path, which warns about them in file validation', () => {
  const lines = [
    '{"instruction":"a","output":"x\\ud800y"}',
    '{"instruction":"a","output":"\\uDFFF"}',
    '{"instruction":"a","output":"b","output":"c"}',
    '{"instruction":"a","output":"","output":"c"}',
    '{"instruction":"a","output":"\\ud83d\\ude00"}',
  ];
  const sc = new RecordScanner({ maxTokens: 1024 });
  for (const line of lines) {
    const b = Buffer.from(line);
    sc.setBytes(b);
    assert.equal(sc.scan(0, b.length), false, `the fast path must not prove ${line} clean`);
  }
  const clean = '{"instruction":"q","output":"r"}';
  const bytes = Buffer.from([clean, ...lines, clean].join('\n') + '\n');
  const summary = validateChunk(bytes, true, { options: {}, cap: 100 });
  const found = (summary.groups.alpaca?.diagnostics ?? []).map((d) => [d.line, d.code, [clean, ...lines][d.line].slice(d.column, d.endColumn)]);
  assert.deepEqual(found, [
    [1, 'lone-surrogate', '"x\\ud800y"'],
    [2, 'lone-surrogate', '"\\uDFFF"'],
    [3, 'duplicate-key', '"output"'],
    [4, 'duplicate-key', '"output"'],
  ]);
  assert.equal(summary.groups.alpaca!.warnings, 4);
  assert.equal(summary.groups.alpaca!.errors, 0);
  // The winner is what the record holds: `"output":"","output":"c"` is not an empty output.
  assert.equal(found[3][2], '"output"');
  assert.equal(summary.groups.alpaca!.diagnostics[3].column, lines[3].lastIndexOf('"output"'));
});
