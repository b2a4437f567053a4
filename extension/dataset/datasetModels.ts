// The dataset's model in VS Code: which one applies to a file (settings.ts reads the setting and the
// remembered run model), loaded once per model folder and reloaded when its tokenizer files change,
// and the "Choose Dataset Model…" command that writes `finetune.dataset.model`.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DatasetModel, ModelOrigin, ModelSource } from './datasetModel';
import type * as ModelSupport from './modelSupport';
import type { DatasetSettings } from '../settings';

let support: typeof ModelSupport | undefined;
/** modelSupport.ts on first use: it loads the tokenizer library and the Jinja interpreter. */
export function modelSupport(): typeof ModelSupport {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  support ??= require('./modelSupport') as typeof ModelSupport;
  return support;
}

/** The model of a file, loaded, with the maximum length the checks use; or why it cannot be used. */
export type ModelState = { kind: 'ready'; model: DatasetModel; maxLength: number } | { kind: 'error'; value: string; origin: ModelOrigin; message: string };

/** How long a scan of the runs folder for a dataset's last run is reused (a run started elsewhere shows up after it). */
const SCAN_MS = 10_000;

/** Files whose change reloads a model (what its tokenizer, template and context are read from). */
const MODEL_FILES = '{config.json,tokenizer.json,tokenizer_config.json,chat_template.jinja,vocab.json,merges.txt}';

function localFolders(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
}

export class DatasetModels implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a model finished loading or its files changed: the checks and views are redone. */
  readonly onDidChange = this.changed.event;
  /** Loaded (or loading) models by source: a preset name or a folder. */
  private readonly loaded = new Map<string, Promise<DatasetModel | { error: string }>>();
  private readonly settled = new Map<string, DatasetModel | { error: string }>();
  private readonly watchers = new Map<string, vscode.FileSystemWatcher>();
  private readonly reported = new Set<string>();
  private readonly disposables: vscode.Disposable[] = [];

  /** The model of each dataset's newest run found in the runs folder, looked up at most every SCAN_MS. */
  private readonly scanned = new Map<string, { at: number; model: string | undefined }>();

  /** `runsDirectory`: where run folders are (finetune.runsDirectory), for files the Fine-tune flow has not remembered. */
  constructor(
    private readonly settings: DatasetSettings,
    private readonly log: vscode.LogOutputChannel,
    private readonly runsDirectory?: () => string | undefined,
  ) {
    this.disposables.push(
      this.changed,
      settings.onDidChange(() => this.scanned.clear()),
    );
  }

  /** The model of the newest run folder that trains `uri` (run.json's data and model). */
  private scannedRunModel(uri: vscode.Uri): string | undefined {
    if (uri.scheme !== 'file' || !this.runsDirectory) return undefined;
    const key = uri.toString();
    const hit = this.scanned.get(key);
    if (hit && performance.now() - hit.at < SCAN_MS) return hit.model;
    const dir = this.runsDirectory();
    const model = dir ? modelSupport().lastRunModelIn(dir, uri.fsPath, localFolders()) : undefined;
    this.scanned.set(key, { at: performance.now(), model });
    return model;
  }

  /** What applies to `uri`: the value, where it came from, and the model it names (or why not). */
  private resolve(uri: vscode.Uri): { value: string; origin: ModelOrigin; source?: ModelSource; error?: string } {
    const lib = modelSupport();
    const remembered = this.settings.lastRunModel(uri);
    const { value, origin } = lib.chooseModelValue(this.settings.datasetModelSetting(uri), remembered ?? this.scannedRunModel(uri));
    try {
      // A remembered run model was written by this extension; the setting and run.json files come from
      // the workspace, so their folders must be inside it (or the HF cache).
      const trusted = origin === 'last run' && remembered !== undefined;
      return { value, origin, source: lib.resolveModelValue(value, { workspaceFolders: localFolders(), trusted }) };
    } catch (err) {
      return { value, origin, error: err instanceof Error ? err.message : String(err) };
    }
  }

  private keyOf(source: ModelSource): string {
    return source.kind === 'preset' ? `preset:${source.name}` : `folder:${source.dir}`;
  }

  private load(key: string, value: string, origin: ModelOrigin, source: ModelSource): Promise<DatasetModel | { error: string }> {
    let pending = this.loaded.get(key);
    if (!pending) {
      const started = performance.now();
      pending = modelSupport()
        .loadDatasetModel(value, origin, source)
        .then(
          (model) => {
            this.log.info(`dataset model ${model.label}: tokenizer and chat template loaded in ${(performance.now() - started).toFixed(0)} ms`);
            return model;
          },
          (err: unknown) => ({ error: `finetune.dataset.model ${value}: ${err instanceof Error ? err.message : String(err)}` }),
        )
        .then((result) => {
          if (this.loaded.get(key) === pending) {
            this.settled.set(key, result);
            this.changed.fire();
          }
          return result;
        });
      this.loaded.set(key, pending);
      if (source.kind === 'folder') this.watch(key, source.dir);
    }
    return pending;
  }

  private watch(key: string, dir: string): void {
    if (this.watchers.has(key)) return;
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(dir), MODEL_FILES));
    const reload = () => {
      this.loaded.delete(key);
      this.settled.delete(key);
      this.changed.fire();
    };
    watcher.onDidChange(reload);
    watcher.onDidCreate(reload);
    watcher.onDidDelete(reload);
    this.watchers.set(key, watcher);
  }

  private state(uri: vscode.Uri, result: DatasetModel | { error: string }, origin: ModelOrigin, value: string): ModelState {
    if ('error' in result) {
      this.report(result.error);
      return { kind: 'error', value, origin, message: result.error };
    }
    const model = result.origin === origin && result.value === value ? result : { ...result, origin, value };
    return { kind: 'ready', model, maxLength: modelSupport().effectiveMaxLength(model, this.settings.explicitMaxTokens(uri)) };
  }

  /** The model of `uri` once loaded; undefined while it loads (onDidChange fires when it is ready). */
  peek(uri: vscode.Uri): ModelState | undefined {
    const r = this.resolve(uri);
    if (!r.source) {
      this.report(r.error!);
      return { kind: 'error', value: r.value, origin: r.origin, message: r.error! };
    }
    const key = this.keyOf(r.source);
    const done = this.settled.get(key);
    if (done) return this.state(uri, done, r.origin, r.value);
    void this.load(key, r.value, r.origin, r.source);
    return undefined;
  }

  /** The model of `uri`, waiting for it to load. */
  async get(uri: vscode.Uri): Promise<ModelState> {
    const r = this.resolve(uri);
    if (!r.source) {
      this.report(r.error!);
      return { kind: 'error', value: r.value, origin: r.origin, message: r.error! };
    }
    return this.state(uri, await this.load(this.keyOf(r.source), r.value, r.origin, r.source), r.origin, r.value);
  }

  /** Once per distinct problem: every revalidation would otherwise raise the same toast. */
  private report(message: string): void {
    if (this.reported.has(message)) return;
    this.reported.add(message);
    this.log.warn(message);
    void vscode.window.showWarningMessage(`${message}. Datasets are checked with GPT-2's tokenizer meanwhile.`, 'Choose Dataset Model…').then((pick) => {
      if (pick) void vscode.commands.executeCommand(CHOOSE_MODEL_COMMAND);
    });
  }

  dispose(): void {
    for (const w of this.watchers.values()) w.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

export const CHOOSE_MODEL_COMMAND = 'finetune.chooseDatasetModel';

/** The dataset a command is about: its argument, else the active editor's document. */
function commandUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  return vscode.window.activeTextEditor?.document.uri;
}

