// The `finetune.*` settings as ValidationOptions, with the user's schema file read and watched, so
// that editing the schema revalidates open datasets just like changing a setting does.
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

export class DatasetSettings implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when a setting or the schema file changes. */
  readonly onDidChange = this.changed.event;
  private options: ValidationOptions | undefined;
  private schemaWatcher: vscode.FileSystemWatcher | undefined;
  private watchedSchema: string | undefined;
  private lastSchemaError: string | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly log: vscode.LogOutputChannel) {
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
