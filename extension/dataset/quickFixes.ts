// Quick fixes: the language library computes them with each diagnostic; this provider only turns the
// ones belonging to the diagnostics under the cursor into WorkspaceEdits.
import * as vscode from 'vscode';
import type { DiagnosticsController } from './diagnosticsController';

export class DatasetQuickFixProvider implements vscode.CodeActionProvider {
  static readonly metadata: vscode.CodeActionProviderMetadata = { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] };

  constructor(private readonly diagnostics: DiagnosticsController) {}

  provideCodeActions(document: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    if (context.only && !vscode.CodeActionKind.QuickFix.contains(context.only) && !context.only.contains(vscode.CodeActionKind.QuickFix)) {
      return [];
    }
    // Two diagnostics may offer the same fix (a missing 'output' and an unknown 'response' both offer
    // the rename): one action, linked to both.
    const byFix = new Map<string, vscode.CodeAction>();
    for (const diagnostic of context.diagnostics) {
      for (const fix of this.diagnostics.fixesFor(document, diagnostic)) {
        const key = JSON.stringify([fix.title, fix.edits]);
        const existing = byFix.get(key);
        if (existing) {
          existing.diagnostics!.push(diagnostic);
          existing.isPreferred ||= fix.preferred === true;
          continue;
        }
        const action = new vscode.CodeAction(fix.title, vscode.CodeActionKind.QuickFix);
        const edit = new vscode.WorkspaceEdit();
        for (const e of fix.edits) edit.replace(document.uri, new vscode.Range(e.line, e.column, e.endLine, e.endColumn), e.newText);
        action.edit = edit;
        action.diagnostics = [diagnostic];
        action.isPreferred = fix.preferred === true;
        byFix.set(key, action);
      }
    }
    const actions = [...byFix.values()];
    return actions;
  }
}
