// Opening samples/mistakes.jsonl lists each deliberate mistake in the Problems panel, at the line,
// column and with the code that samples/README.md documents for it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../codeServer.mjs';
import { e2eTest } from '../harness.mjs';

/** The rows of the table under "## `<file>`" in samples/README.md: {line, column, severity, code}. */
function documentedProblems(file) {
  const readme = readFileSync(join(ROOT, 'samples', 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith(`\`${file}\``));
  assert.ok(section, `samples/README.md has a "## \`${file}\`" section`);
  const rows = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(error|warning|info)\s*\|\s*`([\w-]+)`\s*\|/.exec(line);
    if (m) rows.push({ line: Number(m[1]), column: Number(m[2]), severity: m[3], code: m[4] });
  }
  assert.ok(rows.length > 0, `samples/README.md lists the problems of ${file}`);
  return rows;
}

e2eTest('opening mistakes.jsonl lists every documented problem in Problems at its line and column, with its code', async (wb) => {
  const expected = documentedProblems('mistakes.jsonl');
  await wb.openFile('mistakes.jsonl');
  await wb.openProblems();
  await wb.toggleMaximizedPanel(); // the list is virtual: only rows on screen exist in the DOM
  try {
    const rowFor = (p) => (r) => r.text.includes(` finetune ${p.code} `) && r.text.includes(`[Ln ${p.line}, Col ${p.column}]`);
    const rows = await wb
      .waitForProblems((rs) => expected.every((p) => rs.some(rowFor(p))), 30_000)
      .catch((err) => {
        throw new Error(`${err.message}\nexpected (from samples/README.md):\n${expected.map((p) => `  ${p.code} [Ln ${p.line}, Col ${p.column}]`).join('\n')}`);
      });
    const ours = rows.filter((r) => / finetune /.test(r.text));
    assert.equal(ours.length, expected.length, `exactly the documented problems are listed:\n${ours.map((r) => `  ${r.text}`).join('\n')}`);
    for (const p of expected) {
      const row = rows.find(rowFor(p));
      assert.match(row.label, new RegExp(p.severity, 'i'), `line ${p.line} ${p.code} is an ${p.severity}: ${row.label}`);
    }
    await wb.screenshot('problems-mistakes');
  } finally {
    await wb.toggleMaximizedPanel();
  }
  await wb.closeAllEditors();
});
