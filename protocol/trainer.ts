// The trainer boundary: the run configuration (`run.json`, `finetune train` flags, the child process's
// argv), the events the trainer emits (one JSON object a line on stdout and in `events.jsonl`) and the
// control messages it accepts. The CLI, the child entry and the extension all parse and build these
// through this module only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_CONFIG_BYTES, NotRegularFileError, readRegularFileSync } from '../language/regularFile';

export type Strategy = 'full' | 'partial' | 'lora' | 'adapter' | 'prompt';
/** How multi-task batches draw their records: by each task's share (proportional), equally, or by share^(1/T). */
export type TaskSampling = 'proportional' | 'uniform' | 'temperature';
export type Schedule = 'constant' | 'linear' | 'cosine';
export type BackendChoice = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export type HeadKind = 'lm' | 'classification';

/** `run.json`: every `finetune train` option, camelCased. `trainer/run.schema.json` describes the same shape. */
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
  trainOnPrompt: boolean;
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
  loraTargets: string[] | 'all-linear';
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

/** Learning rate when none is given: LoRA trains few, freshly initialised weights and wants a larger one. */
export const DEFAULT_LR: Record<Strategy, number> = { full: 5e-5, partial: 5e-5, lora: 2e-4, adapter: 5e-4, prompt: 3e-2 };

/** The one place defaults live (`lr` depends on the strategy, see DEFAULT_LR). */
export const TRAIN_DEFAULTS = {
  strategy: 'full',
  epochs: 3,
  batchSize: 8,
  gradAccum: 1,
  weightDecay: 0.01,
  schedule: 'linear',
  warmupSteps: 0,
  gradClip: 1.0,
  seed: 42,
  noShuffle: false,
  trainOnPrompt: false,
  evalFraction: 0.1,
  evalEvery: 0,
  skipInvalid: false,
  backend: 'auto',
  freezeLayers: 0,
  freezeEmbeddings: false,
  loraR: 8,
  loraAlpha: 8,
  loraDropout: 0,
  loraTargets: ['c_attn'],
  merge: false,
  adapterDim: 64,
  virtualTokens: 20,
  head: 'lm',
  taskSampling: 'proportional',
  samplingTemperature: 2,
  keepCheckpoints: 3,
  checkpointEvery: 0,
  earlyStoppingPatience: 0,
  minDelta: 0,
} as const satisfies Partial<TrainConfig>;

/** A preset's own training defaults: they replace TRAIN_DEFAULTS and DEFAULT_LR for a run on that preset. */
export interface PresetTrainDefaults {
  epochs: number;
  batchSize: number;
  warmupSteps: number;
  maxLength: number;
  lr: Readonly<Record<Strategy, number>>;
}

/**
 * The recommended settings of a run on a preset, declared once: resolveTrainConfig puts them under the
 * settings given (`finetune train --model tiny` without --epochs trains 50 epochs) and the quick pick
 * offers the same values (extension/fineTuneChoices.ts runDefaults). `tiny` has random weights, so the
 * fine-tuning rates of DEFAULT_LR barely move it (3 epochs of 5e-5 end near ln(50257) ≈ 10.8). These
 * let it memorise samples/alpaca.jsonl (18 training records: 250 steps of 4, train loss below 0.1,
 * greedy answers that repeat the records' outputs) in about a minute on two cores. Small batches give
 * more steps per epoch; fewer epochs leave records with the same instruction and another input with
 * one answer. 4e-3 after 20 warmup steps falls smoothly (5e-3 after 10 spikes on the short last batch,
 * 1e-2 diverges). 128 tokens hold the sample's longest record.
 */
export const PRESET_TRAIN_DEFAULTS: Readonly<Record<string, PresetTrainDefaults>> = {
  tiny: {
    epochs: 50,
    batchSize: 4,
    warmupSteps: 20,
    maxLength: 128,
    // Adapters on a frozen random model learn little at any rate; prompt tuning keeps its usual one.
    lr: { full: 4e-3, partial: 4e-3, lora: 2e-3, adapter: 2e-3, prompt: DEFAULT_LR.prompt },
  },
};

