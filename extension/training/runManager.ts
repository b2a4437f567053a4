// The trainer processes this window started: one RunProcess each, a status-bar item each, their stderr in
// the "Fine-Tune" Output channel, and a notification when one fails. The panels and the runs view listen.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { nativeTfjsPackageName } from '../../trainer/nativeBackends';
import type { TrainConfig, TrainerEvent } from '../../protocol/trainer';
import { runPaths } from '../../trainer/runFolder';
import { RunProcess, type RunExit } from './runProcess';
import { statusBarText } from './runFolders';
import { trainerArgs } from './fineTuneChoices';

export interface ActiveRun {
  id: string;
  dir: string;
  label: string;
  process: RunProcess;
  statusItem: vscode.StatusBarItem;
  last: { step?: number; totalSteps?: number; loss?: number; etaSec?: number };
}

export interface RunManagerHooks {
  /** Opens (or reveals) the run's panel. */
  showPanel(runDir: string, preserveFocus: boolean): void;
}

/** Env for the child: where an installed tfjs-node lives (the setting wins over the extension's own install). */
export function nativeBackendEnv(setting: string | undefined, globalStorage: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  if (setting && setting.trim()) out.FINETUNE_TFJS_NODE_PATH = setting.trim();
  else if (
    !out.FINETUNE_TFJS_NODE_PATH &&
    [false, true].some((gpu) => fs.existsSync(path.join(globalStorage, 'node_modules', ...nativeTfjsPackageName(gpu).split('/'))))
  )
    out.FINETUNE_TFJS_NODE_PATH = globalStorage;
  return out;
}

