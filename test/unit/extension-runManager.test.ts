// The run manager against the in-memory vscode stand-in, with real child processes (a stand-in trainer
// installed as <extension>/dist/trainer.js): status-bar items, the panel opening, failure notifications,
// stopping everything on deactivate.
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fake from './extension-fakeVscode';
import { writeFakeTrainer } from './extension-runFakeTrainer';
import type { TrainConfig } from '../../protocol/trainer';

fake.installFakeVscode();
const { RunManager, nativeBackendEnv } = require('../../extension/training/runManager') as typeof import('../../extension/training/runManager');

const extensionPath = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-ext-'));
writeFakeTrainer(path.join(extensionPath, 'dist'), 'trainer.js');
const context = { extensionPath, globalStorageUri: fake.Uri.file(path.join(extensionPath, 'storage')), subscriptions: [] } as never;

let opened: { dir: string; preserveFocus: boolean }[];
beforeEach(() => {
  opened = [];
  fake.state.messages = [];
  fake.state.statusBarItems = [];
});

function newRun(mode: string, steps = 5): TrainConfig {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ft-mgr-')), `2026-11-28T14-55-03-alpaca-${mode}`);
  fs.mkdirSync(dir);
  const config = { data: '/data/alpaca.jsonl', model: mode, maxSteps: steps, out: dir } as unknown as TrainConfig;
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify(config));
  return config;
}

const manager = () => new RunManager(context, { showPanel: (dir, preserveFocus) => opened.push({ dir, preserveFocus }) });

async function exitOf(m: InstanceType<typeof RunManager>, dir: string): Promise<void> {
  const run = m.activeRuns().find((r) => r.dir === dir)!;
  await run.process.exited;
  await new Promise((r) => setImmediate(r));
}

test('a started run opens its panel beside without taking focus, shows step and loss in the status bar, and is gone from it when done', async () => {
  const m = manager();
  const config = newRun('normal', 4);
  const run = m.start(config);
  assert.deepEqual(opened, [{ dir: config.out, preserveFocus: true }]);
  assert.ok(m.isActive(config.out));
  const [item] = fake.state.statusBarItems;
  assert.equal(item.visible, true);
  const texts: string[] = [];
  m.onEvent(() => texts.push(item.text));
  await exitOf(m, config.out);
  assert.ok(
    texts.some((t) => /^\$\(loading~spin\) alpaca \d\/4 · loss \d\.\d{4} · ETA /.test(t)),
    texts.join('\n'),
  );
  assert.equal(item.disposed, true);
  assert.equal(m.isActive(config.out), false);
  assert.deepEqual(fake.state.messages, [{ kind: 'info', text: `Training completed: ${run.id}` }]);
  m.dispose();
});

test('a trainer that dies without done: "Training failed: …" and the run folder says failed', async () => {
  const m = manager();
  const config = newRun('silent-death', 10);
  m.start(config);
  await exitOf(m, config.out);
  assert.deepEqual(fake.state.messages, [{ kind: 'error', text: 'Training failed: the trainer was killed by SIGKILL' }]);
  const { summarizeRunFolder } = await import('../../extension/training/runFolders');
  assert.equal(summarizeRunFolder(config.out).status, 'failed');
  m.dispose();
});

test('several runs at once, each with its own status-bar item; stopAll stops them all and leaves no process', async () => {
  const m = manager();
  const a = newRun('normal', 100000);
  const b = newRun('ignore-stop', 100000);
  m.start(a);
  m.start(b);
  assert.equal(fake.state.statusBarItems.length, 2);
  const pids = m.activeRuns().map((r) => r.process.pid!);
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  await m.stopAll(200, 200, 3000);
  assert.ok(Date.now() - t0 < 2500);
  await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/);
  assert.equal(m.activeRuns().length, 0);
  m.dispose();
});

test("the native backend setting wins; else the extension's own install is used when present", () => {
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-storage-'));
  assert.equal(nativeBackendEnv('/opt/tfjs', storage, {}).FINETUNE_TFJS_NODE_PATH, '/opt/tfjs');
  assert.equal(nativeBackendEnv('', storage, {}).FINETUNE_TFJS_NODE_PATH, undefined);
  fs.mkdirSync(path.join(storage, 'node_modules', '@tensorflow', 'tfjs-node'), { recursive: true });
  assert.equal(nativeBackendEnv('', storage, {}).FINETUNE_TFJS_NODE_PATH, storage);
  assert.equal(nativeBackendEnv('', storage, { FINETUNE_TFJS_NODE_PATH: '/env' }).FINETUNE_TFJS_NODE_PATH, '/env');
});
