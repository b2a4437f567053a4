// The run folder's layout (`--out DIR`): the one place the names of its files are spelled. Part of the run
// folder's owner (trainer/runFolder.ts, trainer/runOwnership.ts); a module of its own that imports nothing
// of ours, so that whoever needs a run's paths (the config resolution reading `--resume DIR`'s run.json,
// the extension) imports it without an import cycle through the run-folder rule.
import * as path from 'node:path';

export const RUN_FILES = {
  /** The run-folder rule's ownership marker (trainer/runOwnership.ts). */
  marker: '.finetune-run',
  /** The run's settings (`finetune train` options, camelCased). */
  runJson: 'run.json',
  /** The trainer's events, one JSON object a line. */
  events: 'events.jsonl',
  /** The trainer's stderr, kept by the extension. */
  trainerLog: 'trainer.log',
  /** checkpoints/step-N/: what `--resume` continues from. */
  checkpoints: 'checkpoints',
  /** The trained model or adapter. */
  output: 'output',
} as const;

export interface RunPaths {
  dir: string;
  marker: string;
  runJson: string;
  events: string;
  trainerLog: string;
  checkpoints: string;
  output: string;
}

export function runPaths(dir: string): RunPaths {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    marker: path.join(abs, RUN_FILES.marker),
    runJson: path.join(abs, RUN_FILES.runJson),
    events: path.join(abs, RUN_FILES.events),
    trainerLog: path.join(abs, RUN_FILES.trainerLog),
    checkpoints: path.join(abs, RUN_FILES.checkpoints),
    output: path.join(abs, RUN_FILES.output),
  };
}

/** Whether `file` is named as a run's settings file (what "Fine-tune with run.json" accepts). */
export function isRunJsonName(file: string): boolean {
  return path.basename(file) === RUN_FILES.runJson;
}
