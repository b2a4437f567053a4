// The dataset model's checks in the live pipeline: with finetune.dataset.model naming a Llama-family
// folder in the workspace, the real DiagnosticsController (with the in-memory `vscode`) publishes
// template-error at the message the template rejects, too-long in the model's own tokens (replacing the
// GPT-2 count), and the hover shows the record rendered by the model's template with the trained
// assistant turn marked.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fake from './extension-fakeVscode';
import { llamaModelFolder } from './datasetModelFixture';

fake.installFakeVscode();
// Loaded after the fake is installed: these modules import 'vscode'.
/* eslint-disable @typescript-eslint/no-require-imports */
const { DiagnosticsController } = require('../../extension/dataset/diagnosticsController') as typeof import('../../extension/dataset/diagnosticsController');
const { DatasetModels } = require('../../extension/dataset/datasetModels') as typeof import('../../extension/dataset/datasetModels');
const { DatasetHoverProvider } = require('../../extension/dataset/datasetHover') as typeof import('../../extension/dataset/datasetHover');
const { DatasetSettings } = require('../../extension/settings') as typeof import('../../extension/settings');
const { TRAINED_CLOSE, TRAINED_OPEN } = require('../../extension/dataset/hoverMarkdown') as typeof import('../../extension/dataset/hoverMarkdown');
/* eslint-enable @typescript-eslint/no-require-imports */

const GOOD = '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}';
const BAD_ROLES = '{"messages": [{"role": "user", "content": "One"}, {"role": "user", "content": "Two"}, {"role": "assistant", "content": "Three"}]}';

const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-checks-ws-'));
const log = fake.window.createOutputChannel() as never;
const collection = fake.languages.createDiagnosticCollection('model-checks-test');
let controller: InstanceType<typeof DiagnosticsController>;
let hover: InstanceType<typeof DatasetHoverProvider>;

before(() => {
  llamaModelFolder(ws);
  (fake.workspace as { workspaceFolders: unknown }).workspaceFolders = [{ uri: fake.Uri.file(ws), name: 'ws', index: 0 }];
  fake.state.config['finetune.dataset.model'] = './llama';
  const settings = new DatasetSettings(log);
  const models = new DatasetModels(settings, log);
  controller = new DiagnosticsController(collection as never, settings, log, () => {}, models);
  hover = new DatasetHoverProvider(settings, controller, log, models);
});

/** Diagnostics once the model has loaded and its checks ran (the first publication may precede the load). */
async function settled(doc: fake.FakeDocument, done: (ds: fake.Diagnostic[]) => boolean): Promise<fake.Diagnostic[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const current = collection.get(doc.uri);
    if (current && done(current)) return current;
    assert.ok(Date.now() < deadline, `diagnostics never settled: ${JSON.stringify(current?.map((d) => d.code))}`);
    await collection.next(doc.uri, 30_000).catch(() => undefined);
  }
}

test('a record whose roles the template rejects gets template-error at the message that breaks it', async () => {
  const doc = new fake.FakeDocument(fake.Uri.file(path.join(ws, 'chat.jsonl')), [GOOD, BAD_ROLES].join('\n'));
  fake.openDocument(doc);
  controller.track(doc as never);
  const ds = await settled(doc, (d) => d.some((x) => x.code === 'template-error'));
  const errors = ds.filter((d) => d.code === 'template-error');
  assert.equal(errors.length, 1);
  const [e] = errors;
  // The second user message: the conversation renders up to the first and raises with it.
  const second = '{"role": "user", "content": "Two"}';
  const at = BAD_ROLES.indexOf(second);
  assert.deepEqual([e.range.start.line, e.range.start.character, e.range.end.line, e.range.end.character], [1, at, 1, at + second.length]);
  assert.equal(e.severity, fake.DiagnosticSeverity.Error);
  assert.match(e.message, /Conversation roles must alternate user\/assistant/);
  assert.deepEqual(
    ds.filter((d) => d.range.start.line === 0),
    [],
    'the valid record has no model problem',
  );
  fake.closeDocument(doc);
});

