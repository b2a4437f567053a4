// The training panel host: one webview per run folder. It follows the run's events.jsonl (the trainer's
// own record), so the same code serves a live run, a finished one, and a panel rebuilt after a reload:
// on `ready` the file's complete lines go over as text (`backlog`: the webview parses them, which is far
// cheaper than posting 100,000 event objects), then the events appended after them, in batches every 100 ms.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isRunPanelWebviewMessage, type RunPanelHostMessage } from '../../protocol/panel';
import { parseEventLines, parseTrainerEvent, type TrainerEvent } from '../../protocol/trainer';
import { readCompleteLines, runPaths } from '../../trainer/runFolder';
import { makeNonce, runPanelHtml } from './runPanelHtml';
import { openRunLog, revealRunOutput, type RunManager } from './runManager';
import { TryItSession } from './tryIt';

export const RUN_PANEL_VIEW_TYPE = 'finetune.runPanel';
const OPEN_PANELS_KEY = 'finetune.openRunPanels';

/** The panel's tab title; the e2e tests find panels by it. */
export function runPanelTitle(runId: string): string {
  return `Training: ${runId}`;
}

const LIVE_POLL_MS = 100;
const IDLE_POLL_MS = 1000;
/**
 * The `start` and `done` events of a backlog, which are all the host needs from it (the webview reads
 * the rest): only lines that spell one of those types are parsed, so 100,000 steps cost a scan, not
 * 100,000 JSON.parse calls on the extension host.
 */
export function startAndDoneEvents(jsonl: string): TrainerEvent[] {
  const events: TrainerEvent[] = [];
  const word = /"(?:start|done)"/g;
  for (let m = word.exec(jsonl); m; m = word.exec(jsonl)) {
    const from = jsonl.lastIndexOf('\n', m.index) + 1;
    const newline = jsonl.indexOf('\n', m.index);
    const to = newline < 0 ? jsonl.length : newline;
    const event = parseTrainerEvent(jsonl.slice(from, to));
    if (event && (event.type === 'start' || event.type === 'done')) events.push(event);
    word.lastIndex = to; // one look per line
  }
  return events;
}

