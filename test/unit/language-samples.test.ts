import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateText } from '../../language/datasetDocument';
import { applyToLine } from './language-testing';

const samples = path.join(__dirname, '..', '..', 'samples');
const read = (f: string) => fs.readFileSync(path.join(samples, f), 'utf8');

test('every clean sample validates with 0 errors and 0 warnings in its own format', () => {
  const expected: Record<string, string> = {
    'alpaca.jsonl': 'alpaca',
    'chat.jsonl': 'chat',
    'completion.jsonl': 'completion',
    'text.jsonl': 'text',
    'classification.jsonl': 'classification',
    'multitask.jsonl': 'alpaca',
  };
  for (const [file, format] of Object.entries(expected)) {
    const r = validateText(read(file));
    assert.equal(r.format, format, file);
    assert.deepEqual(r.diagnostics, [], file);
  }
});

/** The tables of samples/README.md: | line | column | severity | `code` | ... */
function readmeTable(section: string): [number, number, string, string][] {
  const readme = read('README.md');
  const body = readme.slice(readme.indexOf(`## \`${section}\``)).split('\n## ')[0];
  return [...body.matchAll(/^\| (\d+) \| (\d+) \| (error|warning) \| `([a-z0-9-]+)` \|/gm)].map((m) => [Number(m[1]), Number(m[2]), m[3], m[4]]);
}

test('mistakes.jsonl produces exactly the diagnostics listed in samples/README.md', () => {
  const r = validateText(read('mistakes.jsonl'));
  assert.equal(r.format, 'alpaca');
  const table = readmeTable('mistakes.jsonl');
  assert.ok(table.length >= 10);
  assert.deepEqual(
    r.diagnostics.map((d) => [d.line + 1, d.column + 1, d.severity, d.code]),
    table,
  );
});

test('chat-mistakes.jsonl produces exactly the diagnostics listed in samples/README.md', () => {
  const r = validateText(read('chat-mistakes.jsonl'));
  assert.equal(r.format, 'chat');
  assert.deepEqual(
    r.diagnostics.map((d) => [d.line + 1, d.column + 1, d.severity, d.code]),
    readmeTable('chat-mistakes.jsonl'),
  );
});

test("the quick fix on mistakes.jsonl line 8 ('response' -> 'output') makes the record valid", () => {
  const lines = read('mistakes.jsonl').split('\n');
  const r = validateText(read('mistakes.jsonl'));
  const d = r.diagnostics.find((x) => x.line === 7 && x.code === 'unknown-field')!;
  const fixed = applyToLine(lines[7], d.fixes!.find((f) => f.preferred)!.edits);
  assert.deepEqual(Object.keys(JSON.parse(fixed)), ['instruction', 'input', 'output']);
  lines[7] = fixed;
  assert.deepEqual(
    validateText(lines.join('\n')).diagnostics.filter((x) => x.line === 7),
    [],
  );
});
