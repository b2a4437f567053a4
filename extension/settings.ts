// The `finetune.*` settings as ValidationOptions, with the user's schema file read and watched, so
// that editing the schema revalidates open datasets just like changing a setting does; and the
// dataset's model (`finetune.dataset.model`, resource-scoped, else the model of the file's last run,
// which the Fine-tune flow remembers in the workspace state).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DatasetFormat, ValidationOptions } from '../language/types';
import { DATASET_FORMATS } from '../language/types';
import { language } from './languageLoader';
import { loadSchemaFile, resolveSchemaPath } from './schemaSetting';

/** Why the library rejects a schema (ajv cannot compile it), or undefined when it is usable. */
function schemaProblem(schema: object, options: ValidationOptions): string | undefined {
  try {
    language().validateText('', { ...options, userSchema: schema });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export const DEFAULT_MAX_TOKENS = 1024;
export const DEFAULT_MAX_PROBLEMS = 1000;
const RUN_MODELS_KEY = 'finetune.runModels';

export class DatasetSettings implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a setting or the schema file changes. */
  readonly onDidChange = this.changed.event;
  private options: ValidationOptions | undefined;
  private schemaWatcher: vscode.FileSystemWatcher | undefined;
  private watchedSchema: string | undefined;
  private lastSchemaError: string | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  /** `memory`: the workspace state, where the model of each dataset's last run is kept (absent in some tests). */
  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly memory?: vscode.Memento,
  ) {
    this.disposables.push(
      this.changed,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('finetune.dataset') || e.affectsConfiguration('finetune.validation')) this.invalidate();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.invalidate()),
    );
  }

  get maxProblems(): number {
    const v = vscode.workspace.getConfiguration('finetune').get<number>('validation.maxProblems', DEFAULT_MAX_PROBLEMS);
    return Number.isFinite(v) && v > 0 ? Math.floor(v) : DEFAULT_MAX_PROBLEMS;
  }

  /** `finetune.dataset.model` for a file (a folder may set its own), trimmed; undefined when unset. */
  datasetModelSetting(uri: vscode.Uri): string | undefined {
    const v = vscode.workspace.getConfiguration('finetune', uri).get<string>('dataset.model', '');
    return typeof v === 'string' && v.trim() ? v.trim() : undefined;
  }

  /** The model of the file's last run started from this window's Fine-tune flow. */
  lastRunModel(uri: vscode.Uri): string | undefined {
    const models = this.memory?.get<Record<string, string>>(RUN_MODELS_KEY);
    const v = models && Object.hasOwn(models, uri.toString()) ? models[uri.toString()] : undefined;
    return typeof v === 'string' ? v : undefined;
  }

  /** Called by the Fine-tune flow once the model of a run on `uri` is picked. */
  async rememberRunModel(uri: vscode.Uri, model: string): Promise<void> {
    if (!this.memory || this.lastRunModel(uri) === model) return;
    const models = { ...(this.memory.get<Record<string, string>>(RUN_MODELS_KEY) ?? {}), [uri.toString()]: model };
    await this.memory.update(RUN_MODELS_KEY, models);
    this.changed.fire();
  }

  /** `finetune.dataset.maxTokens` when the user set it anywhere; undefined while it is the default. */
  explicitMaxTokens(uri: vscode.Uri): number | undefined {
    const inspected = vscode.workspace.getConfiguration('finetune', uri).inspect?.<number>('dataset.maxTokens');
    const v = inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : undefined;
  }

  /** Current options; reads the schema file the first time after a change. */
  validationOptions(): ValidationOptions {
    if (!this.options) this.options = this.read();
    return this.options;
  }

  private invalidate(): void {
    this.options = undefined;
    this.changed.fire();
  }

  private read(): ValidationOptions {
    const config = vscode.workspace.getConfiguration('finetune');
    const options: ValidationOptions = {};
    const format = config.get<string>('dataset.format', 'auto');
    options.format = (DATASET_FORMATS as readonly string[]).includes(format) ? (format as DatasetFormat) : 'auto';
    const maxTokens = config.get<number>('dataset.maxTokens', DEFAULT_MAX_TOKENS);
    options.maxTokens = Number.isFinite(maxTokens) && maxTokens > 0 ? Math.floor(maxTokens) : DEFAULT_MAX_TOKENS;

    const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
    const schemaFile = resolveSchemaPath(config.get<string>('dataset.schema', '') ?? '', folders);
    this.watch(schemaFile);
    if (schemaFile) {
      const loaded = loadSchemaFile(schemaFile);
      if ('schema' in loaded) {
        const problem = schemaProblem(loaded.schema, options);
        if (problem) this.reportSchemaError(`finetune.dataset.schema: ${schemaFile} is not a usable JSON Schema (${problem})`);
        else {
          options.userSchema = loaded.schema;
          this.lastSchemaError = undefined;
        }
      } else this.reportSchemaError(loaded.error);
    }
    return options;
  }

  /** Once per distinct problem: every keystroke in the schema file would otherwise raise a toast. */
  private reportSchemaError(message: string): void {
    if (message === this.lastSchemaError) return;
    this.lastSchemaError = message;
    this.log.warn(message);
    void vscode.window.showWarningMessage(message);
  }

  private watch(file: string | undefined): void {
    if (file === this.watchedSchema) return;
    this.schemaWatcher?.dispose();
    this.schemaWatcher = undefined;
    this.watchedSchema = file;
    if (!file) return;
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(path.dirname(file)), path.basename(file)));
    const reload = () => this.invalidate();
    watcher.onDidChange(reload);
    watcher.onDidCreate(reload);
    watcher.onDidDelete(reload);
    this.schemaWatcher = watcher;
  }

  dispose(): void {
    this.schemaWatcher?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
