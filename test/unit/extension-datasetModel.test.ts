// finetune.dataset.model: which value applies (the setting, else the file's last run, else GPT-2), what
// a value may name (a preset, a folder inside the workspace, a repo already in the HF cache; never a
// folder outside the workspace, never a download), and the model it loads (tokenizer, chat template,
// context length) from a real Llama-family tokenizer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  chooseModelValue,
  DatasetModelError,
  effectiveMaxLength,
  lastRunModelIn,
  loadDatasetModel,
  modelPickItems,
  resolveModelValue,
} from '../../extension/dataset/datasetModel';
import { llamaModelFolder } from './datasetModelFixture';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8'));

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

test('the setting wins over the last run, which wins over the GPT-2 default', () => {
  assert.deepEqual(chooseModelValue('./models/llama', 'qwen3-0.6b'), { value: './models/llama', origin: 'setting' });
  assert.deepEqual(chooseModelValue('  ', 'qwen3-0.6b'), { value: 'qwen3-0.6b', origin: 'last run' });
  assert.deepEqual(chooseModelValue(undefined, undefined), { value: 'gpt2', origin: 'default' });
});

test('a folder value resolves inside a workspace folder; one that escapes it is refused with the reason', () => {
  const ws = tempDir('ds-model-ws-');
  const outside = tempDir('ds-model-outside-');
  fs.mkdirSync(path.join(ws, 'models', 'llama'), { recursive: true });
  fs.writeFileSync(path.join(ws, 'models', 'llama', 'config.json'), '{}');
  fs.writeFileSync(path.join(outside, 'config.json'), '{}');
  const ctx = { workspaceFolders: [ws], cacheDir: tempDir('ds-model-cache-') };

  assert.deepEqual(resolveModelValue('./models/llama', ctx), { kind: 'folder', dir: path.join(ws, 'models', 'llama') });
  assert.deepEqual(resolveModelValue('models/llama', ctx), { kind: 'folder', dir: path.join(ws, 'models', 'llama') });
  const leadingOut = path.relative(ws, outside);
  assert.throws(
    () => resolveModelValue(leadingOut, ctx),
    (e: Error) => e instanceof DatasetModelError && /outside the workspace folders/.test(e.message),
  );
  assert.throws(() => resolveModelValue(outside, ctx), /outside the workspace folders/);
  // A link inside the workspace that leads out is the same escape.
  fs.symlinkSync(outside, path.join(ws, 'link'));
  assert.throws(() => resolveModelValue('./link', ctx), /outside the workspace folders/);
  // The run's own model (written by the extension, e.g. an HF cache snapshot) may lie anywhere.
  assert.deepEqual(resolveModelValue(outside, { ...ctx, trusted: true }), { kind: 'folder', dir: outside });
  assert.throws(() => resolveModelValue('./models', ctx), /has no config\.json/);
  assert.throws(() => resolveModelValue('./nowhere', ctx), /no model folder \.\/nowhere in the workspace/);
});

test("the last run's model is the newest run folder whose run.json trains the file", () => {
  const ws = tempDir('ds-model-ws-');
  const runs = path.join(ws, '.finetune', 'runs');
  const data = path.join(ws, 'chat.jsonl');
  const run = (id: string, json: object) => {
    fs.mkdirSync(path.join(runs, id), { recursive: true });
    fs.writeFileSync(path.join(runs, id, 'run.json'), JSON.stringify(json));
  };
  assert.equal(lastRunModelIn(runs, data, [ws]), undefined, 'no runs folder yet');
  run('2026-11-01T10-00-00-chat-lora', { data, model: 'tiny' });
  run('2026-11-02T10-00-00-chat-lora', { data: 'chat.jsonl', model: './models/llama' });
  run('2026-11-03T10-00-00-other-lora', { data: path.join(ws, 'other.jsonl'), model: 'gpt2' });
  run('2026-11-04T10-00-00-chat-lora', { data, model: 42 });
  // The newest run of this file (a relative data path is the workspace folder's), not another file's.
  assert.equal(lastRunModelIn(runs, data, [ws]), './models/llama');
  run('2026-11-05T10-00-00-chat-full', { data, model: 'distilgpt2' });
  assert.equal(lastRunModelIn(runs, data, [ws]), 'distilgpt2');
});

