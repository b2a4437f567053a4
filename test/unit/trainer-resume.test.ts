// Exact resume after a hard kill: the trainer child process (the real entry, trainer/child.ts) is killed
// with SIGKILL right after a checkpoint, then `--resume` continues it. With dropout on, the resumed run
// must draw the same dropout masks, so its per-step losses equal an uninterrupted run's with the same seed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StepEvent, TrainerEvent } from '../../protocol/trainer';
import { parseTrainArgs } from '../../trainer/runConfig';
import { EventWriter } from '../../trainer/runFolder';
import { train } from '../../trainer/train';

const root = path.resolve(__dirname, '..', '..');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-resume-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const colors = ['red', 'blue', 'green', 'yellow', 'purple', 'orange', 'black', 'white', 'pink', 'brown', 'grey', 'gold'];

/**
 * Runs trainer/child.ts; `killAfterCheckpoint` sends SIGKILL as soon as the first `checkpoint` event is
 * read. Resolves with the events read from stdout and how the process ended.
 */
function runChild(
  args: string[],
  killAfterCheckpoint: boolean,
): Promise<{ events: TrainerEvent[]; signal: NodeJS.Signals | null; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'trainer', 'child.ts'), ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: TrainerEvent[] = [];
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.trim()) continue;
        const event = JSON.parse(line) as TrainerEvent;
        events.push(event);
        if (killAfterCheckpoint && event.type === 'checkpoint') child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ events, signal, code, stderr }));
  });
}

const stepsOf = (events: TrainerEvent[]) => events.filter((e): e is StepEvent => e.type === 'step');

test("a LoRA run with dropout, killed with SIGKILL after a checkpoint, resumes on exactly the uninterrupted run's per-step losses", async () => {
  const data = path.join(scratch, 'train.jsonl');
  fs.writeFileSync(data, colors.map((c) => JSON.stringify({ instruction: `Name the color ${c}.`, output: `The color is ${c}.` })).join('\n') + '\n');
  const common = [
    '--data',
    data,
    '--model',
    'tiny',
    '--strategy',
    'lora',
    '--lora-dropout',
    '0.3',
    '--max-steps',
    '7',
    '--batch-size',
    '4',
    '--lr',
    '1e-2',
    '--eval-fraction',
    '0',
    '--seed',
    '11',
    '--backend',
    'wasm',
  ];

  // The uninterrupted run, in this process (same backend, same numbers as the child).
  const writer = new EventWriter();
  const straightEvents: TrainerEvent[] = [];
  writer.onEvent((e) => straightEvents.push(e));
  const straightDone = await train(parseTrainArgs([...common, '--out', path.join(scratch, 'straight')]), { writer });
  assert.equal(straightDone.status, 'completed');
  const straight = stepsOf(straightEvents);
  assert.equal(straight.length, 7);

  const out = path.join(scratch, 'killed');
  const killed = await runChild([...common, '--out', out, '--checkpoint-every', '2'], true);
  assert.equal(killed.signal, 'SIGKILL', `the child should have been killed mid-run (exit code ${killed.code}): ${killed.stderr}`);
  assert.ok(!killed.events.some((e) => e.type === 'done'), 'a killed run never reports done');
  const firstCheckpoint = killed.events.find((e) => e.type === 'checkpoint');
  assert.ok(firstCheckpoint?.type === 'checkpoint' && firstCheckpoint.step === 2);
  // Before the kill the child trains exactly like the uninterrupted run.
  for (const s of stepsOf(killed.events)) assert.equal(s.loss, straight[s.step - 1].loss, `step ${s.step} before the kill`);
  const saved = JSON.parse(fs.readFileSync(path.join(out, 'checkpoints', 'step-2', 'trainer_state.json'), 'utf8')) as { dropoutCounter?: number };
  assert.ok((saved.dropoutCounter ?? 0) > 0, `trainer_state.json records the dropout masks drawn: ${JSON.stringify(saved)}`);

  const resumed = await runChild(['--resume', out], false);
  assert.equal(resumed.code, 0, resumed.stderr + JSON.stringify(resumed.events.find((e) => e.type === 'error')));
  const start = resumed.events.find((e) => e.type === 'start');
  assert.ok(start?.type === 'start' && start.resumedFrom !== undefined && start.resumedFrom >= 2 && start.resumedFrom < 7);
  const from = start.resumedFrom;
  const after = stepsOf(resumed.events);
  assert.deepEqual(
    after.map((s) => s.step),
    Array.from({ length: 7 - from }, (_, i) => from + 1 + i),
  );
  // The checkpoint holds the float32 weights, Adam moments and dropout counter bit for bit, and the child
  // runs the same kernels: the same computation, so the same losses exactly.
  for (const s of after) assert.equal(s.loss, straight[s.step - 1].loss, `step ${s.step}: resumed vs uninterrupted`);
  const done = resumed.events.find((e) => e.type === 'done');
  assert.ok(done?.type === 'done' && done.status === 'completed');
});
