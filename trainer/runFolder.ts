// The run folder (`--out DIR`): run.json, events.jsonl, trainer.log, checkpoints/, output/. This module,
// trainer/runOwnership.ts (the run-folder rule, run.json's one reader and writer) and trainer/runLayout.ts
// (the names) are the folder's one owner: the trainer, the CLI and the extension read and write a run
// folder through them only, and the extension imports them through this module. None of them loads
// TensorFlow.js, because the extension host imports them.
//
// Events: the event writer is the only place events are stamped and serialised: each goes to
// events.jsonl as it happens (so a panel can be rebuilt from disk) and to the listeners (the CLI's /
// child's stdout, tests). The extension appends through it too (how a trainer that died ended). Every
// reader of events.jsonl below parses through protocol's parseEventLines, so a torn last line, a line
// that is not JSON and an event type of a newer trainer are handled alike everywhere.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseEventLines, type TrainerEvent, type TrainerEventInit } from '../protocol/trainer';
import { runPaths, type RunPaths } from './runLayout';
import { ownCheckpoints, runIdOf, STATE_FILE } from './runOwnership';
import { readSafetensors, writeSafetensors } from './formats/safetensors';

// The layout's names: trainer/runLayout.ts. Which folders a run may write and which files in them, and
// run.json's reader and writer: trainer/runOwnership.ts (the run-folder rule).
export { isRunJsonName, RUN_FILES, runPaths, type RunPaths } from './runLayout';
export { createRunFolder, prepareRunFolder, readRunJson, RunFolderError, type RunFolder } from './runOwnership';

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
    // A line torn by a killed writer would swallow this writer's first event: end it first.
    if (endsInPartialLine(file)) fs.writeSync(this.fd, '\n');
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

/** Whether `file` ends without a newline (a writer was killed mid-line); false when absent or empty. */
function endsInPartialLine(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, size - 1);
    return last[0] !== NEWLINE;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Appends events to a run folder's events.jsonl through the event writer (stamped and serialised as the
 * trainer's own) and returns them as written. The extension records so what the trainer could not: that
 * it died without `done`.
 */
export function appendRunEvents(dir: string, events: readonly TrainerEventInit[]): TrainerEvent[] {
  const writer = new EventWriter(runPaths(dir).events);
  try {
    return events.map((e) => writer.emit(e));
  } finally {
    writer.close();
  }
}

/** Writes each event as one line on a stream (stdout for the CLI and the child process). */
export function lineWriter(stream: NodeJS.WritableStream): EventListener {
  return (_event, line) => {
    stream.write(line + '\n');
  };
}

// ---------------------------------------------------------------------------------------------------
// Reading events.jsonl: all of it, or a growing file's new complete lines.

const NEWLINE = 0x0a;

/** Every event of a run folder's events.jsonl (none when it is absent or unreadable). */
export function readRunEvents(dir: string): TrainerEvent[] {
  try {
    return parseEventLines(fs.readFileSync(runPaths(dir).events, 'utf8'));
  } catch {
    return [];
  }
}

/**
 * The complete lines of `file` from byte `from` on, and the byte offset after the last of them. The cut
 * is made on bytes: a newline byte never occurs inside a UTF-8 sequence, so a character the trainer is
 * half-way through writing is never split. `truncated` says the file is now shorter than `from` (a new
 * run replaced it), in which case nothing is read.
 */
export function readCompleteLines(file: string, from: number): { text: string; end: number; truncated: boolean } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return { text: '', end: from, truncated: false };
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < from) return { text: '', end: from, truncated: true };
    if (size === from) return { text: '', end: from, truncated: false };
    const buffer = Buffer.alloc(size - from);
    const n = fs.readSync(fd, buffer, 0, buffer.length, from);
    const cut = buffer.subarray(0, n).lastIndexOf(NEWLINE) + 1;
    return { text: buffer.subarray(0, cut).toString('utf8'), end: from + cut, truncated: false };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Follows a growing events.jsonl: each `read()` returns the events of the complete lines appended since
 * the last one. A partial last line is left in the file until its newline arrives; a file shorter than
 * what was read (replaced by a new run in the same folder) is read again from its start.
 */
export class EventFileTail {
  private offset = 0;

  constructor(readonly file: string) {}

  read(): TrainerEvent[] {
    let lines = readCompleteLines(this.file, this.offset);
    if (lines.truncated) lines = readCompleteLines(this.file, (this.offset = 0));
    this.offset = lines.end;
    return parseEventLines(lines.text);
  }
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
