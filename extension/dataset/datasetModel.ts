// Which model a dataset is shown for (`finetune.dataset.model`), and that model's tokenizer, chat
// template and context length, loaded without its weights and without TensorFlow.js. No `vscode` import:
// the glue (datasetModels.ts) passes the workspace folders, the HF cache and the remembered run model.
//
// A value is a preset name, a model folder inside a workspace folder (relative to it, or absolute but
// inside it: a workspace's settings must not make the editor read files elsewhere), or a Hugging Face
// repo id that is already in the local cache (or a snapshot folder in that cache, which is what a run
// on a cached model records). The editor never downloads: a repo that is not cached is an error that
// says how to get it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ChatTemplate, resolveChatTemplate } from '../../language/chatTemplate';
import { effectiveMaxLength as maxLengthRule } from '../../protocol/options';
import type { TextTokenizer } from '../../language/tokenizer';
import { isRepoId } from '../../trainer/hub';
import { cachedModelRepos, defaultHubCacheDir, HubCacheRepo } from '../../trainer/hubCache';
import { isLlamaPresetName, LLAMA_ARCHITECTURES, LLAMA_PRESETS } from '../../trainer/models/llama/config';
import { modelTokenizer } from '../../trainer/modelTokenizer';
import { readRunJson } from '../../trainer/runFolder';

/** The model used when neither the setting nor a run names one: the tokenizer the plain checks count with. */
export const DEFAULT_DATASET_MODEL = 'gpt2';

/** The GPT-2 presets: their tokenizer is the built-in GPT-2 one, which the plain checks already use. */
const GPT2_PRESETS: ReadonlySet<string> = new Set(['tiny', 'gpt2', 'distilgpt2']);

/** A model value that cannot be used; the message says why and what to do. */
export class DatasetModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetModelError';
  }
}

/** Where the model's value came from, for messages and the hover's header. */
export type ModelOrigin = 'setting' | 'last run' | 'default';

/** The value that applies to a file: the setting, else the model of its last run, else GPT-2. */
export function chooseModelValue(setting: string | undefined, lastRun: string | undefined): { value: string; origin: ModelOrigin } {
  if (setting?.trim()) return { value: setting.trim(), origin: 'setting' };
  if (lastRun?.trim()) return { value: lastRun.trim(), origin: 'last run' };
  return { value: DEFAULT_DATASET_MODEL, origin: 'default' };
}

export type ModelSource = { kind: 'preset'; name: string } | { kind: 'folder'; dir: string };

export interface ResolveContext {
  /** The workspace folders' paths: folder values must lie inside one of them. */
  workspaceFolders: readonly string[];
  /** The Hugging Face hub cache (trainer/hubCache.ts's default when undefined). */
  cacheDir?: string;
  /**
   * The value was written by this extension (a run's model, remembered in its workspace state), not
   * read from the workspace's settings: an absolute folder outside the workspace (the HF cache
   * snapshot a run used) is then fine.
   */
  trusted?: boolean;
}

