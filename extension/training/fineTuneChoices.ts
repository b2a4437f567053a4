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
import { formatBytes, type StrategyFit, type SurveyedModel, type SurveyResult } from '../../protocol/params';
import { WEIGHTS_INDEX_FILE } from '../../trainer/formats/checkpoint';
import { cachedModelRepos } from '../../trainer/hubCache';
import { summarizeHfConfig } from '../../trainer/models/architectures';
import { isLlamaPresetName, LLAMA_PRESETS } from '../../trainer/models/llama/config';
import { CHAT_TEMPLATE_FILE, chatTemplateOf } from '../../language/chatTemplateSource';
import { createRunFolder, latestCheckpoint, runPaths } from '../../trainer/runFolder';

/** The strategies the flow offers: every strategy of the engine. */
export type FlowStrategy = Strategy;

export interface CachedModel {
  /** `openai-community/gpt2` */
  repoId: string;
  /** The snapshot folder (config.json + safetensors weights): passed as `model`, so no download is tried. */
  dir: string;
  nLayer?: number;
  /** The family's display name (GPT-2, Llama, Qwen2, Qwen3). */
  family?: string;
  /** Every base parameter, from config.json in closed form (trainer/models/architectures.ts). */
  parameters?: number;
}

/** A cached model the trainer cannot load, listed with the reason. */
export interface UnsupportedModel {
  repoId: string;
  dir: string;
  reason: string;
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

/**
 * A model folder: config.json and safetensors weights (model.safetensors, or the index of a sharded
 * checkpoint). Its family and size when the trainer loads that architecture, else why not; undefined for
 * a folder that is no model folder at all (no config.json, or no weights).
 */
export function modelFolderInfo(dir: string): { nLayer: number; family: string; parameters: number } | { unsupported: string } | undefined {
  if (!isFile(path.join(dir, 'model.safetensors')) && !isFile(path.join(dir, WEIGHTS_INDEX_FILE))) return undefined;
  const config = readJson(path.join(dir, 'config.json'));
  if (!config) return undefined;
  const summary = summarizeHfConfig(config, path.join(dir, 'config.json'));
  if ('unsupported' in summary) return summary;
  return { nLayer: summary.layers, family: summary.familyName, parameters: summary.parameters };
}

/**
 * Models in the Hugging Face hub cache (read by the trainer's hub cache module, trainer/hubCache.ts)
 * with complete weights: the first snapshot of each, the one `refs/main` points at first. Models of a
 * family the trainer loads are `models`; the others (BERT, a Llama whose config the family refuses) are
 * `unsupported` with the reason.
 */
export function scanCachedModels(cacheDir?: string): { models: CachedModel[]; unsupported: UnsupportedModel[] } {
  const models: CachedModel[] = [];
  const unsupported: UnsupportedModel[] = [];
  for (const repo of cachedModelRepos(cacheDir)) {
    for (const dir of repo.snapshotDirs()) {
      const info = modelFolderInfo(dir);
      if (!info) continue;
      if ('unsupported' in info) unsupported.push({ repoId: repo.repoId, dir, reason: info.unsupported });
      else models.push({ repoId: repo.repoId, dir, nLayer: info.nLayer, family: info.family, parameters: info.parameters });
      break;
    }
  }
  return { models, unsupported };
}

/** The cached models of a family the trainer loads (scanCachedModels' `models`). */
export function findCachedModels(cacheDir?: string): CachedModel[] {
  return scanCachedModels(cacheDir).models;
}

export type ModelChoiceKind = 'cached' | 'preset' | 'browse' | 'hub' | 'unsupported';

export interface ModelChoice {
  kind: ModelChoiceKind;
  label: string;
  description?: string;
  detail?: string;
  /** The `model` value of run.json (absent for Browse… / Enter id… and unsupported models). */
  model?: string;
  /** Transformer layers, when known (the default for "freeze N layers"). */
  nLayer?: number;
  /** Random weights: small and fast, its own defaults. */
  tiny?: boolean;
  /** Base parameters, when known. */
  parameters?: number;
}

/** 134515008 -> "135M", 1100048384 -> "1.10B": the size a model is known by. */
export function parameterCountText(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${Math.round(n / 1e6)}M`;
  if (n >= 1e3) return `${Math.round(n / 1e3)}K`;
  return String(n);
}

/** The Llama-family presets (built-in configs of published models; their weights download on first use). */
function llamaPresetChoices(): ModelChoice[] {
  return (Object.keys(LLAMA_PRESETS) as (keyof typeof LLAMA_PRESETS)[]).map((name) => {
    const summary = summarizeHfConfig(LLAMA_PRESETS[name].hfConfig, name);
    const known = 'unsupported' in summary ? undefined : summary;
    return {
      kind: 'preset',
      label: name,
      description: `preset · ${known ? `${known.familyName}, ${parameterCountText(known.parameters)} parameters` : 'Llama family'}, needs a download`,
      detail: LLAMA_PRESETS[name].repo,
      model: name,
      nLayer: known?.layers,
      parameters: known?.parameters,
    };
  });
}

/**
 * The base-model items, first the one Enter should take: a cached model if any, else `tiny`; then the
 * presets, Browse… and Enter id…, and last the cached models the trainer cannot load, with the reason
 * (picking one says it again).
 */
export function modelChoices(cached: readonly CachedModel[], unsupported: readonly UnsupportedModel[] = []): ModelChoice[] {
  const items: ModelChoice[] = cached.map((m) => ({
    kind: 'cached',
    label: m.repoId,
    description: `Hugging Face cache${m.family ? ` · ${m.family}` : ''}${m.parameters !== undefined ? `, ${parameterCountText(m.parameters)} parameters` : ''}`,
    detail: m.dir,
    model: m.dir,
    nLayer: m.nLayer,
    parameters: m.parameters,
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
    { kind: 'preset', label: 'gpt2', description: 'preset · 124M parameters, needs a download', model: 'gpt2', nLayer: 12, parameters: 124439808 },
    { kind: 'preset', label: 'distilgpt2', description: 'preset · 82M parameters, needs a download', model: 'distilgpt2', nLayer: 6, parameters: 81912576 },
    ...llamaPresetChoices(),
    { kind: 'browse', label: 'Browse…', description: 'a local model folder (config.json + safetensors weights)' },
    { kind: 'hub', label: 'Enter a Hugging Face id…', description: 'owner/name, downloaded into the Hugging Face cache' },
  );
  for (const u of unsupported)
    items.push({ kind: 'unsupported', label: u.repoId, description: 'Hugging Face cache · cannot be trained here', detail: u.reason });
  return items;
}

/** One strategy's memory verdict for the quick pick, from the trainer's survey (`finetune params --survey`). */
export function fitText(fit: StrategyFit | undefined, backend: string): string | undefined {
  if (!fit) return undefined;
  const where = backend === 'wasm' ? "the wasm backend's 4 GiB heap" : "this machine's memory";
  return fit.fits
    ? `fits in ${where} (about ${formatBytes(fit.neededBytes)} of ${formatBytes(fit.limitBytes)})`
    : `does not fit in ${where}: about ${formatBytes(fit.neededBytes)} needed, ${formatBytes(fit.limitBytes)} there`;
}

/** The strategies a surveyed model fits with, for its item: `fits: lora, adapter, prompt`. */
export function fitsSummary(surveyed: SurveyedModel): string {
  const fitting = surveyed.strategies.filter((s) => s.fits).map((s) => s.strategy);
  if (fitting.length === surveyed.strategies.length) return `every strategy fits in memory at batch ${surveyed.batchSize} × ${surveyed.seq} tokens`;
  // The list assumes the run's full length; the last step measures the dataset's longest example instead.
  if (fitting.length === 0)
    return `no strategy fits in memory at batch ${surveyed.batchSize} × ${surveyed.seq} tokens (shorter examples or a smaller batch need less)`;
  return `fits in memory at batch ${surveyed.batchSize} × ${surveyed.seq} tokens: ${fitting.join(', ')}`;
}

/** The model items with the survey's verdicts in their details (items the survey did not answer stay as they are). */
export function withSurvey(items: readonly ModelChoice[], result: SurveyResult | undefined): ModelChoice[] {
  if (!result) return [...items];
  const byModel = new Map(result.models.map((m) => [m.model, m]));
  return items.map((item) => {
    const s = item.model !== undefined ? byModel.get(item.model) : undefined;
    if (!s) return item;
    if ('error' in s) return { ...item, detail: `${item.detail ? `${item.detail} · ` : ''}no estimate: ${s.error}` };
    return { ...item, parameters: s.parameters, detail: `${item.detail ? `${item.detail} · ` : ''}${fitsSummary(s)} (${result.backend})` };
  });
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
  loraTargets?: string[] | 'all-linear' | 'default';
  taskWeights?: Record<string, number>;
  adapterDim?: number;
  virtualTokens?: number;
  /** Prompt tuning's initial text; '' or absent = random initialisation. */
  promptInit?: string;
  head?: HeadKind;
  numLabels?: number;
  /** How batches draw from the tasks, when the trainer offers a choice (`taskSampling`). */
  taskSampling?: string;
  /** Chat records' template (`--chat-template`): chatml or a file; absent = the model's own. */
  chatTemplate?: string;
  /** T of temperature sampling. */
  samplingTemperature?: number;
}

/**
 * Whether a model brings its own chat template: `own` (chat_template.jinja, else tokenizer_config.json's
 * chat_template, read as the trainer reads them), `none` (chat records get the plain chat format), or
 * `unknown` for a Llama-family preset whose files are not downloaded yet.
 */
export type ModelTemplate = 'own' | 'none' | 'unknown';

export function modelChatTemplate(model: string, cacheDir?: string): ModelTemplate {
  let dir: string | undefined;
  try {
    if (fs.statSync(model).isDirectory()) dir = model;
  } catch {
    // not a folder: a preset or a repo id
  }
  if (!dir) {
    const repoId = isLlamaPresetName(model) ? LLAMA_PRESETS[model].repo : model;
    dir = cachedModelRepos(cacheDir)
      .find((r) => r.repoId === repoId)
      ?.snapshotDirs()
      .find((d) => isFile(path.join(d, 'tokenizer_config.json')) || isFile(path.join(d, CHAT_TEMPLATE_FILE)));
  }
  // GPT-2's presets (tiny, gpt2, distilgpt2) have no template, cached or not.
  if (!dir) return isLlamaPresetName(model) ? 'unknown' : 'none';
  if (isFile(path.join(dir, CHAT_TEMPLATE_FILE))) return 'own';
  const config = readJson(path.join(dir, 'tokenizer_config.json'));
  return config && chatTemplateOf(config) !== undefined ? 'own' : 'none';
}

export interface ChatTemplateChoice {
  label: string;
  description: string;
  /** run.json's chatTemplate: undefined = the model's own (else the plain format); 'file' = ask for one. */
  value: string | undefined | 'file';
}

/** The quick pick's chat-template items for chat records, the recommended one first. */
export function chatTemplateChoices(own: ModelTemplate): ChatTemplateChoice[] {
  const first: ChatTemplateChoice =
    own === 'own'
      ? { label: "The model's own template", description: 'as transformers renders it (recommended)', value: undefined }
      : own === 'unknown'
        ? { label: "The model's own template", description: 'read once the model is downloaded; the plain chat format if it has none', value: undefined }
        : { label: 'Plain chat format', description: 'the model has no chat template: "<role>: text" lines (see the README)', value: undefined };
  return [
    first,
    { label: 'ChatML', description: '<|im_start|>role … <|im_end|>, as Qwen uses', value: 'chatml' },
    { label: 'Template file…', description: 'a .jinja file, or a tokenizer_config.json whose chat_template is taken', value: 'file' },
  ];
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
  if (c.chatTemplate !== undefined) given.chatTemplate = c.chatTemplate;
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
