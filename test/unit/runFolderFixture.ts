// Hand-made run folders for the tests that only need their shape on disk (the runs view, Resume): a
// folder claimed by the run-folder rule (trainer/runOwnership.ts) and checkpoints that carry its run id,
// as the trainer writes them, so that they count as the run's own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runIdOf, STATE_FILE } from '../../trainer/runOwnership';

/** checkpoints/step-N of the run in `runDir`; without trainer_state.json when not `complete` (a killed write). */
export function fixtureCheckpoint(runDir: string, step: number, complete = true): string {
  const id = runIdOf(runDir);
  if (!id) throw new Error(`${runDir} is not a run folder (create it with createRunFolder / writeRunJson first)`);
  const dir = path.join(runDir, 'checkpoints', `step-${step}`);
  fs.mkdirSync(dir, { recursive: true });
  if (complete) fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify({ step, epoch: 0, nextBatch: step, runId: id, files: [STATE_FILE] }));
  return dir;
}