export class RunPanel implements vscode.Disposable {
  private static readonly panels = new Map<string, RunPanel>();
  /** Byte offset in events.jsonl up to which the panel has been sent the events. */
  private sent = 0;
  private timer: NodeJS.Timeout | undefined;
  private sawDone = false;
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];
  /** Try It's generations (a child process running `finetune generate`). */
  private tryIt: TryItSession | undefined;

  static show(runDir: string, deps: RunPanelDeps, preserveFocus = false): RunPanel {
    const dir = path.resolve(runDir);
    const existing = RunPanel.panels.get(dir);
    if (existing) {
      existing.panel.reveal(undefined, preserveFocus);
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(
      RUN_PANEL_VIEW_TYPE,
      runPanelTitle(path.basename(dir)),
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus },
      {
        enableScripts: true,
        retainContextWhenHidden: true,
        localResourceRoots: [vscode.Uri.joinPath(deps.context.extensionUri, 'dist', 'webview')],
      },
    );
    return new RunPanel(panel, dir, deps);
  }

  /** After a window reload: the run folder is found from the title (workspace state remembers the folder). */
  static revive(panel: vscode.WebviewPanel, deps: RunPanelDeps): void {
    const id = panel.title.replace(/^Training: /, '');
    const open = deps.context.workspaceState.get<Record<string, string>>(OPEN_PANELS_KEY, {});
    // Own keys only: a run folder may be called `constructor`.
    const remembered = Object.hasOwn(open, id) && typeof open[id] === 'string' ? open[id] : undefined;
    const dir = remembered ?? path.join(deps.runsDirectory(), id);
    if (!fs.existsSync(dir)) {
      panel.webview.html = `<!DOCTYPE html><html><body><p>The run folder of ${id.replace(/[<>&]/g, '')} no longer exists.</p></body></html>`;
      return;
    }
    panel.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(deps.context.extensionUri, 'dist', 'webview')] };
    new RunPanel(panel, path.resolve(dir), deps);
  }

  /** Re-sends an open panel its backlog, e.g. after `finetune import` appended a cluster job's results. */
  static reload(runDir: string): void {
    const panel = RunPanel.panels.get(path.resolve(runDir));
    if (panel?.ready) panel.sendBacklog();
  }

  static disposeAll(): void {
    for (const p of [...RunPanel.panels.values()]) p.panel.dispose();
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    readonly runDir: string,
    private readonly deps: RunPanelDeps,
  ) {
    RunPanel.panels.set(runDir, this);
    const webview = panel.webview;
    const nonce = makeNonce();
    webview.html = runPanelHtml({
      cspSource: webview.cspSource,
      nonce,
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(deps.context.extensionUri, 'dist', 'webview', 'run.js')).toString(),
      title: runPanelTitle(path.basename(runDir)),
    });
    void this.remember(true);
    this.disposables.push(
      webview.onDidReceiveMessage((message: unknown) => this.onMessage(message)),
      panel.onDidDispose(() => this.dispose()),
      deps.manager.onDidChange((dir) => {
        // The run ended in this window: read what its last moments appended right away.
        if (dir === this.runDir && this.ready) this.schedule(0);
      }),
    );
  }

  private async remember(open: boolean): Promise<void> {
    const id = path.basename(this.runDir);
    // A Map in between: a run folder called `__proto__` must be a key, not an assignment to the prototype.
    const map = new Map(Object.entries(this.deps.context.workspaceState.get<Record<string, string>>(OPEN_PANELS_KEY, {})));
    if (open) map.set(id, this.runDir);
    else map.delete(id);
    await this.deps.context.workspaceState.update(OPEN_PANELS_KEY, Object.fromEntries(map));
  }

  private post(message: RunPanelHostMessage): void {
    void this.panel.webview.postMessage(message);
  }

  private onMessage(message: unknown): void {
    if (!isRunPanelWebviewMessage(message)) return;
    switch (message.type) {
      case 'ready':
        this.sendBacklog();
        break;
      case 'stop':
        if (!this.deps.manager.stop(this.runDir)) {
          void vscode.window.showInformationMessage(`${path.basename(this.runDir)} is not running in this window.`);
        }
        break;
      case 'openOutput':
        void revealRunOutput(this.runDir, this.outputDir);
        break;
      case 'resume':
        // The command checks the run (trust, checkpoint, not running) and says why when it cannot.
        void vscode.commands.executeCommand('finetune.resumeRun', this.runDir);
        break;
      case 'exportCluster':
        void vscode.commands.executeCommand('finetune.exportClusterJob', this.runDir);
        break;
      case 'importCluster':
        void vscode.commands.executeCommand('finetune.importClusterResults', this.runDir);
        break;
      case 'tryIt':
        this.tryIt ??= new TryItSession(this.runDir, { cliPath: path.join(this.deps.context.extensionPath, 'dist', 'cli.js') });
        void this.tryIt.handle(message).then((reply) => {
          if (reply) this.post(reply);
        });
        break;
      case 'openLog':
        void openRunLog(this.runDir, this.deps.manager.output);
        break;
    }
  }

  private outputDir: string | undefined;

  private note(events: readonly TrainerEvent[]): void {
    for (const e of events) {
      if (e.type === 'done') {
        this.sawDone = true;
        this.outputDir = e.outputDir;
      } else if (e.type === 'start') {
        // A resumed run appends a new start after an earlier done.
        this.sawDone = false;
      }
    }
  }

  private get eventsFile(): string {
    return runPaths(this.runDir).events;
  }

  private sendBacklog(): void {
    this.ready = true;
    this.sawDone = false;
    const { text, end } = readCompleteLines(this.eventsFile, 0);
    this.sent = end;
    this.note(startAndDoneEvents(text));
    this.post({ type: 'backlog', jsonl: text });
    if (!this.sawDone && this.deps.manager.isActive(this.runDir)) this.post({ type: 'status', status: 'running' });
    this.schedule();
  }

  /** Polls while the run may still write: fast while it runs here, slowly when it might run elsewhere. */
  private schedule(delay?: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const active = this.deps.manager.isActive(this.runDir);
    if (this.sawDone && !active && delay === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const { text, end, truncated } = readCompleteLines(this.eventsFile, this.sent);
        if (truncated) {
          // The file was replaced (a new run in the same folder): start the panel over.
          this.sendBacklog();
          return;
        }
        this.sent = end;
        const events = parseEventLines(text);
        if (events.length) {
          this.note(events);
          this.post({ type: 'events', events });
        }
        this.schedule();
      },
      delay ?? (active ? LIVE_POLL_MS : IDLE_POLL_MS),
    );
  }

  dispose(): void {
    this.tryIt?.dispose();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (RunPanel.panels.get(this.runDir) === this) {
      RunPanel.panels.delete(this.runDir);
      void this.remember(false);
    }
    for (const d of this.disposables) d.dispose();
    this.disposables.length = 0;
  }
}

export interface RunPanelDeps {
  context: vscode.ExtensionContext;
  manager: RunManager;
  runsDirectory(): string;
}
