import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateText } from '../../language/datasetDocument';
import type { DatasetDiagnostic, DiagnosticCode } from '../../language/types';
import { applyEdits, applyToLine, brief } from './language-testing';

const A1 = '{"instruction":"Translate to French","input":"Hello","output":"Bonjour"}';
const A2 = '{"instruction":"Summarize","input":"A long text.","output":"Short."}';
const A3 = '{"instruction":"Name a color","output":"Blue"}';
/** Clean alpaca lines that make alpaca the majority format. */
const base = [A1, A2, A3];

function check(line: string, options = {}): DatasetDiagnostic[] {
  const r = validateText([...base, line].join('\n') + '\n', options);
  return r.diagnostics.filter((d) => d.line === 3);
}

function one(line: string, code: DiagnosticCode, options = {}): DatasetDiagnostic {
  const ds = check(line, options).filter((d) => d.code === code);
  assert.equal(ds.length, 1, `expected one ${code} in ${JSON.stringify(check(line, options))}`);
  return ds[0];
}

/** The text covered by a diagnostic's range on its line. */
function covered(line: string, d: DatasetDiagnostic): string {
  return line.slice(d.column, d.endColumn);
}

test('clean alpaca lines produce no diagnostics and alpaca is detected', () => {
  const r = validateText(base.join('\n') + '\n');
  assert.equal(r.format, 'alpaca');
  assert.equal(r.records, 3);
  assert.deepEqual(r.diagnostics, []);
});

test('invalid-json: a truncated line points just past its end', () => {
  const line = '{"instruction":"a","output":"b';
  const d = one(line, 'invalid-json');
  assert.equal(d.severity, 'error');
  assert.deepEqual([d.column, d.endColumn], [line.length, line.length]);
  assert.match(d.message, /truncated/);
});

test('invalid-json: exact columns for control characters, trailing text, comments, trailing commas, quotes', () => {
  const cases: [string, number, RegExp][] = [
    ['{"instruction":"a\tb","output":"c"}', 17, /control character U\+0009/],
    ['{"instruction":"a","output":"b"} extra', 33, /after the JSON value/],
    ['{"instruction":"a","output":"b"}{}', 32, /after the JSON value/],
    ['{"instruction":"a", // note\n"output":"b"}'.replace('\n', ' '), 20, /comments/],
    ['{"instruction":"a","output":"b",}', 31, /trailing comma/],
    ['{"instruction":"a","output":["b",]}', 32, /trailing comma/],
    ["{'instruction':'a'}", 1, /double quotes/],
    ['{instruction:"a"}', 1, /double-quoted/],
    ['{"instruction":"a","output":NaN}', 28, /not a JSON value/],
    ['{"instruction":"a" "output":"b"}', 19, /expected ',' or '}'/],
    ['{"instruction":"a","output":"b\\x"}', 30, /invalid escape/],
    ['{"instruction":"a","output":01}', 28, /leading zeros/],
    ['{"instruction":"a","output":"b"]', 31, /does not match/],
  ];
  for (const [line, column, message] of cases) {
    const d = one(line, 'invalid-json');
    assert.equal(d.column, column, `${line}: ${d.message}`);
    assert.match(d.message, message, line);
  }
});

test('not-an-object covers the whole value', () => {
  for (const line of ['[1,2]', '"text"', '42', 'null', '  true  ']) {
    const d = one(line, 'not-an-object');
    assert.equal(covered(line, d), line.trim());
  }
});

test('missing-field covers the object that lacks the field', () => {
  const line = '{"instruction":"Name a planet"}';
  const d = one(line, 'missing-field');
  assert.deepEqual([d.column, d.endColumn], [0, line.length]);
  assert.match(d.message, /'output'/);
});

test('wrong-type covers the value and offers a conversion to string', () => {
  const line = '{"instruction":"How many?","output":7}';
  const d = one(line, 'wrong-type');
  assert.equal(covered(line, d), '7');
  assert.equal(applyToLine(line, d.fixes![0].edits), '{"instruction":"How many?","output":"7"}');
});

test('empty-field covers the empty or blank string', () => {
  const line = '{"instruction":"  ","output":"x"}';
  const d = one(line, 'empty-field');
  assert.equal(covered(line, d), '"  "');
});

