import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSchemaFile, parseSchemaText, resolveSchemaPath } from '../../extension/schemaSetting';

test('a relative schema path resolves against the workspace folder that holds it', () => {
  const exists = (p: string) => p === '/ws2/schemas/s.json';
  assert.equal(resolveSchemaPath('schemas/s.json', ['/ws1', '/ws2'], exists), '/ws2/schemas/s.json');
  assert.equal(resolveSchemaPath('missing.json', ['/ws1', '/ws2'], exists), '/ws1/missing.json');
  assert.equal(resolveSchemaPath('/abs/s.json', ['/ws1'], exists), '/abs/s.json');
  assert.equal(resolveSchemaPath('~/s.json', [], exists, '/home/u'), '/home/u/s.json');
  assert.equal(resolveSchemaPath('  ', ['/ws1'], exists), undefined);
});

test('schema files that are not JSON objects get a message naming the setting and the file', () => {
  const bad = parseSchemaText('{ nope', '/x/s.json');
  assert.ok('error' in bad && /finetune\.dataset\.schema: \/x\/s\.json is not valid JSON/.test(bad.error));
  const arr = parseSchemaText('[1]', '/x/s.json');
  assert.ok('error' in arr && /must contain a JSON Schema object/.test(arr.error));
  const ok = parseSchemaText('\ufeff{"type":"object"}', '/x/s.json');
  assert.deepEqual(ok, { schema: { type: 'object' } });
});

test('a missing schema file is reported, an existing one is read', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-'));
  const file = path.join(dir, 's.json');
  const missing = loadSchemaFile(file);
  assert.ok('error' in missing && missing.error.includes('no such file'));
  fs.writeFileSync(file, '{"required":["task"]}');
  assert.deepEqual(loadSchemaFile(file), { schema: { required: ['task'] } });
  fs.rmSync(dir, { recursive: true });
});
