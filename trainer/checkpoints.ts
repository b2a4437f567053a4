// Checkpoint housekeeping: atomic writes (a checkpoint is written into a temporary folder and renamed
// into place, so a crash never leaves a half-written checkpoints/step-N), keeping the last K plus the
// best by eval loss, and turning the best checkpoint into the run's output (early stopping).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Files a checkpoint holds for `--resume` only; the rest is the model/adapter output. */
export const RESUME_ONLY_FILES = ['trainer_state.json', 'optimizer.safetensors'];

/** Runs `write(tmpDir)` and renames tmpDir to `finalDir` (replacing it). */
export function writeDirAtomically(finalDir: string, write: (tmpDir: string) => void): void {
  const parent = path.dirname(finalDir);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.tmp-${path.basename(finalDir)}-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    write(tmp);
    fs.rmSync(finalDir, { recursive: true, force: true });
    fs.renameSync(tmp, finalDir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Steps of the checkpoints/step-N folders, ascending. */
export function checkpointSteps(checkpointsDir: string): number[] {
  if (!fs.existsSync(checkpointsDir)) return [];
  return fs
    .readdirSync(checkpointsDir)
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Deletes all but the `keep` most recent checkpoints and the best one; returns the deleted steps. */
export function pruneCheckpoints(checkpointsDir: string, keep: number, bestStep?: number): number[] {
  const steps = checkpointSteps(checkpointsDir);
  const kept = new Set(steps.slice(Math.max(0, steps.length - keep)));
  if (bestStep !== undefined) kept.add(bestStep);
  const removed = steps.filter((s) => !kept.has(s));
  for (const s of removed) fs.rmSync(path.join(checkpointsDir, `step-${s}`), { recursive: true, force: true });
  // Half-written folders a killed run left behind (another process id: never one being written now).
  for (const name of fs.readdirSync(checkpointsDir)) {
    if (name.startsWith('.tmp-') && !name.endsWith(`-${process.pid}`)) fs.rmSync(path.join(checkpointsDir, name), { recursive: true, force: true });
  }
  return removed;
}

/** Copies a checkpoint's model/adapter files (not its resume state) into `outDir`, atomically. */
export function copyCheckpointOutput(checkpointDir: string, outDir: string): string[] {
  writeDirAtomically(outDir, (tmp) => {
    fs.mkdirSync(tmp, { recursive: true });
    for (const f of fs.readdirSync(checkpointDir)) if (!RESUME_ONLY_FILES.includes(f)) fs.copyFileSync(path.join(checkpointDir, f), path.join(tmp, f));
  });
  return fs.readdirSync(outDir).sort();
}