test('unknown-field covers the key; alias quick fix renames it, remove fix deletes it with its comma', () => {
  const line = '{"instruction":"Summarize","input":"x","response":"y"}';
  const d = one(line, 'unknown-field');
  assert.equal(d.severity, 'warning');
  assert.equal(covered(line, d), '"response"');
  const rename = d.fixes!.find((f) => f.title.includes('Rename'))!;
  assert.equal(rename.preferred, true);
  assert.equal(applyToLine(line, rename.edits), '{"instruction":"Summarize","input":"x","output":"y"}');
  const remove = d.fixes!.find((f) => f.title.includes('Remove'))!;
  assert.equal(applyToLine(line, remove.edits), '{"instruction":"Summarize","input":"x"}');
  // The missing output carries the same rename.
  const missing = one(line, 'missing-field');
  assert.equal(applyToLine(line, missing.fixes![0].edits), '{"instruction":"Summarize","input":"x","output":"y"}');
});

test('removing an unknown field keeps valid JSON wherever the field is', () => {
  const lines = [
    '{"source":"wiki","instruction":"a","output":"b"}',
    '{"instruction":"a", "source" : "wiki" , "output":"b"}',
    '{"instruction":"a","output":"b","source":{"x":[1,2]}}',
  ];
  for (const line of lines) {
    const d = one(line, 'unknown-field');
    const fixed = applyToLine(line, d.fixes!.find((f) => f.title.startsWith('Remove'))!.edits);
    assert.deepEqual(JSON.parse(fixed), { instruction: 'a', output: 'b' }, fixed);
  }
  const onlyField = '{"source":"x"}';
  const r = validateText([...base, onlyField].join('\n'));
  const d = r.diagnostics.find((x) => x.code === 'unknown-field')!;
  assert.equal(applyToLine(onlyField, d.fixes!.find((f) => f.title.startsWith('Remove'))!.edits), '{}');
});

test('format-mismatch: a complete record of another format in an alpaca file', () => {
  const line = '{"prompt":"The capital of Spain is","completion":" Madrid."}';
  const d = one(line, 'format-mismatch');
  assert.deepEqual([d.column, d.endColumn], [0, line.length]);
  assert.match(d.message, /completion record/);
});

test('a record sharing keys with the file format is checked as that format, not a mismatch', () => {
  const r = validateText(['{"text":"a","label":"x"}', '{"text":"b","label":"y"}', '{"text":"c"}'].join('\n'), { minTaskExamples: 0 });
  assert.equal(r.format, 'classification');
  assert.deepEqual(brief(r.diagnostics), [[2, 0, 12, 'missing-field']]);
});

const C1 = '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}';
const C2 = '{"messages":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}]}';

function chatCheck(line: string): DatasetDiagnostic[] {
  return validateText([C1, C2, line].join('\n')).diagnostics.filter((d) => d.line === 2);
}

test('unknown-role covers the role value and fixes case and aliases', () => {
  const cases: [string, string][] = [
    ['User', 'user'],
    ['human', 'user'],
    ['bot', 'assistant'],
    ['gpt', 'assistant'],
    ['ASSISTANT', 'assistant'],
    ['System', 'system'],
  ];
  for (const [bad, good] of cases) {
    const role = bad === 'bot' || bad === 'gpt' || bad === 'ASSISTANT' ? 'assistant' : 'user';
    const line =
      role === 'assistant'
        ? `{"messages":[{"role":"user","content":"Yo"},{"role":"${bad}","content":"Hey"}]}`
        : `{"messages":[{"role":"${bad}","content":"Yo"},{"role":"assistant","content":"Hey"}]}`;
    const ds = chatCheck(line);
    assert.deepEqual(
      ds.map((d) => d.code),
      ['unknown-role'],
      `${bad}: ${JSON.stringify(ds)}`,
    );
    assert.equal(covered(line, ds[0]), `"${bad}"`);
    const fixed = applyToLine(line, ds[0].fixes![0].edits);
    assert.ok(fixed.includes(`"role":"${good}"`), fixed);
    assert.deepEqual(chatCheck(fixed), []);
  }
  const unfixable = '{"messages":[{"role":"narrator","content":"Hi"},{"role":"assistant","content":"Hello"}]}';
  const d = chatCheck(unfixable);
  assert.equal(d[0].code, 'unknown-role');
  assert.equal(d[0].fixes, undefined);
});

