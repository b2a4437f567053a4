// The exported job's folder (`--out JOB_DIR`): the only folder `finetune export` writes, and only the
// files it names. As a run folder (trainer/runOwnership.ts), it is new, empty, or one an export created:
// marked by `.finetune-job` (the files it wrote), written first and exclusively. Any other folder is
// refused before anything is written, and a re-export removes only the files the last one recorded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { refuseSystemFolder } from '../runOwnership';
import { ExportError } from './trlJob';

export const JOB_MARKER = '.finetune-job';

interface JobMarker {
  finetuneJob: 1;
  /** The run folder it was exported from. */
  run: string;
  created: string;
  files: string[];
}

function readMarker(dir: string): JobMarker | undefined {
  try {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, JOB_MARKER), 'utf8')) as Partial<JobMarker>;
    return raw.finetuneJob === 1 && Array.isArray(raw.files) ? (raw as JobMarker) : undefined;
  } catch {
    return undefined;
  }
}

/** A relative file name that stays inside the job folder (no absolute path, no `..`, no empty part). */
function checkName(name: string): void {
  const parts = name.split('/');
  if (path.isAbsolute(name) || parts.some((p) => p === '' || p === '.' || p === '..')) throw new Error(`job file name '${name}' leaves the job folder`);
}

/** Whether `dir` is a job folder an export created. */
export function isJobFolder(dir: string): boolean {
  return readMarker(path.resolve(dir)) !== undefined;
}

/**
 * Writes `files` (relative name -> text) into `dir`, which must be new, empty or a job folder; executable
 * names get mode 755. Returns the names written, sorted.
 */
export function writeJobFolder(dir: string, runDir: string, files: Readonly<Record<string, string>>, executable: readonly string[] = []): string[] {
  const abs = path.resolve(dir);
  refuseSystemFolder(abs);
  const names = Object.keys(files).sort();
  for (const name of names) checkName(name);
  let previous: JobMarker | undefined;
  if (fs.existsSync(abs)) {
    if (!fs.statSync(abs).isDirectory()) throw new ExportError(`--out ${abs} is a file; choose a new or empty folder for the job`);
    const entries = fs.readdirSync(abs);
    previous = readMarker(abs);
    if (entries.length > 0 && !previous)
      throw new ExportError(
        `--out ${abs} holds files no export wrote (${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', …' : ''}); an export writes only into a new or empty folder, or one an export created (it holds ${JOB_MARKER}). Choose another --out`,
      );
  }
  const marker: JobMarker = { finetuneJob: 1, run: path.resolve(runDir), created: new Date().toISOString(), files: names };
  fs.mkdirSync(abs, { recursive: true });
  if (!previous) fs.writeFileSync(path.join(abs, JOB_MARKER), JSON.stringify({ ...marker, files: [] }, null, 2) + '\n', { flag: 'wx' });
  // Files the last export wrote and this one does not (eval.jsonl of a run that now has no eval split).
  for (const old of previous?.files ?? []) {
    if (names.includes(old)) continue;
    try {
      checkName(old);
      fs.rmSync(path.join(abs, old), { force: true });
    } catch {
      // A marker entry that is not a plain name inside the folder is not removed.
    }
  }
  for (const name of names) {
    const file = path.join(abs, ...name.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, files[name], { mode: executable.includes(name) ? 0o755 : 0o644 });
    if (executable.includes(name)) fs.chmodSync(file, 0o755);
  }
  fs.writeFileSync(path.join(abs, JOB_MARKER), JSON.stringify(marker, null, 2) + '\n');
  return names;
}

/** The run folder a job was exported from, as its marker records it. */
export function jobRunDir(dir: string): string | undefined {
  return readMarker(path.resolve(dir))?.run;
}
