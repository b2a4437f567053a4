import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { canResume, configFromChoices, resumeConfig, trainerArgs, writeRunJson } from '../../extension/training/fineTuneChoices';
import { RunProcess } from '../../extension/training/runProcess';
import { summarizeRunFolder } from '../../extension/training/runFolders';
import { readRunEvents } from '../../trainer/runFolder';
import { tryItTarget } from '../../extension/training/tryIt';
import { RunModel } from '../../webview/common/runModel';

// Resume Run end to end with the real trainer entry (trainer/child.ts through tsx, as dist/trainer.js
// runs in VS Code): a run stopped after its first step is resumable, the run manager's argv for it
// (`--resume DIR`) continues it in the same folder, and the panel's model, fed the one events.jsonl,
// shows one run that went back to running and completed.
const root = path.join(__dirname, '../..');
const execArgv = ['--import', pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href];

test('a stopped run resumed with --resume continues in its own folder and events.jsonl to completion', { timeout: 240_000 }, async () => {
  const runDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ft-resume-')), 'run');
  const config = {
    ...configFromChoices(
      { data: path.join(root, 'samples/alpaca.jsonl'), model: 'tiny', strategy: 'lora', epochs: 1, lr: 2e-3, batchSize: 2, maxLength: 64 },
      runDir,
    ),
    maxSteps: 6,
  };
  writeRunJson(config);
  const first = new RunProcess({
    trainerPath: path.join(root, 'trainer/child.ts'),
    execArgv,
    args: trainerArgs(runDir),
    runDir,
    onEvent: (e) => {
      if (e.type === 'step' && e.step === 1) first.stop();
    },
  });
  const stopped = await first.exited;
  assert.equal(stopped.done?.status, 'stopped', `stopped (${stopped.failure ?? ''})`);
  assert.equal(summarizeRunFolder(runDir).status, 'stopped');
  assert.ok(canResume('stopped', runDir), 'a stopped run leaves a checkpoint to continue from');

  const resumed = resumeConfig(runDir);
  assert.equal(resumed.resume, runDir);
  const second = new RunProcess({
    trainerPath: path.join(root, 'trainer/child.ts'),
    execArgv,
    args: trainerArgs(runDir, resumed.resume !== undefined),
    runDir,
  });
  const done = await second.exited;
  assert.equal(done.failure, undefined, `no failure; log: ${fs.readFileSync(path.join(runDir, 'trainer.log'), 'utf8').slice(-500)}`);
  assert.equal(done.done?.status, 'completed');

  const events = readRunEvents(runDir);
  const starts = events.filter((e) => e.type === 'start');
  assert.equal(starts.length, 2, 'one events.jsonl: the resumed run appended its own start');
  assert.equal((starts[1] as { resumedFrom?: number }).resumedFrom, stopped.done!.step);
  assert.equal(summarizeRunFolder(runDir).status, 'completed');
  assert.equal(canResume('completed', runDir), false);

  const model = new RunModel();
  model.apply(events);
  assert.equal(model.status, 'completed');
  assert.deepEqual(Array.from(model.step.view()), [1, 2, 3, 4, 5, 6], 'one curve, no step twice');
  assert.ok(!('error' in tryItTarget(events)), 'the finished run can be tried');
});
