import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

test('commands read "Fine-Tune: Preview Dataset" / "Fine-Tune: Validate Dataset" in the palette and plain titles in menus', () => {
  const byId = Object.fromEntries(pkg.contributes.commands.map((c: { command: string }) => [c.command, c]));
  assert.equal(`${byId['finetune.previewDataset'].category}: ${byId['finetune.previewDataset'].title}`, 'Fine-Tune: Preview Dataset');
  assert.equal(`${byId['finetune.validateDataset'].category}: ${byId['finetune.validateDataset'].title}`, 'Fine-Tune: Validate Dataset');
});

test('both commands are on the Explorer context menu of .jsonl files only', () => {
  const items = pkg.contributes.menus['explorer/context'];
  for (const id of ['finetune.previewDataset', 'finetune.validateDataset']) {
    const item = items.find((m: { command: string }) => m.command === id);
    assert.ok(item, id);
    assert.match(item.when, /resourceExtname == \.jsonl/);
  }
});

test('activation is lazy: on the jsonl language, the commands and the preview panel, never on startup', () => {
  assert.ok(pkg.activationEvents.includes('onLanguage:jsonl'));
  assert.ok(!pkg.activationEvents.includes('*') && !pkg.activationEvents.includes('onStartupFinished'));
  assert.equal(pkg.main, './dist/extension.js');
  assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
});

test('settings have the documented names and defaults', () => {
  const props = pkg.contributes.configuration.properties;
  assert.equal(props['finetune.dataset.maxTokens'].default, 1024);
  assert.equal(props['finetune.dataset.format'].default, 'auto');
  assert.deepEqual(props['finetune.dataset.format'].enum, ['auto', 'alpaca', 'chat', 'completion', 'text', 'classification']);
  assert.equal(props['finetune.dataset.schema'].type, 'string');
  assert.equal(props['finetune.validation.maxProblems'].default, 1000);
});

test('every setting that names a file, folder or program is restricted in untrusted workspaces', () => {
  // An untrusted workspace's settings must not pick what the extension reads or runs: a schema file with
  // a catastrophic pattern, a runs folder outside the workspace, a native backend to load. VS Code ignores
  // workspace values of restricted settings until the workspace is trusted.
  const restricted: string[] = pkg.capabilities.untrustedWorkspaces.restrictedConfigurations;
  const props = pkg.contributes.configuration.properties as Record<string, { type?: string; description?: string; markdownDescription?: string }>;
  const namesAPath = (key: string, p: { description?: string; markdownDescription?: string }) =>
    /(schema|path|directory|folder|file|command|executable)$/i.test(key) || /^(path|folder|file) (to|of)\b/i.test(p.markdownDescription ?? p.description ?? '');
  const needed = Object.entries(props)
    .filter(([k, p]) => p.type === 'string' && namesAPath(k, p))
    .map(([k]) => k);
  assert.deepEqual(needed.sort(), ['finetune.dataset.schema', 'finetune.nativeBackendPath', 'finetune.runsDirectory']);
  for (const key of needed) assert.ok(restricted.includes(key), `${key} is not in restrictedConfigurations`);
});

test('extension/dataset and extension/training import the shared top-level files, never each other', () => {
  const crossings: string[] = [];
  for (const [feature, other] of [
    ['dataset', 'training'],
    ['training', 'dataset'],
  ]) {
    const dir = path.join(root, 'extension', feature);
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const src = fs.readFileSync(path.join(dir, f), 'utf8');
      if (new RegExp(`from '\\.\\./${other}/`).test(src)) crossings.push(`${feature}/${f} imports ${other}/`);
    }
  }
  // The shared files serve both features, so they import neither.
  for (const f of fs.readdirSync(path.join(root, 'extension')).filter((n) => n.endsWith('.ts') && n !== 'extension.ts')) {
    const src = fs.readFileSync(path.join(root, 'extension', f), 'utf8');
    if (/from '\.\/(dataset|training)\//.test(src)) crossings.push(`${f} imports a feature folder`);
  }
  assert.deepEqual(crossings, []);
});

test('the extension host code never imports TensorFlow.js and only glue files import vscode', () => {
  const dir = path.join(root, 'extension');
  for (const f of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((n) => n.endsWith('.ts'))) {
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    assert.ok(!/@tensorflow/.test(src), `${f} imports TensorFlow.js`);
  }
  // The pure modules the unit tests load must stay importable without VS Code.
  for (const f of [
    'webviewHtml',
    'schemaSetting',
    'dataset/lineChanges',
    'dataset/timeSlicer',
    'dataset/problemSelection',
    'dataset/hoverMarkdown',
    'dataset/previewHtml',
    'dataset/previewRows',
    'dataset/previewModel',
    'dataset/statisticsWorker',
    'dataset/validationSummary',
  ]) {
    const src = fs.readFileSync(path.join(dir, `${f}.ts`), 'utf8');
    assert.ok(!/from ['"]vscode['"]/.test(src), `${f}.ts imports vscode`);
  }
});
