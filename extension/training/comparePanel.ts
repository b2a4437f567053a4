// "Compare Runs": one webview with the loss curves and the summary table of two or more runs, fed their
// whole events.jsonl. Showing it again with other runs replaces its content. While one of them trains in
// this window the view is refreshed every few seconds.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isCompareWebviewMessage, type CompareHostMessage, type CompareRun } from '../../protocol/panel';
import { readRunEvents } from '../../trainer/runFolder';
import { compareRunsHtml, makeNonce } from './runPanelHtml';

export const COMPARE_VIEW_TYPE = 'finetune.compareRuns';
export const COMPARE_TITLE = 'Compare Runs';

export function compareRunsOf(runDirs: readonly string[]): CompareRun[] {
  return runDirs.map((dir) => ({ id: path.basename(dir), label: path.basename(dir), events: readRunEvents(dir) }));
}

const LIVE_REFRESH_MS = 3000;

export class ComparePanel {
  private static current: ComparePanel | undefined;
  private runDirs: string[];
  private timer: NodeJS.Timeout | undefined;

  static show(extensionUri: vscode.Uri, runDirs: string[], isActive: (runDir: string) => boolean = () => false): ComparePanel {
    if (ComparePanel.current) {
      ComparePanel.current.runDirs = runDirs;
      ComparePanel.current.isActive = isActive;
      ComparePanel.current.panel.reveal();
      ComparePanel.current.send();
      return ComparePanel.current;
    }
    const panel = vscode.window.createWebviewPanel(COMPARE_VIEW_TYPE, COMPARE_TITLE, vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')],
    });
    return (ComparePanel.current = new ComparePanel(panel, extensionUri, runDirs, isActive));
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    runDirs: string[],
    private isActive: (runDir: string) => boolean,
  ) {
    this.runDirs = runDirs;
    const webview = panel.webview;
    webview.html = compareRunsHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', 'compare.js')).toString(),
      title: COMPARE_TITLE,
    });
    const sub = webview.onDidReceiveMessage((message: unknown) => {
      if (isCompareWebviewMessage(message)) this.send();
    });
    panel.onDidDispose(() => {
      sub.dispose();
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      if (ComparePanel.current === this) ComparePanel.current = undefined;
    });
  }

  private send(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const message: CompareHostMessage = { type: 'runs', runs: compareRunsOf(this.runDirs) };
    void this.panel.webview.postMessage(message);
    // One more send after the last run ends, so its final events are shown.
    if (this.runDirs.some((d) => this.isActive(d))) this.timer = setTimeout(() => this.send(), LIVE_REFRESH_MS);
  }
}
