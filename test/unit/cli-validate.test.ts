import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
const samples = path.join(root, 'samples');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-validate-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'main.ts'), 'validate', ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a clean file exits 0; --json prints one object with 1-based positions', () => {
  const ok = cli(path.join(samples, 'alpaca.jsonl'), '--json');
  assert.equal(ok.code, 0, ok.stderr);
  const j = JSON.parse(ok.stdout);
  assert.deepEqual(
    { ...j, file: path.basename(j.file) },
    { file: 'alpaca.jsonl', format: 'alpaca', records: 20, errors: 0, warnings: 0, diagnostics: [], truncated: false },
  );
});

test('errors exit 1; the JSON diagnostics have exactly the contract fields, 1-based', () => {
  const r = cli(path.join(samples, 'mistakes.jsonl'), '--json');
  assert.equal(r.code, 1, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.format, 'alpaca');
  assert.equal(j.errors, 8);
  assert.equal(j.warnings, 4);
  for (const d of j.diagnostics) assert.deepEqual(Object.keys(d), ['line', 'column', 'endLine', 'endColumn', 'severity', 'code', 'message']);
  const truncated = j.diagnostics.find((d: { code: string }) => d.code === 'invalid-json');
  assert.deepEqual([truncated.line, truncated.column], [4, 112]);
  const missing = j.diagnostics.find((d: { code: string }) => d.code === 'missing-field');
  assert.deepEqual([missing.line, missing.column, missing.endLine], [5, 1, 5]);
});

test('text mode prints file:line:col: severity code: message lines and a summary', () => {
  const file = path.join(samples, 'mistakes.jsonl');
  const r = cli(file);
  assert.equal(r.code, 1);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], `${file}:4:112: error invalid-json: invalid JSON: the line ends inside a string (truncated record?)`);
  assert.equal(lines.length, 13);
  assert.equal(lines[lines.length - 1], `${file}: 14 records, format alpaca, 8 errors, 4 warnings`);
});

test('warnings alone exit 0; --format, --max-tokens and --schema change the checks', () => {
  const file = path.join(dir, 'warn.jsonl');
  fs.writeFileSync(file, '{"instruction":"a","output":"b","extra":1}\n{"instruction":"c","output":"' + 'word '.repeat(50) + '"}\n');
  const warn = cli(file, '--json');
  assert.equal(warn.code, 0);
  assert.deepEqual(
    JSON.parse(warn.stdout).diagnostics.map((d: { code: string }) => d.code),
    ['unknown-field'],
  );
  const short = cli(file, '--json', '--max-tokens', '20');
  assert.deepEqual(
    JSON.parse(short.stdout).diagnostics.map((d: { code: string }) => d.code),
    ['too-long', 'unknown-field', 'too-long'],
  );
  const forced = cli(file, '--json', '--format', 'text');
  assert.equal(forced.code, 1);
  assert.equal(JSON.parse(forced.stdout).format, 'text');
  const schema = path.join(dir, 'schema.json');
  fs.writeFileSync(schema, JSON.stringify({ type: 'object', properties: { output: { maxLength: 5 } } }));
  const s = cli(file, '--json', '--schema', schema);
  assert.equal(s.code, 1);
  const d = JSON.parse(s.stdout).diagnostics.find((x: { code: string }) => x.code === 'schema');
  assert.equal(d.line, 2);
});

test('usage and I/O problems exit 2 with a message', () => {
  const missing = cli(path.join(dir, 'nope.jsonl'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read .*nope\.jsonl: no such file/);
  const file = path.join(samples, 'alpaca.jsonl');
  const badSchema = cli(file, '--schema', path.join(dir, 'nope.json'));
  assert.equal(badSchema.code, 2);
  assert.match(badSchema.stderr, /cannot read schema/);
  fs.writeFileSync(path.join(dir, 'broken.json'), '{not json');
  assert.equal(cli(file, '--schema', path.join(dir, 'broken.json')).code, 2);
  fs.writeFileSync(path.join(dir, 'invalid-schema.json'), '{"type":"nonsense"}');
  const invalid = cli(file, '--schema', path.join(dir, 'invalid-schema.json'));
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /invalid JSON Schema/);
  assert.equal(cli(file, '--format', 'yaml').code, 2);
  assert.equal(cli(file, '--max-tokens', 'abc').code, 2);
  assert.equal(cli().code, 2);
  assert.equal(cli(file, '--bogus').code, 2);
  assert.equal(cli(dir).code, 2);
});

test('--schema with a runaway pattern reports schema-timeout at the record and finishes the file', () => {
  const schema = path.join(dir, 'redos.schema.json');
  fs.writeFileSync(schema, JSON.stringify({ type: 'object', properties: { output: { type: 'string', pattern: '^(a+)+$' } } }));
  const file = path.join(dir, 'redos.jsonl');
  fs.writeFileSync(
    file,
    [{ instruction: 'a', output: 'aaa' }, { instruction: 'b', output: 'a'.repeat(40) + '!' }, { instruction: 'c' }].map((r) => JSON.stringify(r)).join('\n') +
      '\n',
  );
  const t0 = Date.now();
  const r = cli(file, '--schema', schema, '--json');
  assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
  assert.equal(r.code, 1, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.deepEqual(
    json.diagnostics.map((d: { line: number; column: number; code: string }) => [d.line, d.column, d.code]),
    [
      [2, 1, 'schema-timeout'],
      [3, 1, 'missing-field'],
    ],
  );
  assert.match(json.diagnostics[0].message, /took longer than 1 s and was stopped/);
});

test('validate uses a worker per idle core beside the main thread, and none for small files or busy machines', async () => {
  const { cliWorkers } = await import('../../cli/validate');
  const big = 512 * 1024 * 1024;
  assert.equal(cliWorkers(1024 * 1024, 2, 0), 0);
  assert.equal(cliWorkers(100 * 1024 * 1024, 2, 0), 0); // ~0.25 s alone: a worker would not start in time to pay
  assert.equal(cliWorkers(big, 2, 0.3), 1);
  assert.equal(cliWorkers(big, 2, 1.2), 1);
  assert.equal(cliWorkers(big, 2, 1.7), 0);
  assert.equal(cliWorkers(big, 2, 9), 0);
  assert.equal(cliWorkers(big, 8, 2.5), 3);
  assert.equal(cliWorkers(big, 1, 0), 0);
});
