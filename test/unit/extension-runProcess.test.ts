import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunProcess } from '../../extension/training/runProcess';
import { isTrainerEvent, parseEventLines, type TrainerEvent } from '../../protocol/trainer';
import { readRunEvents } from '../../trainer/runFolder';
import { writeFakeTrainer } from './extension-runFakeTrainer';

function setup(): { trainer: string; runDir: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-runproc-'));
  const trainer = writeFakeTrainer(root);
  return { trainer, runDir: path.join(root, 'run') };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a run that completes: events arrive in order from stdout, stderr lands in trainer.log, events.jsonl is not written twice', async () => {
  const { trainer, runDir } = setup();
  const events: TrainerEvent[] = [];
  let logged = '';
  const run = new RunProcess({
    trainerPath: trainer,
    args: ['--mode', 'normal', '--steps', '4'],
    runDir,
    onEvent: (e) => events.push(e),
    onLog: (t) => (logged += t),
  });
  const exit = await run.exited;
  assert.equal(exit.code, 0);
  assert.equal(exit.failure, undefined);
  assert.equal(exit.done?.status, 'completed');
  assert.deepEqual(
    events.map((e) => e.type),
    ['start', 'step', 'step', 'step', 'step', 'done'],
  );
  assert.deepEqual(
    events.filter((e) => e.type === 'step').map((e) => (e as { step: number }).step),
    [1, 2, 3, 4],
  );
  assert.match(fs.readFileSync(path.join(runDir, 'trainer.log'), 'utf8'), /trainer warming up/);
  assert.match(logged, /trainer warming up/);
  const onDisk = parseEventLines(fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8'));
  assert.deepEqual(
    onDisk.map((e) => e.type),
    events.map((e) => e.type),
  );
  assert.equal(run.running, false);
});

test('the child runs with ELECTRON_RUN_AS_NODE=1, in the run folder, with an IPC channel', async () => {
  const { trainer, runDir } = setup();
  const events: TrainerEvent[] = [];
  const run = new RunProcess({
    trainerPath: trainer,
    args: ['--mode', 'env'],
    runDir,
    env: { ...process.env, ELECTRON_RUN_AS_NODE: undefined },
    onEvent: (e) => events.push(e),
  });
  await run.exited;
  const log = events.find((e) => e.type === 'log') as { message: string };
  const seen = JSON.parse(log.message);
  assert.equal(seen.electron, '1');
  assert.equal(fs.realpathSync(seen.cwd), fs.realpathSync(runDir));
  assert.equal(seen.connected, true);
});

