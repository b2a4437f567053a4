// The "Runs" tree in the Fine-Tune view container: one item per run folder under the runs directory,
// newest first, with its state from events.jsonl. Refreshed when the folder changes and when this
// window's runs start, progress or end (at most once a second).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunStatus } from '../../protocol/panel';
import { RUN_FILES } from '../../trainer/runFolder';
import { canResume } from './fineTuneChoices';
import { formatDuration, listRunFolders, runDescription, RunSummaryCache, type RunSummary } from './runFolders';
import type { RunManager } from './runManager';

export const RUNS_VIEW_ID = 'finetune.runs';

const STATUS_ICONS: Record<RunStatus, vscode.ThemeIcon> = {
  waiting: new vscode.ThemeIcon('clock'),
  running: new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue')),
  completed: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  'early-stopped': new vscode.ThemeIcon('pass-filled', new vscode.ThemeColor('testing.iconPassed')),
  stopped: new vscode.ThemeIcon('debug-stop', new vscode.ThemeColor('charts.yellow')),
  failed: new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed')),
};

/** The tree item's contextValue: `finetuneRun.<status>`, plus `.resumable` when Resume applies. */
export function runContextValue(status: RunStatus, resumable: boolean): string {
  return `finetuneRun.${status}${resumable ? '.resumable' : ''}`;
}

export class RunItem extends vscode.TreeItem {
  constructor(
    readonly summary: RunSummary,
    readonly resumable = false,
  ) {
    super(summary.id, vscode.TreeItemCollapsibleState.None);
    this.id = summary.dir;
    this.resourceUri = vscode.Uri.file(summary.dir);
    this.description = runDescription(summary);
    this.iconPath = STATUS_ICONS[summary.status];
    // `finetuneRun.running` / `finetuneRun.completed` / `finetuneRun.stopped.resumable` …: the menus show
    // Stop only on running runs and Resume only on stopped or failed runs with a checkpoint.
    this.contextValue = runContextValue(summary.status, resumable);
    this.command = { title: 'Open', command: 'finetune.openRun', arguments: [summary.dir] };
    const md = new vscode.MarkdownString();
    md.appendMarkdown(`**${summary.id}** — ${summary.status}\n\n`);
    const rows: [string, string | undefined][] = [
      ['Dataset', summary.dataset],
      ['Model', summary.model],
      ['Strategy', summary.strategy],
      ['Step', summary.step !== undefined ? `${summary.step}${summary.totalSteps ? ` / ${summary.totalSteps}` : ''}` : undefined],
      ['Last loss', summary.lastLoss?.toFixed(4)],
      ['Best eval loss', summary.bestEvalLoss?.toFixed(4)],
      ['Started', summary.startedAt ? new Date(summary.startedAt).toLocaleString() : undefined],
      ['Elapsed', summary.startedAt && summary.status === 'running' ? formatDuration((Date.now() - summary.startedAt) / 1000) : undefined],
      ['Message', summary.message],
    ];
    for (const [k, v] of rows) if (v) md.appendText(`${k}: ${v}\n\n`);
    this.tooltip = md;
  }
}

export class RunsTreeProvider implements vscode.TreeDataProvider<RunItem>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [];
  private watcher: vscode.FileSystemWatcher | undefined;
  private watchedDir: string | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly summaries = new RunSummaryCache();

  constructor(
    private readonly runsDirectory: () => string,
    private readonly manager: RunManager,
  ) {
    this.disposables.push(
      manager.onDidChange(() => this.refreshSoon()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('finetune.runsDirectory')) this.refresh();
      }),
    );
  }

  private watch(dir: string): void {
    if (this.watchedDir === dir) return;
    this.watcher?.dispose();
    this.watchedDir = dir;
    this.watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(dir), `*/{${RUN_FILES.runJson},${RUN_FILES.events}}`));
    const onChange = () => this.refreshSoon();
    this.watcher.onDidCreate(onChange);
    this.watcher.onDidChange(onChange);
    this.watcher.onDidDelete(onChange);
  }

  refresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    this.changed.fire();
  }

  /** Events arrive every step; the tree does not need to follow each one. */
  refreshSoon(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => this.refresh(), 1000);
  }

  getTreeItem(item: RunItem): vscode.TreeItem {
    return item;
  }

  getChildren(item?: RunItem): RunItem[] {
    if (item) return [];
    this.watch(this.runsDirectory());
    return this.allRuns().map((s) => new RunItem(s, !this.manager.isActive(s.dir) && canResume(s.status, s.dir)));
  }

  /** Every run under the runs directory, newest first (also for the quick picks). */
  allRuns(): RunSummary[] {
    const dirs = listRunFolders(this.runsDirectory());
    this.summaries.retain(dirs);
    return dirs.map((d) => this.summaries.summary(d, { active: this.manager.isActive(d) }));
  }

  dispose(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.watcher?.dispose();
    for (const d of this.disposables) d.dispose();
    this.changed.dispose();
  }
}

/** The run folder a command is about: a tree item, a folder path (status bar, panel) or a Uri. */
export function runDirOf(arg: unknown): string | undefined {
  if (arg instanceof RunItem) return arg.summary.dir;
  if (typeof arg === 'string') return path.resolve(arg);
  if (arg instanceof vscode.Uri) return arg.fsPath;
  return undefined;
}
