// The run folder (`--out DIR`): run.json, events.jsonl, checkpoints/, output/. The event writer is the
// only place events are stamped and serialised: each goes to events.jsonl as it happens (so a panel can be
// rebuilt from disk) and to the listeners (the CLI's / child's stdout, tests).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runJsonOf, type TrainConfig, type TrainerEvent, type TrainerEventInit } from '../protocol/trainer';
import { readSafetensors, writeSafetensors } from './safetensors';

export interface RunPaths {
  dir: string;
  runJson: string;
  events: string;
  checkpoints: string;
  output: string;
}

export function runPaths(dir: string): RunPaths {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    runJson: path.join(abs, 'run.json'),
    events: path.join(abs, 'events.jsonl'),
    checkpoints: path.join(abs, 'checkpoints'),
    output: path.join(abs, 'output'),
  };
}

/**
 * Creates the folder and writes run.json. A run folder that already holds events is only reused by
 * `--resume`, which appends to its events.jsonl.
 */
export function prepareRunFolder(config: TrainConfig): RunPaths {
  const paths = runPaths(config.out);
  fs.mkdirSync(paths.dir, { recursive: true });
  if (!config.resume && fs.existsSync(paths.events)) {
    // A run that failed before its first step (bad data, a missing model) left nothing worth keeping.
    if (fs.readFileSync(paths.events, 'utf8').includes('"type":"step"')) {
      throw new Error(`run folder ${paths.dir} already holds a run (events.jsonl); choose a new --out folder, or continue it with --resume ${paths.dir}`);
    }
    fs.rmSync(paths.events);
  }
  fs.writeFileSync(paths.runJson, JSON.stringify(runJsonOf(config), null, 2) + '\n');
  return paths;
}

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

const STATE_FILE = 'trainer_state.json';
const OPTIMIZER_FILE = 'optimizer.safetensors';

export function checkpointDir(paths: RunPaths, step: number): string {
  return path.join(paths.checkpoints, `step-${step}`);
}

export function writeCheckpointState(dir: string, state: TrainerState, optimizer: Map<string, { shape: readonly number[]; data: Float32Array }>): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, OPTIMIZER_FILE), optimizer);
  // Written last: a checkpoint without it is incomplete and never resumed from.
  fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

/** The complete checkpoint with the highest step, if any. */
export function latestCheckpoint(paths: RunPaths): { dir: string; state: TrainerState } | undefined {
  if (!fs.existsSync(paths.checkpoints)) return undefined;
  const steps = fs
    .readdirSync(paths.checkpoints)
    .map((name) => /^step-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && fs.existsSync(path.join(paths.checkpoints, m[0], STATE_FILE)))
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
  if (steps.length === 0) return undefined;
  const dir = checkpointDir(paths, steps[0]);
  let state: TrainerState;
  try {
    state = JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8')) as TrainerState;
  } catch (err) {
    throw new Error(`checkpoint ${dir}: ${STATE_FILE} is unreadable: ${(err as Error).message}`);
  }
  if (!Number.isInteger(state.step) || !Number.isInteger(state.epoch) || !Number.isInteger(state.nextBatch)) throw new Error(`checkpoint ${dir}: ${STATE_FILE} lacks step/epoch/nextBatch`);
  return { dir, state };
}

export function readOptimizerState(dir: string) {
  return readSafetensors(path.join(dir, OPTIMIZER_FILE));
}
