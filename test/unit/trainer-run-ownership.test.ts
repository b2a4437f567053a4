// The run-folder rule (trainer/runOwnership.ts), through the cases of issue 9 §1-2: a run writes only
// into a folder that is new, empty or its own, only the files it owns there, never removes what it did
// not write, checks every path before the first step, and a folder killed before its first checkpoint
// can be used again. Each case checks that the user's files are still there byte for byte.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import type { DoneEvent, TrainerEvent } from '../../protocol/trainer';
import { parseTrainArgs, resolveTrainConfig } from '../../trainer/runConfig';
import { run as cliTrain } from '../../cli/train';
import { writeRunJson } from '../../extension/training/fineTuneChoices';
import { checkpointSteps, copyCheckpointOutput, pruneCheckpoints } from '../../trainer/checkpoints';
import { latestCheckpoint, writeCheckpointState } from '../../trainer/runFolder';
import { prepareRunFolder, refuseSystemFolder, RUN_MARKER, RunFolderError, writeCheckpoint, writeOutput, type RunFolder } from '../../trainer/runOwnership';
import { trainFromArgs } from '../../trainer/train';
import { captureStdout } from './captureStdout';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-ownership-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const colors = ['red', 'blue', 'green', 'yellow', 'purple', 'orange', 'black', 'white'];
const records = colors.map((c) => JSON.stringify({ instruction: `Name the color ${c}.`, output: `The color is ${c}.` })).join('\n') + '\n';

function folder(): string {
  return fs.mkdtempSync(path.join(scratch, 'case-'));
}

function dataFile(dir = folder(), name = 'train.jsonl'): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, records);
  return file;
}

