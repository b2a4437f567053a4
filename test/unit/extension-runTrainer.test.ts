import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { configFromChoices, modelChoices, runDefaults, writeRunJson } from '../../extension/training/fineTuneChoices';
import { RunProcess } from '../../extension/training/runProcess';
import { readRunEvents } from '../../trainer/runFolder';
import type { TrainerEvent } from '../../protocol/trainer';

// The real trainer entry (trainer/child.ts, run through tsx as dist/trainer.js runs in VS Code), started
// the way the run manager starts it: run.json written by the Fine-tune… defaults, `--config`, IPC stop.
const root = path.join(__dirname, '../..');

test('the real trainer started from the Fine-tune… defaults on tiny, stopped after its first step, saves its output and a checkpoint', {
  timeout: 240_000,
}, async () => {
  const runDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ft-realrun-')), 'run');
  const model = modelChoices([])[0];
  const d = runDefaults(model, 'full');
  // Many epochs, so the run is surely still going when it is stopped.
  const config = configFromChoices(
    { data: path.join(root, 'samples/alpaca.jsonl'), model: 'tiny', strategy: 'full', epochs: 50, lr: d.lr, batchSize: d.batchSize, maxLength: d.maxLength },
    runDir,
  );
  const runJson = writeRunJson(config);
  const events: TrainerEvent[] = [];
  const run = new RunProcess({
    trainerPath: path.join(root, 'trainer/child.ts'),
    // The child runs in the run folder, so tsx is named by its file, not resolved from there.
    execArgv: ['--import', pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href],
    args: ['--config', runJson],
    runDir,
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'step' && e.step === 1) run.stop();
    },
  });
  const exit = await run.exited;
  assert.equal(exit.failure, undefined, `no failure (${exit.failure}); log: ${fs.readFileSync(path.join(runDir, 'trainer.log'), 'utf8').slice(-500)}`);
  assert.equal(exit.done?.status, 'stopped');
  assert.equal(exit.signal, null, 'the stop message sufficed');
  const start = events.find((e) => e.type === 'start');
  assert.ok(start && start.type === 'start' && start.totalSteps > 10);
  assert.ok(exit.done!.step < (start as { totalSteps: number }).totalSteps, 'stopped midway');
  assert.ok(exit.done!.outputFiles.includes('model.safetensors'));
  assert.ok(fs.existsSync(path.join(runDir, 'output', 'model.safetensors')));
  assert.ok(exit.done!.checkpoint && fs.existsSync(exit.done!.checkpoint));
  // events.jsonl is the trainer's: each event once, the same as what came over stdout.
  assert.deepEqual(
    readRunEvents(runDir).map((e) => e.type),
    events.map((e) => e.type),
  );
});
