// The run folder's one owner (trainer/runFolder.ts, runOwnership.ts, runLayout.ts) as its readers and
// writers see it: the one event reader (a partial last line, a line that is not JSON, an event type of a
// newer trainer), the event writer appending after a line a killed writer tore, and run.json's one
// writer (a run started from its own run.json leaves it as it was). In-process and on small files only.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isTrainerEvent, parseEventLines, type TrainerEvent } from '../../protocol/trainer';
import { resolveTrainConfig } from '../../trainer/runConfig';
import {
  appendRunEvents,
  createRunFolder,
  EventFileTail,
  EventWriter,
  prepareRunFolder,
  readRunEvents,
  readRunJson,
  RUN_FILES,
  runPaths,
} from '../../trainer/runFolder';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-runfolder-events-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const folder = () => fs.mkdtempSync(path.join(scratch, 'case-'));
const line = (e: object) => JSON.stringify(e) + '\n';
const step = (n: number, extra: object = {}) => ({ type: 'step', time: 100 + n, step: n, epoch: 0, loss: 3 - n / 10, ...extra });
const steps = (events: readonly TrainerEvent[]) => events.map((e) => (e.type === 'step' ? e.step : e.type));

test('the event reader skips a line that is not JSON and an event type it does not know, and keeps the events around them', () => {
  const skipped: string[] = [];
  const text = line(step(1)) + 'Warning: something printed this\n' + line({ type: 'telemetry', time: 5 }) + line(step(2)) + '\n  \n';
  const events = parseEventLines(text, (l) => skipped.push(l));
  assert.deepEqual(steps(events), [1, 2]);
  assert.deepEqual(skipped, ['Warning: something printed this', '{"type":"telemetry","time":5}']);
  // The same guard for one value: a known type and its time, nothing else is an event.
  assert.equal(isTrainerEvent(step(1)), true);
  assert.equal(isTrainerEvent({ type: 'step', step: 1 }), false, 'no time');
  assert.equal(isTrainerEvent({ type: 'telemetry', time: 1 }), false, 'unknown type');
  assert.equal(isTrainerEvent([{ type: 'step', time: 1 }]), false);
  assert.equal(isTrainerEvent(null), false);
});

test("a folder's events are read whole; a last line torn by a kill is left out, not misread", () => {
  const dir = folder();
  const torn = JSON.stringify(step(3));
  fs.writeFileSync(runPaths(dir).events, line(step(1)) + line(step(2)) + torn.slice(0, torn.length - 4));
  assert.deepEqual(steps(readRunEvents(dir)), [1, 2]);
  assert.deepEqual(readRunEvents(path.join(dir, 'missing')), [], 'no events.jsonl: no events');
});

test('the tail keeps back a partial last line until its newline arrives, and never splits a character', () => {
  const file = runPaths(folder()).events;
  const tail = new EventFileTail(file);
  const bytes = Buffer.from(line(step(1, { note: 'déjà vu ✓' })), 'utf8');
  // Cut inside the two-byte é: a reader that decodes what it has so far turns it into U+FFFD.
  const cut = bytes.indexOf(Buffer.from('é', 'utf8')) + 1;
  fs.writeFileSync(file, bytes.subarray(0, cut));
  assert.deepEqual(tail.read(), []);
  fs.appendFileSync(file, bytes.subarray(cut));
  const [event] = tail.read();
  assert.equal((event as unknown as { note: string }).note, 'déjà vu ✓');
  assert.deepEqual(tail.read(), []);
});

test('an event writer opened on a file whose last line a killed writer tore ends that line first: its own first event is read back', () => {
  const dir = folder();
  const file = runPaths(dir).events;
  const torn = JSON.stringify(step(2));
  fs.writeFileSync(file, line(step(1)) + torn.slice(0, 12));
  // What --resume does after a SIGKILL: a new trainer appends to the same events.jsonl.
  const writer = new EventWriter(file);
  writer.emit({ type: 'log', level: 'info', message: 'resumed' });
  writer.close();
  assert.deepEqual(steps(readRunEvents(dir)), [1, 'log']);
  // A file that ends with its newline gets no blank line.
  appendRunEvents(dir, [{ type: 'log', level: 'info', message: 'again' }]);
  assert.equal(
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l === '').length,
    1,
    'only the final newline',
  );
});

test('events appended for the host are stamped and serialised as the trainer writes them, and read back equal', () => {
  const dir = folder();
  fs.writeFileSync(runPaths(dir).events, line(step(1)));
  const written = appendRunEvents(dir, [
    { type: 'error', message: 'the trainer was killed by SIGKILL' },
    { type: 'done', status: 'failed', step: 1, elapsedSec: 1, outputFiles: [], message: 'the trainer was killed by SIGKILL' },
  ]);
  assert.ok(written.every((e) => isTrainerEvent(e) && typeof e.time === 'number'));
  assert.deepEqual(readRunEvents(dir).slice(1), written);
  // `type` and `time` lead each line, as the trainer's own lines do.
  assert.match(fs.readFileSync(runPaths(dir).events, 'utf8').split('\n')[1], /^\{"type":"error","time":\d+,"message":/);
});

test('run.json has one writer: a run started from its own run.json leaves it byte for byte; other settings are written', () => {
  const dir = path.join(folder(), 'run');
  const data = path.join(scratch, 'train.jsonl');
  const config = resolveTrainConfig({ data, model: 'tiny', out: dir, maxSteps: 2 });
  const file = createRunFolder(config);
  assert.equal(file, runPaths(dir).runJson);
  assert.equal(path.basename(file), RUN_FILES.runJson);
  // The user reformats it (same settings, other key order and spacing): the trainer keeps their file.
  const settings = readRunJson(dir)!;
  const reordered = JSON.stringify(Object.fromEntries(Object.entries(settings).reverse())) + '\n';
  fs.writeFileSync(file, reordered);
  prepareRunFolder(config, { configFile: file });
  assert.equal(fs.readFileSync(file, 'utf8'), reordered);
  // Settings that differ (a flag given with --resume) are the run's now: written.
  prepareRunFolder({ ...config, maxSteps: 5 }, { configFile: file });
  assert.equal(readRunJson(dir)!.maxSteps, 5);
});

test('run.json that is not a JSON object, or not a file, reads as none (the runs view shows the run without it)', () => {
  const dir = folder();
  fs.writeFileSync(runPaths(dir).runJson, '[1, 2]');
  assert.equal(readRunJson(dir), undefined);
  fs.writeFileSync(runPaths(dir).runJson, '{"data": ');
  assert.equal(readRunJson(dir), undefined);
  fs.rmSync(runPaths(dir).runJson);
  fs.mkdirSync(runPaths(dir).runJson);
  assert.equal(readRunJson(dir), undefined);
});
