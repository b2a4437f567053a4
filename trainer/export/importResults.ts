// `finetune import --job JOB_DIR --run RUN_DIR`: an exported job's results back into its run folder.
// The job's output/ is TRL's output_dir (sft_config.yaml): the final model (a PEFT adapter folder or a
// full Hugging Face model, as trainer.save_model writes it) and checkpoint-N/ folders whose
// trainer_state.json (transformers' TrainerState) holds log_history, one entry per log call:
// {loss, grad_norm, learning_rate, epoch, step, …} for training logs, {eval_loss, …, epoch, step} for
// evaluations and a last {train_loss, train_runtime, …} summary. train.py also saves trainer_state.json
// beside the model (trainer.save_state()).
//
// What lands in the run folder: cluster/output/ (the model files, for Try It, eval and Compare; the run's
// own output/ stays the local run's) and cluster/trainer_state.json, written through a temporary folder
// and renamed into place; then a `cluster` event (the curve) and a `done` event naming cluster/output
// are appended to events.jsonl. Only a folder a run created (it holds the run marker) is written into.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClusterEvent, DoneEvent, TrainerEvent } from '../../protocol/trainer';
import { appendRunEvents, readRunEvents } from '../runFolder';
import { runPaths } from '../runLayout';
import { runIdOf } from '../runOwnership';
import { ExportError } from './trlJob';

/** The run folder's entry for imported cluster results (a name the run itself never writes). */
export const CLUSTER_DIR = 'cluster';
/** TRL's output_dir as the exported sft_config.yaml names it. */
export const JOB_OUTPUT = 'output';
const STATE = 'trainer_state.json';

/** Files of a saved model that the run keeps: weights, configs and the tokenizer (never optimizer state). */
const MODEL_FILE =
  /^(adapter_model\.safetensors|adapter_config\.json|model(-\d{5}-of-\d{5})?\.safetensors|model\.safetensors\.index\.json|config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|vocab\.json|merges\.txt|tokenizer\.model|added_tokens\.json|chat_template\.jinja)$/;

/** What a job's trainer_state.json says, reduced to the curve. */
export interface ClusterLog {
  steps: ClusterEvent['steps'];
  evals: ClusterEvent['evals'];
  globalStep: number;
  trainRuntime?: number;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** log_history -> training and eval points; entries without a finite step or loss are not points. */
export function clusterLog(state: unknown, where: string): ClusterLog {
  const s = state && typeof state === 'object' && !Array.isArray(state) ? (state as Record<string, unknown>) : undefined;
  if (!s || !Array.isArray(s.log_history)) throw new ExportError(`${where}: not a trainer_state.json (no log_history list)`);
  const steps: ClusterLog['steps'] = [];
  const evals: ClusterLog['evals'] = [];
  let trainRuntime: number | undefined;
  for (const entry of s.log_history as unknown[]) {
    if (!entry || typeof entry !== 'object') continue;
    const e = entry as Record<string, unknown>;
    const step = num(e.step);
    const epoch = num(e.epoch) ?? 0;
    if (step === undefined) continue;
    const loss = num(e.loss);
    const evalLoss = num(e.eval_loss);
    if (loss !== undefined) {
      const point: ClusterLog['steps'][number] = { step, epoch, loss };
      const lr = num(e.learning_rate);
      const gradNorm = num(e.grad_norm);
      if (lr !== undefined) point.lr = lr;
      if (gradNorm !== undefined) point.gradNorm = gradNorm;
      steps.push(point);
    }
    if (evalLoss !== undefined) evals.push({ step, epoch, loss: evalLoss });
    if (num(e.train_runtime) !== undefined) trainRuntime = num(e.train_runtime);
  }
  if (steps.length === 0) throw new ExportError(`${where}: log_history holds no training loss`);
  return { steps, evals, globalStep: num(s.global_step) ?? steps[steps.length - 1].step, trainRuntime };
}

/** checkpoint-N folders of TRL's output_dir, highest step last. */
function checkpoints(out: string): string[] {
  return fs
    .readdirSync(out, { withFileTypes: true })
    .filter((d) => d.isDirectory() && /^checkpoint-\d+$/.test(d.name))
    .map((d) => d.name)
    .sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)));
}

function modelFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && MODEL_FILE.test(d.name))
    .map((d) => d.name)
    .sort();
}

const isModel = (files: readonly string[]) =>
  (files.includes('adapter_config.json') && files.includes('adapter_model.safetensors')) ||
  (files.includes('config.json') && files.some((f) => /^model(-\d{5}-of-\d{5})?\.safetensors$/.test(f)));

