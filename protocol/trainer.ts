// The trainer boundary's wire types: the run configuration (`TrainConfig`: `run.json`, the `start` event),
// the events the trainer emits (one JSON object a line on stdout and in `events.jsonl`) and the control
// messages it accepts. No Node imports, so that the webviews can load it: the settings' declarations are
// in protocol/options.ts, and reading flags and run.json files (Node) in trainer/runConfig.ts.
import type { LayerRow, MemoryEstimate, ParameterBreakdown } from './params';

export type Strategy = 'full' | 'partial' | 'lora' | 'adapter' | 'prompt';
/** How multi-task batches draw their records: by each task's share (proportional), equally, or by share^(1/T). */
export type TaskSampling = 'proportional' | 'uniform' | 'temperature';
export type Schedule = 'constant' | 'linear' | 'cosine';
/** TensorFlow.js backends a run may ask for; `auto` takes the fastest that starts (trainer/compute/backend.ts). */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'webgpu', 'native', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type HeadKind = 'lm' | 'classification';

/**
 * `run.json`: every `finetune train` option, camelCased. Each field is declared (type, default, range, help)
 * in protocol/options.ts, which fails to compile while one is missing; trainer/run.schema.json is generated from it.
 */
export interface TrainConfig {
  data: string;
  model: string;
  strategy: Strategy;
  out: string;
  epochs: number;
  /** Optimizer steps; wins over `epochs` (the data cycles). */
  maxSteps?: number;
  batchSize: number;
  gradAccum: number;
  lr: number;
  weightDecay: number;
  schedule: Schedule;
  warmupSteps: number;
  /** Max global gradient norm; 0 turns clipping off. */
  gradClip: number;
  /** Tokens per example; default: the model's context. */
  maxLength?: number;
  seed: number;
  noShuffle: boolean;
  /** Recompute each block in the backward pass instead of keeping its activations; absent (a run.json from before the option) is off. */
  gradientCheckpointing?: boolean;
  trainOnPrompt: boolean;
  /** Chat records' template: a built-in name (`chatml`) or a file; absent: the model's own (none: the plain chat format). */
  chatTemplate?: string;
  evalData?: string;
  /** Share of `data` held out for evaluation when `evalData` is not given (seeded). */
  evalFraction: number;
  /** Evaluate every N optimizer steps as well as at each epoch end and at the end; 0 = epoch ends only. */
  evalEvery: number;
  skipInvalid: boolean;
  backend: BackendChoice;
  freezeLayers: number;
  freezeEmbeddings: boolean;
  loraR: number;
  loraAlpha: number;
  loraDropout: number;
  /** Module names, `all-linear`, or `default`: the model family's own (PEFT's: GPT-2 c_attn; Llama, Qwen2, Qwen3 q_proj,v_proj). */
  loraTargets: string[] | 'all-linear' | 'default';
  merge: boolean;
  /** adapter: bottleneck width m of each adapter. */
  adapterDim?: number;
  /** prompt: number of trained virtual tokens. */
  virtualTokens?: number;
  /** prompt: init text (PEFT's TEXT init); absent = random init (PEFT's RANDOM). */
  promptInit?: string;
  head: HeadKind;
  /** classification: number of labels; default (and checked against) the distinct labels of the data. */
  numLabels?: number;
  taskWeights?: Record<string, number>;
  taskSampling?: TaskSampling;
  /** temperature sampling: p_t ∝ n_t^(1/T); T = 1 is proportional, large T approaches uniform. */
  samplingTemperature?: number;
  /** Checkpoints kept besides the best one by eval loss (older ones are deleted). The five settings above
   * are optional only so that configs written before them still type-check; resolveTrainConfig always sets them. */
  keepCheckpoints?: number;
  /** Save a checkpoint every N optimizer steps; 0 = only the final output. */
  checkpointEvery: number;
  /** Stop after this many evaluations without an improvement of at least `minDelta`; 0 = off. */
  earlyStoppingPatience: number;
  minDelta: number;
  resume?: string;
}

/** A task's weight α_t (1 when not given); own properties only, so a task may be called `constructor`. */
export function taskWeight(weights: Readonly<Record<string, number>> | undefined, task: string): number {
  return weights && Object.hasOwn(weights, task) ? weights[task] : 1;
}

// ---------------------------------------------------------------------------------------------------
// Events (trainer -> extension / CLI stdout / events.jsonl). Every event carries `time` (ms since epoch).

export interface ModelShape {
  vocabSize: number;
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
}

export interface StartEvent {
  type: 'start';
  time: number;
  config: TrainConfig;
  backend: string;
  device: string;
  /** Why the native CPU backend is not the one running, where `auto` would have picked it (no addon, a broken one). */
  backendNote?: string;
  model: ModelShape;
  dataset: DatasetSummary;
  stepsPerEpoch: number;
  totalSteps: number;
  /** Set when the run continues (`--resume`) from the checkpoint of this step. */
  resumedFrom?: number;
}

/**
 * The start event's account of the data: records used for training / evaluation, invalid records
 * skipped, and tokens per epoch. The optional fields are what preparing the training file did (absent
 * in runs written before them).
 */
export interface DatasetSummary {
  train: number;
  eval: number;
  skipped: number;
  /** Input tokens of the training records per epoch (padding excluded). */
  trainTokens: number;
  evalTokens: number;
  format: string;
  /** Of trainTokens, those the loss is taken on (the trained tokens). */
  trainLossTokens?: number;
  /** Valid records left out because no trained token is left within the max length (e.g. a prompt longer than it). */
  noTrainedToken?: number;
  /** The 1-based lines of the first 20 of them. */
  noTrainedTokenLines?: number[];
  /** Records cut to the max length, and of those the ones whose cut removed trained tokens. */
  truncated?: number;
  targetTruncated?: number;
}

