// The decisions behind the "Fine-tune…" quick picks, without vscode: which base models to offer and in
// which order, the defaults for each, the checks on what the user types, and the run.json they become.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_LR, parseTrainFlags, resolveTrainConfig, runJsonOf, TrainConfigError, type Strategy, type TrainConfig } from '../protocol/trainer';
import { defaultHubCacheDir } from '../trainer/hubCache';

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
 * Models in the Hugging Face hub cache (`models--owner--name/snapshots/<commit>/`) with complete weights;
 * the snapshot `refs/main` points at wins, else the newest.
 */
export function findCachedModels(cacheDir: string = defaultHubCacheDir()): CachedModel[] {
  let names: string[];
  try {
    names = fs.readdirSync(cacheDir).filter((n) => n.startsWith('models--'));
  } catch {
    return [];
  }
  const found: CachedModel[] = [];
  for (const name of names.sort()) {
    const root = path.join(cacheDir, name);
    const repoId = name.slice('models--'.length).split('--').join('/');
    let snapshots: string[];
    try {
      snapshots = fs.readdirSync(path.join(root, 'snapshots'));
    } catch {
      continue;
    }
    let main: string | undefined;
    try {
      main = fs.readFileSync(path.join(root, 'refs', 'main'), 'utf8').trim();
    } catch {
      // no ref: any complete snapshot will do
    }
    const mtime = (s: string) => {
      try {
        return fs.statSync(path.join(root, 'snapshots', s)).mtimeMs;
      } catch {
        return 0;
      }
    };
    const ordered = snapshots.sort((a, b) => (a === main ? -1 : b === main ? 1 : mtime(b) - mtime(a)));
    for (const s of ordered) {
      const dir = path.join(root, 'snapshots', s);
      const info = gpt2ModelFolderInfo(dir);
      if (info) {
        found.push({ repoId, dir, nLayer: info.nLayer });
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
    { kind: 'preset', label: 'tiny', description: 'preset · random weights, 2 layers, offline', detail: 'A small GPT-2 for trying the workflow: trains in seconds, learns little.', model: 'tiny', nLayer: 2, tiny: true },
    { kind: 'preset', label: 'gpt2', description: 'preset · 124M parameters, needs a download', model: 'gpt2', nLayer: 12 },
    { kind: 'preset', label: 'distilgpt2', description: 'preset · 82M parameters, needs a download', model: 'distilgpt2', nLayer: 6 },
    { kind: 'browse', label: 'Browse…', description: 'a local model folder (config.json + model.safetensors)' },
    { kind: 'hub', label: 'Enter a Hugging Face id…', description: 'owner/name, downloaded into the Hugging Face cache' },
  );
  return items;
}

export interface StrategyChoice {
  strategy: Strategy;
  label: string;
  description: string;
}

export const STRATEGY_CHOICES: readonly StrategyChoice[] = [
  { strategy: 'full', label: 'full', description: 'train every weight' },
  { strategy: 'partial', label: 'partial', description: 'freeze the first N layers, train the rest' },
  { strategy: 'lora', label: 'lora', description: 'low-rank adapters on frozen weights (LoRA)' },
];

/** Pretrained models get LoRA first (cheap and good); the random `tiny` model trains fully. */
export function strategyChoices(model: ModelChoice): StrategyChoice[] {
  const first: Strategy = model.tiny ? 'full' : 'lora';
  return [...STRATEGY_CHOICES].sort((a, b) => (a.strategy === first ? -1 : b.strategy === first ? 1 : 0));
}

export interface RunDefaults {
  epochs: number;
  batchSize: number;
  lr: number;
  maxLength: number;
  freezeLayers: number;
}

/**
 * `tiny` has random weights, so it wants a far larger learning rate than fine-tuning does, and short
 * examples keep a run on a sample dataset well under a minute on a laptop CPU.
 */
export function runDefaults(model: ModelChoice, strategy: Strategy): RunDefaults {
  const layers = model.nLayer ?? 12;
  return {
    epochs: 3,
    batchSize: 8,
    lr: model.tiny ? (strategy === 'lora' ? 2e-3 : 1e-3) : DEFAULT_LR[strategy],
    maxLength: model.tiny ? 128 : 256,
    freezeLayers: Math.max(1, Math.floor(layers / 2)),
  };
}

// ---------------------------------------------------------------------------------------------------
// Input checks: undefined = fine, else the message the input box shows.

export function checkPositiveInt(text: string, what: string, max = Number.MAX_SAFE_INTEGER): string | undefined {
  const n = Number(text.trim());
  if (!text.trim() || !Number.isInteger(n) || n < 1) return `${what} must be a whole number of at least 1`;
  if (n > max) return `${what} must be at most ${max}`;
  return undefined;
}

export function checkNonNegativeInt(text: string, what: string, max: number): string | undefined {
  const n = Number(text.trim());
  if (!text.trim() || !Number.isInteger(n) || n < 0) return `${what} must be a whole number (0 or more)`;
  if (n > max) return `${what} must be at most ${max}`;
  return undefined;
}

export function checkPositiveNumber(text: string, what: string): string | undefined {
  const n = Number(text.trim());
  if (!text.trim() || !Number.isFinite(n) || n <= 0) return `${what} must be a number greater than 0 (e.g. 3 or 5e-5)`;
  return undefined;
}

export function checkRepoId(text: string): string | undefined {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(text.trim()) ? undefined : 'Enter a Hugging Face model id like owner/name (e.g. openai-community/gpt2)';
}

/** `translate=1,summarize=0.5` -> weights; the message of the CLI's own check when it is wrong. */
export function parseTaskWeights(text: string): { weights?: Record<string, number>; error?: string } {
  try {
    return { weights: parseTrainFlags(['--task-weights', text]).taskWeights };
  } catch (err) {
    return { error: (err as Error).message.replace(/^--task-weights:? ?/, '') };
  }
}

export function taskWeightsText(tasks: readonly string[]): string {
  return tasks.map((t) => `${t}=1`).join(',');
}

/** The distinct `task` values of a JSONL dataset, in order of first appearance (bad lines are skipped). */
export function datasetTasks(file: string, maxBytes = 64 * 1024 * 1024): string[] {
  let text: string;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = Math.min(fs.fstatSync(fd).size, maxBytes);
      const buf = Buffer.alloc(size);
      fs.readSync(fd, buf, 0, size, 0);
      text = buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return [];
  }
  const tasks = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.includes('"task"')) continue;
    try {
      const record = JSON.parse(line) as { task?: unknown };
      if (typeof record.task === 'string' && record.task.trim()) tasks.add(record.task);
    } catch {
      // an invalid line: validation reports it
    }
  }
  return [...tasks];
}

export interface FineTuneChoices {
  data: string;
  model: string;
  strategy: Strategy;
  epochs: number;
  lr: number;
  batchSize: number;
  maxLength?: number;
  freezeLayers?: number;
  loraR?: number;
  loraAlpha?: number;
  loraTargets?: string[] | 'all-linear';
  taskWeights?: Record<string, number>;
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

export function writeRunJson(config: TrainConfig): string {
  const file = path.join(config.out, 'run.json');
  fs.mkdirSync(config.out, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(runJsonOf(config), null, 2) + '\n');
  return file;
}

/** `finetune.runsDirectory`: absolute as given, else relative to the workspace folder (or the fallback). */
export function resolveRunsDirectory(setting: string | undefined, workspaceFolder: string | undefined, fallback: string): string {
  const value = (setting ?? '').trim() || '.finetune/runs';
  if (path.isAbsolute(value)) return value;
  return path.resolve(workspaceFolder ?? fallback, value);
}

export { TrainConfigError };