/** `child` is `parent` or inside it, after resolving symbolic links (a link must not lead out). */
function isInside(child: string, parent: string): boolean {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const rel = path.relative(real(parent), real(child));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function hasFile(dir: string, name: string): boolean {
  try {
    return fs.statSync(path.join(dir, name)).isFile();
  } catch {
    return false;
  }
}

/** The best snapshot of a cached repo that holds config.json (a preview needs nothing more). */
function cachedSnapshot(repoId: string, cacheDir: string | undefined): string | undefined {
  const repos = cacheDir === undefined ? cachedModelRepos() : cachedModelRepos(cacheDir);
  const repo = repos.find((r) => r.repoId === repoId) ?? (cacheDir ? new HubCacheRepo(cacheDir, repoId) : undefined);
  return repo?.snapshotDirs().find((dir) => hasFile(dir, 'config.json'));
}

/** A setting's value as the model it names, by the rules at the top of this file. */
export function resolveModelValue(value: string, ctx: ResolveContext): ModelSource {
  const v = value.trim();
  if (!v) throw new DatasetModelError('finetune.dataset.model is empty');
  if (GPT2_PRESETS.has(v)) return { kind: 'preset', name: v };
  const looksLikePath = v.startsWith('.') || v.startsWith('~') || path.isAbsolute(v) || v.includes('\\') || v.split('/').length > 2;
  const notCached = (repo: string) =>
    new DatasetModelError(
      `${repo} is not in the local Hugging Face cache, and the editor does not download models: fine-tune with it once (or \`bin/finetune preview --model ${repo}\`), or set finetune.dataset.model to a model folder in the workspace`,
    );
  if (!looksLikePath && isLlamaPresetName(v)) {
    const repo = LLAMA_PRESETS[v].repo;
    const dir = cachedSnapshot(repo, ctx.cacheDir);
    if (!dir) throw notCached(`${v} (${repo})`);
    return { kind: 'folder', dir };
  }
  // A folder: relative to the first workspace folder that has it.
  const candidates = path.isAbsolute(v) ? [path.normalize(v)] : ctx.workspaceFolders.map((f) => path.join(f, v));
  for (const dir of candidates) {
    let isDir = false;
    try {
      isDir = fs.statSync(dir).isDirectory();
    } catch {
      continue;
    }
    if (!isDir) continue;
    const cache = ctx.cacheDir ?? defaultHubCacheDir();
    if (!ctx.trusted && !ctx.workspaceFolders.some((f) => isInside(dir, f)) && !isInside(dir, cache))
      throw new DatasetModelError(`finetune.dataset.model: ${dir} is outside the workspace folders; a model folder must be inside one`);
    if (!hasFile(dir, 'config.json'))
      throw new DatasetModelError(`finetune.dataset.model: ${dir} has no config.json, so it is not a Hugging Face model folder`);
    return { kind: 'folder', dir };
  }
  if (looksLikePath) {
    if (!ctx.trusted && path.isAbsolute(v) && !ctx.workspaceFolders.some((f) => isInside(v, f)))
      throw new DatasetModelError(`finetune.dataset.model: ${v} is outside the workspace folders; a model folder must be inside one`);
    throw new DatasetModelError(`finetune.dataset.model: no model folder ${v}${ctx.workspaceFolders.length ? ' in the workspace' : ''}`);
  }
  if (!isRepoId(v))
    throw new DatasetModelError(
      `finetune.dataset.model: "${v}" is not a preset (tiny, gpt2, distilgpt2, ${Object.keys(LLAMA_PRESETS).join(', ')}), a model folder in the workspace or a Hugging Face repo id`,
    );
  const dir = cachedSnapshot(v, ctx.cacheDir);
  if (!dir) throw notCached(v);
  return { kind: 'folder', dir };
}

/** Most run folders read when looking for a dataset's last run (the newest first, by their time-stamped names). */
export const MAX_RUNS_SCANNED = 200;

/**
 * The `model` of the newest run folder under `runsDir` whose run.json trains `datasetFile` (its `data`,
 * absolute or relative to one of `workspaceFolders`). Run folders are named `<time>-<dataset>-<strategy>`,
 * so the names sort by start time.
 */
export function lastRunModelIn(runsDir: string, datasetFile: string, workspaceFolders: readonly string[]): string | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(runsDir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? [d.name] : []));
  } catch {
    return undefined;
  }
  const target = path.resolve(datasetFile);
  names.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  for (const name of names.slice(0, MAX_RUNS_SCANNED)) {
    const json = readRunJson(path.join(runsDir, name));
    const data = json?.data;
    const model = json?.model;
    if (typeof data !== 'string' || typeof model !== 'string' || !model.trim()) continue;
    const candidates = path.isAbsolute(data) ? [path.resolve(data)] : workspaceFolders.map((f) => path.resolve(f, data));
    if (candidates.includes(target)) return model;
  }
  return undefined;
}

/** A dataset model, loaded: what the checks, the hover and the preview need. */
export interface DatasetModel {
  /** The value as the user wrote it (a preset, a folder, a repo id). */
  value: string;
  origin: ModelOrigin;
  /** A short name for headers: the preset, the folder's or repo's name. */
  label: string;
  tokenizer: TextTokenizer;
  /** config.json's context length (the default maximum length of an example, as in training). */
  maxPositions: number;
  chatTemplate: ChatTemplate | undefined;
  /** A GPT-2 preset: the plain checks (GPT-2 tokens, the plain chat format) already describe it exactly. */
  plainGpt2: boolean;
  /** The folder its files are read from (watched for changes), if any. */
  dir?: string;
}