/** Where the job's model and log are: output/ itself, else its last checkpoint. */
export function locateJobResults(jobDir: string): { modelDir: string; files: string[]; stateFile: string } {
  const out = path.join(path.resolve(jobDir), JOB_OUTPUT);
  if (!fs.existsSync(out) || !fs.statSync(out).isDirectory())
    throw new ExportError(
      `${jobDir} has no ${JOB_OUTPUT}/ folder: the job has not run yet, or its output was not copied back from the cluster (node 0's ${JOB_OUTPUT}/)`,
    );
  const ckpts = checkpoints(out);
  const last = ckpts.length ? path.join(out, ckpts[ckpts.length - 1]) : undefined;
  const stateFile = fs.existsSync(path.join(out, STATE))
    ? path.join(out, STATE)
    : last && fs.existsSync(path.join(last, STATE))
      ? path.join(last, STATE)
      : undefined;
  if (!stateFile) throw new ExportError(`${out} holds no ${STATE} (neither beside the model nor in a checkpoint-N folder)`);
  for (const dir of [out, last]) {
    if (!dir) continue;
    const files = modelFiles(dir);
    if (isModel(files)) return { modelDir: dir, files, stateFile };
  }
  throw new ExportError(
    `${out} holds no model: neither a PEFT adapter (adapter_config.json + adapter_model.safetensors) nor a model (config.json + model.safetensors), there or in its last checkpoint`,
  );
}

/** Replaces RUN_DIR/cluster with `write`'s result, through a temporary folder renamed into place. */
function replaceClusterDir(runDir: string, write: (tmp: string) => void): string {
  const target = path.join(runDir, CLUSTER_DIR);
  const tmp = path.join(runDir, `.tmp-${CLUSTER_DIR}-${process.pid}-${Date.now()}`);
  fs.mkdirSync(tmp);
  try {
    write(tmp);
    if (fs.existsSync(target)) {
      // Only an earlier import's folder is replaced: it holds output/ and trainer_state.json and nothing else.
      const foreign = fs.readdirSync(target).filter((n) => n !== JOB_OUTPUT && n !== STATE);
      if (foreign.length) throw new ExportError(`${target} holds files an import did not write (${foreign.join(', ')}); move them away first`);
      fs.rmSync(target, { recursive: true });
    }
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return target;
}

export interface ImportResult {
  outputDir: string;
  files: string[];
  steps: number;
  evals: number;
  events: TrainerEvent[];
}

/** Imports `jobDir`'s results into the run folder `runDir` (see the header). */
export function importClusterResults(jobDir: string, runDir: string): ImportResult {
  const paths = runPaths(runDir);
  if (!fs.existsSync(paths.runJson)) throw new ExportError(`--run ${runDir}: no run.json there (not a run folder)`);
  if (runIdOf(paths.dir) === undefined)
    throw new ExportError(`--run ${runDir}: no run created this folder (it has no run marker), so an import will not write into it`);
  const { modelDir, files, stateFile } = locateJobResults(jobDir);
  let state: unknown;
  try {
    state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  } catch (err) {
    throw new ExportError(`${stateFile}: not valid JSON (${(err as Error).message})`);
  }
  const log = clusterLog(state, stateFile);
  const clusterDir = replaceClusterDir(paths.dir, (tmp) => {
    const out = path.join(tmp, JOB_OUTPUT);
    fs.mkdirSync(out);
    for (const f of files) fs.copyFileSync(path.join(modelDir, f), path.join(out, f));
    fs.copyFileSync(stateFile, path.join(tmp, STATE));
  });
  const outputDir = path.join(clusterDir, JOB_OUTPUT);
  const last = log.steps[log.steps.length - 1];
  const bestEval = log.evals.length ? Math.min(...log.evals.map((e) => e.loss)) : undefined;
  // The run's last segment ends in this done event, so Try It / eval / Compare find the imported model.
  const previous = readRunEvents(paths.dir)
    .filter((e): e is DoneEvent => e.type === 'done')
    .at(-1);
  const events = appendRunEvents(paths.dir, [
    { type: 'cluster', job: path.resolve(jobDir), steps: log.steps, evals: log.evals, outputDir, outputFiles: files },
    {
      type: 'done',
      status: 'completed',
      step: log.globalStep,
      elapsedSec: log.trainRuntime ?? previous?.elapsedSec ?? 0,
      outputDir,
      outputFiles: files,
      finalLoss: last.loss,
      ...(bestEval !== undefined ? { bestEvalLoss: bestEval } : {}),
      message: `cluster results imported from ${path.resolve(jobDir)}`,
    },
  ]);
  return { outputDir, files, steps: log.steps.length, evals: log.evals.length, events };
}
