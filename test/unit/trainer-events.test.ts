import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTrainerEvent, TRAINER_EVENT_TYPES, type TrainerEvent } from '../../protocol/trainer';

// Every folder a test writes lives here and is removed when the file's tests end.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-tests-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const childEntry = path.join(__dirname, '../../trainer/child.ts');

function dataset(): { dir: string; data: string } {
  const dir = fs.mkdtempSync(path.join(scratch, 'ft-child-'));
  const data = path.join(dir, 'train.jsonl');
  const rows = ['red', 'blue', 'green', 'yellow', 'purple', 'orange', 'black', 'white'].map((c) =>
    JSON.stringify({ instruction: `Name the color ${c}.`, output: `The color is ${c}.` }),
  );
  fs.writeFileSync(data, rows.join('\n') + '\n');
  return { dir, data };
}

/** Runs the child entry as the extension does (fork with IPC); `onEvent` may send control messages. */
function runChild(
  args: string[],
  onEvent?: (e: TrainerEvent, child: ReturnType<typeof fork>) => void,
): Promise<{ code: number | null; lines: string[]; events: TrainerEvent[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = fork(childEntry, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const lines: string[] = [];
    const events: TrainerEvent[] = [];
    let buffer = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        const event = parseTrainerEvent(line);
        if (event) {
          events.push(event);
          onEvent?.(event, child);
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, lines, events, stderr }));
  });
}

test('the child process prints only trainer events, the same lines as events.jsonl, from start to done', async () => {
  const { dir, data } = dataset();
  const out = path.join(dir, 'run');
  const r = await runChild([
    '--data',
    data,
    '--model',
    'tiny',
    '--strategy',
    'lora',
    '--out',
    out,
    '--max-steps',
    '3',
    '--batch-size',
    '4',
    '--eval-fraction',
    '0.25',
    '--backend',
    'wasm',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.events.length, r.lines.length, 'every stdout line is a trainer event');
  for (const e of r.events) {
    assert.ok(TRAINER_EVENT_TYPES.includes(e.type));
    assert.equal(typeof e.time, 'number');
  }
  assert.deepEqual(fs.readFileSync(path.join(out, 'events.jsonl'), 'utf8').trim().split('\n'), r.lines);
  const types = r.events.map((e) => e.type);
  assert.deepEqual(types.slice(0, 3), ['start', 'params', 'memory']);
  assert.equal(types.at(-1), 'done');
  assert.deepEqual(
    r.events.filter((e) => e.type === 'step').map((e) => (e as { step: number }).step),
    [1, 2, 3],
  );
  const start = r.events[0];
  assert.ok(start.type === 'start' && start.backend === 'wasm' && start.dataset.train === 6 && start.dataset.eval === 2 && start.model.nLayer === 2);
  const params = r.events[1];
  assert.ok(params.type === 'params' && /^trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}$/.test(params.line));
  // the per-layer rows account for every parameter; LoRA's are the added ones
  const rows = params.perLayer!;
  assert.deepEqual(
    rows.map((r) => r.name),
    ['embeddings', 'h.0', 'h.1', 'ln_f'],
  );
  assert.equal(
    rows.reduce((a, r) => a + r.frozen + r.trainable + r.added, 0),
    params.total,
  );
  assert.equal(
    rows.reduce((a, r) => a + r.added, 0),
    params.trainable,
  );
  const done = r.events.at(-1)!;
  assert.ok(done.type === 'done' && done.status === 'completed' && done.outputFiles.includes('adapter_model.safetensors'));
});