test('stop sends the IPC message: the trainer finishes with status stopped and no signal is needed', async () => {
  const { trainer, runDir } = setup();
  const events: TrainerEvent[] = [];
  const run = new RunProcess({
    trainerPath: trainer,
    args: ['--mode', 'normal', '--steps', '1000'],
    runDir,
    onEvent: (e) => events.push(e),
    stopGraceMs: 5000,
  });
  await waitFor(() => events.filter((e) => e.type === 'step').length >= 2);
  const t0 = Date.now();
  run.stop();
  const exit = await run.exited;
  assert.equal(exit.signal, null);
  assert.equal(exit.code, 0);
  assert.equal(exit.done?.status, 'stopped');
  assert.equal(exit.failure, undefined);
  assert.equal(exit.stopRequested, true);
  assert.ok(Date.now() - t0 < 2000, 'stopped promptly');
  const onDisk = parseEventLines(fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8'));
  assert.equal(onDisk.at(-1)?.type, 'done');
  assert.equal(onDisk.filter((e) => e.type === 'done').length, 1);
});

test('a trainer that ignores stop and SIGTERM is killed with its whole process group, and the folder records the failure', async () => {
  const { trainer, runDir } = setup();
  const events: TrainerEvent[] = [];
  const run = new RunProcess({
    trainerPath: trainer,
    args: ['--mode', 'ignore-stop', '--steps', '1000000'],
    runDir,
    onEvent: (e) => events.push(e),
    stopGraceMs: 300,
    termGraceMs: 300,
  });
  await waitFor(() => events.some((e) => e.type === 'step'));
  const grandchild = Number((events.find((e) => e.type === 'log') as { message: string }).message.split(' ')[1]);
  assert.ok(alive(grandchild));
  const t0 = Date.now();
  run.stop();
  const exit = await run.exited;
  const took = Date.now() - t0;
  assert.equal(exit.signal, 'SIGKILL');
  assert.ok(took >= 550 && took < 3000, `escalated after both grace periods (${took} ms)`);
  assert.equal(exit.done, undefined);
  assert.match(exit.failure!, /killed by SIGKILL/);
  await waitFor(() => !alive(grandchild), 2000);
  const onDisk = parseEventLines(fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8'));
  const last = onDisk.at(-1);
  assert.equal(last?.type, 'done');
  assert.equal((last as { status: string }).status, 'failed');
  assert.ok(onDisk.some((e) => e.type === 'error' && /SIGKILL/.test(e.message)));
  // The host-made events were reported like the trainer's own.
  assert.equal(events.at(-1)?.type, 'done');
});

test('a trainer killed from outside mid-run: the failure names the signal and the steps so far are kept', async () => {
  const { trainer, runDir } = setup();
  const run = new RunProcess({ trainerPath: trainer, args: ['--mode', 'silent-death', '--steps', '10'], runDir });
  const exit = await run.exited;
  assert.equal(exit.signal, 'SIGKILL');
  assert.equal(exit.stopRequested, false);
  assert.match(exit.failure!, /the trainer was killed by SIGKILL/);
  const onDisk = parseEventLines(fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8'));
  assert.deepEqual(
    onDisk.map((e) => e.type),
    ['start', 'step', 'step', 'error', 'done'],
  );
  assert.equal((onDisk.at(-1) as { step: number }).step, 2);
});

test("a trainer killed mid-line: the host's error and done are typed events, appended after the torn line and read back by the one reader", async () => {
  const { trainer, runDir } = setup();
  const events: TrainerEvent[] = [];
  const run = new RunProcess({ trainerPath: trainer, args: ['--mode', 'torn-death', '--steps', '10'], runDir, onEvent: (e) => events.push(e) });
  const exit = await run.exited;
  assert.equal(exit.signal, 'SIGKILL');
  const onDisk = readRunEvents(runDir);
  assert.deepEqual(
    onDisk.map((e) => e.type),
    ['start', 'step', 'step', 'error', 'done'],
  );
  const [error, done] = onDisk.slice(-2);
  assert.ok(isTrainerEvent(error) && error.type === 'error' && typeof error.time === 'number');
  assert.match(error.message, /killed by SIGKILL/);
  assert.ok(done.type === 'done' && done.status === 'failed' && done.step === 2 && done.message === error.message);
  // What the listeners were told is what the folder holds, field for field.
  assert.deepEqual(events.slice(-2), [error, done]);
});

test('an error the trainer only printed (bad config, before the run folder) becomes the failure and is written to events.jsonl once', async () => {
  const { trainer, runDir } = setup();
  const run = new RunProcess({ trainerPath: trainer, args: ['--mode', 'crash'], runDir });
  const exit = await run.exited;
  assert.equal(exit.code, 2);
  assert.equal(exit.failure, 'config is broken: --lr must be greater than 0');
  const onDisk = parseEventLines(fs.readFileSync(path.join(runDir, 'events.jsonl'), 'utf8'));
  assert.deepEqual(
    onDisk.map((e) => e.type),
    ['error', 'done'],
  );
  assert.equal((onDisk[1] as { message?: string }).message, exit.failure);
});

test('a trainer script that does not exist ends as a failure instead of hanging', async () => {
  const { runDir } = setup();
  const run = new RunProcess({ trainerPath: path.join(os.tmpdir(), 'no-such-trainer-xyz.js'), args: [], runDir });
  const exit = await run.exited;
  assert.notEqual(exit.code, 0);
  assert.ok(exit.failure);
});