test('missing-content covers the message object', () => {
  const line = '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant"}]}';
  const [d] = chatCheck(line);
  assert.equal(d.code, 'missing-content');
  assert.equal(covered(line, d), '{"role":"assistant"}');
});

test('no-assistant-message and empty-conversation cover the messages array', () => {
  const noAssistant = '{"messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"Hi"}]}';
  const [d] = chatCheck(noAssistant);
  assert.equal(d.code, 'no-assistant-message');
  assert.equal(covered(noAssistant, d), noAssistant.slice(12, -1));
  const empty = '{"messages":[]}';
  const ds = chatCheck(empty);
  assert.deepEqual(
    ds.map((x) => x.code),
    ['empty-conversation'],
  );
  assert.equal(covered(empty, ds[0]), '[]');
});

test('chat: wrong types and empty content inside messages are located exactly', () => {
  const line = '{"messages":[{"role":"user","content":5},{"role":"assistant","content":" "}]}';
  const ds = chatCheck(line);
  assert.deepEqual(
    ds.map((d) => [d.code, covered(line, d)]),
    [
      ['wrong-type', '5'],
      ['empty-field', '" "'],
    ],
  );
  const notArray = '{"messages":"hi"}';
  assert.deepEqual(
    chatCheck(notArray).map((d) => [d.code, covered(notArray, d)]),
    [['wrong-type', '"hi"']],
  );
});

test('schema: a user JSON Schema adds errors located at the instancePath value', () => {
  const userSchema = { type: 'object', properties: { output: { type: 'string', maxLength: 3 }, input: { type: 'string', pattern: '^[A-Z]' } } };
  const line = '{"instruction":"a","input":"lower","output":"toolong"}';
  const ds = check(line, { userSchema });
  assert.deepEqual(
    ds.map((d) => [d.code, covered(line, d)]),
    [
      ['schema', '"lower"'],
      ['schema', '"toolong"'],
    ],
  );
  // The base lines must pass the user schema too for this test to mean anything.
  assert.equal(
    validateText(base.join('\n'), { userSchema: { type: 'object', required: ['missing'] } }).diagnostics.filter((d) => d.code === 'schema').length,
    3,
  );
});

test('schema-timeout: a runaway pattern in the user schema is stopped at its record and validation goes on', () => {
  // "^(a+)+$" on 40 a's and a '!' backtracks for minutes when run on the calling thread.
  const userSchema = { type: 'object', properties: { output: { type: 'string', pattern: '^(a+)+$' } } };
  const evil = JSON.stringify({ instruction: 'x', output: 'a'.repeat(40) + '!' });
  const evil2 = JSON.stringify({ instruction: 'x2', output: 'a'.repeat(41) + '!' });
  const lines = [A1, evil, JSON.stringify({ instruction: 'y', output: 'aaa' }), evil2, '{"instruction":"no output"}'];
  const t0 = Date.now();
  const r = validateText(lines.join('\n'), { userSchema, schemaTimeLimitMs: 200 });
  // One time limit (plus the worker's start), not one per record, and never the minutes of backtracking.
  assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  const timeouts = r.diagnostics.filter((d) => d.code === 'schema-timeout');
  assert.equal(timeouts.length, 1, JSON.stringify(r.diagnostics));
  assert.equal(timeouts[0].line, 1);
  assert.equal(timeouts[0].severity, 'error');
  assert.deepEqual([timeouts[0].column, timeouts[0].endColumn], [0, evil.length]);
  assert.match(timeouts[0].message, /longer than 0\.2 s .* not applied to the records after it/);
  // A1 was checked against the schema before ("Bonjour" does not match); later records keep their own checks.
  assert.deepEqual(
    r.diagnostics.filter((d) => d.code !== 'schema-timeout').map((d) => [d.line, d.code]),
    [
      [0, 'schema'],
      [4, 'missing-field'],
    ],
  );
});

