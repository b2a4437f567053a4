// "Export as Cluster Job…" and "Import Cluster Results…" on a run (Runs view, run panel): a few questions,
// then `finetune export --to trl` / `finetune import` in a child process (dist/cli.js), since the
// extension host loads no TensorFlow.js and the CLI owns the job folder's and the run folder's rules.
import * as path from 'node:path';
import * as vscode from 'vscode';

/** Runs `finetune ARGS` and resolves with its stdout (trainerQueries.ts runCli in the extension). */
export type CliRunner = (args: string[]) => Promise<string>;

export interface ClusterCommandDeps {
  cli: CliRunner;
  /** After an import: the run's panel reloads its events (when it is open). */
  reloadPanel?: (runDir: string) => void;
}

/** Where a run's job goes by default: `jobs/<run>` beside the runs folder (not inside it, where it would list as a run). */
export function defaultJobDir(runDir: string): string {
  const abs = path.resolve(runDir);
  return path.join(path.dirname(path.dirname(abs)), 'jobs', path.basename(abs));
}

const SHARDING = [
  { label: 'Data parallel (DDP)', description: 'every GPU holds the whole model', flags: [] as string[] },
  { label: 'DeepSpeed ZeRO-2', description: 'optimizer state and gradients sharded', flags: ['--zero', '2'] },
  { label: 'DeepSpeed ZeRO-3', description: 'parameters sharded too: the largest models', flags: ['--zero', '3'] },
  { label: 'FSDP', description: "PyTorch's fully sharded data parallel", flags: ['--fsdp'] },
];

const positiveInt = (v: string) => (/^[1-9]\d*$/.test(v.trim()) ? undefined : 'a whole number of at least 1');

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Asks for the cluster's shape and the job folder, then exports. Resolves with the job folder, or undefined when cancelled or failed. */
export async function exportClusterJobCommand(runDir: string, deps: ClusterCommandDeps): Promise<string | undefined> {
  const name = path.basename(runDir);
  const gpus = await vscode.window.showInputBox({ title: `Export ${name}: GPUs per node`, value: '8', validateInput: positiveInt });
  if (gpus === undefined) return undefined;
  const nodes = await vscode.window.showInputBox({ title: `Export ${name}: nodes`, value: '1', validateInput: positiveInt });
  if (nodes === undefined) return undefined;
  const sharding = await vscode.window.showQuickPick(SHARDING, { title: `Export ${name}: how the model is spread over the GPUs` });
  if (!sharding) return undefined;
  const out = await vscode.window.showInputBox({ title: `Export ${name}: job folder (new or empty)`, value: defaultJobDir(runDir) });
  if (!out) return undefined;
  const args = ['export', '--run', runDir, '--to', 'trl', '--out', out, '--gpus', gpus.trim(), '--nodes', nodes.trim(), ...sharding.flags, '--json'];
  try {
    await deps.cli(args);
  } catch (err) {
    void vscode.window.showErrorMessage(`Export as Cluster Job failed: ${errorText(err)}`);
    return undefined;
  }
  void vscode.window.showInformationMessage(`Exported ${name} as a TRL + Accelerate job in ${out}: start it with launch.sh (its README.md has the commands).`);
  return out;
}

/** Asks for the job folder, then imports its results into the run. Resolves with the imported model's folder, or undefined. */
export async function importClusterResultsCommand(runDir: string, deps: ClusterCommandDeps): Promise<string | undefined> {
  const name = path.basename(runDir);
  const job = await vscode.window.showInputBox({
    title: `Import into ${name}: the job folder, with the cluster's output/ copied back into it`,
    value: defaultJobDir(runDir),
  });
  if (!job) return undefined;
  let stdout: string;
  try {
    stdout = await deps.cli(['import', '--job', job, '--run', runDir, '--json']);
  } catch (err) {
    void vscode.window.showErrorMessage(`Import Cluster Results failed: ${errorText(err)}`);
    return undefined;
  }
  let result: { outputDir?: string; steps?: number; evals?: number } = {};
  try {
    result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}');
  } catch {
    // A CLI without --json output: the message below says less.
  }
  deps.reloadPanel?.(runDir);
  void vscode.window.showInformationMessage(
    `Imported the cluster results into ${name}: ${result.steps ?? '?'} logged step(s), ${result.evals ?? 0} evaluation(s); the model is in ${result.outputDir ?? 'cluster/output'}.`,
  );
  return result.outputDir;
}
