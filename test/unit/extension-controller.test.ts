// The extension's glue, run against the real language library with an in-memory `vscode` (see
// extension-fakeVscode.ts): activation, live diagnostics as the user edits, hover, quick fixes, and
// "Validate Dataset" on a file.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fake from './extension-fakeVscode';

fake.installFakeVscode();
// Loaded after the fake is installed: these modules import 'vscode'.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const extension = require('../../extension/extension') as typeof import('../../extension/extension');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { validateText } = require('../../language') as typeof import('../../language');

const MISTAKES = [
  '{"instruction":"Translate to French","input":"Hello","output":"Bonjour"}',
  '{"instruction":"Summarize","input":"Long text","response":"Short"}',
  '{"instruction":"Classify","input":"Great!","output":"positive","extra":1}',
  '{"instruction":"Translate", "output": ',
  '{"instruction":"Say hi","input":"","output":"hi"}',
].join('\n');

let api: ReturnType<typeof extension.activate>;
const context = {
  subscriptions: [] as { dispose(): void }[],
  extensionUri: fake.Uri.file('/ext'),
  extensionPath: '/ext',
  globalStorageUri: fake.Uri.file(fs.mkdtempSync(path.join(os.tmpdir(), 'ft-ext-storage-'))),
};

const live = () => fake.state.collections.find((c) => c.name === 'finetune')!;
const fileResults = () => fake.state.collections.find((c) => c.name === 'finetune-file')!;

/** The next diagnostics published for `doc` (call before the action that causes them). */
function published(doc: fake.FakeDocument, timeoutMs = 30000): Promise<fake.Diagnostic[]> {
  return live().next(doc.uri, timeoutMs);
}

function summary(ds: fake.Diagnostic[]): string[] {
  return ds.map((d) => `${d.range.start.line}:${d.range.start.character}-${d.range.end.line}:${d.range.end.character} ${d.code}`);
}

before(() => {
  const t0 = performance.now();
  api = extension.activate(context as never);
  const wall = performance.now() - t0;
  assert.ok(api.activationMs < 50, `activate() took ${api.activationMs} ms`);
  assert.ok(wall < 200, `activate() wall ${wall} ms`);
});

test('activate() registers both commands and leaves the language library unloaded', () => {
  assert.ok(fake.state.commands.has('finetune.previewDataset'));
  assert.ok(fake.state.commands.has('finetune.validateDataset'));
  assert.equal(api.languageLoadMs(), undefined, 'the tokenizer/ajv load waits for the first dataset');
});

test('opening a dataset publishes the same problems as validating its text, with source and code', async () => {
  const doc = new fake.FakeDocument(fake.Uri.file('/ws/mistakes.jsonl'), MISTAKES);
  const pending = published(doc);
  fake.openDocument(doc);
  const ds = await pending;
  const expected = validateText(MISTAKES, { maxTokens: 1024, format: 'auto' }).diagnostics.map(
    (d) => `${d.line}:${d.column}-${d.endLine}:${d.endColumn} ${d.code}`,
  );
  assert.deepEqual(summary(ds), expected);
  assert.ok(ds.every((d) => d.source === 'finetune'));
  assert.ok(summary(ds).some((s) => s.startsWith('1:') && s.endsWith('missing-field')));
  assert.ok(summary(ds).some((s) => s.startsWith('3:') && s.endsWith('invalid-json')));
  fake.closeDocument(doc);
  assert.equal(live().get(doc.uri), undefined, 'closing clears the document’s problems');
});

test('edits revalidate: the diagnostics always equal a from-scratch validation of the new text', async () => {
  const doc = new fake.FakeDocument(fake.Uri.file('/ws/edit.jsonl'), MISTAKES);
  const opened = published(doc);
  fake.openDocument(doc);
  await opened;
  // Finish the truncated line 3, and (in the same burst) delete the unknown field on line 2.
  const revalidated = published(doc);
  const line3 = doc.lineAt(3).text;
  doc.edit([{ line: 3, character: line3.length, endLine: 3, endCharacter: line3.length, text: '"Traduire"}' }]);
  const line2 = doc.lineAt(2).text;
  const at = line2.indexOf(',"extra":1');
  doc.edit([{ line: 2, character: at, endLine: 2, endCharacter: at + ',"extra":1'.length, text: '' }]);
  // Paste two records between lines 0 and 1, then join lines 5 and 6 with a multi-line delete.
  doc.edit([{ line: 1, character: 0, endLine: 1, endCharacter: 0, text: '{"text":"a"}\n{"instruction":"i","output":"o"}\n' }]);
  const ds = await revalidated;
  const expected = validateText(doc.getText(), { maxTokens: 1024, format: 'auto' }).diagnostics.map(
    (d) => `${d.line}:${d.column}-${d.endLine}:${d.endColumn} ${d.code}`,
  );
  assert.deepEqual(summary(ds), expected);
  assert.ok(!summary(ds).some((s) => s.endsWith('invalid-json')));
  fake.closeDocument(doc);
});