test('too-long: an example over maxTokens once formatted, and not below it', () => {
  const words = (n: number) => Array.from({ length: n }, (_, i) => `word${i % 7}`).join(' ');
  const long = JSON.stringify({ instruction: 'Repeat', output: words(300) });
  const d = one(long, 'too-long', { maxTokens: 256 });
  assert.equal(d.severity, 'warning');
  assert.deepEqual([d.column, d.endColumn], [0, long.length]);
  assert.deepEqual(check(long, { maxTokens: 4096 }), []);
});

test('blank-line warns on blank lines but not on the final line break', () => {
  const r = validateText([A1, '', A2, '   ', A3, ''].join('\n'));
  assert.deepEqual(brief(r.diagnostics), [
    [1, 0, 0, 'blank-line'],
    [3, 0, 3, 'blank-line'],
  ]);
  const fixed = applyEdits(
    [A1, '', A2, '   ', A3, ''].join('\n'),
    r.diagnostics.flatMap((d) => d.fixes![0].edits),
  );
  assert.equal(fixed, [A1, A2, A3, ''].join('\n'));
});

test('duplicate-record warns on the later line and names the first', () => {
  const reordered = '  { "output":"Bonjour", "input":"Hello", "instruction":"Translate to French" } ';
  const r = validateText([A1, A2, reordered, A3].join('\n'));
  assert.deepEqual(brief(r.diagnostics), [[2, 2, reordered.length - 1, 'duplicate-record']]);
  assert.match(r.diagnostics[0].message, /line 1/);
});

test('label-imbalance: a label with fewer than 1/5 of the top label, on its first record', () => {
  const lines = [
    ...Array.from({ length: 10 }, (_, i) => `{"text":"good ${i}","label":"pos"}`),
    ...Array.from({ length: 5 }, (_, i) => `{"text":"bad ${i}","label":"neg"}`),
    '{"text":"meh","label":"neutral"}',
  ];
  const r = validateText(lines.join('\n'));
  assert.deepEqual(
    r.diagnostics.map((d) => [d.line, d.code, lines[d.line].slice(d.column, d.endColumn)]),
    [[15, 'label-imbalance', '"neutral"']],
  );
  // 2 of 10 is exactly 1/5: not reported.
  const balanced = validateText([...lines.slice(0, 15), '{"text":"a","label":"neutral"}', '{"text":"b","label":"neutral"}'].join('\n'));
  assert.deepEqual(balanced.diagnostics, []);
});

test('few-task-examples: a task with fewer than minTaskExamples records', () => {
  const lines = [
    ...Array.from({ length: 5 }, (_, i) => `{"task":"translate","instruction":"t${i}","output":"o"}`),
    '{"instruction":"s","output":"o","task":"summarize"}',
  ];
  const r = validateText(lines.join('\n'));
  assert.deepEqual(
    r.diagnostics.map((d) => [d.line, d.code, lines[d.line].slice(d.column, d.endColumn)]),
    [[5, 'few-task-examples', '"summarize"']],
  );
  assert.deepEqual(validateText(lines.join('\n'), { minTaskExamples: 0 }).diagnostics, []);
  assert.equal(validateText(lines.join('\n'), { minTaskExamples: 6 }).diagnostics.length, 2);
});

test('lone-surrogate: a string holding half a UTF-16 pair is warned about at its exact range; a whole pair is not', () => {
  for (const [line, bad] of [
    ['{"instruction":"a","output":"x\\ud800y"}', '"x\\ud800y"'],
    ['{"instruction":"a","output":"\\uDC00"}', '"\\uDC00"'],
    ['{"instruction":"a","output":"\\ud83d\\ud83d\\ude00"}', '"\\ud83d\\ud83d\\ude00"'],
    ['{"instruction":"a","output":"b","input":"\\udbff"}', '"\\udbff"'],
  ]) {
    const d = one(line, 'lone-surrogate');
    assert.equal(d.severity, 'warning');
    assert.equal(covered(line, d), bad);
    assert.match(d.message, /lone surrogate \\uD[89A-F][0-9A-F]{2}.*U\+FFFD/);
  }
  // A raw lone surrogate in the editor's text (not an escape) is the same string.
  const raw = '{"instruction":"a","output":"x\ud800"}';
  assert.equal(covered(raw, one(raw, 'lone-surrogate')), '"x\ud800"');
  for (const fine of ['{"instruction":"a","output":"\\ud83d\\ude00 😀"}', '{"instruction":"a","output":"\\\\ud800"}']) {
    assert.deepEqual(check(fine), [], fine);
  }
});

