import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

const root = path.join(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const commands = Object.fromEntries(pkg.contributes.commands.map((c: { command: string }) => [c.command, c]));
const menus = pkg.contributes.menus;
const find = (menu: string, command: string) => (menus[menu] as { command: string; when?: string }[]).filter((m) => m.command === command);

test('training commands have the titles the palette and the e2e tests use', () => {
  const titles = Object.fromEntries(
    ['fineTune', 'runFromConfig', 'openRun', 'stopRun', 'compareRuns', 'revealRunOutput', 'deleteRun', 'installNativeBackend'].map((id) => {
      const c = commands[`finetune.${id}`];
      assert.ok(c, `finetune.${id} is contributed`);
      return [id, `${c.category}: ${c.title}`];
    }),
  );
  assert.deepEqual(titles, {
    fineTune: 'Fine-Tune: Fine-tune…',
    runFromConfig: 'Fine-Tune: Fine-tune with run.json',
    openRun: 'Fine-Tune: Open Run',
    stopRun: 'Fine-Tune: Stop Run',
    compareRuns: 'Fine-Tune: Compare Runs',
    revealRunOutput: 'Fine-Tune: Reveal Output',
    deleteRun: 'Fine-Tune: Delete Run',
    installNativeBackend: 'Fine-Tune: Install TensorFlow Native Backend…',
  });
});

test('Fine-tune… is on .jsonl files in the Explorer and the editor title, and only in trusted workspaces', () => {
  for (const menu of ['explorer/context', 'editor/title']) {
    const [item] = find(menu, 'finetune.fineTune');
    assert.ok(item, menu);
    assert.match(item.when!, /resourceExtname == \.jsonl/);
    assert.match(item.when!, /isWorkspaceTrusted/);
  }
  const [fromConfig] = find('explorer/context', 'finetune.runFromConfig');
  assert.match(fromConfig.when!, /resourceFilename == run\.json/);
  assert.match(fromConfig.when!, /isWorkspaceTrusted/);
  // The validation commands of the dataset issue are untouched.
  assert.ok(find('explorer/context', 'finetune.validateDataset').length);
  const untrusted = pkg.capabilities.untrustedWorkspaces;
  assert.equal(untrusted.supported, 'limited');
  assert.ok(untrusted.restrictedConfigurations.includes('finetune.nativeBackendPath'));
});

test('the Fine-Tune activity bar container holds the Runs tree with its actions; Stop only on running runs, Delete never on them', () => {
  const container = pkg.contributes.viewsContainers.activitybar.find((c: { id: string }) => c.id === 'finetune');
  assert.equal(container.title, 'Fine-Tune');
  assert.ok(fs.existsSync(path.join(root, container.icon)), 'the icon file exists');
  assert.deepEqual(
    pkg.contributes.views.finetune.map((v: { id: string; name: string }) => [v.id, v.name]),
    [['finetune.runs', 'Runs']],
  );
  const item = (id: string) => find('view/item/context', id);
  for (const id of ['finetune.openRun', 'finetune.compareRuns', 'finetune.revealRunOutput', 'finetune.deleteRun']) assert.ok(item(id).length, id);
  assert.ok(item('finetune.stopRun').every((m) => /viewItem == finetuneRun\.running/.test(m.when!)));
  assert.ok(item('finetune.deleteRun').every((m) => /viewItem != finetuneRun\.running/.test(m.when!)));
  assert.ok(pkg.activationEvents.includes('onWebviewPanel:finetune.runPanel'));
});

test('run.json files under .finetune/runs are validated with the trainer schema, shipped in dist/schemas', () => {
  const [entry] = pkg.contributes.jsonValidation;
  assert.deepEqual(entry.fileMatch, ['**/.finetune/runs/*/run.json']);
  assert.equal(entry.url, './dist/schemas/run.schema.json');
  const props = pkg.contributes.configuration.properties;
  assert.equal(props['finetune.runsDirectory'].default, '.finetune/runs');
  assert.equal(props['finetune.nativeBackendPath'].default, '');
});

test('the extension bundle holds no TensorFlow.js code and its pure training modules do not import vscode', async () => {
  const result = await esbuild.build({
    entryPoints: [path.join(root, 'extension/extension.ts')],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'cjs',
    external: ['vscode'],
    logLevel: 'silent',
    outdir: '/tmp/ft-manifest-bundle',
  });
  const inputs = Object.keys(result.metafile!.inputs);
  assert.ok(
    inputs.some((i) => i.includes('extension/training/runManager.ts')),
    'the training modules are in the bundle',
  );
  assert.deepEqual(
    inputs.filter((i) => /@tensorflow|trainer\/(train|model|backend|ops|lora|kernels)\.ts/.test(i)),
    [],
  );
  for (const f of ['runFolders', 'runProcess', 'fineTuneChoices']) {
    const src = fs.readFileSync(path.join(root, 'extension', 'training', `${f}.ts`), 'utf8');
    assert.ok(!/from ['"]vscode['"]/.test(src), `${f}.ts imports vscode`);
  }
});

test("the extension reaches into trainer/ only through the run folder's owner, config resolution, the hub cache, the native-backend installer and the tfjs-free model descriptions", () => {
  // The model descriptions (config.json readers, shard index name, tokenizer and template loading) are
  // shared so that the editor tokenizes and counts exactly as the trainer does; none imports tfjs (the
  // bundle test above), and nothing here downloads: the host resolves folders and the cache only.
  const allowed = [
    'runFolder',
    'runConfig',
    'hubCache',
    'nativeBackends',
    'hub',
    'modelTokenizer',
    'models/architectures',
    'models/llama/config',
    'formats/checkpoint',
  ];
  const used = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts')) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/from '(?:\.\.\/)+trainer\/([^']+)'/g)) used.add(m[1]);
      }
    }
  };
  walk(path.join(root, 'extension'));
  assert.deepEqual(
    [...used].filter((m) => !allowed.includes(m)),
    [],
  );
});