test('too-long counts the model tokens against finetune.dataset.maxTokens, replacing the GPT-2 count', async () => {
  // The fake's configuration has no inspect(); the setting is the user's own value here.
  const workspace = fake.workspace as { getConfiguration: (section: string) => object };
  const plain = workspace.getConfiguration;
  workspace.getConfiguration = (section: string) => ({
    ...plain(section),
    inspect: (key: string) => ({ globalValue: fake.state.config[`${section}.${key}`] }),
  });
  fake.state.config['finetune.dataset.maxTokens'] = 8;
  const settings = new DatasetSettings(log);
  const models = new DatasetModels(settings, log);
  const c = new DiagnosticsController(collection as never, settings, log, () => {}, models);
  const doc = new fake.FakeDocument(fake.Uri.file(path.join(ws, 'long.jsonl')), GOOD);
  try {
    fake.openDocument(doc);
    c.track(doc as never);
    const ds = await settled(doc, (d) => d.some((x) => x.code === 'no-trained-tokens'));
    // 13 Llama tokens: over 8, and the cut leaves none of the assistant turn (tokens 9 to 12) to train.
    assert.deepEqual(ds.map((d) => d.code).sort(), ['no-trained-tokens', 'too-long']);
    const tooLong = ds.find((d) => d.code === 'too-long')!;
    assert.match(tooLong.message, /13 tokens of llama, longer than the maximum length of 8/);
    const reply = '{"role": "assistant", "content": "Hello!"}';
    const noTrained = ds.find((d) => d.code === 'no-trained-tokens')!;
    assert.deepEqual([noTrained.range.start.character, noTrained.range.end.character], [GOOD.indexOf(reply), GOOD.indexOf(reply) + reply.length]);
  } finally {
    fake.closeDocument(doc);
    c.dispose();
    workspace.getConfiguration = plain;
    delete fake.state.config['finetune.dataset.maxTokens'];
  }
});

test('the hover shows the record rendered by the model template with the assistant turn marked as trained', async () => {
  const doc = new fake.FakeDocument(fake.Uri.file(path.join(ws, 'hover.jsonl')), GOOD);
  fake.openDocument(doc);
  controller.track(doc as never);
  await settled(doc, () => true);
  const h = (await hover.provideHover(doc as never, new fake.Position(0, 3) as never)) as unknown as fake.Hover;
  const md = h.contents.value;
  assert.equal(h.contents.isTrusted, false);
  assert.equal(h.contents.supportHtml, false);
  assert.match(md, /model llama \(setting\)/);
  assert.match(md, /Tokens: total 13 · trained 4/);
  assert.ok(md.includes(`<s>[INST] Hi [/INST]${TRAINED_OPEN} Hello! </s>${TRAINED_CLOSE}`), md);
  fake.closeDocument(doc);
});

test('a line over MODEL_CHECK_MAX_CHARS gets template-error and too-long without being tokenized', async () => {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { checkRecordLine, longestTokenChars } = require('../../extension/dataset/modelChecks') as typeof import('../../extension/dataset/modelChecks');
  const { loadDatasetModel } = require('../../extension/dataset/datasetModel') as typeof import('../../extension/dataset/datasetModel');
  const { MODEL_CHECK_MAX_CHARS } = require('../../extension/dataset/hoverMarkdown') as typeof import('../../extension/dataset/hoverMarkdown');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const loaded = await loadDatasetModel('./llama', 'setting', { kind: 'folder', dir: path.join(ws, 'llama') });
  // Llama 2's tokenizer needs over a second for such a line on this machine: count the calls instead.
  const calls: string[] = [];
  const tokenizer = Object.create(loaded.tokenizer) as typeof loaded.tokenizer;
  for (const name of ['encode', 'encodeUpTo', 'encodeWithOffsets'] as const) {
    Object.defineProperty(tokenizer, name, { value: () => calls.push(name) && assert.fail(`${name} was called`) });
  }
  const model = { ...loaded, tokenizer };
  const long = 'Translate this sentence please. '.repeat(Math.ceil(MODEL_CHECK_MAX_CHARS / 32) + 10);
  const good = {
    messages: [
      { role: 'user', content: long },
      { role: 'assistant', content: 'OK' },
    ],
  };
  const bad = {
    messages: [
      { role: 'user', content: long },
      { role: 'user', content: 'Two' },
      { role: 'assistant', content: 'OK' },
    ],
  };
  const goodLine = JSON.stringify(good);
  const badLine = JSON.stringify(bad);
  assert.ok(goodLine.length > MODEL_CHECK_MAX_CHARS);
  // Llama 2's longest piece is 16 characters: 21,000 characters are more than 64 tokens for certain.
  assert.equal(longestTokenChars(loaded.tokenizer), 16);
  assert.deepEqual(
    checkRecordLine(goodLine, good, 'chat', model, 64).map((d) => [d.code, d.message]),
    [['too-long', 'the example is more than 64 tokens of llama, longer than the maximum length of 64; training truncates it']],
  );
  const [e] = checkRecordLine(badLine, bad, 'chat', model, 64);
  assert.equal(e.code, 'template-error');
  const second = '{"role":"user","content":"Two"}';
  assert.deepEqual([e.column, e.endColumn], [badLine.indexOf(second), badLine.indexOf(second) + second.length]);
  assert.deepEqual(calls, []);
});
