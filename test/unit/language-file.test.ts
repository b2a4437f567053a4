import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validateFile } from '../../language/validateFile';
import { validateText } from '../../language/datasetDocument';
import { readDataset } from '../../language/readDataset';
import { brief } from './language-testing';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'language-file-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, data: string | Buffer) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
};
const samples = path.join(__dirname, '..', '..', 'samples');
const strip = (ds: { fixes?: unknown }[]) => ds.map(({ fixes: _fixes, ...d }) => d);

test('validateFile agrees with validateText on the mistakes sample (in-process and with workers)', async () => {
  const file = path.join(samples, 'mistakes.jsonl');
  const text = validateText(fs.readFileSync(file, 'utf8'));
  for (const workers of [0, 2]) {
    const r = await validateFile(file, { workers });
    assert.equal(r.format, text.format);
    assert.equal(r.records, text.records);
    assert.deepEqual(strip(r.diagnostics), strip(text.diagnostics), `workers=${workers}`);
    assert.equal(r.errors, text.diagnostics.filter((d) => d.severity === 'error').length);
    assert.equal(r.warnings, text.diagnostics.filter((d) => d.severity === 'warning').length);
    assert.equal(r.truncated, false);
  }
});

test('invalid UTF-8 is reported per line at the first bad byte', async () => {
  const good = '{"instruction":"a","output":"b"}\n';
  const bad = Buffer.concat([Buffer.from('{"instruction":"é'), Buffer.from([0xff, 0xfe]), Buffer.from('","output":"c"}\n')]);
  const cutChar = Buffer.concat([Buffer.from('{"instruction":"x'), Buffer.from([0xe2, 0x82]), Buffer.from('","output":"c"}\n')]);
  const file = write('utf8.jsonl', Buffer.concat([Buffer.from(good), bad, cutChar, Buffer.from('{"instruction":"U+FFFD \uFFFD is fine","output":"d"}\n')]));
  for (const workers of [0, 1]) {
    const r = await validateFile(file, { workers });
    assert.deepEqual(brief(r.diagnostics), [
      [1, 17, 18, 'invalid-utf8'],
      [2, 17, 18, 'invalid-utf8'],
    ]);
    assert.match(r.diagnostics[0].message, /0xFF/);
    assert.equal(r.records, 4);
  }
  const read = await readDataset(file);
  assert.deepEqual(
    read.examples.map((e) => e.line),
    [0, 3],
  );
  assert.deepEqual(
    read.diagnostics.map((d) => d.code),
    ['invalid-utf8', 'invalid-utf8'],
  );
});

test('BOM, CRLF and a 5 MB record stream without errors; a file cut mid-line reports its last line', async () => {
  const big = JSON.stringify({ instruction: 'Summarize', input: 'word '.repeat(1_100_000), output: 'ok' });
  const file = write('bom.jsonl', '\uFEFF{"instruction":"a","output":"b"}\r\n' + big + '\r\n{"instruction":"c","output":"d"}\r\n');
  const r = await validateFile(file, { workers: 1 });
  assert.deepEqual(
    r.diagnostics.map((d) => [d.line, d.code]),
    [[1, 'too-long']],
  );
  const cut = write('cut.jsonl', '{"instruction":"a","output":"b"}\n{"instruction":"c","out');
  const c = await validateFile(cut);
  assert.deepEqual(brief(c.diagnostics), [[1, 23, 23, 'invalid-json']]);
});

test('a large mixed file: chunks, workers, minority formats and duplicates across chunks', async () => {
  const lines: string[] = [];
  for (let i = 0; i < 60_000; i++) {
    if (i % 10_000 === 5) lines.push('{"prompt":"p","completion":"c"}');
    else if (i % 10_000 === 6) lines.push('{"foo":1}');
    else if (i === 59_999) lines.push('{"instruction":"Question 3?","input":"Some context for record 3","output":"Answer 3."}');
    else lines.push(JSON.stringify({ instruction: `Question ${i}?`, input: `Some context for record ${i}`, output: `Answer ${i}.` }));
  }
  const text = lines.join('\n') + '\n';
  const file = write('large.jsonl', text);
  assert.ok(fs.statSync(file).size > 4 * 1024 * 1024, 'spans several chunks');
  const expected = validateText(text);
  let lastProgress = 0;
  const r = await validateFile(file, { workers: 2, onProgress: (bytes, total) => (lastProgress = bytes / total) });
  assert.equal(lastProgress, 1);
  assert.equal(r.format, 'alpaca');
  assert.deepEqual(strip(r.diagnostics), strip(expected.diagnostics));
  assert.deepEqual([...new Set(r.diagnostics.map((d) => d.code))].sort(), ['duplicate-record', 'format-mismatch', 'missing-field', 'unknown-field']);
  const capped = await validateFile(file, { workers: 2, maxDiagnostics: 3 });
  assert.equal(capped.diagnostics.length, 3);
  assert.equal(capped.truncated, true);
  assert.equal(capped.errors, r.errors);
  assert.equal(capped.warnings, r.warnings);
  assert.deepEqual(capped.diagnostics, r.diagnostics.slice(0, 3));
});

