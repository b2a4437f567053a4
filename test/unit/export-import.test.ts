// `finetune import`: a cluster job's output in TRL's real layout (test/fixtures/export/trl-output/, written
// by hand from TRL's and transformers' sources by make_trl_output.py: PEFT's adapter files and a
// checkpoint's trainer_state.json) comes back into its run folder: the model under cluster/output, a
// `cluster` event the run panel draws as its own loss curve, and a `done` event that points Try It at
// the imported model. Also the host side of "Export as Cluster Job…" / "Import Cluster Results…".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run as importCommand } from '../../cli/import';
import { isRunPanelWebviewMessage } from '../../protocol/panel';
import type { ClusterEvent, DoneEvent, TrainerEvent } from '../../protocol/trainer';
import { CLUSTER_DIR, clusterLog, importClusterResults } from '../../trainer/export/importResults';
import { appendRunEvents, createRunFolder, readRunEvents, runPaths } from '../../trainer/runFolder';
import { resolveTrainConfig } from '../../trainer/runConfig';
import { readAdapter } from '../../trainer/strategies';
import { clusterChartData } from '../../webview/run/clusterSeries';
import { RunModel } from '../../webview/common/runModel';
import { tryItTarget } from '../../extension/training/tryIt';
import { recordedRun } from '../browser/fixtures/streams';
import { captureStdout } from './captureStdout';
import * as fake from './extension-fakeVscode';

fake.installFakeVscode();
const cluster = require('../../extension/training/clusterCommands') as typeof import('../../extension/training/clusterCommands');

const fixture = path.join(__dirname, '../fixtures/export/trl-output');
const fixtureState = JSON.parse(fs.readFileSync(path.join(fixture, 'checkpoint-8/trainer_state.json'), 'utf8')) as {
  log_history: Record<string, number>[];
};
const fixtureLosses = fixtureState.log_history.filter((e) => e.loss !== undefined).map((e) => e.loss);
const fixtureEvals = fixtureState.log_history.filter((e) => e.eval_loss !== undefined).map((e) => [e.step, e.eval_loss]);

/** A run folder a run created, holding a finished local LoRA run's events, and a job folder with the fixture as its output/. */
function runAndJob(): { run: string; job: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-import-'));
  const run = path.join(dir, 'runs', 'lora-run');
  createRunFolder(resolveTrainConfig({ data: path.join(__dirname, '../../samples/alpaca.jsonl'), model: 'gpt2', strategy: 'lora', out: run }));
  const local = recordedRun({ strategy: 'lora', steps: 8 }).map(({ time: _t, ...e }) => e) as Parameters<typeof appendRunEvents>[1];
  appendRunEvents(run, local);
  const job = path.join(dir, 'jobs', 'lora-run');
  fs.mkdirSync(job, { recursive: true });
  fs.cpSync(fixture, path.join(job, 'output'), { recursive: true });
  return { run, job };
}

test("importing TRL's output brings the adapter into cluster/output and the log history into a cluster event and a done event", async () => {
  const { run, job } = runAndJob();
  const before = readRunEvents(run).length;
  const { code, out } = await captureStdout(() => importCommand(['--job', job, '--run', run, '--json']));
  assert.equal(code, 0);
  const result = JSON.parse(out) as { outputDir: string; files: string[]; steps: number; evals: number };
  const output = path.join(runPaths(run).dir, CLUSTER_DIR, 'output');
  assert.deepEqual(result, { outputDir: output, files: ['adapter_config.json', 'adapter_model.safetensors'], steps: 8, evals: 2 });
  for (const f of result.files) assert.deepEqual(fs.readFileSync(path.join(output, f)), fs.readFileSync(path.join(fixture, f)));
  // The run's own output/ (the local run's) is not where the import writes.
  assert.ok(!fs.existsSync(runPaths(run).output));

  const events = readRunEvents(run);
  assert.equal(events.length, before + 2);
  const [clusterEvent, done] = events.slice(-2) as [ClusterEvent, DoneEvent];
  assert.equal(clusterEvent.type, 'cluster');
  assert.deepEqual(
    clusterEvent.steps.map((s) => s.loss),
    fixtureLosses,
  );
  assert.deepEqual(
    clusterEvent.evals.map((e) => [e.step, e.loss]),
    fixtureEvals,
  );
  assert.equal(clusterEvent.steps[0].lr, fixtureState.log_history[0].learning_rate);
  assert.equal(done.type, 'done');
  assert.deepEqual([done.status, done.step, done.outputDir, done.finalLoss, done.bestEvalLoss], ['completed', 8, output, fixtureLosses.at(-1), 2.6]);

  // eval / generate --adapter read it as the run's LoRA on its base model (PEFT's names and layout).
  const adapter = readAdapter(output);
  assert.deepEqual([adapter.strategy.strategy, adapter.baseModel], ['lora', 'openai-community/gpt2']);

  // Try It now loads the imported adapter on the run's base model.
  const target = tryItTarget(events);
  assert.ok(!('error' in target), JSON.stringify(target));
  assert.deepEqual([target.adapter, target.model], [output, 'gpt2']);
});

