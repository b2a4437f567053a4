import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatasetDiagnostic } from '../../language/types';
import { diagnosticKey, fixesByKey, selectProblems } from '../../extension/dataset/problemSelection';

function diag(line: number, severity: DatasetDiagnostic['severity'], code: DatasetDiagnostic['code'] = 'invalid-json'): DatasetDiagnostic {
  return { line, column: 0, endLine: line, endColumn: 3, severity, code, message: `${code} on ${line}` };
}

test('under the cap every diagnostic is kept, in document order', () => {
  const input = [diag(5, 'warning'), diag(1, 'error'), diag(3, 'info')];
  assert.deepEqual(
    selectProblems(input, 10).map((d) => d.line),
    [1, 3, 5],
  );
});

test('over the cap errors win over warnings, then earlier lines, and the result stays in document order', () => {
  const input = [diag(0, 'warning'), diag(1, 'error'), diag(2, 'warning'), diag(3, 'error'), diag(4, 'info'), diag(5, 'error')];
  assert.deepEqual(
    selectProblems(input, 4).map((d) => `${d.line}${d.severity[0]}`),
    ['0w', '1e', '3e', '5e'],
  );
  assert.deepEqual(
    selectProblems(input, 2).map((d) => d.line),
    [1, 3],
  );
});

test('100,000 diagnostics are capped quickly', () => {
  const input = Array.from({ length: 100_000 }, (_, i) => diag(i, i % 3 ? 'warning' : 'error'));
  const t0 = performance.now();
  const out = selectProblems(input, 1000);
  const ms = performance.now() - t0;
  assert.equal(out.length, 1000);
  assert.ok(out.every((d) => d.severity === 'error'));
  assert.ok(ms < 100, `took ${ms} ms`); // ~10 ms here
});

test('a diagnostic handed back by VS Code finds its fixes by range, code and message', () => {
  const withFix: DatasetDiagnostic = {
    ...diag(2, 'warning', 'unknown-field'),
    fixes: [{ title: 'Remove field', edits: [{ line: 2, column: 0, endLine: 2, endColumn: 3, newText: '' }] }],
  };
  const map = fixesByKey([diag(1, 'error'), withFix]);
  assert.equal(map.size, 1);
  const roundTripped = { line: 2, column: 0, endLine: 2, endColumn: 3, code: 'unknown-field', message: 'unknown-field on 2' };
  assert.equal(map.get(diagnosticKey(roundTripped)), withFix.fixes);
  assert.equal(map.get(diagnosticKey({ ...roundTripped, endColumn: 4 })), undefined);
});