test('the stop control message ends the child cleanly: output saved, done: stopped, exit 0', async () => {
  const { dir, data } = dataset();
  let sent = false;
  const r = await runChild(
    [
      '--data',
      data,
      '--model',
      'tiny',
      '--strategy',
      'lora',
      '--out',
      path.join(dir, 'run'),
      '--epochs',
      '100',
      '--batch-size',
      '2',
      '--eval-fraction',
      '0',
      '--backend',
      'wasm',
    ],
    (e, child) => {
      if (e.type === 'step' && !sent) {
        sent = true;
        child.send({ type: 'stop' });
      }
    },
  );
  assert.equal(r.code, 0, r.stderr);
  const done = r.events.at(-1)!;
  assert.ok(done.type === 'done' && done.status === 'stopped', JSON.stringify(done));
  assert.ok(done.step >= 1 && done.step < 50);
  assert.ok(fs.existsSync(path.join(dir, 'run', 'output', 'adapter_model.safetensors')));
});

test('SIGTERM also stops the child cleanly', async () => {
  const { dir, data } = dataset();
  const r = await runChild(
    [
      '--data',
      data,
      '--model',
      'tiny',
      '--strategy',
      'lora',
      '--out',
      path.join(dir, 'run'),
      '--epochs',
      '100',
      '--batch-size',
      '2',
      '--eval-fraction',
      '0',
      '--backend',
      'wasm',
    ],
    (e, child) => {
      if (e.type === 'step' && e.step === 1) child.kill('SIGTERM');
    },
  );
  assert.equal(r.code, 0, r.stderr);
  const done = r.events.at(-1)!;
  assert.ok(done.type === 'done' && done.status === 'stopped');
});

test('bad settings give an error event and exit code 2; a failed run exits 1', async () => {
  const bad = await runChild(['--data', 'x.jsonl', '--model', 'tiny', '--out', '/tmp/x', '--lr', 'fast']);
  assert.equal(bad.code, 2);
  assert.equal(bad.events.length, 1);
  assert.ok(bad.events[0].type === 'error' && /--lr must be a number/.test(bad.events[0].message));
  const { dir } = dataset();
  const missing = await runChild(['--data', path.join(dir, 'nope.jsonl'), '--model', 'tiny', '--out', path.join(dir, 'run'), '--backend', 'wasm']);
  assert.equal(missing.code, 1);
  const error = missing.events.find((e) => e.type === 'error');
  assert.ok(error?.type === 'error' && /nope\.jsonl/.test(error.message));
  assert.ok(missing.events.at(-1)?.type === 'done');
});

test("a user's error (bad flag, dataset, model, file or path) is its message alone; a bug keeps its stack", async () => {
  const { isUserError, errorEventFields } = await import('../../trainer/userErrors');
  const { dir } = dataset();
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  const fsError = (f: () => void): Error => {
    try {
      f();
    } catch (err) {
      return err as Error;
    }
    throw new Error('expected a file-system error');
  };
  const { DatasetError } = await import('../../trainer/data');
  const { TrainConfigError } = await import('../../protocol/options');
  for (const err of [
    fsError(() => fs.mkdirSync(file)),
    fsError(() => fs.readFileSync(path.join(dir, 'none'))),
    fsError(() => fs.readdirSync(file)),
    new DatasetError('bad data'),
    new TrainConfigError('--lr must be…'),
  ]) {
    assert.ok(isUserError(err), `${err.message} is the user's`);
    const fields = errorEventFields(err);
    assert.deepEqual(fields, { message: err.message });
  }
  const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
  assert.equal(isUserError(bug), false);
  assert.equal(errorEventFields(bug).stack, bug.stack);
  // A code without a path is not a user's file: e.g. a socket error inside a library.
  assert.equal(isUserError(Object.assign(new Error('boom'), { code: 'EACCES', syscall: 'connect' })), false);
});

test('a run with a model folder that does not exist fails with the message alone, no stack', async () => {
  const { dir, data } = dataset();
  const r = await runChild(['--data', data, '--model', path.join(dir, 'no-such-model'), '--out', path.join(dir, 'run'), '--backend', 'wasm']);
  assert.equal(r.code, 1);
  const error = r.events.find((e) => e.type === 'error');
  assert.ok(error?.type === 'error' && error.message.includes('no-such-model'), JSON.stringify(r.events));
  assert.equal(error.stack, undefined, `no stack for a user's error: ${error.stack}`);
});