test("the run panel's model keeps the cluster curve apart from the local one: train loss by step, eval at the steps TRL evaluated", () => {
  const { run, job } = runAndJob();
  const model = new RunModel();
  model.applyJsonl(fs.readFileSync(runPaths(run).events, 'utf8'));
  const localRows = model.rows;
  assert.equal(model.cluster, undefined);
  model.takeChanges();
  return captureStdout(() => importCommand(['--job', job, '--run', run])).then(({ code }) => {
    assert.equal(code, 0);
    const events = readRunEvents(run) as TrainerEvent[];
    model.apply(events.slice(-2));
    assert.ok(model.takeChanges().has('cluster'));
    assert.equal(model.rows, localRows, 'the cluster points are not local steps');
    const [x, train, evals] = clusterChartData(model.cluster!);
    assert.deepEqual([...x], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(train, fixtureLosses);
    assert.deepEqual(evals, [null, null, null, 3.1, null, null, null, 2.6]);
  });
});

test('import refuses by name: a job without output/, a folder no run created, a trainer_state.json without losses, foreign files in cluster/', async () => {
  const { run, job } = runAndJob();
  const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-import-job-'));
  assert.throws(() => importClusterResults(bare, run), /has no output\/ folder: the job has not run yet, or its output was not copied back/);
  let r = await captureStdout(() => importCommand(['--job', bare, '--run', run]));
  assert.equal(r.code, 1);
  const notRun = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-import-run-'));
  fs.writeFileSync(path.join(notRun, 'run.json'), '{}');
  assert.throws(() => importClusterResults(job, notRun), /no run created this folder/);
  assert.ok(!fs.existsSync(path.join(notRun, CLUSTER_DIR)) && !fs.existsSync(path.join(notRun, 'events.jsonl')));
  assert.throws(() => clusterLog({ log_history: [{ eval_loss: 2, step: 4 }] }, 'state'), /holds no training loss/);
  assert.throws(() => clusterLog({ global_step: 3 }, 'state'), /no log_history/);
  fs.mkdirSync(path.join(run, CLUSTER_DIR));
  fs.writeFileSync(path.join(run, CLUSTER_DIR, 'notes.txt'), 'mine');
  assert.throws(() => importClusterResults(job, run), /holds files an import did not write \(notes\.txt\)/);
  r = await captureStdout(() => importCommand(['--job', job, '--run', run]));
  assert.equal(r.code, 1);
  assert.equal(fs.readFileSync(path.join(run, CLUSTER_DIR, 'notes.txt'), 'utf8'), 'mine');
});

test('the host commands ask for the cluster shape and folders, run the CLI with those flags, and report its answer', async () => {
  const runDir = path.join(os.tmpdir(), 'ws', '.finetune', 'runs', 'r1');
  const calls: string[][] = [];
  const reloaded: string[] = [];
  const deps = {
    cli: async (args: string[]) => {
      calls.push(args);
      return args[0] === 'import' ? JSON.stringify({ outputDir: '/o', steps: 8, evals: 2 }) + '\n' : '{}\n';
    },
    reloadPanel: (d: string) => reloaded.push(d),
  };
  fake.state.messages = [];
  // 4 GPUs per node, 2 nodes, ZeRO-3 (the third choice), the default job folder.
  fake.state.answers = [() => '4', () => '2', (req) => req.items![2]];
  const out = await cluster.exportClusterJobCommand(runDir, deps);
  assert.equal(out, path.join(os.tmpdir(), 'ws', '.finetune', 'jobs', 'r1'));
  assert.deepEqual(calls[0], ['export', '--run', runDir, '--to', 'trl', '--out', out, '--gpus', '4', '--nodes', '2', '--zero', '3', '--json']);
  assert.match(fake.state.messages.at(-1)!.text, /launch\.sh/);

  const imported = await cluster.importClusterResultsCommand(runDir, deps);
  assert.equal(imported, '/o');
  assert.deepEqual(calls[1], ['import', '--job', out, '--run', runDir, '--json']);
  assert.deepEqual(reloaded, [runDir]);
  assert.match(fake.state.messages.at(-1)!.text, /8 logged step\(s\), 2 evaluation\(s\)/);

  // The panel's two buttons post messages the host's guard accepts (and it runs these commands on them).
  assert.ok(isRunPanelWebviewMessage({ type: 'exportCluster' }) && isRunPanelWebviewMessage({ type: 'importCluster' }));
  assert.ok(!isRunPanelWebviewMessage({ type: 'exportClusterJob' }));

  // A failing CLI is an error message with its reason; a cancelled question runs nothing.
  const failing = { cli: async () => Promise.reject(new Error('bottleneck adapters cannot be exported')) };
  assert.equal(await cluster.exportClusterJobCommand(runDir, failing), undefined);
  assert.deepEqual(fake.state.messages.at(-1), { kind: 'error', text: 'Export as Cluster Job failed: bottleneck adapters cannot be exported' });
  fake.state.answers = [() => undefined];
  const before = calls.length;
  assert.equal(await cluster.exportClusterJobCommand(runDir, deps), undefined);
  assert.equal(calls.length, before);
});