/** Every file under `dir` with its bytes (folders as entries too), to compare before and after. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const rel = path.relative(dir, p);
      if (fs.statSync(p).isDirectory()) {
        out[rel + '/'] = '';
        walk(p);
      } else out[rel] = fs.readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}

async function runTrain(args: string[]): Promise<{ events: TrainerEvent[]; done: DoneEvent }> {
  const events: TrainerEvent[] = [];
  // The events as the CLI prints them, one JSON line each.
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) events.push(JSON.parse(line) as TrainerEvent);
      cb();
    },
  });
  const done = await trainFromArgs([...args, '--backend', 'wasm'], sink);
  return { events, done };
}

const small = ['--model', 'tiny', '--max-steps', '2', '--batch-size', '2', '--eval-fraction', '0'];
const refusedBeforeWork = (events: TrainerEvent[]) => assert.ok(!events.some((e) => e.type === 'start' || e.type === 'step'), 'no start or step event');
const errorOf = (events: TrainerEvent[]) => events.find((e) => e.type === 'error');

test('a dataset named events.jsonl inside --out is refused before any work and stays byte for byte', async () => {
  const dir = folder();
  const data = dataFile(dir, 'events.jsonl');
  const before = snapshot(dir);
  const { events, done } = await runTrain(['--data', data, '--out', dir, ...small]);
  assert.equal(done.status, 'failed');
  refusedBeforeWork(events);
  assert.match(done.message ?? '', new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*(another --out|--resume)`));
  const error = errorOf(events);
  assert.ok(error?.type === 'error' && error.stack === undefined, 'a user error has no stack');
  assert.deepEqual(snapshot(dir), before);
});

test("the CLI exits 1 without touching a folder of the user's files", async () => {
  const dir = folder();
  fs.mkdirSync(path.join(dir, 'output'));
  fs.writeFileSync(path.join(dir, 'output', 'mywork.txt'), 'mine\n');
  const data = dataFile();
  const before = snapshot(dir);
  // the early-stopping reproduction: its copy of the best checkpoint would have replaced output/
  const { code, out } = await captureStdout(() =>
    cliTrain([
      '--data',
      data,
      '--out',
      dir,
      '--model',
      'tiny',
      '--max-steps',
      '12',
      '--lr',
      '0.05',
      '--eval-every',
      '1',
      '--early-stopping-patience',
      '1',
      '--batch-size',
      '4',
      '--eval-fraction',
      '0.25',
      '--backend',
      'wasm',
    ]),
  );
  assert.equal(code, 1);
  assert.match(out, /mywork\.txt|output/);
  assert.deepEqual(snapshot(dir), before);
});

test('a folder with a user run.json, output/config.json, checkpoints/.tmp-mine and a foreign step-7 is refused before any work', async () => {
  const dir = folder();
  // a run.json of the user's own that reads as settings, so that --resume gets as far as the folder
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ data: dataFile(), model: 'tiny', maxSteps: 2 }) + '\n');
  fs.mkdirSync(path.join(dir, 'output'));
  fs.writeFileSync(path.join(dir, 'output', 'config.json'), '{"n_layer": 1}\n');
  fs.mkdirSync(path.join(dir, 'checkpoints', '.tmp-mine'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'checkpoints', '.tmp-mine', 'notes.txt'), 'notes');
  fs.mkdirSync(path.join(dir, 'checkpoints', 'step-7'));
  fs.writeFileSync(path.join(dir, 'checkpoints', 'step-7', 'trainer_state.json'), '{"step": 7, "epoch": 0, "nextBatch": 0}');
  const before = snapshot(dir);
  for (const args of [
    ['--data', dataFile(), '--out', dir, ...small],
    ['--resume', dir],
  ]) {
    const { events, done } = await runTrain(args);
    assert.equal(done.status, 'failed', args.join(' '));
    refusedBeforeWork(events);
    assert.match(done.message ?? '', new RegExp(RUN_MARKER.replace('.', '\\.')));
  }
  assert.deepEqual(snapshot(dir), before);
});

test('--out / and the home folder (or a folder above it) are refused outright', async () => {
  for (const dir of ['/', os.homedir(), path.dirname(os.homedir())]) {
    assert.throws(
      () => refuseSystemFolder(dir),
      (e: Error) => e instanceof RunFolderError && /filesystem root|home folder/.test(e.message),
      dir,
    );
  }
  assert.doesNotThrow(() => refuseSystemFolder(path.join(scratch, 'fine')));
  const { events, done } = await runTrain(['--data', dataFile(), '--out', '/', ...small]);
  assert.equal(done.status, 'failed');
  refusedBeforeWork(events);
  assert.match(done.message ?? '', /--out \/ is the filesystem root/);
  assert.equal(fs.existsSync('/run.json') || fs.existsSync(path.join('/', RUN_MARKER)), false);
});

test('a run folder that cannot be created is a sentence about that path, without a stack', async () => {
  const parent = path.join(folder(), 'a-file');
  fs.writeFileSync(parent, 'mine\n');
  const { events, done } = await runTrain(['--data', dataFile(), '--out', path.join(parent, 'run'), ...small]);
  assert.equal(done.status, 'failed');
  refusedBeforeWork(events);
  assert.match(done.message ?? '', /cannot use --out .*a-file.*a part of the path is a file.*ENOTDIR/);
  assert.ok(errorOf(events)?.type === 'error' && (errorOf(events) as { stack?: string }).stack === undefined);
  assert.equal(fs.readFileSync(parent, 'utf8'), 'mine\n');
});

test('output/ existing as a file fails before the first step with a clear message', async () => {
  const dir = path.join(folder(), 'run');
  // a folder the extension created (its marker through the same module), then a file named output
  writeRunJson(resolveTrainConfig({ data: dataFile(), model: 'tiny', out: dir, maxSteps: 2, batchSize: 2, evalFraction: 0, backend: 'wasm' }));
  fs.writeFileSync(path.join(dir, 'output'), 'not a folder\n');
  const { events, done } = await runTrain(['--config', path.join(dir, 'run.json')]);
  assert.equal(done.status, 'failed');
  refusedBeforeWork(events);
  assert.match(done.message ?? '', /output exists and is not a folder/);
  assert.ok(errorOf(events)?.type === 'error' && (errorOf(events) as { stack?: string }).stack === undefined);
  assert.equal(fs.readFileSync(path.join(dir, 'output'), 'utf8'), 'not a folder\n');
});

test('a folder killed before its first checkpoint starts over, and --resume in one starts from step 0', async () => {
  const killed = () => {
    const dir = path.join(folder(), 'run');
    writeRunJson(resolveTrainConfig({ data: dataFile(), model: 'tiny', out: dir, maxSteps: 2, batchSize: 2, evalFraction: 0, backend: 'wasm' }));
    // what a SIGKILL after step 1 leaves: events with a step, no checkpoint, no output
    fs.writeFileSync(
      path.join(dir, 'events.jsonl'),
      JSON.stringify({ type: 'start', time: 1 }) + '\n' + JSON.stringify({ type: 'step', time: 2, step: 1 }) + '\n',
    );
    fs.writeFileSync(path.join(dir, 'mine.txt'), "the user's\n");
    return dir;
  };
  const reused = killed();
  const first = await runTrain(['--config', path.join(reused, 'run.json')]);
  assert.equal(first.done.status, 'completed', first.done.message);
  assert.ok(first.events.some((e) => e.type === 'log' && /starting over/.test(e.message)));
  const onDisk = fs
    .readFileSync(path.join(reused, 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TrainerEvent);
  assert.deepEqual(
    onDisk.filter((e) => e.type === 'step').map((e) => (e.type === 'step' ? e.step : 0)),
    [1, 2],
  );
  assert.equal(fs.readFileSync(path.join(reused, 'mine.txt'), 'utf8'), "the user's\n");
  // the outputs are exactly the files the run wrote, and nothing of the user's
  assert.deepEqual(first.done.outputFiles, fs.readdirSync(path.join(reused, 'output')).sort());
  // finished now (it has an output): a plain start is refused and points at --resume
  const again = await runTrain(['--config', path.join(reused, 'run.json')]);
  assert.equal(again.done.status, 'failed');
  assert.match(again.done.message ?? '', /already holds a run .*--resume/);

  const resumed = killed();
  const second = await runTrain(['--resume', resumed]);
  assert.equal(second.done.status, 'completed', second.done.message);
  assert.ok(second.events.some((e) => e.type === 'log' && /no checkpoint yet.*starting from step 0/.test(e.message)));
  assert.deepEqual(
    second.events.filter((e) => e.type === 'step').map((e) => (e.type === 'step' ? e.step : 0)),
    [1, 2],
  );
});

/** A run folder of its own (as prepareRunFolder leaves it) with checkpoints of steps `steps`. */
function ownRun(steps: number[]): RunFolder {
  const run = prepareRunFolder(resolveTrainConfig({ data: path.join(scratch, 'none.jsonl'), model: 'tiny', out: path.join(folder(), 'run') }));
  for (const step of steps) {
    writeCheckpoint(run, step, (tmp) => {
      fs.writeFileSync(path.join(tmp, 'adapter_model.safetensors'), `weights of step ${step}`);
      writeCheckpointState(tmp, { step, epoch: 0, nextBatch: step, evalsWithoutGain: 0, lastEvalStep: -1, trainSeconds: 0 }, new Map(), run.id);
    });
  }
  return run;
}

