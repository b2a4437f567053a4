// Wires training into VS Code: the run manager, the panels, the runs view and every training command.
// extension.ts calls registerTraining() once; deactivate() awaits shutdownTraining().
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ComparePanel } from './comparePanel';
import { canResume, resolveRunsDirectory } from './fineTuneChoices';
import { fineTuneCommand, requireTrust, resumeRunCommand, runFromConfigCommand } from './fineTuneFlow';
import { exportClusterJobCommand, importClusterResultsCommand } from './clusterCommands';
import { installNativeBackendCommand } from './nativeBackendCommand';
import { RUNS_VIEW_ID, RunsTreeProvider, runDirOf } from './runsView';
import { summarizeRunFolder } from './runFolders';
import { nativeBackendEnv, openRunLog, revealRunOutput, RunManager } from './runManager';
import { cliTrainerQueries, runCli } from './trainerQueries';
import { RUN_PANEL_VIEW_TYPE, RunPanel, type RunPanelDeps } from './runPanel';
import type { DatasetSettings } from '../settings';

let manager: RunManager | undefined;

export function registerTraining(context: vscode.ExtensionContext, settings: DatasetSettings, log: vscode.LogOutputChannel): void {
  const runsDirectory = () =>
    resolveRunsDirectory(
      vscode.workspace.getConfiguration('finetune').get<string>('runsDirectory'),
      vscode.workspace.workspaceFolders?.[0]?.uri.scheme === 'file' ? vscode.workspace.workspaceFolders[0].uri.fsPath : undefined,
      path.join(context.globalStorageUri.fsPath, 'runs'),
    );
  const panelDeps = {} as RunPanelDeps;
  const runManager = (manager = new RunManager(context, { showPanel: (dir, preserveFocus) => RunPanel.show(dir, panelDeps, preserveFocus) }));
  Object.assign(panelDeps, { context, manager: runManager, runsDirectory });
  const tree = new RunsTreeProvider(runsDirectory, runManager);
  const view = vscode.window.createTreeView(RUNS_VIEW_ID, { treeDataProvider: tree, canSelectMany: true, showCollapseAll: false });
  const flowDeps = {
    manager: runManager,
    settings,
    runsDirectory,
    log,
    // The quick pick's estimates come from the trainer's code in a child process (no TensorFlow.js here).
    queries: cliTrainerQueries({
      cliPath: path.join(context.extensionPath, 'dist', 'cli.js'),
      env: () => nativeBackendEnv(vscode.workspace.getConfiguration('finetune').get<string>('nativeBackendPath'), context.globalStorageUri.fsPath),
    }),
    throughputCacheFile: path.join(context.globalStorageUri.fsPath, 'throughput.json'),
  };

  // Export and import run the CLI in a child process: it owns the job folder's and the run folder's rules.
  const clusterDeps = {
    cli: (args: string[]) => runCli({ cliPath: path.join(context.extensionPath, 'dist', 'cli.js') }, args),
    reloadPanel: (dir: string) => RunPanel.reload(dir),
  };

  /** Tree commands get (clicked item, selection); others a folder path or nothing. */
  const selectedRunDirs = (arg: unknown, args: unknown): string[] => {
    if (Array.isArray(args) && args.length) return args.map(runDirOf).filter((d): d is string => !!d);
    const one = runDirOf(arg);
    if (one) return [one];
    return view.selection.map((i) => i.summary.dir);
  };

  const pickRun = async (placeHolder: string, filter: (active: boolean) => boolean = () => true): Promise<string | undefined> => {
    const runs = tree.allRuns().filter((r) => filter(runManager.isActive(r.dir)));
    if (!runs.length) {
      void vscode.window.showInformationMessage('No training runs found in ' + runsDirectory());
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      runs.map((r) => ({ label: r.id, description: `${r.status} · ${r.dataset ?? ''} · ${r.strategy ?? ''}`, dir: r.dir })),
      { placeHolder },
    );
    return picked?.dir;
  };

  context.subscriptions.push(
    runManager,
    tree,
    view,
    { dispose: () => RunPanel.disposeAll() },
    vscode.commands.registerCommand('finetune.fineTune', (arg?: unknown) => fineTuneCommand(arg, flowDeps)),
    vscode.commands.registerCommand('finetune.runFromConfig', (arg?: unknown) => runFromConfigCommand(arg, flowDeps)),
    vscode.commands.registerCommand('finetune.openRun', async (arg?: unknown) => {
      const dir = runDirOf(arg) ?? (await pickRun('Open which run?'));
      if (dir) RunPanel.show(dir, panelDeps);
    }),
    vscode.commands.registerCommand('finetune.stopRun', async (arg?: unknown) => {
      const dir = runDirOf(arg) ?? (await pickRun('Stop which run?', (active) => active));
      if (!dir) return;
      if (!runManager.stop(dir)) void vscode.window.showInformationMessage(`${path.basename(dir)} is not running in this window.`);
    }),
    vscode.commands.registerCommand('finetune.compareRuns', async (arg?: unknown, args?: unknown) => {
      let dirs = selectedRunDirs(arg, args);
      if (dirs.length < 2) {
        const runs = tree.allRuns();
        if (runs.length < 2) {
          void vscode.window.showInformationMessage('Compare Runs needs at least two runs; start another with Fine-tune… on a dataset.');
          return;
        }
        const picked = await vscode.window.showQuickPick(
          // Enter alone compares the selected run (if any) with the newest ones: two runs in all.
          runs.map((r, i) => ({
            label: r.id,
            description: `${r.status} · ${r.dataset ?? ''} · ${r.strategy ?? ''}`,
            dir: r.dir,
            picked: dirs.includes(r.dir) || (dirs.length === 0 && i < 2) || (dirs.length === 1 && i === (runs[0].dir === dirs[0] ? 1 : 0)),
          })),
          { canPickMany: true, title: 'Compare Runs', placeHolder: 'Pick two or more runs' },
        );
        if (!picked) return;
        dirs = picked.map((p) => p.dir);
        if (dirs.length < 2) {
          void vscode.window.showInformationMessage('Pick at least two runs to compare.');
          return;
        }
      }
      ComparePanel.show(context.extensionUri, dirs, (d) => runManager.isActive(d));
    }),
    vscode.commands.registerCommand('finetune.revealRunOutput', async (arg?: unknown) => {
      const dir = runDirOf(arg) ?? (await pickRun('Reveal the output of which run?'));
      if (dir) await revealRunOutput(dir, summarizeRunFolder(dir).outputDir);
    }),
    vscode.commands.registerCommand('finetune.openRunLog', async (arg?: unknown) => {
      const dir = runDirOf(arg) ?? (await pickRun('Open the log of which run?'));
      if (dir) await openRunLog(dir, runManager.output);
    }),
    vscode.commands.registerCommand('finetune.deleteRun', async (arg?: unknown, args?: unknown) => {
      const dirs = selectedRunDirs(arg, args);
      if (!dirs.length) return;
      const running = dirs.filter((d) => runManager.isActive(d) || summarizeRunFolder(d).status === 'running');
      if (running.length) {
        void vscode.window.showWarningMessage(`${path.basename(running[0])} is running: stop it before deleting it.`);
        return;
      }
      const what = dirs.length === 1 ? `the run ${path.basename(dirs[0])}` : `${dirs.length} runs`;
      const ok = await vscode.window.showWarningMessage(`Delete ${what} and everything in its folder (checkpoints, output)?`, { modal: true }, 'Delete');
      if (ok !== 'Delete') return;
      for (const dir of dirs) {
        try {
          fs.rmSync(dir, { recursive: true, force: true });
        } catch (err) {
          void vscode.window.showErrorMessage(`Could not delete ${dir}: ${(err as Error).message}`);
        }
      }
      tree.refresh();
    }),
    vscode.commands.registerCommand('finetune.resumeRun', async (arg?: unknown) => {
      if (!requireTrust()) return;
      let dir = runDirOf(arg);
      if (!dir) {
        const resumable = tree.allRuns().filter((r) => !runManager.isActive(r.dir) && canResume(r.status, r.dir));
        if (!resumable.length) {
          void vscode.window.showInformationMessage('No stopped or failed run with a checkpoint to resume.');
          return;
        }
        const picked = await vscode.window.showQuickPick(
          resumable.map((r) => ({ label: r.id, description: `${r.status} · ${r.dataset ?? ''} · ${r.strategy ?? ''}`, dir: r.dir })),
          { placeHolder: 'Resume which run?' },
        );
        dir = picked?.dir;
      }
      if (dir) await resumeRunCommand(dir, flowDeps);
      tree.refreshSoon();
    }),
    vscode.commands.registerCommand('finetune.refreshRuns', () => tree.refresh()),
    vscode.commands.registerCommand('finetune.exportClusterJob', async (arg?: unknown) => {
      if (!requireTrust()) return;
      const dir = runDirOf(arg) ?? (await pickRun('Export which run as a cluster job?'));
      if (dir) await exportClusterJobCommand(dir, clusterDeps);
    }),
    vscode.commands.registerCommand('finetune.importClusterResults', async (arg?: unknown) => {
      if (!requireTrust()) return;
      const dir = runDirOf(arg) ?? (await pickRun('Import cluster results into which run?', (active) => !active));
      if (!dir) return;
      await importClusterResultsCommand(dir, clusterDeps);
      tree.refreshSoon();
    }),
    vscode.commands.registerCommand('finetune.installNativeBackend', () => {
      if (!requireTrust()) return;
      return installNativeBackendCommand(context, runManager.output);
    }),
    vscode.window.registerWebviewPanelSerializer(RUN_PANEL_VIEW_TYPE, {
      async deserializeWebviewPanel(panel) {
        RunPanel.revive(panel, panelDeps);
      },
    }),
  );
}

/** deactivate(): stop this window's runs (stop, then signals) and wait briefly for them to exit. */
export async function shutdownTraining(): Promise<void> {
  const m = manager;
  manager = undefined;
  if (m) await m.shutdown();
}