test('validateFile can be aborted and rejects bad options clearly', async () => {
  const file = path.join(samples, 'alpaca.jsonl');
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(validateFile(file, { signal: ac.signal }), /abort/i);
  await assert.rejects(validateFile(file, { template: 'nope' }), /unknown prompt template/);
  await assert.rejects(validateFile(path.join(dir, 'missing.jsonl')), /ENOENT/);
});

test('readDataset returns formatted examples without the records that have errors', async () => {
  const r = await readDataset(path.join(samples, 'mistakes.jsonl'));
  assert.equal(r.format, 'alpaca');
  // 1-based: the valid lines 1-3 and 15, line 9 (an unknown field is only a warning) and the duplicate line 11.
  assert.deepEqual(
    r.examples.map((e) => e.line + 1),
    [1, 2, 3, 9, 11, 15],
  );
  assert.match(r.examples[0].formatted.prompt, /### Instruction:\nTranslate the following English text to French\.\n\n### Input:\nGood morning!/);
  assert.equal(r.examples[0].formatted.target, 'Bonjour !');
  const m = await readDataset(path.join(samples, 'multitask.jsonl'));
  assert.deepEqual([...new Set(m.examples.map((e) => e.task))], ['translate', 'summarize', 'sentiment']);
});

test('sharing the work between the calling thread and a worker gives the same result as one thread', async () => {
  // ~7 MB: several 2 MB chunks, so that some are validated by the worker and some by the calling thread.
  const lines: string[] = [];
  for (let i = 0; lines.join('\n').length < 7 * 1024 * 1024; i++) {
    const batch: string[] = [];
    for (let k = 0; k < 1000; k++) {
      const n = i * 1000 + k;
      if (n % 997 === 5) batch.push('{"instruction":"broken", "output":');
      else if (n % 1499 === 7) batch.push('{"instruction":"dup","output":"same"}');
      else if (n % 2003 === 9) batch.push('{"prompt":"a","completion":"b"}');
      else batch.push(JSON.stringify({ instruction: `Say ${n}`, input: 'x'.repeat(n % 50), output: `${n} `.repeat(1 + (n % 60)) }));
    }
    lines.push(...batch);
  }
  const file = write('shared.jsonl', lines.join('\n') + '\n');
  const one = await validateFile(file, { workers: 0 });
  const shared = await validateFile(file, { workers: 1, shareCallingThread: true });
  assert.deepEqual(shared, one);
  assert.ok(one.errors > 10 && one.warnings > 10, `${one.errors} errors, ${one.warnings} warnings`);
});

test('validateFile stops a runaway user schema per thread and keeps validating, with and without workers', async () => {
  const userSchema = { type: 'object', properties: { output: { type: 'string', pattern: '^(a+)+$' } } };
  const lines = [JSON.stringify({ instruction: 'ok', output: 'aa' })];
  for (let i = 0; i < 20; i++) lines.push(JSON.stringify({ instruction: `evil ${i}`, output: 'a'.repeat(40 + i) + '!' }));
  lines.push('{"instruction":"last"}');
  const file = write('redos.jsonl', lines.join('\n') + '\n');
  for (const workers of [0, 2]) {
    const t0 = Date.now();
    // A fresh schema object per run: a schema that timed out stays off until it changes.
    const r = await validateFile(file, { workers, userSchema: { ...userSchema }, schemaTimeLimitMs: 200 });
    assert.ok(Date.now() - t0 < 15_000, `workers=${workers}: took ${Date.now() - t0} ms`);
    const timeouts = r.diagnostics.filter((d) => d.code === 'schema-timeout');
    // Once per validating thread (the whole file is one chunk here, so once).
    assert.equal(timeouts.length, 1, `workers=${workers}: ${JSON.stringify(r.diagnostics)}`);
    assert.equal(timeouts[0].line, 1);
    assert.deepEqual(
      r.diagnostics.filter((d) => d.code === 'missing-field').map((d) => d.line),
      [21],
    );
  }
});
