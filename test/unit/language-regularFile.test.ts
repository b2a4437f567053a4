// Files the user names (datasets, run.json, config.json, schemas) are read only when they are regular
// files: a FIFO is refused at once with a message saying what it is, where a read would have blocked
// forever (deaf to Ctrl-C), and so are directories and devices.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readRegularFile, readRegularFileSync, NotRegularFileError } from '../../language/regularFile';
import { readDataset } from '../../language/readDataset';
import { validateFile } from '../../language/validateFile';
import { loadSchemaFile } from '../../extension/schemaSetting';
import { TrainConfigError } from '../../protocol/options';
import { parseTrainArgs } from '../../trainer/runConfig';
import { loadModelFolder } from '../../trainer/formats/modelFolder';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'regular-file-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const posix = process.platform !== 'win32';

function fifo(name: string): string {
  const p = path.join(dir, name);
  execFileSync('mkfifo', [p]);
  return p;
}

/** Runs `fn` and fails if it takes longer than `ms`: a blocked read would take forever. */
async function quickly<T>(fn: () => Promise<T> | T, ms = 2000): Promise<T> {
  const t0 = Date.now();
  const r = await fn();
  assert.ok(Date.now() - t0 < ms, `took ${Date.now() - t0} ms`);
  return r;
}

test('the helper reads regular files and names what anything else is', { skip: !posix }, async () => {
  const file = path.join(dir, 'ok.txt');
  fs.writeFileSync(file, 'hello');
  assert.equal((await readRegularFile(file)).toString(), 'hello');
  assert.equal(readRegularFileSync(file, { maxBytes: 10 }).toString(), 'hello');
  const pipe = fifo('helper.fifo');
  await quickly(() =>
    assert.rejects(
      readRegularFile(pipe, { what: 'dataset' }),
      (e: Error) => e instanceof NotRegularFileError && e.message === `dataset ${pipe} is a FIFO (named pipe), not a regular file`,
    ),
  );
  assert.throws(() => readRegularFileSync(pipe, { maxBytes: 10 }), /is a FIFO \(named pipe\), not a regular file/);
  await assert.rejects(readRegularFile(dir), /is a directory, not a regular file/);
  await assert.rejects(readRegularFile('/dev/null'), /is a character device, not a regular file/);
  assert.throws(() => readRegularFileSync(file, { what: 'config', maxBytes: 3 }), /config .* is 5 bytes, more than the 3/);
});

test('readDataset and validateFile refuse a FIFO instead of waiting for a writer', { skip: !posix }, async () => {
  const pipe = fifo('data.jsonl');
  await quickly(() => assert.rejects(readDataset(pipe), /is a FIFO \(named pipe\), not a regular file/));
  await quickly(() => assert.rejects(validateFile(pipe), /is a FIFO \(named pipe\), not a regular file/));
  await quickly(() => assert.rejects(validateFile(dir), /is a directory, not a regular file/));
});

test('--config naming a FIFO is a settings error, not a hang', { skip: !posix }, async () => {
  const pipe = fifo('run.json');
  await quickly(() =>
    assert.throws(
      () => parseTrainArgs(['--config', pipe]),
      (e: Error) => e instanceof TrainConfigError && /config .*run\.json is a FIFO \(named pipe\)/.test(e.message),
    ),
  );
});

test('the schema setting and a model folder with a FIFO in them are refused with the file named', { skip: !posix }, async () => {
  const pipe = fifo('schema.json');
  const load = await quickly(() => loadSchemaFile(pipe));
  assert.ok('error' in load && /finetune\.dataset\.schema: schema .* is a FIFO/.test(load.error), JSON.stringify(load));
  const model = path.join(dir, 'model');
  fs.mkdirSync(model);
  execFileSync('mkfifo', [path.join(model, 'config.json')]);
  await quickly(() => assert.throws(() => loadModelFolder(model), /config\.json is a FIFO/));
});

test('finetune validate and finetune train on a FIFO exit at once with a message; SIGTERM is not needed', { skip: !posix }, async () => {
  const pipe = fifo('cli.jsonl');
  const root = path.join(__dirname, '..', '..');
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string; ms: number }>((resolve) => {
      const t0 = Date.now();
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'main.ts'), ...args], { cwd: root });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      // Were the read to block, the test ends it (and fails on the time) instead of hanging.
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr, ms: Date.now() - t0 });
      });
    });
  const [v, t] = await Promise.all([run(['validate', pipe]), run(['validate', path.join(__dirname, '..', '..', 'samples', 'alpaca.jsonl'), '--schema', pipe])]);
  assert.equal(v.code, 2);
  assert.match(v.stderr, /cli\.jsonl is a FIFO \(named pipe\), not a regular file/);
  assert.equal(t.code, 2);
  assert.match(t.stderr, /schema .*cli\.jsonl is a FIFO/);
  const train = await run(['train', '--data', pipe, '--model', 'tiny', '--out', path.join(dir, 'run'), '--max-steps', '1', '--backend', 'cpu']);
  assert.equal(train.code, 1, train.stderr);
  assert.match(train.stderr, /dataset .*cli\.jsonl is a FIFO \(named pipe\), not a regular file/);
  assert.ok(!/\n\s+at /.test(train.stderr), 'no stack trace for a user error');
  // Refused before any work: the run folder was not created.
  assert.ok(!fs.existsSync(path.join(dir, 'run')));
});
