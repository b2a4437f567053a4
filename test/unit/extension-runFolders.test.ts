import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  listRunFolders,
  RunSummaryCache,
  runDescription,
  runIdFor,
  statusBarText,
  summarizeEvents,
  summarizeRunFolder,
  uniqueRunDir,
  STALE_RUN_MS,
} from '../../extension/training/runFolders';
import type { TrainerEvent } from '../../protocol/trainer';
import { EventFileTail } from '../../trainer/runFolder';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ft-runs-'));
const line = (e: object) => JSON.stringify(e) + '\n';

const start = { type: 'start', time: 1000, config: { data: '/x/alpaca.jsonl', model: 'tiny', strategy: 'lora' }, totalSteps: 9 } as unknown as TrainerEvent;
const step = (n: number, loss: number) => ({ type: 'step', time: 1000 + n, step: n, epoch: n / 3, loss, etaSec: 10 }) as unknown as TrainerEvent;
const evalE = (n: number, loss: number) => ({ type: 'eval', time: 1000 + n, step: n, epoch: 1, loss, tokens: 1, examples: 1 }) as TrainerEvent;

test('run ids read as time, dataset and strategy, and sort by time', () => {
  assert.equal(runIdFor(new Date('2026-11-28T14:55:03.123Z'), '/data/alpaca.jsonl', 'lora'), '2026-11-28T14-55-03-alpaca-lora');
  assert.equal(runIdFor(new Date('2026-11-28T14:55:03Z'), '/data/my data (v2).jsonl', 'full'), '2026-11-28T14-55-03-my-data-v2-full');
  const a = runIdFor(new Date('2026-01-02T03:04:05Z'), 'a.jsonl', 'full');
  const b = runIdFor(new Date('2026-11-02T03:04:05Z'), 'a.jsonl', 'full');
  assert.ok(a < b);
});

test('two runs started in the same second get distinct folders', () => {
  const dir = tmp();
  const first = uniqueRunDir(dir, 'id');
  fs.mkdirSync(first);
  const second = uniqueRunDir(dir, 'id');
  assert.equal(path.basename(first), 'id');
  assert.equal(path.basename(second), 'id-2');
});

test('the tail returns only complete new lines and picks up a torn line once its newline arrives', () => {
  const dir = tmp();
  const file = path.join(dir, 'events.jsonl');
  const tail = new EventFileTail(file);
  assert.deepEqual(tail.read(), [], 'no file yet');
  fs.writeFileSync(file, line(start) + line(step(1, 3)));
  assert.deepEqual(
    tail.read().map((e) => e.type),
    ['start', 'step'],
  );
  assert.deepEqual(tail.read(), []);
  const torn = JSON.stringify(step(2, 2.5));
  fs.appendFileSync(file, torn.slice(0, 10));
  assert.deepEqual(tail.read(), []);
  fs.appendFileSync(file, torn.slice(10) + '\n');
  const got = tail.read();
  assert.equal(got.length, 1);
  assert.equal((got[0] as { step: number }).step, 2);
  // Replaced by a shorter file: read from the start again.
  fs.writeFileSync(file, line(start));
  assert.deepEqual(
    tail.read().map((e) => e.type),
    ['start'],
  );
});

test('status comes from the events: done wins, an error without done is a failure, an active run is running', () => {
  const base = [start, step(1, 3), evalE(1, 2.9), step(2, 2.5), evalE(2, 2.7)];
  const done = { type: 'done', time: 2000, status: 'stopped', step: 2, elapsedSec: 1, outputFiles: [], message: 'stopped at step 2' } as TrainerEvent;
  const s = summarizeEvents('id', '/r/id', [...base, done], undefined);
  assert.equal(s.status, 'stopped');
  assert.equal(s.bestEvalLoss, 2.7);
  assert.equal(s.dataset, 'alpaca.jsonl');
  assert.equal(s.strategy, 'lora');
  assert.equal(s.message, 'stopped at step 2');
  assert.equal(summarizeEvents('id', '/r/id', base, undefined, { active: true }).status, 'running');
  assert.equal(summarizeEvents('id', '/r/id', [], undefined, { active: true }).status, 'waiting');
  const failed = summarizeEvents('id', '/r/id', [...base, { type: 'error', time: 3, message: 'out of memory' } as TrainerEvent], undefined);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.message, 'out of memory');
  const failedDone = summarizeEvents(
    'id',
    '/r/id',
    [...base, { type: 'error', time: 3, message: 'boom' } as TrainerEvent, { ...done, status: 'failed', message: 'x' } as TrainerEvent],
    undefined,
  );
  assert.equal(failedDone.message, 'boom');
});