test('hovering a record shows its prompt, target, token counts and loss mask, untrusted', async () => {
  const doc = new fake.FakeDocument(fake.Uri.file('/ws/hover.jsonl'), MISTAKES);
  const opened = published(doc);
  fake.openDocument(doc);
  await opened;
  const hover = fake.state.hoverProviders[0].provideHover(doc, new fake.Position(4, 3)) as fake.Hover;
  const md = hover.contents;
  assert.equal(md.isTrusted, false);
  assert.equal(md.supportHtml, false);
  assert.match(md.value, /alpaca/);
  assert.match(md.value, /### Instruction:\nSay hi/);
  assert.match(md.value, /```text\nhi\n```/);
  assert.match(md.value, /loss on 2/);
  assert.match(md.value, /⟦hi⟧⟦<\|endoftext\|>⟧/);
  assert.equal(fake.state.hoverProviders[0].provideHover(doc, new fake.Position(3, 3)), undefined, 'no preview for broken JSON');
  fake.closeDocument(doc);
});

test('quick fixes come back for the diagnostic VS Code hands over, and turn into edits', async () => {
  const doc = new fake.FakeDocument(fake.Uri.file('/ws/fix.jsonl'), MISTAKES);
  const opened = published(doc);
  fake.openDocument(doc);
  const ds = await opened;
  // VS Code passes copies, not the published objects.
  const unknown = ds.find((d) => d.code === 'unknown-field' && d.range.start.line === 1)!;
  const copy = Object.assign(
    new fake.Diagnostic(new fake.Range(1, unknown.range.start.character, 1, unknown.range.end.character), unknown.message, unknown.severity),
    {
      source: 'finetune',
      code: 'unknown-field',
    },
  );
  const missing = ds.find((d) => d.code === 'missing-field' && d.range.start.line === 1)!;
  const actions = fake.state.codeActionProviders[0].provideCodeActions(doc, copy.range, { diagnostics: [missing, copy] }) as fake.CodeAction[];
  // Both diagnostics offer the rename: it is listed once, for both.
  assert.deepEqual(
    actions.map((a) => a.title),
    ["Rename 'response' to 'output'", "Remove field 'response'"],
  );
  assert.deepEqual(actions[0].diagnostics, [missing, copy]);
  assert.equal(actions[0].isPreferred, true);
  assert.equal(actions[0].kind.value, 'quickfix');
  const [edit] = actions[0].edit!.edits;
  assert.equal(edit.newText, '"output"');
  assert.equal(doc.lineAt(1).text.slice(edit.range.start.character, edit.range.end.character), '"response"');
  // After an edit the fixes are withheld until the diagnostics catch up (their ranges may be stale).
  doc.edit([{ line: 0, character: 0, endLine: 0, endCharacter: 0, text: ' ' }]);
  assert.deepEqual(fake.state.codeActionProviders[0].provideCodeActions(doc, copy.range, { diagnostics: [copy] }), []);
  fake.closeDocument(doc);
});

test('a 100,000-line file is validated without blocking the event loop for long', async () => {
  const lines: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    lines.push(i % 1000 === 7 ? `{"instruction":"q${i}","output":` : `{"instruction":"Question ${i}","input":"${'x'.repeat(i % 50)}","output":"Answer ${i}"}`);
  }
  // Gaps between timer ticks in process CPU time: on a busy 2-core CI machine wall-clock gaps also
  // count the time other processes had the CPU, which says nothing about blocking.
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const gaps: number[] = [];
  let last = cpuMs();
  const ticker = setInterval(() => {
    const now = cpuMs();
    gaps.push(now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  const doc = new fake.FakeDocument(fake.Uri.file('/ws/big.jsonl'), lines.join('\n'));
  const opened = published(doc, 120000);
  fake.openDocument(doc);
  const ds = await opened;
  const total = performance.now() - t0;
  // One edit in the middle revalidates quickly.
  const t1 = performance.now();
  const revalidated = published(doc, 60000);
  doc.edit([{ line: 50_007, character: 0, endLine: 50_007, endCharacter: doc.lineAt(50_007).text.length, text: '{"instruction":"fixed","output":"ok"}' }]);
  const after = await revalidated;
  const editMs = performance.now() - t1;
  clearInterval(ticker);
  assert.equal(ds.filter((d) => d.code === 'invalid-json').length, 100);
  assert.equal(after.filter((d) => d.code === 'invalid-json').length, 99);
  gaps.sort((a, b) => a - b);
  const p95 = gaps[Math.floor(gaps.length * 0.95)];
  const longest = gaps[gaps.length - 1];
  console.log(
    `100,000 lines: first validation ${total.toFixed(0)} ms, edit revalidation ${editMs.toFixed(0)} ms, ` +
      `event-loop gaps in CPU time: ${gaps.length}, p95 ${p95.toFixed(1)} ms, longest ${longest.toFixed(1)} ms`,
  );
  // The work runs in 30 ms slices. A validation that blocked would show one gap of seconds; the bounds
  // leave room for garbage collection and a loaded CI machine.
  assert.ok(gaps.length > 20, `the event loop ran only ${gaps.length} times`);
  assert.ok(p95 < 80, `95th percentile event-loop gap ${p95.toFixed(1)} ms`);
  assert.ok(longest < 1000, `event loop blocked for ${longest.toFixed(1)} ms`);
  fake.closeDocument(doc);
});

test('Validate Dataset on a file lists its problems and a summary, and reports the counts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'validate-'));
  const file = path.join(dir, 'mistakes.jsonl');
  fs.writeFileSync(file, MISTAKES + '\n');
  fake.state.messages.length = 0;
  await fake.commands.executeCommand('finetune.validateDataset', fake.Uri.file(file));
  const ds = fileResults().get(fake.Uri.file(file))!;
  assert.equal(ds[0].code, 'summary');
  assert.equal(ds[0].severity, fake.DiagnosticSeverity.Information);
  assert.match(ds[0].message, /^Validate Dataset: 2 errors, 2 warnings in 5 records \(alpaca\)$/);
  assert.deepEqual(
    summary(ds.slice(1)),
    validateText(MISTAKES, {}).diagnostics.map((d) => `${d.line}:${d.column}-${d.endLine}:${d.endColumn} ${d.code}`),
  );
  assert.deepEqual(fake.state.messages, [{ kind: 'info', text: 'Validate Dataset: mistakes.jsonl: 2 errors, 2 warnings in 5 records (alpaca).' }]);
  assert.ok(fake.state.progress.length > 0, 'progress was reported');

  fake.state.config['finetune.validation.maxProblems'] = 2;
  fake.state.changeConfiguration.fire({ affectsConfiguration: (s: string) => 'finetune.validation'.startsWith(s) || s.startsWith('finetune.validation') });
  fake.state.messages.length = 0;
  await fake.commands.executeCommand('finetune.validateDataset', fake.Uri.file(file));
  assert.equal(fileResults().get(fake.Uri.file(file))!.length, 3, 'summary + the first 2 problems');
  assert.match(fake.state.messages[0].text, /Problems lists the first 2 problems\.$/);
  delete fake.state.config['finetune.validation.maxProblems'];
  fs.rmSync(dir, { recursive: true });
});

test('Validate Dataset explains what is wrong with a missing file', async () => {
  fake.state.messages.length = 0;
  await fake.commands.executeCommand('finetune.validateDataset', fake.Uri.file('/nonexistent/none.jsonl'));
  assert.equal(fake.state.messages[0].kind, 'error');
  assert.match(fake.state.messages[0].text, /^Validate Dataset: cannot validate none\.jsonl: .*ENOENT/);
});

test('Validate Dataset can be cancelled from its progress notification', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'validate-'));
  const file = path.join(dir, 'cancel.jsonl');
  fs.writeFileSync(file, MISTAKES.repeat(2000));
  fake.state.messages.length = 0;
  fake.state.cancelProgress = true;
  try {
    await fake.commands.executeCommand('finetune.validateDataset', fake.Uri.file(file));
  } finally {
    fake.state.cancelProgress = false;
  }
  assert.deepEqual(fake.state.messages, [{ kind: 'info', text: 'Validate Dataset: cancelled cancel.jsonl.' }]);
  assert.equal(fileResults().get(fake.Uri.file(file)), undefined, 'nothing half-done is listed');
  fs.rmSync(dir, { recursive: true });
});

