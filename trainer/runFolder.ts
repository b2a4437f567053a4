// The run folder (`--out DIR`): run.json, events.jsonl, checkpoints/, output/. The event writer is the
// only place events are stamped and serialised: each goes to events.jsonl as it happens (so a panel can be
// rebuilt from disk) and to the listeners (the CLI's / child's stdout, tests).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainerEvent, TrainerEventInit } from '../protocol/trainer';
import { ownCheckpoints, runIdOf, STATE_FILE, type RunPaths } from './runOwnership';
import { readSafetensors, writeSafetensors } from './safetensors';

// Which folders a run may write and which files in them: trainer/runOwnership.ts (the run-folder rule).
export { prepareRunFolder, runPaths, RunFolderError, type RunFolder, type RunPaths } from './runOwnership';

export type EventListener = (event: TrainerEvent, line: string) => void;

export class EventWriter {
  private readonly listeners: EventListener[] = [];
  private fd: number | undefined;

  /** `file` undefined: listeners only (e.g. before the run folder exists). */
  constructor(file?: string) {
    if (file) this.open(file);
  }

  open(file: string): void {
    this.close();
    this.fd = fs.openSync(file, 'a');
  }

  onEvent(listener: EventListener): void {
    this.listeners.push(listener);
  }

  emit(init: TrainerEventInit): TrainerEvent {
    // `type` and `time` first, so the lines read well.
    const { type, ...rest } = init;
    const event = { type, time: Date.now(), ...rest } as TrainerEvent;
    const line = JSON.stringify(event);
    if (this.fd !== undefined) fs.writeSync(this.fd, line + '\n');
    for (const listener of this.listeners) listener(event, line);
    return event;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Writes each event as one line on a stream (stdout for the CLI and the child process). */
export function lineWriter(stream: NodeJS.WritableStream): EventListener {
  return (_event, line) => {
    stream.write(line + '\n');
  };
}

// ---------------------------------------------------------------------------------------------------
// Checkpoints: checkpoints/step-N/ holds the output (model or adapter) as of step N, plus what `--resume`
// needs to continue: trainer_state.json (where the loop was) and optimizer.safetensors (AdamW's moments).

export interface TrainerState {
  /** Optimizer steps done. */
  step: number;
  /** Epoch index (from 0) and the index of the next batch in that epoch's batch order. */
  epoch: number;
  nextBatch: number;
  bestEvalLoss?: number;
  /** Step of the checkpoint holding the best eval loss (kept by pruning; the output when early-stopped). */
  bestStep?: number;
  evalsWithoutGain: number;
  lastEvalStep: number;
  trainSeconds: number;
  lastLoss?: number;
  /** GPT2Model.dropoutCounter: how many dropout masks were drawn, so that resumed dropout masks match. */
  dropoutCounter?: number;
}

const OPTIMIZER_FILE = 'optimizer.safetensors';

export function checkpointDir(paths: RunPaths, step: number): string {
  return path.join(paths.checkpoints, `step-${step}`);
}

/**
 * The resume state of a checkpoint being written in `dir`. trainer_state.json also records the run id and
 * the checkpoint's files: only a checkpoint carrying the folder's run id is resumed from or pruned, and
 * pruning removes exactly those files.
 */
export function writeCheckpointState(
  dir: string,
  state: TrainerState,
  optimizer: Map<string, { shape: readonly number[]; data: Float32Array }>,
  runId: string,
): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, OPTIMIZER_FILE), optimizer);
  const files = [...new Set([...fs.readdirSync(dir), STATE_FILE])].sort();
  // Written last: a checkpoint without it is incomplete and never resumed from.
  fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify({ ...state, runId, files }, null, 2) + '\n');
}

/** The complete checkpoint of this folder's run with the highest step, if any (others' are not looked at). */
export function latestCheckpoint(paths: RunPaths, runId: string | undefined = runIdOf(paths.dir)): { dir: string; state: TrainerState } | undefined {
  const latest = ownCheckpoints(paths, runId).at(-1);
  if (!latest) return undefined;
  const { runId: _runId, files: _files, ...state } = latest.state;
  const s = state as unknown as TrainerState;
  if (!Number.isInteger(s.step) || !Number.isInteger(s.epoch) || !Number.isInteger(s.nextBatch))
    throw new Error(`checkpoint ${latest.dir}: ${STATE_FILE} lacks step/epoch/nextBatch`);
  return { dir: latest.dir, state: s };
}

export function readOptimizerState(dir: string) {
  return readSafetensors(path.join(dir, OPTIMIZER_FILE));
}