test("pruning and --resume count only the checkpoints the run wrote; others' folders stay untouched", () => {
  const run = ownRun([1, 2, 3, 4]);
  // a user's folder and another run's checkpoint, put into this run's checkpoints/
  fs.mkdirSync(path.join(run.checkpoints, '.tmp-mine'));
  fs.writeFileSync(path.join(run.checkpoints, '.tmp-mine', 'notes.txt'), 'notes');
  const other = ownRun([7]);
  fs.cpSync(path.join(other.checkpoints, 'step-7'), path.join(run.checkpoints, 'step-7'), { recursive: true });
  // and a user's file inside one of the run's own checkpoints
  fs.writeFileSync(path.join(run.checkpoints, 'step-1', 'mine.txt'), 'mine');
  const foreign = () => ({ tmp: snapshot(path.join(run.checkpoints, '.tmp-mine')), step7: snapshot(path.join(run.checkpoints, 'step-7')) });
  const before = foreign();
  assert.deepEqual(checkpointSteps(run), [1, 2, 3, 4]);
  assert.equal(latestCheckpoint(run)?.state.step, 4);
  assert.deepEqual(pruneCheckpoints(run, 1), [1, 2, 3]);
  assert.deepEqual(checkpointSteps(run), [4]);
  assert.deepEqual(foreign(), before);
  // step-1 lost the run's files, not the user's
  assert.deepEqual(fs.readdirSync(path.join(run.checkpoints, 'step-1')), ['mine.txt']);
  // a plain --resume now refuses the foreign step-7 instead of resuming from it or pruning it
  assert.throws(
    () => prepareRunFolder(parseTrainArgs(['--resume', run.dir])),
    (e: Error) => e instanceof RunFolderError && /step-7/.test(e.message) && /did not write/.test(e.message),
  );
  assert.deepEqual(foreign(), before);
});