/** The run's parameter breakdown (`finetune params --json` without its own per-layer rows) and the panel's per-layer rows. */
export interface ParamsEvent extends Omit<ParameterBreakdown, 'perLayer'> {
  type: 'params';
  time: number;
  perLayer?: LayerRow[];
}

/** The memory estimate (trainer/params.ts). */
export interface MemoryEvent extends MemoryEstimate {
  type: 'memory';
  time: number;
}

export interface StepEvent {
  type: 'step';
  time: number;
  /** Optimizer step, counted from 1. */
  step: number;
  /** Epochs completed, fractional (1.5 = halfway through the second epoch). */
  epoch: number;
  /** This step's raw training loss (mean over its micro-batches). */
  loss: number;
  /** Mean loss per task, when records carry `task`. */
  taskLosses?: Record<string, number>;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Non-padding input tokens in this step, and those the loss was taken on. */
  tokens: number;
  lossTokens: number;
  tokensPerSec: number;
  elapsedSec: number;
  etaSec: number;
}

export interface EvalEvent {
  type: 'eval';
  time: number;
  step: number;
  epoch: number;
  /** Token-weighted mean cross-entropy over every loss token of the eval set (classification: mean CE over examples). */
  loss: number;
  taskLosses?: Record<string, number>;
  tokens: number;
  examples: number;
  /** Classification head: share of eval examples whose argmax label is right, in [0, 1]. */
  accuracy?: number;
  /** Classification head: per label string, right predictions and examples of that label. */
  perClass?: Record<string, { correct: number; total: number }>;
}

export interface CheckpointEvent {
  type: 'checkpoint';
  time: number;
  step: number;
  path: string;
}

export interface LogEvent {
  type: 'log';
  time: number;
  level: 'info' | 'warning';
  message: string;
}

export type DoneStatus = 'completed' | 'stopped' | 'early-stopped' | 'failed';

export interface DoneEvent {
  type: 'done';
  time: number;
  status: DoneStatus;
  /** Last completed optimizer step. */
  step: number;
  elapsedSec: number;
  /** The output folder and the files written into it (absent when nothing was saved). */
  outputDir?: string;
  outputFiles: string[];
  /** The last checkpoint folder, which `--resume` continues from (a stopped run always leaves one). */
  checkpoint?: string;
  finalLoss?: number;
  bestEvalLoss?: number;
  message?: string;
}

export interface ErrorEvent {
  type: 'error';
  time: number;
  message: string;
  stack?: string;
}

/**
 * Results of the run trained as a cluster job (`finetune export --to trl`), brought back by `finetune
 * import`: the losses TRL logged (trainer_state.json's log_history), a series of their own beside the
 * local run's, and where the imported model now lies in the run folder. A `done` event naming that
 * output follows it, so Try It, eval and Compare use the imported model.
 */
export interface ClusterEvent {
  type: 'cluster';
  time: number;
  /** The job folder the results came from. */
  job: string;
  /** Training losses by optimizer step (TRL logs every step with logging_steps 1). */
  steps: { step: number; epoch: number; loss: number; lr?: number; gradNorm?: number }[];
  evals: { step: number; epoch: number; loss: number }[];
  outputDir: string;
  outputFiles: string[];
}

export type TrainerEvent = StartEvent | ParamsEvent | MemoryEvent | StepEvent | EvalEvent | CheckpointEvent | LogEvent | DoneEvent | ErrorEvent | ClusterEvent;
export type TrainerEventType = TrainerEvent['type'];
/** An event before it is stamped with its time. */
export type TrainerEventInit = TrainerEvent extends infer E ? (E extends TrainerEvent ? Omit<E, 'time'> : never) : never;

export const TRAINER_EVENT_TYPES: readonly TrainerEventType[] = ['start', 'params', 'memory', 'step', 'eval', 'checkpoint', 'log', 'done', 'error', 'cluster'];

/**
 * The guard every reader of events goes through: an object with a known `type` and its `time`. A newer
 * trainer's event type is not one (readers skip it rather than misread it).
 */
export function isTrainerEvent(value: unknown): value is TrainerEvent {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const { type, time } = value as { type?: unknown; time?: unknown };
  return typeof type === 'string' && (TRAINER_EVENT_TYPES as readonly string[]).includes(type) && typeof time === 'number';
}

/** Parses one line of the event stream; undefined for anything that is not a trainer event. */
export function parseTrainerEvent(line: string): TrainerEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  return isTrainerEvent(value) ? value : undefined;
}

/**
 * The events of event-stream text (`events.jsonl`, or a backlog of it), in order: the one parser of event
 * lines, for the run folder's readers (trainer/runFolder.ts) and the panels (webview/, hence no Node
 * here). Blank lines are ignored; a line that is not JSON (a torn last line while the trainer writes) or
 * not a trainer event is skipped and handed to `onSkipped`.
 */
export function parseEventLines(text: string, onSkipped?: (line: string) => void): TrainerEvent[] {
  const events: TrainerEvent[] = [];
  // indexOf, not split: a 100,000-step backlog makes no array of lines.
  for (let from = 0; from < text.length; ) {
    let to = text.indexOf('\n', from);
    if (to < 0) to = text.length;
    const line = text.slice(from, to);
    from = to + 1;
    if (!line.trim()) continue;
    const event = parseTrainerEvent(line);
    if (event) events.push(event);
    else onSkipped?.(line);
  }
  return events;
}

// ---------------------------------------------------------------------------------------------------
// Control messages (extension -> trainer child, over the IPC channel).

export type ControlMessage = { type: 'stop' };

export function isControlMessage(value: unknown): value is ControlMessage {
  return !!value && typeof value === 'object' && (value as { type?: unknown }).type === 'stop';
}