test('a folder named by a workspace file may be a snapshot in the HF cache, never another folder outside the workspace', () => {
  const cacheDir = tempDir('ds-model-cache-');
  const snapshot = path.join(cacheDir, 'models--owner--m', 'snapshots', 'c'.repeat(40));
  fs.mkdirSync(snapshot, { recursive: true });
  fs.writeFileSync(path.join(snapshot, 'config.json'), '{}');
  const ctx = { workspaceFolders: [tempDir('ds-model-ws-')], cacheDir };
  assert.deepEqual(resolveModelValue(snapshot, ctx), { kind: 'folder', dir: snapshot });
  assert.throws(() => resolveModelValue(path.dirname(cacheDir), ctx), /outside the workspace folders/);
});

test('presets resolve without files; a repo id is used only when it is in the HF cache, never downloaded', () => {
  const cacheDir = tempDir('ds-model-cache-');
  const ctx = { workspaceFolders: [], cacheDir };
  assert.deepEqual(resolveModelValue('tiny', ctx), { kind: 'preset', name: 'tiny' });
  assert.throws(() => resolveModelValue('owner/absent', ctx), /not in the local Hugging Face cache, and the editor does not download/);
  assert.throws(() => resolveModelValue('qwen3-0.6b', ctx), /qwen3-0\.6b \(Qwen\/Qwen3-0\.6B\) is not in the local Hugging Face cache/);
  const snapshot = path.join(cacheDir, 'models--owner--cached', 'snapshots', 'a'.repeat(40));
  fs.mkdirSync(snapshot, { recursive: true });
  fs.writeFileSync(path.join(snapshot, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'] }));
  assert.deepEqual(resolveModelValue('owner/cached', ctx), { kind: 'folder', dir: snapshot });
  assert.throws(() => resolveModelValue('not a model!', ctx), /is not a preset .* a model folder in the workspace or a Hugging Face repo id/);
});

test("a Llama-family folder loads its tokenizer, chat template and context; the maximum length is training's (1,024 by default) and never exceeds the context", async () => {
  const dir = llamaModelFolder();
  const model = await loadDatasetModel('./llama', 'setting', { kind: 'folder', dir });
  assert.equal(model.maxPositions, 4096);
  assert.equal(model.plainGpt2, false);
  assert.equal(model.tokenizer.bosToken, '<s>');
  assert.ok(model.chatTemplate, 'chat_template.jinja is the template');
  assert.equal(model.chatTemplate.render([{ role: 'user', content: 'Hi' }], { tokens: model.tokenizer.templateTokens }), '<s>[INST] Hi [/INST]');
  const gpt2 = await loadDatasetModel('gpt2', 'default', { kind: 'preset', name: 'gpt2' });
  assert.equal(gpt2.plainGpt2, true);
  assert.equal(gpt2.chatTemplate, undefined);
  assert.equal(effectiveMaxLength(model, undefined), 1024);
  assert.equal(effectiveMaxLength({ maxPositions: 64 }, undefined), 64);
  assert.equal(effectiveMaxLength(model, 512), 512);
  assert.equal(effectiveMaxLength(model, 100_000), 4096);
});

test('the quick pick offers the presets, cached models of supported families and the workspace model folders', () => {
  const cacheDir = tempDir('ds-model-cache-');
  const snap = (repo: string, config: object) => {
    const d = path.join(cacheDir, `models--${repo.replace('/', '--')}`, 'snapshots', 'b'.repeat(40));
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(config));
  };
  snap('Qwen/Qwen3-0.6B', { architectures: ['Qwen3ForCausalLM'] });
  snap('someone/bert', { architectures: ['BertModel'] });
  const ws = tempDir('ds-model-ws-');
  const folder = path.join(ws, 'models', 'llama');
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'] }));
  const values = modelPickItems([{ dir: folder, workspaceFolder: ws }], cacheDir).map((i) => i.value);
  assert.deepEqual(values, ['gpt2', 'tiny', 'distilgpt2', 'qwen3-0.6b', './models/llama']);
});

test('finetune.dataset.model is resource-scoped and ignored from untrusted workspaces, like the schema path', () => {
  const prop = pkg.contributes.configuration.properties['finetune.dataset.model'];
  assert.equal(prop.type, 'string');
  assert.equal(prop.scope, 'resource');
  assert.ok(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations.includes('finetune.dataset.model'));
  assert.ok(pkg.contributes.commands.some((c: { command: string }) => c.command === 'finetune.chooseDatasetModel'));
});