/**
 * "Fine-Tune: Choose Dataset Model…": presets, cached Hugging Face models and the workspace's model
 * folders; the pick is written to `finetune.dataset.model` for the dataset's workspace folder (or the
 * workspace, or the user settings when no folder is open).
 */
export async function chooseDatasetModel(arg: unknown, settings: DatasetSettings): Promise<void> {
  const uri = commandUri(arg);
  const lib = modelSupport();
  const found = await vscode.workspace.findFiles('**/config.json', '{**/node_modules/**,**/.git/**}', 200);
  const folders = found.flatMap((f) => {
    const wf = vscode.workspace.getWorkspaceFolder(f);
    return wf && wf.uri.scheme === 'file' ? [{ dir: path.dirname(f.fsPath), workspaceFolder: wf.uri.fsPath }] : [];
  });
  const current = uri ? settings.datasetModelSetting(uri) : undefined;
  const lastRun = uri ? settings.lastRunModel(uri) : undefined;
  const items: (vscode.QuickPickItem & { value: string | undefined })[] = [
    {
      label: 'Default',
      description: lastRun ? `the model of this file's last run (${lastRun})` : `no run yet: ${lib.DEFAULT_DATASET_MODEL}`,
      value: undefined,
    },
    ...lib.modelPickItems(folders).map((i) => ({ ...i, picked: i.value === current })),
  ];
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Dataset model: the tokenizer, chat template and context length that previews and checks use',
    placeHolder: current ? `now: ${current}` : 'now: the default',
    matchOnDescription: true,
  });
  if (!picked) return;
  const wf = uri ? vscode.workspace.getWorkspaceFolder(uri) : undefined;
  const target = wf
    ? vscode.ConfigurationTarget.WorkspaceFolder
    : vscode.workspace.workspaceFolders?.length
      ? vscode.ConfigurationTarget.Workspace
      : vscode.ConfigurationTarget.Global;
  await vscode.workspace.getConfiguration('finetune', uri).update('dataset.model', picked.value, target);
}