/** The settings PRESET_TRAIN_DEFAULTS gives a run of `strategy` on `model` (none when it is no preset with its own). */
export function presetTrainDefaults(model: string | undefined, strategy: Strategy): Partial<TrainConfig> {
  const preset = model !== undefined && Object.hasOwn(PRESET_TRAIN_DEFAULTS, model) ? PRESET_TRAIN_DEFAULTS[model] : undefined;
  if (!preset) return {};
  return { epochs: preset.epochs, batchSize: preset.batchSize, warmupSteps: preset.warmupSteps, maxLength: preset.maxLength, lr: preset.lr[strategy] };
}

/** A bad flag, value or `run.json`: the CLI exits 2 with this message. */
export class TrainConfigError extends Error {}

type Kind = 'string' | 'int' | 'number' | 'boolean' | 'enum' | 'targets' | 'weights';
interface OptionSpec {
  kind: Kind;
  values?: readonly string[];
  min?: number;
  max?: number;
  /** Lower bound excluded (lr > 0). */
  positive?: boolean;
}

/** Every `train` option, keyed by its camelCase name; the flag is the kebab-case form. */
const OPTIONS: Record<keyof TrainConfig | 'config', OptionSpec> = {
  config: { kind: 'string' },
  data: { kind: 'string' },
  model: { kind: 'string' },
  strategy: { kind: 'enum', values: ['full', 'partial', 'lora', 'adapter', 'prompt'] },
  out: { kind: 'string' },
  epochs: { kind: 'number', positive: true },
  maxSteps: { kind: 'int', min: 1 },
  batchSize: { kind: 'int', min: 1 },
  gradAccum: { kind: 'int', min: 1 },
  lr: { kind: 'number', positive: true },
  weightDecay: { kind: 'number', min: 0 },
  schedule: { kind: 'enum', values: ['constant', 'linear', 'cosine'] },
  warmupSteps: { kind: 'int', min: 0 },
  gradClip: { kind: 'number', min: 0 },
  maxLength: { kind: 'int', min: 2 },
  seed: { kind: 'int', min: 0 },
  noShuffle: { kind: 'boolean' },
  trainOnPrompt: { kind: 'boolean' },
  evalData: { kind: 'string' },
  evalFraction: { kind: 'number', min: 0, max: 0.9 },
  evalEvery: { kind: 'int', min: 0 },
  skipInvalid: { kind: 'boolean' },
  backend: { kind: 'enum', values: ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] },
  freezeLayers: { kind: 'int', min: 0 },
  freezeEmbeddings: { kind: 'boolean' },
  loraR: { kind: 'int', min: 1 },
  loraAlpha: { kind: 'number', positive: true },
  loraDropout: { kind: 'number', min: 0, max: 0.99 },
  loraTargets: { kind: 'targets' },
  merge: { kind: 'boolean' },
  adapterDim: { kind: 'int', min: 1 },
  virtualTokens: { kind: 'int', min: 1 },
  promptInit: { kind: 'string' },
  head: { kind: 'enum', values: ['lm', 'classification'] },
  numLabels: { kind: 'int', min: 2 },
  taskWeights: { kind: 'weights' },
  taskSampling: { kind: 'enum', values: ['proportional', 'uniform', 'temperature'] },
  samplingTemperature: { kind: 'number', positive: true },
  keepCheckpoints: { kind: 'int', min: 1 },
  checkpointEvery: { kind: 'int', min: 0 },
  earlyStoppingPatience: { kind: 'int', min: 0 },
  minDelta: { kind: 'number', min: 0 },
  resume: { kind: 'string' },
};

/** The settings `run.json` may hold (the schema in trainer/run.schema.json lists the same). */
export const TRAIN_SETTING_NAMES = Object.keys(OPTIONS).filter((k) => k !== 'config') as (keyof TrainConfig)[];

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

function checkNumber(label: string, n: number, spec: OptionSpec): number {
  // String(n), not JSON.stringify: JSON writes Infinity and NaN as null.
  if (!Number.isFinite(n)) throw new TrainConfigError(`${label} must be a finite number, got ${String(n)}`);
  if (spec.kind === 'int' && !Number.isInteger(n)) throw new TrainConfigError(`${label} must be an integer, got ${n}`);
  if (spec.positive && n <= 0) throw new TrainConfigError(`${label} must be greater than 0, got ${n}`);
  if (spec.min !== undefined && n < spec.min) throw new TrainConfigError(`${label} must be at least ${spec.min}, got ${n}`);
  if (spec.max !== undefined && n > spec.max) throw new TrainConfigError(`${label} must be at most ${spec.max}, got ${n}`);
  return n;
}