test("replacing output/ removes only the files the run wrote there, refuses around a user's file, and a failed write keeps the last output", () => {
  const run = ownRun([1]);
  assert.deepEqual(
    writeOutput(run, (tmp) => ['a.txt', 'b.txt'].forEach((f) => fs.writeFileSync(path.join(tmp, f), 'first'))),
    ['a.txt', 'b.txt'],
  );
  assert.deepEqual(
    writeOutput(run, (tmp) => fs.writeFileSync(path.join(tmp, 'a.txt'), 'second')),
    ['a.txt'],
  );
  assert.deepEqual(fs.readdirSync(run.output), ['a.txt']);
  assert.throws(
    () =>
      writeOutput(run, () => {
        throw new Error('disk full');
      }),
    /disk full/,
  );
  assert.equal(fs.readFileSync(path.join(run.output, 'a.txt'), 'utf8'), 'second');
  // early stopping's copy of the best checkpoint, with a user's file in output/
  fs.writeFileSync(path.join(run.output, 'mywork.txt'), 'mine\n');
  const before = snapshot(run.output);
  assert.throws(
    () => copyCheckpointOutput(path.join(run.checkpoints, 'step-1'), run),
    (e: Error) => e instanceof RunFolderError && /mywork\.txt/.test(e.message),
  );
  assert.deepEqual(snapshot(run.output), before);
  // and the next start of the run refuses up front, before any work
  assert.throws(
    () => prepareRunFolder(parseTrainArgs(['--resume', run.dir])),
    (e: Error) => e instanceof RunFolderError && /mywork\.txt/.test(e.message),
  );
});

test("inputs under the run's own names are refused even in its own folder; its own run.json as --config is fine", () => {
  const run = ownRun([]);
  const config = (data: string) => resolveTrainConfig({ data, model: 'tiny', out: run.dir });
  for (const inside of ['events.jsonl', 'output/data.jsonl', 'checkpoints/step-1/data.jsonl', '.tmp-x/data.jsonl']) {
    assert.throws(
      () => prepareRunFolder(config(path.join(run.dir, inside))),
      (e: Error) => e instanceof RunFolderError && e.message.includes(run.dir),
      inside,
    );
  }
  assert.throws(() => prepareRunFolder(config(dataFile()), { configFile: path.join(run.dir, 'output', 'run.json') }), RunFolderError);
  assert.doesNotThrow(() => prepareRunFolder(config(path.join(run.dir, 'my-data.jsonl')), { configFile: run.runJson }));
});

test("the extension's run folder is claimed through the same rule: a folder of the user's is refused", () => {
  const dir = folder();
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
  assert.throws(
    () => writeRunJson(resolveTrainConfig({ data: dataFile(), model: 'tiny', out: dir })),
    (e: Error) => e instanceof RunFolderError && e.message.includes(dir),
  );
  assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
  const fresh = path.join(folder(), 'run');
  writeRunJson(resolveTrainConfig({ data: dataFile(), model: 'tiny', out: fresh }));
  assert.deepEqual(fs.readdirSync(fresh).sort(), [RUN_MARKER, 'run.json']);
});