export class RunManager implements vscode.Disposable {
  private readonly runs = new Map<string, ActiveRun>();
  private readonly changed = new vscode.EventEmitter<string>();
  private readonly eventEmitter = new vscode.EventEmitter<{ dir: string; event: TrainerEvent }>();
  /** Fires with the run folder whenever a run starts, makes progress or ends. */
  readonly onDidChange = this.changed.event;
  readonly onEvent = this.eventEmitter.event;
  readonly output: vscode.OutputChannel;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly hooks: RunManagerHooks,
  ) {
    this.output = vscode.window.createOutputChannel('Fine-Tune');
  }

  get trainerPath(): string {
    return path.join(this.context.extensionPath, 'dist', 'trainer.js');
  }

  isActive(runDir: string): boolean {
    return this.runs.has(path.resolve(runDir));
  }

  activeRuns(): ActiveRun[] {
    return [...this.runs.values()];
  }

  /**
   * Starts the trainer on the run.json already written in `config.out` (with `config.resume`: continues
   * that run from its last checkpoint), and opens its panel beside (the same panel for a resumed run).
   */
  start(config: TrainConfig): ActiveRun {
    const dir = path.resolve(config.out);
    if (this.runs.has(dir)) throw new Error(`${path.basename(dir)} is already running`);
    const id = path.basename(dir);
    const label = path.basename(config.data).replace(/\.jsonl$/i, '');
    const settings = vscode.workspace.getConfiguration('finetune');
    const env = nativeBackendEnv(settings.get<string>('nativeBackendPath'), this.context.globalStorageUri.fsPath);
    const args = trainerArgs(dir, config.resume !== undefined);
    this.output.appendLine(`[${id}] ${config.resume !== undefined ? 'resuming' : 'starting'}: ${this.trainerPath} ${args.join(' ')}`);
    const statusItem = vscode.window.createStatusBarItem(`finetune.run.${id}`, vscode.StatusBarAlignment.Left, 10);
    statusItem.name = `Fine-Tune run ${id}`;
    statusItem.command = { title: 'Open Run', command: 'finetune.openRun', arguments: [dir] };
    statusItem.tooltip = `Training ${id}: click to open its panel`;
    const run: ActiveRun = { id, dir, label, statusItem, last: {}, process: undefined! };
    run.process = new RunProcess({
      trainerPath: this.trainerPath,
      args,
      runDir: dir,
      env,
      onEvent: (event) => this.onRunEvent(run, event),
      onLog: (text) =>
        this.output.append(
          text
            .split('\n')
            .map((l, i, a) => (i === a.length - 1 && l === '' ? '' : `[${id}] ${l}`))
            .join('\n'),
        ),
    });
    this.runs.set(dir, run);
    this.updateStatusItem(run);
    statusItem.show();
    void run.process.exited.then((exit) => this.onExit(run, exit));
    this.changed.fire(dir);
    this.hooks.showPanel(dir, true);
    return run;
  }

  stop(runDir: string): boolean {
    const run = this.runs.get(path.resolve(runDir));
    if (!run) return false;
    this.output.appendLine(`[${run.id}] stop requested`);
    run.statusItem.text = `$(debug-stop) ${run.label}: stopping…`;
    run.process.stop();
    return true;
  }

  private onRunEvent(run: ActiveRun, event: TrainerEvent): void {
    switch (event.type) {
      case 'start':
        run.last.totalSteps = event.totalSteps;
        this.output.appendLine(
          `[${run.id}] ${event.backend} on ${event.device}; ${event.dataset?.train} training / ${event.dataset?.eval} eval records, ${event.totalSteps} steps`,
        );
        if (event.backendNote) this.output.appendLine(`[${run.id}] ${event.backendNote}`);
        break;
      case 'step':
        run.last.step = event.step;
        run.last.loss = event.loss;
        run.last.etaSec = event.etaSec;
        break;
      case 'log':
        this.output.appendLine(`[${run.id}] ${event.level}: ${event.message}`);
        break;
      case 'error':
        this.output.appendLine(`[${run.id}] error: ${event.message}`);
        break;
      case 'done':
        this.output.appendLine(`[${run.id}] done: ${event.status}${event.message ? ` (${event.message})` : ''}`);
        break;
    }
    this.updateStatusItem(run);
    this.eventEmitter.fire({ dir: run.dir, event });
    if (event.type !== 'step') this.changed.fire(run.dir);
  }

  private updateStatusItem(run: ActiveRun): void {
    run.statusItem.text = statusBarText(run.label, run.last);
  }

  private onExit(run: ActiveRun, exit: RunExit): void {
    this.runs.delete(run.dir);
    run.statusItem.dispose();
    this.output.appendLine(`[${run.id}] trainer exited (${exit.signal ?? `code ${exit.code}`})`);
    this.changed.fire(run.dir);
    if (this.disposed) return;
    if (exit.failure !== undefined) {
      void vscode.window.showErrorMessage(`Training failed: ${exit.failure}`, 'Open Log', 'Open Run').then((pick) => {
        if (pick === 'Open Log') void openRunLog(run.dir, this.output);
        else if (pick === 'Open Run') this.hooks.showPanel(run.dir, false);
      });
    } else if (exit.done?.status === 'stopped') {
      void vscode.window.showInformationMessage(
        `Training stopped: ${run.id} (${exit.done.message ?? `step ${exit.done.step}`}). Its output and checkpoint are saved.`,
      );
    } else if (exit.done) {
      void vscode.window.showInformationMessage(`Training ${exit.done.status}: ${run.id}`, 'Reveal Output').then((pick) => {
        if (pick === 'Reveal Output') void revealRunOutput(run.dir);
      });
    }
  }

  private disposed = false;

  /** Stops every run: `stop`, then SIGTERM and SIGKILL sooner than usual; resolves when all have exited or after `capMs`. */
  async stopAll(stopGraceMs = 2000, termGraceMs = 1000, capMs = 4000): Promise<void> {
    const runs = [...this.runs.values()];
    for (const run of runs) run.process.stop(stopGraceMs, termGraceMs);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(runs.map((r) => r.process.exited)), new Promise<void>((resolve) => (timer = setTimeout(resolve, capMs)))]);
    clearTimeout(timer);
    for (const run of runs) if (run.process.running) run.process.kill();
  }

  dispose(): void {
    this.disposed = true;
    for (const run of this.runs.values()) {
      run.process.kill();
      run.statusItem.dispose();
    }
    this.changed.dispose();
    this.eventEmitter.dispose();
    this.output.dispose();
  }

  async shutdown(): Promise<void> {
    this.disposed = true;
    await this.stopAll();
  }
}

export async function openRunLog(runDir: string, output?: vscode.OutputChannel): Promise<void> {
  const log = runPaths(runDir).trainerLog;
  if (fs.existsSync(log)) {
    await vscode.window.showTextDocument(vscode.Uri.file(log), { preview: true });
  } else {
    output?.show(true);
    void vscode.window.showInformationMessage(`${path.basename(runDir)} has no trainer.log yet.`);
  }
}

/** The output folder (else the run folder) in the Explorer when it is in the workspace, else in the OS. */
export async function revealRunOutput(runDir: string, outputDir?: string): Promise<void> {
  const candidates = [outputDir, runPaths(runDir).output, runDir].filter((p): p is string => !!p && fs.existsSync(p));
  const target = vscode.Uri.file(candidates[0] ?? runDir);
  const inWorkspace = vscode.workspace.getWorkspaceFolder(target) !== undefined;
  if (inWorkspace) {
    await vscode.commands.executeCommand('revealInExplorer', target);
  } else if (vscode.env.remoteName === undefined && vscode.env.uiKind === vscode.UIKind.Desktop) {
    await vscode.commands.executeCommand('revealFileInOS', target);
  } else {
    void vscode.window.showInformationMessage(`Output folder: ${target.fsPath}`);
  }
}
