// Fine-Tune Studio's extension host entry: a thin shell that wires the dataset language library
// (language/) to VS Code. activate() only registers things; the library itself (ajv, the tokenizer)
// is loaded when the first dataset needs it, after activation has returned.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DiagnosticsController, isDatasetDocument } from './dataset/diagnosticsController';
import { DatasetHoverProvider } from './dataset/datasetHover';
import { CHOOSE_MODEL_COMMAND, chooseDatasetModel, DatasetModels } from './dataset/datasetModels';
import { languageLoadMs } from './languageLoader';
import { DatasetPreviewPanel, PREVIEW_VIEW_TYPE, type PersistedPreviewState } from './dataset/previewPanel';
import { DatasetQuickFixProvider } from './dataset/quickFixes';
import { DatasetSettings } from './settings';
import { validateDatasetFile } from './dataset/validateFileCommand';
import { resolveRunsDirectory } from './training/fineTuneChoices';
import { registerTraining, shutdownTraining } from './training/trainingCommands';

/** The runs folder as the training feature resolves it (finetune.runsDirectory), for the dataset's last run. */
function runsDirectoryOf(context: vscode.ExtensionContext): string | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0];
  // The unit tests' fake context has no storage: there is then no fallback folder to look in.
  if (!context.globalStorageUri) return undefined;
  return resolveRunsDirectory(
    vscode.workspace.getConfiguration('finetune').get<string>('runsDirectory'),
    folder?.uri.scheme === 'file' ? folder.uri.fsPath : undefined,
    path.join(context.globalStorageUri.fsPath, 'runs'),
  );
}

const DATASET_SELECTOR: vscode.DocumentSelector = [{ language: 'jsonl' }, { pattern: '**/*.jsonl' }];

/** What activate() returns: measurements, for tests and `Developer: Show Running Extensions` comparisons. */
export interface FineTuneApi {
  activationMs: number;
  languageLoadMs(): number | undefined;
}

function isJsonlUri(uri: vscode.Uri): boolean {
  return uri.path.toLowerCase().endsWith('.jsonl');
}

/** The dataset a command is about: its argument (Explorer, editor title) or the active editor's document. */
function targetUris(arg: unknown, args: unknown): vscode.Uri[] {
  if (Array.isArray(args) && args.length && args.every((a) => a instanceof vscode.Uri)) return args as vscode.Uri[];
  if (arg instanceof vscode.Uri) return [arg];
  const active = vscode.window.activeTextEditor?.document;
  return active && isDatasetDocument(active) ? [active.uri] : [];
}

export function activate(context: vscode.ExtensionContext): FineTuneApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('Fine-Tune Studio', { log: true });
  // The workspace state keeps each dataset's last run model (absent in the unit tests' fake context).
  const settings = new DatasetSettings(log, context.workspaceState as vscode.Memento | undefined);
  const models = new DatasetModels(settings, log, () => runsDirectoryOf(context));
  const live = vscode.languages.createDiagnosticCollection('finetune');
  const fileResults = vscode.languages.createDiagnosticCollection('finetune-file');
  const diagnostics = new DiagnosticsController(live, settings, log, (uri) => fileResults.delete(uri), models);

  context.subscriptions.push(
    log,
    settings,
    models,
    live,
    fileResults,
    diagnostics,
    vscode.languages.registerHoverProvider(DATASET_SELECTOR, new DatasetHoverProvider(settings, diagnostics, log, models)),
    vscode.languages.registerCodeActionsProvider(DATASET_SELECTOR, new DatasetQuickFixProvider(diagnostics), DatasetQuickFixProvider.metadata),
    vscode.commands.registerCommand('finetune.previewDataset', (arg?: unknown) => {
      const [uri] = targetUris(arg, undefined);
      if (!uri) {
        void vscode.window.showErrorMessage('Preview Dataset: open a .jsonl dataset or pick one in the Explorer.');
        return;
      }
      DatasetPreviewPanel.show(context.extensionUri, uri, settings, log, models);
    }),
    vscode.commands.registerCommand(CHOOSE_MODEL_COMMAND, (arg?: unknown) => chooseDatasetModel(targetUris(arg, undefined)[0] ?? arg, settings)),
    vscode.commands.registerCommand('finetune.validateDataset', async (arg?: unknown, args?: unknown) => {
      const uris = targetUris(arg, args).filter(isJsonlUri);
      if (!uris.length) {
        void vscode.window.showErrorMessage('Validate Dataset: pick a .jsonl file in the Explorer or open one.');
        return;
      }
      for (const uri of uris) {
        await validateDatasetFile(uri, { settings, collection: fileResults, isLive: (u) => diagnostics.isTracked(u), log });
      }
    }),
    vscode.window.registerWebviewPanelSerializer(PREVIEW_VIEW_TYPE, {
      async deserializeWebviewPanel(panel, state: unknown) {
        DatasetPreviewPanel.revive(panel, context.extensionUri, state as PersistedPreviewState | undefined, settings, log, models);
      },
    }),
  );

  registerTraining(context, settings, log);

  // Validating the documents already open is real work: let activation return first.
  setImmediate(() => diagnostics.trackAll(vscode.workspace.textDocuments));

  const activationMs = performance.now() - started;
  log.info(`activated in ${activationMs.toFixed(1)} ms`);
  diagnostics.onDidPublish((t) => {
    const load = languageLoadMs();
    log.debug(
      `validated ${t.lines} lines of ${t.uri} in ${t.totalMs.toFixed(0)} ms (longest slice ${t.longestSliceMs.toFixed(1)} ms` +
        `${load !== undefined ? `; language library loaded in ${load.toFixed(0)} ms` : ''})`,
    );
  });
  return { activationMs, languageLoadMs };
}

/** Stops this window's training runs (no orphan trainer processes) before the host goes away. */
export function deactivate(): Promise<void> {
  return shutdownTraining();
}
