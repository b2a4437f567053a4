// Checkpoint housekeeping: keeping the last K plus the best by eval loss, and turning the best
// checkpoint into the run's output (early stopping). What may be written or removed, and how atomically,
// is the run-folder rule's (trainer/runOwnership.ts): only checkpoints this run wrote are counted or pruned.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ownCheckpoints, removeCheckpoint, removeStaleCheckpointTmps, writeOutput, type RunFolder } from './runOwnership';

/** Files a checkpoint holds for `--resume` only; the rest is the model/adapter output. */
export const RESUME_ONLY_FILES = ['trainer_state.json', 'optimizer.safetensors'];

/** Steps of this run's complete checkpoints/step-N folders, ascending. */
export function checkpointSteps(run: RunFolder): number[] {
  return ownCheckpoints(run, run.id).map((c) => c.step);
}

/** Deletes all but the `keep` most recent checkpoints of this run and the best one; returns the deleted steps. */
export function pruneCheckpoints(run: RunFolder, keep: number, bestStep?: number): number[] {
  const checkpoints = ownCheckpoints(run, run.id);
  const kept = new Set(checkpoints.slice(Math.max(0, checkpoints.length - keep)).map((c) => c.step));
  if (bestStep !== undefined) kept.add(bestStep);
  const removed = checkpoints.filter((c) => !kept.has(c.step));
  for (const c of removed) removeCheckpoint(c);
  // Half-written folders a killed process of this run left behind.
  removeStaleCheckpointTmps(run);
  return removed.map((c) => c.step);
}

/** Copies a checkpoint's model/adapter files (not its resume state) into the run's output/, atomically. */
export function copyCheckpointOutput(checkpointDir: string, run: RunFolder): string[] {
  return writeOutput(run, (tmp) => {
    for (const f of fs.readdirSync(checkpointDir)) if (!RESUME_ONLY_FILES.includes(f)) fs.copyFileSync(path.join(checkpointDir, f), path.join(tmp, f));
  });
}