test('a user schema from finetune.dataset.schema adds its errors; a broken one is reported and ignored', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-'));
  const schemaFile = path.join(dir, 'needs-task.json');
  fs.writeFileSync(schemaFile, JSON.stringify({ type: 'object', required: ['task'] }));
  const text = '{"instruction":"a","output":"b"}\n{"instruction":"c","output":"d","task":"t"}';
  const configChanged = () => fake.state.changeConfiguration.fire({ affectsConfiguration: (s: string) => 'finetune.dataset.schema'.startsWith(s) });

  fake.state.config['finetune.dataset.schema'] = schemaFile;
  configChanged();
  const doc = new fake.FakeDocument(fake.Uri.file('/ws/schema.jsonl'), text);
  const opened = published(doc);
  fake.openDocument(doc);
  const withSchema = await opened;
  assert.deepEqual(
    withSchema.filter((d) => d.code === 'schema').map((d) => d.range.start.line),
    [0],
  );

  fs.writeFileSync(schemaFile, '{"type": 12}');
  fake.state.messages.length = 0;
  const revalidated = published(doc);
  configChanged();
  const without = await revalidated;
  assert.equal(without.filter((d) => d.code === 'schema').length, 0);
  assert.equal(fake.state.messages.length, 1);
  assert.equal(fake.state.messages[0].kind, 'warning');
  assert.match(fake.state.messages[0].text, /^finetune\.dataset\.schema: .*needs-task\.json is not a usable JSON Schema/);

  delete fake.state.config['finetune.dataset.schema'];
  configChanged();
  fake.closeDocument(doc);
  fs.rmSync(dir, { recursive: true });
});