function parseTargets(label: string, value: unknown): string[] | 'all-linear' {
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  if (!list || !list.every((t) => typeof t === 'string')) throw new TrainConfigError(`${label} must be a comma-separated list of module names or 'all-linear'`);
  const names = list.map((t) => t.trim()).filter((t) => t !== '');
  if (names.length === 1 && names[0] === 'all-linear') return 'all-linear';
  if (names.length === 0) throw new TrainConfigError(`${label} names no module`);
  if (names.includes('all-linear')) throw new TrainConfigError(`${label}: 'all-linear' cannot be combined with module names`);
  return names;
}

function parseWeights(label: string, value: unknown): Record<string, number> {
  // A Map, then own properties (Object.fromEntries): task names are the user's, and `__proto__=2` must
  // be a weight, not an assignment to the object's prototype. Readers look weights up with Object.hasOwn.
  const out = new Map<string, number>();
  if (typeof value === 'string') {
    for (const part of value
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '')) {
      const eq = part.lastIndexOf('=');
      if (eq <= 0) throw new TrainConfigError(`${label}: expected task=weight, got '${part}'`);
      out.set(part.slice(0, eq).trim(), checkNumber(`${label} for '${part.slice(0, eq).trim()}'`, Number(part.slice(eq + 1)), { kind: 'number', min: 0 }));
    }
  } else if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [task, w] of Object.entries(value))
      out.set(task, checkNumber(`${label} for '${task}'`, typeof w === 'number' ? w : NaN, { kind: 'number', min: 0 }));
  } else {
    throw new TrainConfigError(`${label} must be like a=1,b=0.5`);
  }
  if (out.size === 0) throw new TrainConfigError(`${label} names no task`);
  return Object.fromEntries(out);
}

/** A task's weight α_t (1 when not given); own properties only, so a task may be called `constructor`. */
export function taskWeight(weights: Readonly<Record<string, number>> | undefined, task: string): number {
  return weights && Object.hasOwn(weights, task) ? weights[task] : 1;
}