test('a run without done that nobody here runs is running while its events are fresh, interrupted once stale', () => {
  const base = [start, step(1, 3)];
  assert.equal(summarizeEvents('id', '/r', base, undefined, { eventsMtimeMs: 1000, now: 1000 + 5000 }).status, 'running');
  const stale = summarizeEvents('id', '/r', base, undefined, { eventsMtimeMs: 1000, now: 1000 + STALE_RUN_MS + 1 });
  assert.equal(stale.status, 'failed');
  assert.match(stale.message!, /interrupted/);
});

test('run.json names the dataset and strategy before the trainer has said anything', () => {
  const s = summarizeEvents('id', '/r', [], { data: '/d/chat.jsonl', strategy: 'partial', model: 'gpt2' }, { active: true });
  assert.equal(runDescription(s), 'chat.jsonl · partial');
  const s2 = summarizeEvents('id', '/r', [start, step(3, 2.1)], undefined, { active: true });
  assert.equal(runDescription(s2), 'alpaca.jsonl · lora · step 3/9');
  const s3 = summarizeEvents('id', '/r', [start, evalE(3, 2.34567)], undefined, { active: true });
  assert.equal(runDescription(s3), 'alpaca.jsonl · lora · best eval 2.3457');
});

test('run folders are listed newest first; folders without run.json or events are not runs', () => {
  const dir = tmp();
  for (const id of ['2026-01-01T00-00-00-a-full', '2026-03-01T00-00-00-b-lora', '2026-02-01T00-00-00-c-full']) {
    fs.mkdirSync(path.join(dir, id));
    fs.writeFileSync(path.join(dir, id, 'run.json'), '{}');
  }
  fs.mkdirSync(path.join(dir, 'not-a-run'));
  fs.writeFileSync(path.join(dir, 'stray.txt'), '');
  assert.deepEqual(
    listRunFolders(dir).map((d) => path.basename(d)),
    ['2026-03-01T00-00-00-b-lora', '2026-02-01T00-00-00-c-full', '2026-01-01T00-00-00-a-full'],
  );
  assert.deepEqual(listRunFolders(path.join(dir, 'missing')), []);
});

test('a folder on disk is summarised from its files', () => {
  const dir = path.join(tmp(), 'run1');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ data: '/d/text.jsonl', strategy: 'full', model: 'tiny' }));
  fs.writeFileSync(
    path.join(dir, 'events.jsonl'),
    line(start) +
      line(step(1, 3)) +
      line({ type: 'done', time: 5, status: 'completed', step: 1, elapsedSec: 1, outputFiles: ['a'], outputDir: path.join(dir, 'output'), bestEvalLoss: 2.5 }),
  );
  const s = summarizeRunFolder(dir);
  assert.equal(s.status, 'completed');
  assert.equal(s.dataset, 'text.jsonl');
  assert.equal(s.bestEvalLoss, 2.5);
  assert.equal(s.outputDir, path.join(dir, 'output'));
});

test('the status bar shows step, loss and ETA', () => {
  assert.equal(statusBarText('alpaca', {}), '$(loading~spin) alpaca · starting…');
  assert.equal(statusBarText('alpaca', { step: 12, totalSteps: 45, loss: 2.34111, etaSec: 65 }), '$(loading~spin) alpaca 12/45 · loss 2.3411 · ETA 1m 05s');
});

test('the summary cache follows a growing events.jsonl and starts over when the file is replaced', () => {
  const dir = path.join(tmp(), 'run');
  fs.mkdirSync(dir);
  const file = path.join(dir, 'events.jsonl');
  const cache = new RunSummaryCache();
  assert.equal(cache.summary(dir, { active: true }).status, 'waiting');
  fs.writeFileSync(file, line(start) + line(step(1, 3)));
  assert.equal(cache.summary(dir, { active: true }).step, 1);
  fs.appendFileSync(file, line(step(2, 2)) + line(evalE(2, 2.2)));
  const s = cache.summary(dir, { active: true });
  assert.deepEqual([s.status, s.step, s.bestEvalLoss], ['running', 2, 2.2]);
  fs.appendFileSync(file, line({ type: 'done', time: 9, status: 'completed', step: 2, elapsedSec: 1, outputFiles: [] }));
  assert.equal(cache.summary(dir).status, 'completed');
  fs.writeFileSync(file, line(start));
  const fresh = cache.summary(dir, { active: true });
  assert.deepEqual([fresh.status, fresh.step, fresh.bestEvalLoss], ['running', undefined, undefined]);
});

test('a resumed run (a new start after done) is running again, not finished', () => {
  const done = { type: 'done', time: 5, status: 'stopped', step: 2, elapsedSec: 1, outputFiles: [] } as TrainerEvent;
  assert.equal(summarizeEvents('id', '/r', [start, step(1, 3), done, start, step(3, 2)], undefined, { active: true }).status, 'running');
});