test('duplicate-key: flagged at the last occurrence (the value JSON.parse keeps), whose problems are the ones reported', () => {
  const line = '{"instruction":"a","output":"b","output":""}';
  const ds = check(line);
  assert.deepEqual(
    ds.map((d) => [d.code, covered(line, d)]),
    [
      ['duplicate-key', '"output"'],
      ['empty-field', '""'],
    ],
  );
  const d = ds[0];
  assert.equal(d.severity, 'warning');
  assert.equal(d.column, line.lastIndexOf('"output"'));
  assert.match(d.message, /key 'output' appears twice in this object: JSON\.parse keeps only this last value, the earlier one \(column 20\) is ignored/);
  // The fix removes the earlier occurrences: what is left means what the record meant.
  const fix = d.fixes!.find((f) => f.preferred)!;
  assert.equal(applyToLine(line, fix.edits), '{"instruction":"a","output":""}');
  // The earlier value is the bad one: only the warning, since the record's value is fine.
  assert.deepEqual(
    check('{"instruction":"a","output":"","output":"b"}').map((x) => x.code),
    ['duplicate-key'],
  );
  // Three times, and inside a chat message; the wrong type of the winner is located on the winner.
  const three = '{"instruction":"a","output":"b","output":"c","output":1}';
  const t = check(three);
  assert.deepEqual(
    t.map((x) => [x.code, covered(three, x)]),
    [
      ['duplicate-key', '"output"'],
      ['wrong-type', '1'],
    ],
  );
  assert.equal(t[0].column, three.lastIndexOf('"output"'));
  assert.equal(applyToLine(three, t[0].fixes![0].edits), '{"instruction":"a","output":1}');
  const chat = '{"messages":[{"role":"user","content":"hi","content":""},{"role":"assistant","content":"yo"}]}';
  const c = validateText(chat + '\n').diagnostics;
  assert.deepEqual(
    c.map((x) => [x.code, covered(chat, x)]),
    [
      ['duplicate-key', '"content"'],
      ['empty-field', '""'],
    ],
  );
  assert.equal(c[0].column, chat.lastIndexOf('"content":""'));
  // A quote and colon inside a string are not a key.
  assert.deepEqual(check('{"instruction":"say \\":\\" now","output":"b"}'), []);
});

test('a forced format checks every record against it', () => {
  const r = validateText([A1, A2].join('\n'), { format: 'completion' });
  assert.equal(r.format, 'completion');
  assert.deepEqual(
    r.diagnostics.map((d) => d.code),
    ['format-mismatch', 'format-mismatch'],
  );
  assert.match(r.diagnostics[0].message, /set to completion/);
});

test('every diagnostic code is covered by this file', async () => {
  const { readFileSync } = await import('node:fs');
  const types = readFileSync(new URL('../../language/types.ts', import.meta.url), 'utf8');
  const codes = [...types.matchAll(/\| '([a-z0-9-]+)'/g)]
    .map((m) => m[1])
    .filter((c) => !['error', 'warning', 'info', 'auto', 'alpaca', 'chat', 'completion', 'text', 'classification'].includes(c));
  // The model-dependent codes (a chat template, a tokenizer's BOS) need real tokenizer files:
  // language-chat-diagnostics.test.ts covers them.
  const me = readFileSync(new URL(import.meta.url), 'utf8') + readFileSync(new URL('./language-chat-diagnostics.test.ts', import.meta.url), 'utf8');
  const untested = codes.filter((c) => c !== 'invalid-utf8' && !me.includes(`'${c}'`));
  // invalid-utf8 needs raw bytes: language-file.test.ts covers it.
  assert.deepEqual(untested, []);
});