/** One option value from a flag string or a JSON value, checked against its spec. */
function coerce(name: string, raw: unknown, fromFlag: boolean): unknown {
  const spec = OPTIONS[name as keyof typeof OPTIONS];
  const label = fromFlag ? `--${kebab(name)}` : `run.json: "${name}"`;
  switch (spec.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw.trim() === '') throw new TrainConfigError(`${label} must be a non-empty string`);
      return raw;
    case 'boolean':
      if (typeof raw !== 'boolean') throw new TrainConfigError(`${label} must be true or false`);
      return raw;
    case 'int':
    case 'number': {
      const n = typeof raw === 'string' && fromFlag && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || Number.isNaN(n)) throw new TrainConfigError(`${label} must be a number, got ${JSON.stringify(raw)}`);
      return checkNumber(label, n, spec);
    }
    case 'enum':
      if (typeof raw !== 'string' || !spec.values!.includes(raw))
        throw new TrainConfigError(`${label} must be one of ${spec.values!.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw;
    case 'targets':
      return parseTargets(label, raw);
    case 'weights':
      return parseWeights(label, raw);
  }
}

/** Reads `run.json` (or any config file of that shape): unknown keys and bad values are errors. */
export function readConfigFile(file: string): Partial<TrainConfig> {
  let text: string;
  try {
    // Refuses a FIFO or device (a synchronous read of one would block, deaf to Ctrl-C) and absurd sizes.
    text = readRegularFileSync(file, { what: 'config', maxBytes: MAX_CONFIG_BYTES }).toString('utf8');
  } catch (err) {
    if (err instanceof NotRegularFileError) throw new TrainConfigError(err.message);
    throw new TrainConfigError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TrainConfigError(`config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new TrainConfigError(`config ${file} must hold a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    if (key === '$schema') continue;
    // Own keys only: `constructor` or `__proto__` are unknown settings, not Object.prototype's members.
    if (!Object.hasOwn(OPTIONS, key) || key === 'config') throw new TrainConfigError(`config ${file}: unknown setting "${key}"`);
    out[key] = coerce(key, value, false);
  }
  // Relative paths in run.json are relative to the file, so a run folder can move.
  const base = path.dirname(path.resolve(file));
  for (const key of ['data', 'evalData', 'out', 'resume'] as const) {
    if (typeof out[key] === 'string' && !path.isAbsolute(out[key] as string)) out[key] = path.resolve(base, out[key] as string);
  }
  // `model` may be a preset or repo id; only resolve it when it names an existing relative folder.
  if (typeof out.model === 'string' && (out.model.startsWith('./') || out.model.startsWith('../'))) out.model = path.resolve(base, out.model);
  return out as Partial<TrainConfig>;
}

/** Flags -> the camelCase settings given explicitly (no defaults applied). */
export function parseTrainFlags(args: string[]): Partial<TrainConfig> & { config?: string } {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, spec] of Object.entries(OPTIONS)) options[kebab(name)] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new TrainConfigError((err as Error).message);
  }
  const out: Record<string, unknown> = {};
  for (const [flag, value] of Object.entries(values)) {
    const name = flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    out[name] = coerce(name, value, true);
  }
  return out;
}

/** Defaults + cross-field checks; the result is complete and consistent. */
export function resolveTrainConfig(given: Partial<TrainConfig>): TrainConfig {
  for (const key of ['data', 'model', 'out'] as const) {
    if (!given[key]) throw new TrainConfigError(`--${key} is required`);
  }
  const strategy = (given.strategy ?? TRAIN_DEFAULTS.strategy) as Strategy;
  const config: TrainConfig = {
    ...TRAIN_DEFAULTS,
    loraTargets: [...TRAIN_DEFAULTS.loraTargets],
    lr: DEFAULT_LR[strategy],
    ...presetTrainDefaults(given.model, strategy),
    ...given,
    strategy,
  } as TrainConfig;
  if (config.head === 'classification' && (strategy === 'adapter' || strategy === 'prompt')) {
    throw new TrainConfigError(`--head classification trains with --strategy full, partial or lora, not ${strategy}`);
  }
  if (config.numLabels !== undefined && config.head !== 'classification') throw new TrainConfigError('--num-labels needs --head classification');
  // Settings of another strategy are a mistake only when they differ from their defaults (run.json
  // stores every setting, so a LoRA run's file holds freezeLayers: 0).
  const differs = (key: keyof typeof TRAIN_DEFAULTS) => given[key] !== undefined && JSON.stringify(given[key]) !== JSON.stringify(TRAIN_DEFAULTS[key]);
  if (strategy !== 'partial') {
    const stray = (['freezeLayers', 'freezeEmbeddings'] as const).find(differs);
    if (stray) throw new TrainConfigError(`--${kebab(stray)} needs --strategy partial (got ${strategy})`);
  }
  if (strategy !== 'lora') {
    const stray = (['loraR', 'loraAlpha', 'loraDropout', 'loraTargets', 'merge'] as const).find(differs);
    if (stray) throw new TrainConfigError(`--${kebab(stray)} needs --strategy lora (got ${strategy})`);
  }
  if (strategy !== 'adapter' && differs('adapterDim')) throw new TrainConfigError(`--adapter-dim needs --strategy adapter (got ${strategy})`);
  if (strategy !== 'prompt') {
    if (differs('virtualTokens')) throw new TrainConfigError(`--virtual-tokens needs --strategy prompt (got ${strategy})`);
    if (given.promptInit !== undefined) throw new TrainConfigError(`--prompt-init needs --strategy prompt (got ${strategy})`);
  }
  if (config.taskSampling !== 'temperature' && differs('samplingTemperature'))
    throw new TrainConfigError('--sampling-temperature needs --task-sampling temperature');
  if (config.evalData !== undefined && given.evalFraction !== undefined && given.evalFraction > 0) {
    throw new TrainConfigError('give either --eval-data or --eval-fraction, not both');
  }
  if (config.evalData !== undefined) config.evalFraction = 0;
  if (config.earlyStoppingPatience > 0 && config.evalData === undefined && config.evalFraction === 0) {
    throw new TrainConfigError('--early-stopping-patience needs evaluation data (--eval-data or --eval-fraction)');
  }
  if (config.resume !== undefined && path.resolve(config.resume) !== path.resolve(config.out)) {
    throw new TrainConfigError(`--resume continues the run in its own folder; --out (${config.out}) must be that folder (${config.resume})`);
  }
  return config;
}

/**
 * `finetune train` flags (and the child entry's argv) -> a complete TrainConfig. `--config FILE` is
 * read first; flags given on the command line win over its settings.
 */
export function parseTrainArgs(args: string[]): TrainConfig {
  const { config: file, ...flags } = parseTrainFlags(args);
  if (flags.resume !== undefined) {
    // `--resume DIR` continues the run in DIR with its own run.json; flags given with it still win.
    if (file) throw new TrainConfigError("--resume reads the run folder's own run.json; it cannot be combined with --config");
    const dir = path.resolve(flags.resume);
    const runJson = path.join(dir, 'run.json');
    if (!fs.existsSync(runJson)) throw new TrainConfigError(`--resume ${flags.resume}: no run.json in ${dir} (not a run folder)`);
    const saved = readConfigFile(runJson);
    return resolveTrainConfig({ ...saved, ...flags, out: flags.out ?? dir, resume: dir });
  }
  const fromFile = file ? readConfigFile(file) : {};
  return resolveTrainConfig({ ...fromFile, ...flags });
}

/** The settings as `run.json` stores them: absolute paths, no undefined keys. */
export function runJsonOf(config: TrainConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    // `resume` is how a run was started, not a setting of the run.
    if (value === undefined || key === 'resume') continue;
    out[key] = ['data', 'evalData', 'out', 'resume'].includes(key) ? path.resolve(value as string) : value;
  }
  return out;
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
  model: ModelShape;
  /** Records used for training / evaluation, invalid records skipped, and tokens per epoch. */
  dataset: { train: number; eval: number; skipped: number; trainTokens: number; evalTokens: number; format: string };
  stepsPerEpoch: number;
  totalSteps: number;
  /** Set when the run continues (`--resume`) from the checkpoint of this step. */
  resumedFrom?: number;
}

export interface ParamsEvent {
  type: 'params';
  time: number;
  total: number;
  trainable: number;
  frozen: number;
  ratio: number;
  /** PEFT's totals line. */
  line: string;
  /** The chapter's "Trainable: X, Total: Y, Ratio: Z%". */
  chapterLine: string;
  groups: { name: string; total: number; trainable: number }[];
  /** One row per layer from the input side (embeddings, h.0 … h.N-1, ln_f): frozen and trainable base weights, and those the strategy adds (LoRA). */
  perLayer?: { name: string; frozen: number; trainable: number; added: number }[];
}

export interface MemoryEvent {
  type: 'memory';
  time: number;
  weights: number;
  gradients: number;
  optimizer: number;
  activations: number;
  total: number;
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

export type TrainerEvent = StartEvent | ParamsEvent | MemoryEvent | StepEvent | EvalEvent | CheckpointEvent | LogEvent | DoneEvent | ErrorEvent;
export type TrainerEventType = TrainerEvent['type'];
/** An event before it is stamped with its time. */
export type TrainerEventInit = TrainerEvent extends infer E ? (E extends TrainerEvent ? Omit<E, 'time'> : never) : never;

export const TRAINER_EVENT_TYPES: readonly TrainerEventType[] = ['start', 'params', 'memory', 'step', 'eval', 'checkpoint', 'log', 'done', 'error'];

/** Parses one line of the event stream; undefined for anything that is not a trainer event. */
export function parseTrainerEvent(line: string): TrainerEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  const type = (value as { type?: unknown }).type;
  return typeof type === 'string' && (TRAINER_EVENT_TYPES as readonly string[]).includes(type) ? (value as TrainerEvent) : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Control messages (extension -> trainer child, over the IPC channel).

export type ControlMessage = { type: 'stop' };

export function isControlMessage(value: unknown): value is ControlMessage {
  return !!value && typeof value === 'object' && (value as { type?: unknown }).type === 'stop';
}