/** A snapshot folder `…/models--owner--name/snapshots/<commit>` as `owner/name`. */
function labelOf(value: string, source: ModelSource): string {
  if (source.kind === 'preset') return source.name;
  const m = /models--(.+?)[\\/]snapshots[\\/]/.exec(source.dir + path.sep);
  if (m) return m[1].split('--').join('/');
  return isRepoId(value) || isLlamaPresetName(value) ? value : path.basename(source.dir);
}

/** Loads the tokenizer files of a resolved model (no network: presets and folders only reach the disk). */
export async function loadDatasetModel(value: string, origin: ModelOrigin, source: ModelSource): Promise<DatasetModel> {
  const spec = source.kind === 'preset' ? source.name : source.dir;
  const { tokenizer, maxPositions } = await modelTokenizer(spec);
  return {
    value,
    origin,
    label: labelOf(value, source),
    tokenizer,
    maxPositions,
    chatTemplate: resolveChatTemplate(undefined, tokenizer),
    plainGpt2: source.kind === 'preset',
    ...(source.kind === 'folder' ? { dir: source.dir } : {}),
  };
}

/**
 * The maximum length the checks use, by training's rule: `finetune.dataset.maxTokens` when the user set
 * it, else training's default (protocol/options.ts DEFAULT_MAX_LENGTH), never more than the context.
 */
export function effectiveMaxLength(model: Pick<DatasetModel, 'maxPositions'>, explicitMaxTokens: number | undefined): number {
  return maxLengthRule(explicitMaxTokens, model.maxPositions);
}

const CAUSAL_LMS = new Set(['GPT2LMHeadModel', ...Object.values(LLAMA_ARCHITECTURES).map((a) => a.causalLm)]);

/** A folder whose config.json names a causal LM of a family the trainer has (GPT-2, Llama, Qwen2, Qwen3). */
export function isSupportedModelFolder(dir: string): boolean {
  try {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { architectures?: unknown; model_type?: unknown };
    if (Array.isArray(raw.architectures)) return raw.architectures.some((a) => CAUSAL_LMS.has(a as string));
    return raw.model_type === 'gpt2' || Object.hasOwn(LLAMA_ARCHITECTURES, raw.model_type as string);
  } catch {
    return false;
  }
}

export interface ModelPickItem {
  label: string;
  description: string;
  /** The setting's value this item writes. */
  value: string;
}

/**
 * What "Choose Dataset Model…" offers: the GPT-2 presets, the cached Hugging Face models of supported
 * families (Llama-family presets by name when cached), and model folders found in the workspace
 * (`folders`: absolute paths holding config.json, with the workspace folder they are in).
 */
export function modelPickItems(folders: readonly { dir: string; workspaceFolder: string }[], cacheDir?: string): ModelPickItem[] {
  const items: ModelPickItem[] = [
    { label: 'gpt2', description: 'preset · the GPT-2 tokenizer, no chat template (the default)', value: 'gpt2' },
    { label: 'tiny', description: 'preset · the GPT-2 tokenizer, 256 tokens of context', value: 'tiny' },
    { label: 'distilgpt2', description: 'preset · the GPT-2 tokenizer', value: 'distilgpt2' },
  ];
  const presetByRepo = new Map(Object.entries(LLAMA_PRESETS).map(([name, p]) => [p.repo, name]));
  for (const repo of cacheDir === undefined ? cachedModelRepos() : cachedModelRepos(cacheDir)) {
    const dir = repo.snapshotDirs().find((d) => hasFile(d, 'config.json'));
    if (!dir || !isSupportedModelFolder(dir)) continue;
    const preset = presetByRepo.get(repo.repoId);
    items.push({ label: preset ?? repo.repoId, description: `Hugging Face cache${preset ? ` · ${repo.repoId}` : ''}`, value: preset ?? repo.repoId });
  }
  for (const f of folders) {
    if (!isSupportedModelFolder(f.dir)) continue;
    const rel = path.relative(f.workspaceFolder, f.dir).split(path.sep).join('/') || '.';
    items.push({ label: rel, description: 'model folder in the workspace', value: rel.startsWith('.') ? rel : `./${rel}` });
  }
  return items;
}
