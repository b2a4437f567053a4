// The decisions behind the "Fine-tune…" quick picks, without vscode: which base models to offer and in
// which order, the defaults for each, the checks on what the user types, and the run.json they become.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  coerceOption,
  DEFAULT_LR,
  optionSpec,
  type OptionSpec,
  presetTrainDefaults,
  strategySpecs,
  TRAIN_DEFAULTS,
  TRAIN_SETTING_NAMES,
  TrainConfigError,
} from '../../protocol/options';
import type { HeadKind, Strategy, TrainConfig } from '../../protocol/trainer';
import { parseTrainArgs, resolveTrainConfig } from '../../trainer/runConfig';
import { cachedModelRepos } from '../../trainer/hubCache';
import { createRunFolder, latestCheckpoint, runPaths } from '../../trainer/runFolder';

/** The strategies the flow offers: every strategy of the engine. */
export type FlowStrategy = Strategy;

export interface CachedModel {
  /** `openai-community/gpt2` */
  repoId: string;
  /** The snapshot folder (config.json + model.safetensors): passed as `model`, so no download is tried. */
  dir: string;
  nLayer?: number;
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** A GPT-2-style model folder this trainer can load: config.json with GPT-2's keys and model.safetensors. */
export function gpt2ModelFolderInfo(dir: string): { nLayer?: number } | undefined {
  if (!isFile(path.join(dir, 'model.safetensors'))) return undefined;
  const config = readJson(path.join(dir, 'config.json'));
  if (!config) return undefined;
  if (config.model_type !== undefined && config.model_type !== 'gpt2') return undefined;
  return { nLayer: typeof config.n_layer === 'number' ? config.n_layer : undefined };
}

/**
 * Models in the Hugging Face hub cache (read by the trainer's hub cache module, trainer/hubCache.ts)
 * with complete weights: the first loadable snapshot of each, the one `refs/main` points at first.
 */
export function findCachedModels(cacheDir?: string): CachedModel[] {
  const found: CachedModel[] = [];
  for (const repo of cachedModelRepos(cacheDir)) {
    for (const dir of repo.snapshotDirs()) {
      const info = gpt2ModelFolderInfo(dir);
      if (info) {
        found.push({ repoId: repo.repoId, dir, nLayer: info.nLayer });
        break;
      }
    }
  }
  return found;
}

export type ModelChoiceKind = 'cached' | 'preset' | 'browse' | 'hub';

export interface ModelChoice {
  kind: ModelChoiceKind;
  label: string;
  description?: string;
  detail?: string;
  /** The `model` value of run.json (absent for Browse… / Enter id…, which ask next). */
  model?: string;
  /** Transformer layers, when known (the default for "freeze N layers"). */
  nLayer?: number;
  /** Random weights: small and fast, its own defaults. */
  tiny?: boolean;
}

/** The base-model items, first the one Enter should take: a cached model if any, else `tiny`. */
export function modelChoices(cached: readonly CachedModel[]): ModelChoice[] {
  const items: ModelChoice[] = cached.map((m) => ({
    kind: 'cached',
    label: m.repoId,
    description: 'Hugging Face cache',
    detail: m.dir,
    model: m.dir,
    nLayer: m.nLayer,
  }));
  items.push(
    {
      kind: 'preset',
      label: 'tiny',
      description: 'preset · random weights, 2 layers, offline',
      detail: 'A small GPT-2 for trying the workflow: memorises a sample dataset in about a minute, knows nothing else. Pick gpt2 or distilgpt2 for real work.',
      model: 'tiny',
      nLayer: 2,
      tiny: true,
    },
    { kind: 'preset', label: 'gpt2', description: 'preset · 124M parameters, needs a download', model: 'gpt2', nLayer: 12 },
    { kind: 'preset', label: 'distilgpt2', description: 'preset · 82M parameters, needs a download', model: 'distilgpt2', nLayer: 6 },
    { kind: 'browse', label: 'Browse…', description: 'a local model folder (config.json + model.safetensors)' },
    { kind: 'hub', label: 'Enter a Hugging Face id…', description: 'owner/name, downloaded into the Hugging Face cache' },
  );
  return items;
}

export interface StrategyChoice {
  strategy: FlowStrategy;
  label: string;
  description: string;
}

export const STRATEGY_CHOICES: readonly StrategyChoice[] = [
  { strategy: 'full', label: 'full', description: 'train every weight' },
  { strategy: 'partial', label: 'partial', description: 'freeze the first N layers, train the rest' },
  { strategy: 'lora', label: 'lora', description: 'low-rank adapters on frozen weights (LoRA)' },
  { strategy: 'adapter', label: 'adapter', description: 'bottleneck adapters after attention and the MLP of each block, on frozen weights' },
  { strategy: 'prompt', label: 'prompt tuning', description: 'learn N virtual-token embeddings in front of every example; the model stays frozen' },
];

/** Strategies that can train a classification head (adapters and prompt tuning train the LM head only). */
export const CLASSIFICATION_STRATEGIES: readonly FlowStrategy[] = strategySpecs()
  .filter((s) => s.heads.includes('classification'))
  .map((s) => s.name as FlowStrategy);

/**
 * Pretrained models get LoRA first (cheap and good); the random `tiny` model trains fully. With the
 * classification head only the strategies that can train it are offered.
 */
export function strategyChoices(model: ModelChoice, head: HeadKind = 'lm'): StrategyChoice[] {
  const first: FlowStrategy = model.tiny ? 'full' : 'lora';
  const offered = head === 'classification' ? STRATEGY_CHOICES.filter((s) => CLASSIFICATION_STRATEGIES.includes(s.strategy)) : [...STRATEGY_CHOICES];
  return offered.sort((a, b) => (a.strategy === first ? -1 : b.strategy === first ? 1 : 0));
}

export interface RunDefaults {
  epochs: number;
  batchSize: number;
  lr: number;
  maxLength: number;
  freezeLayers: number;
  /** Bottleneck width of the adapter strategy. */
  adapterDim: number;
  /** Virtual tokens of prompt tuning. */
  virtualTokens: number;
  /** LoRA's rank (its alpha is offered equal to the rank chosen). */
  loraR: number;
  /** T of temperature task sampling. */
  samplingTemperature: number;
}

/**
 * The values the quick pick offers: a preset's own training defaults where it has them (`tiny`, whose
 * random weights need many epochs at a large rate: PRESET_TRAIN_DEFAULTS, the declaration the CLI's
 * defaults come from too), else the trainer's (TRAIN_DEFAULTS, the option table's), with 256 tokens so
 * that a pretrained model's run on a sample stays short and half the layers frozen for `partial`.
 */
export function runDefaults(model: ModelChoice, strategy: FlowStrategy): RunDefaults {
  const layers = model.nLayer ?? 12;
  const preset = presetTrainDefaults(model.model, strategy);
  return {
    epochs: preset.epochs ?? TRAIN_DEFAULTS.epochs,
    batchSize: preset.batchSize ?? TRAIN_DEFAULTS.batchSize,
    lr: preset.lr ?? DEFAULT_LR[strategy],
    maxLength: preset.maxLength ?? 256,
    freezeLayers: Math.max(1, Math.floor(layers / 2)),
    adapterDim: TRAIN_DEFAULTS.adapterDim,
    virtualTokens: TRAIN_DEFAULTS.virtualTokens,
    loraR: TRAIN_DEFAULTS.loraR,
    samplingTemperature: TRAIN_DEFAULTS.samplingTemperature,
  };
}

const SENTIMENT_LABELS = new Set(['positive', 'negative', 'neutral', 'pos', 'neg', 'mixed']);

/**
 * The text prompt tuning starts from (PEFT's `prompt_tuning_init_text`): a task description for
 * classification data, else '' (random initialisation, as PEFT's RANDOM).
 */
export function defaultPromptInit(format: string | undefined, labels: readonly string[] = []): string {
  if (format !== 'classification') return '';
  if (labels.length && labels.every((l) => SENTIMENT_LABELS.has(l.trim().toLowerCase()))) return 'Classify the sentiment:';
  return labels.length ? `Classify the text as ${labels.join(', ')}:` : 'Classify the text:';
}

export interface HeadChoice {
  head: HeadKind;
  label: string;
  description: string;
}

/**
 * The head question, asked for classification datasets only (with at least two labels): the
 * classification head (GPT2ForSequenceClassification, one score per label) first, the causal LM head
 * (which generates the label's text) second. Other formats train the LM head without asking.
 */
export function headChoices(format: string | undefined, labels: readonly string[]): HeadChoice[] {
  if (format !== 'classification' || labels.length < 2) return [];
  return [
    {
      head: 'classification',
      label: 'classification head',
      description: `a score per label (${labels.length}: ${labels.slice(0, 6).join(', ')}${labels.length > 6 ? ', …' : ''}); eval reports accuracy`,
    },
    { head: 'lm', label: 'causal LM', description: 'generate the label as text (any strategy, adapters and prompt tuning included)' },
  ];
}

// ---------------------------------------------------------------------------------------------------
// Input checks: undefined = fine, else the message the input box shows.

type NumberRange = Pick<OptionSpec, 'kind' | 'min' | 'max' | 'positive'>;

/** A number typed into an input box, checked against a range, in the input box's words. */
function checkNumberText(text: string, what: string, range: NumberRange): string | undefined {
  const n = Number(text.trim());
  const given = text.trim() !== '' && Number.isFinite(n);
  if (range.kind === 'int') {
    const least = range.min ?? (range.positive ? 1 : undefined);
    if (!given || !Number.isInteger(n) || (least !== undefined && n < least) || (range.positive && n <= 0))
      return least === 0 ? `${what} must be a whole number (0 or more)` : `${what} must be a whole number${least !== undefined ? ` of at least ${least}` : ''}`;
  } else if (!given || (range.positive && n <= 0) || (range.min !== undefined && n < range.min)) {
    if (range.positive) return `${what} must be a number greater than 0 (e.g. 3 or 5e-5)`;
    return `${what} must be a number${range.min !== undefined ? ` of at least ${range.min}` : ''}`;
  }
  if (range.max !== undefined && n > range.max) return `${what} must be at most ${range.max}`;
  return undefined;
}

/**
 * The input box's check of a run setting: the type and range the option table declares for it (the
 * trainer's own check), and `max` where the flow knows a tighter bound from the model (its layer count).
 */
export function checkSetting(name: keyof TrainConfig, text: string, what: string, max?: number): string | undefined {
  const spec = optionSpec(name);
  if (!spec) throw new Error(`'${name}' is not a declared setting`);
  return checkNumberText(text, what, max !== undefined && !(spec.max !== undefined && spec.max <= max) ? { ...spec, max } : spec);
}

export function checkRepoId(text: string): string | undefined {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(text.trim()) ? undefined : 'Enter a Hugging Face model id like owner/name (e.g. openai-community/gpt2)';
}

/** `translate=1,summarize=0.5` -> weights; the message of the CLI's own check when it is wrong. */
export function parseTaskWeights(text: string): { weights?: Record<string, number>; error?: string } {
  try {
    return { weights: coerceOption(optionSpec('taskWeights')!, text, 'flag') as Record<string, number> };
  } catch (err) {
    return { error: (err as Error).message.replace(/^--task-weights:? ?/, '') };
  }
}

export function taskWeightsText(tasks: readonly string[]): string {
  return tasks.map((t) => `${t}=1`).join(',');
}

/**
 * How multi-task batches draw from the tasks, offered when the trainer has the `taskSampling` setting
 * (the first is the trainer's default, so Enter changes nothing).
 */
export function taskSamplingChoices(settings: readonly string[] = TRAIN_SETTING_NAMES): { value: string; label: string; description: string }[] {
  if (!settings.includes('taskSampling')) return [];
  return [
    { value: 'proportional', label: 'proportional', description: "in proportion to each task's number of examples" },
    { value: 'uniform', label: 'uniform', description: 'every task equally often, whatever its size' },
    { value: 'temperature', label: 'temperature', description: 'between the two: proportional to size^(1/T)' },
  ];
}

export interface FineTuneChoices {
  data: string;
  model: string;
  strategy: FlowStrategy;
  epochs: number;
  lr: number;
  batchSize: number;
  maxLength?: number;
  freezeLayers?: number;
  loraR?: number;
  loraAlpha?: number;
  loraTargets?: string[] | 'all-linear';
  taskWeights?: Record<string, number>;
  adapterDim?: number;
  virtualTokens?: number;
  /** Prompt tuning's initial text; '' or absent = random initialisation. */
  promptInit?: string;
  head?: HeadKind;
  numLabels?: number;
  /** How batches draw from the tasks, when the trainer offers a choice (`taskSampling`). */
  taskSampling?: string;
  /** T of temperature sampling. */
  samplingTemperature?: number;
}

/** The complete, checked configuration of a new run in `runDir` (what run.json will hold). */
export function configFromChoices(c: FineTuneChoices, runDir: string): TrainConfig {
  const given: Partial<TrainConfig> = {
    data: path.resolve(c.data),
    model: c.model,
    strategy: c.strategy,
    out: path.resolve(runDir),
    epochs: c.epochs,
    lr: c.lr,
    batchSize: c.batchSize,
  };
  if (c.maxLength !== undefined) given.maxLength = c.maxLength;
  if (c.strategy === 'partial' && c.freezeLayers !== undefined) given.freezeLayers = c.freezeLayers;
  if (c.strategy === 'lora') {
    if (c.loraR !== undefined) given.loraR = c.loraR;
    if (c.loraAlpha !== undefined) given.loraAlpha = c.loraAlpha;
    if (c.loraTargets !== undefined) given.loraTargets = c.loraTargets;
  }
  if (c.taskWeights && Object.keys(c.taskWeights).length) given.taskWeights = c.taskWeights;
  if (c.strategy === 'adapter' && c.adapterDim !== undefined) given.adapterDim = c.adapterDim;
  if (c.strategy === 'prompt') {
    if (c.virtualTokens !== undefined) given.virtualTokens = c.virtualTokens;
    if (c.promptInit !== undefined && c.promptInit.trim() !== '') given.promptInit = c.promptInit;
  }
  if (c.head === 'classification') {
    given.head = 'classification';
    if (c.numLabels !== undefined) given.numLabels = c.numLabels;
  }
  if (c.taskSampling !== undefined) (given as Record<string, unknown>).taskSampling = c.taskSampling;
  if (c.taskSampling === 'temperature' && c.samplingTemperature !== undefined) (given as Record<string, unknown>).samplingTemperature = c.samplingTemperature;
  return resolveTrainConfig(given);
}

/**
 * The settings of an existing run.json for a new run in `runDir`: same everything, its own output
 * folder, never a resume of the old run.
 */
export function configForRerun(saved: Partial<TrainConfig>, runDir: string): TrainConfig {
  const { resume: _resume, out: _out, ...rest } = saved;
  return resolveTrainConfig({ ...rest, out: path.resolve(runDir) });
}

/**
 * The trainer's argv for a run folder: a new run reads its run.json; a resumed one continues the run in
 * the folder from its last checkpoint (`--resume DIR`, which appends to its events.jsonl).
 */
export function trainerArgs(runDir: string, resume = false): string[] {
  const dir = path.resolve(runDir);
  // `--flag=value`: a folder name can never be read as an option.
  return resume ? [`--resume=${dir}`] : [`--config=${runPaths(dir).runJson}`];
}

/** The last complete checkpoint of a run folder (the one `--resume` continues from), if any. */
export function resumableCheckpoint(runDir: string): string | undefined {
  try {
    return latestCheckpoint(runPaths(runDir))?.dir;
  } catch {
    // An unreadable trainer_state.json: the trainer would refuse it too.
    return undefined;
  }
}

/** Runs that ended before their last step can go on; completed and early-stopped runs are finished. */
export function canResume(status: string, runDir: string): boolean {
  return (status === 'stopped' || status === 'failed') && resumableCheckpoint(runDir) !== undefined;
}

/** The configuration of a resumed run: the folder's own run.json, checked as the trainer will (`--resume`). */
export function resumeConfig(runDir: string): TrainConfig {
  return parseTrainArgs(['--resume', path.resolve(runDir)]);
}

/**
 * Creates the run folder (marked as a run's, by the run-folder rule of trainer/runOwnership.ts) and its
 * run.json, so that the trainer started on it finds a folder it owns and, given the same settings, leaves
 * that run.json as it is (one writer). Throws RunFolderError for a folder that holds anything else.
 */
export function writeRunJson(config: TrainConfig): string {
  return createRunFolder(config);
}

/** `finetune.runsDirectory`: absolute as given, else relative to the workspace folder (or the fallback). */
export function resolveRunsDirectory(setting: string | undefined, workspaceFolder: string | undefined, fallback: string): string {
  const value = (setting ?? '').trim() || '.finetune/runs';
  if (path.isAbsolute(value)) return value;
  return path.resolve(workspaceFolder ?? fallback, value);
}

export { TrainConfigError };
