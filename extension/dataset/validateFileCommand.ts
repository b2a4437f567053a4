// "Validate Dataset" on a file from the Explorer: streams the file from disk (so files too large to
// open in an editor work), shows byte progress in a cancellable notification, and lists the first N
// problems plus a summary line in Problems.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DIAGNOSTIC_SOURCE, toVscodeDiagnostic } from './diagnosticsController';
import { language } from '../languageLoader';
import type { DatasetSettings } from '../settings';
import { finishedMessage, summaryDiagnosticMessage } from './validationSummary';

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export interface ValidateFileDeps {
  settings: DatasetSettings;
  /** Where file results go (separate from the live collection, which owns open documents). */
  collection: vscode.DiagnosticCollection;
  /** True when the file is open and validated live: then only the summary is added to Problems. */
  isLive(uri: vscode.Uri): boolean;
  log: vscode.LogOutputChannel;
}

export async function validateDatasetFile(uri: vscode.Uri, deps: ValidateFileDeps): Promise<void> {
  const name = path.posix.basename(uri.path);
  if (uri.scheme !== 'file') {
    void vscode.window.showErrorMessage(`Validate Dataset: ${name} is not a local file (${uri.scheme}:); open it and use the live diagnostics instead.`);
    return;
  }
  const maxProblems = deps.settings.maxProblems;
  const options = deps.settings.validationOptions();
  const controller = new AbortController();
  let result: Awaited<ReturnType<ReturnType<typeof language>['validateFile']>>;
  try {
    result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Validating ${name}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => controller.abort());
        let reported = 0;
        return language().validateFile(uri.fsPath, {
          ...options,
          maxDiagnostics: maxProblems,
          signal: controller.signal,
          onProgress(bytes: number, total: number) {
            const percent = total > 0 ? Math.min(100, (bytes / total) * 100) : 0;
            progress.report({ increment: percent - reported, message: `${formatBytes(bytes)} of ${formatBytes(total)}` });
            reported = percent;
          },
        });
      },
    );
  } catch (err) {
    if (controller.signal.aborted) {
      void vscode.window.showInformationMessage(`Validate Dataset: cancelled ${name}.`);
      return;
    }
    const reason = err instanceof Error ? err.message : String(err);
    deps.log.error(`Validate Dataset: ${uri.fsPath}: ${err instanceof Error ? (err.stack ?? reason) : reason}`);
    void vscode.window.showErrorMessage(`Validate Dataset: cannot validate ${name}: ${reason}`);
    return;
  }
  if (controller.signal.aborted) {
    void vscode.window.showInformationMessage(`Validate Dataset: cancelled ${name}.`);
    return;
  }

  const live = deps.isLive(uri);
  const problems = live ? [] : result.diagnostics.slice(0, maxProblems).map(toVscodeDiagnostic);
  const counts = {
    format: result.format ?? 'no format detected',
    records: result.records,
    errors: result.errors,
    warnings: result.warnings,
    truncated: result.truncated,
  };
  const shown = live ? result.errors + result.warnings : problems.length;
  const summary = new vscode.Diagnostic(new vscode.Range(0, 0, 0, 0), summaryDiagnosticMessage(counts, shown), vscode.DiagnosticSeverity.Information);
  summary.source = DIAGNOSTIC_SOURCE;
  summary.code = 'summary';
  deps.collection.set(uri, [summary, ...problems]);
  deps.log.info(`Validate Dataset: ${uri.fsPath}: ${summaryDiagnosticMessage(counts, shown)}`);
  const message = finishedMessage(name, counts, shown);
  void vscode.window.showInformationMessage(message, 'Show Problems').then((pick) => {
    if (pick) void vscode.commands.executeCommand('workbench.actions.view.problems');
  });
}
