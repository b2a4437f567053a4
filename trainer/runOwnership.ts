// The run-folder rule: which folders a run may write into, and which files in them. Every write the
// trainer makes into a run folder (`--out DIR`) goes through this module, and so does the extension's
// creation of a run folder; nothing else decides it.
//
// 1. A run writes only into a folder that is new, empty, or a run folder a run created itself. A run
//    marks a folder it creates with `.finetune-run` (JSON: version, run id, creation time, the files it
//    wrote into output/), written before anything else. Any other folder (foreign files, a run.json
//    without the marker, `--out /`, the home folder or a folder above it) is refused before any work,
//    with a message naming the folder and the way out (`--resume DIR`, or another `--out`).
// 2. Within its folder a run writes only the names it owns: .finetune-run, run.json, events.jsonl,
//    trainer.log (the extension's), checkpoints/step-N and checkpoints/.tmp-* that carry its run id, output/
//    and top-level .tmp-* names carrying its run id (temporary files and folders of atomic writes). The dataset, eval data, --config file and a
//    --model folder may not lie under any of those names (a config that is the folder's own run.json is
//    the run's own file and is fine).
// 3. Replacing a folder (a checkpoint, output/, early stopping's copy of the best checkpoint) writes the
//    new one into a temporary folder, renames it into place, and then removes only the files the run
//    recorded writing there before: output/'s in the marker, a checkpoint's in its trainer_state.json
//    (`runId`, `files`). A folder holding anything else is refused, never emptied. Pruning and --resume
//    only see checkpoints whose trainer_state.json carries this folder's run id.
// 4. Every path a run will write is checked before the first step (output/ and checkpoints/ are folders
//    or absent, run.json and events.jsonl files or absent, the folder writable), so a run does not fail
//    at its end; a failed write leaves the last good output in place.
// 5. A run folder that holds neither a checkpoint nor an output (killed or failed before its first
//    checkpoint) starts over: its events.jsonl is emptied. One holding a checkpoint or an output is
//    refused without --resume; --resume in a folder without a checkpoint starts from step 0.
//
// 6. run.json has one writer (writeRunJson below): the extension's createRunFolder writes it before it
//    starts the trainer on it (`--config DIR/run.json`), and the trainer writes it only when it does not
//    already hold the run's settings (a CLI run, or flags given with --resume), so a run started from its
//    own run.json leaves the file as it was.
//
// The layout's names (RUN_FILES) are spelled in trainer/runLayout.ts only; everything else asks runPaths().
//
// Why a marker file and not a field of run.json: run.json is the user's settings file (edited, given to
// --config, copied as a template for "Fine-tune with run.json"), so an ownership claim inside it would
// travel with every copy into folders no run created; a separate file, created exclusively ('wx'), is
// also the one place that records what the run wrote into output/.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_CONFIG_BYTES, readRegularFileSync } from '../language/regularFile';
import { parseEventLines, type TrainConfig } from '../protocol/trainer';
import { runJsonOf } from './runConfig';
import { RUN_FILES, runPaths, type RunPaths } from './runLayout';

export { isRunJsonName, RUN_FILES, runPaths, type RunPaths } from './runLayout';
export const RUN_MARKER = RUN_FILES.marker;
export const STATE_FILE = 'trainer_state.json';
const TMP_PREFIX = '.tmp-';
/** Top-level names of a run folder that belong to the run (plus .tmp-* folders carrying its id). */
export const RUN_OWNED_NAMES: readonly string[] = Object.values(RUN_FILES);

/** A run folder that cannot be used as asked: the user's to fix, so its message says it all (no stack). */
export class RunFolderError extends Error {}

interface RunMarker {
  finetuneRun: 1;
  /** Random; every checkpoint of the run records it, so foreign or copied-in checkpoints are told apart. */
  id: string;
  created: string;
  /** Names the run wrote into output/ (the only ones a later output may replace). */
  output: string[];
}

/** A run folder this run owns (claimed or created by a run), with its run id. */
export interface RunFolder extends RunPaths {
  id: string;
  /** Steps run before in this folder that left no checkpoint, when it started over (for a log line). */
  startedOver?: { steps: number };
}

/** What a checkpoint's trainer_state.json carries besides the loop state: whose it is and what it holds. */
export interface CheckpointOwnership {
  runId: string;
  files: string[];
}

// ---------------------------------------------------------------------------------------------------
// Errors: a plain EEXIST/EACCES/ENOSPC on a run path reads as a sentence about that path, without a stack.

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'it already exists',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  ENOSPC: 'the disk is full',
  EROFS: 'the file system is read-only',
  ENOTEMPTY: 'the folder is not empty',
  ENOENT: 'it does not exist',
};

function fsError(err: unknown, what: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (err instanceof RunFolderError || !code || !(code in REASONS)) return err as Error;
  return new RunFolderError(`cannot ${what}: ${REASONS[code]} (${code})`);
}

function guarded<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fsError(err, what);
  }
}

// ---------------------------------------------------------------------------------------------------
// Which folders may be a run folder.

const isInside = (child: string, parent: string) => {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

function realOrResolved(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** The filesystem root, the home folder and every folder above it are never a run folder. */
export function refuseSystemFolder(dir: string): void {
  const home = os.homedir();
  for (const d of new Set([path.resolve(dir), realOrResolved(dir)])) {
    const what =
      path.parse(d).root === d
        ? 'the filesystem root'
        : d === home || d === realOrResolved(home)
          ? 'your home folder'
          : isInside(home, d) || isInside(realOrResolved(home), d)
            ? 'a folder above your home folder'
            : undefined;
    if (what) throw new RunFolderError(`--out ${dir} is ${what}: a run needs a folder of its own; choose another --out (a new or empty folder)`);
  }
}

function readMarkerFile(dir: string): RunMarker | undefined {
  const file = path.join(dir, RUN_MARKER);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(err, `read ${file}`);
  }
  let m: Partial<RunMarker> | undefined;
  try {
    m = JSON.parse(text) as Partial<RunMarker>;
  } catch {
    m = undefined;
  }
  if (!m || m.finetuneRun !== 1 || typeof m.id !== 'string' || !/^[0-9a-f]{8,64}$/.test(m.id) || !Array.isArray(m.output)) {
    throw new RunFolderError(`${file} is not a run marker this trainer wrote; a run will not write into ${dir}: choose another --out`);
  }
  return { finetuneRun: 1, id: m.id, created: String(m.created), output: m.output.filter((f): f is string => typeof f === 'string') };
}

/** The run id of a folder a run created, or undefined for any other folder (and unreadable markers). */
export function runIdOf(dir: string): string | undefined {
  try {
    return readMarkerFile(path.resolve(dir))?.id;
  } catch {
    return undefined;
  }
}

function writeMarker(dir: string, marker: RunMarker): void {
  writeFileAtomically(path.join(dir, RUN_MARKER), JSON.stringify(marker, null, 2) + '\n', marker.id);
}

/** temp + rename: a reader never sees half a file, and a failure leaves the old one. */
function writeFileAtomically(file: string, text: string, id: string): void {
  const tmp = path.join(path.dirname(file), `${TMP_PREFIX}${path.basename(file)}-${id}-${process.pid}`);
  guarded(`write ${file}`, () => {
    try {
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, file);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  });
}

function listDir(dir: string): string[] {
  return guarded(`read the folder ${dir}`, () => fs.readdirSync(dir)).sort();
}

const isOwnTmp = (name: string, id: string) => name.startsWith(TMP_PREFIX) && name.includes(`-${id}-`);

/** The first component under `dir` of `file`, when `file` lies inside `dir`. */
function topNameIn(file: string, dir: string): string | undefined {
  for (const [f, d] of [
    [path.resolve(file), path.resolve(dir)],
    [realOrResolved(file), realOrResolved(dir)],
  ]) {
    if (isInside(f, d) && f !== d) return path.relative(d, f).split(path.sep)[0];
  }
  return undefined;
}

/** The run's inputs may not be what it writes: they would be overwritten, emptied or pruned. */
function refuseInputsInside(dir: string, inputs: { label: string; file: string | undefined }[], owned: boolean): void {
  for (const { label, file } of inputs) {
    if (file === undefined) continue;
    const top = topNameIn(file, dir);
    if (top === undefined) continue;
    if (!RUN_OWNED_NAMES.includes(top) && !top.startsWith(TMP_PREFIX)) continue;
    // The folder's own run.json given back as --config (the extension starts runs so): the run's own file.
    if (label === '--config' && owned && path.resolve(file) === runPaths(dir).runJson) continue;
    throw new RunFolderError(
      `${label} ${file} lies in ${path.join(dir, top)}, which the run in ${dir} writes (${RUN_OWNED_NAMES.join(', ')}); move it out of the run folder, or choose another --out`,
    );
  }
}

type FolderState = { kind: 'new' } | { kind: 'empty' } | { kind: 'owned'; marker: RunMarker };

function folderState(dir: string, label: string): FolderState {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'new' };
    throw fsError(err, `use ${label} ${dir}`);
  }
  if (!stat.isDirectory()) throw new RunFolderError(`${label} ${dir} is a file, not a folder; choose another --out (a new or empty folder)`);
  const names = listDir(dir);
  if (names.length === 0) return { kind: 'empty' };
  const marker = readMarkerFile(dir);
  if (marker) return { kind: 'owned', marker };
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, … (${names.length} entries)` : '');
  throw new RunFolderError(
    `${label} ${dir} holds files no finetune run wrote (${shown}); a run writes only into a new or empty folder, or one a run created (it holds ${RUN_MARKER}). ` +
      `Choose another --out, or continue a run with --resume and that run's folder`,
  );
}

function newMarker(): RunMarker {
  return { finetuneRun: 1, id: crypto.randomBytes(8).toString('hex'), created: new Date().toISOString(), output: [] };
}

/** Creates `dir` (or takes it empty) and writes the marker, exclusively: two claims never both win. */
function claim(dir: string, state: FolderState): RunMarker {
  if (state.kind === 'owned') return state.marker;
  const marker = newMarker();
  guarded(`create the run folder ${dir}`, () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, RUN_MARKER), JSON.stringify(marker, null, 2) + '\n', { flag: 'wx' });
  });
  return marker;
}

/**
 * The extension's way to create a run folder before it starts the trainer: claims `config.out` (new or
 * empty, or a run folder already) and writes its run.json; the trainer then finds a folder it owns.
 */
export function createRunFolder(config: TrainConfig): string {
  const paths = runPaths(config.out);
  refuseSystemFolder(paths.dir);
  const marker = claim(paths.dir, folderState(paths.dir, '--out'));
  writeRunJson(paths, config, marker.id);
  return paths.runJson;
}

// ---------------------------------------------------------------------------------------------------
// run.json: its one reader and its one writer.

/**
 * The run.json of a run folder as a plain object, or undefined when it is absent, unreadable, not a
 * regular file (a FIFO would block the reader) or not a JSON object. Lenient on purpose: the runs view
 * shows what it can; `--config`/`--resume` check the settings themselves (readConfigFile).
 */
export function readRunJson(dir: string): Record<string, unknown> | undefined {
  try {
    const text = readRegularFileSync(runPaths(dir).runJson, { what: RUN_FILES.runJson, maxBytes: MAX_CONFIG_BYTES }).toString('utf8');
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** JSON text with object keys sorted: two settings objects are the same when these are equal. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** Writes run.json unless it already holds exactly these settings (then the file, and its formatting, stay). */
function writeRunJson(paths: RunPaths, config: TrainConfig, id: string): void {
  const settings = runJsonOf(config);
  const current = readRunJson(paths.dir);
  if (current && canonicalJson(current) === canonicalJson(settings)) return;
  writeFileAtomically(paths.runJson, JSON.stringify(settings, null, 2) + '\n', id);
}

// ---------------------------------------------------------------------------------------------------
// Checkpoints of this run.

export interface OwnCheckpoint {
  step: number;
  dir: string;
  /** trainer_state.json as written (the loop state plus `runId` and `files`). */
  state: Record<string, unknown> & CheckpointOwnership;
}

/** checkpoints/step-N/trainer_state.json of this run, or undefined (absent, another run's, unreadable). */
function ownState(dir: string, id: string): (Record<string, unknown> & CheckpointOwnership) | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, STATE_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    // The run writes trainer_state.json whole (inside a folder renamed into place): a broken one is not its.
    return undefined;
  }
  const s = state as Partial<CheckpointOwnership> | null;
  if (!s || s.runId !== id || !Array.isArray(s.files)) return undefined;
  return state as Record<string, unknown> & CheckpointOwnership;
}

/** The complete checkpoints this run wrote, ascending by step; everything else in checkpoints/ is ignored. */
export function ownCheckpoints(paths: RunPaths, id: string | undefined = runIdOf(paths.dir)): OwnCheckpoint[] {
  if (id === undefined || !fs.existsSync(paths.checkpoints)) return [];
  const out: OwnCheckpoint[] = [];
  for (const name of listDir(paths.checkpoints)) {
    const m = /^step-(\d+)$/.exec(name);
    if (!m) continue;
    const dir = path.join(paths.checkpoints, name);
    const state = ownState(dir, id);
    if (state) out.push({ step: Number(m[1]), dir, state });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** Removes `files` from `dir`, then `dir` if nothing else is left in it; anything not listed stays. */
function removeOwnedFiles(dir: string, files: readonly string[]): void {
  for (const f of files) {
    // Names only, never a path: a list cannot reach outside its folder.
    if (f === '' || f.includes('/') || f.includes('\\') || f === '.' || f === '..') continue;
    const file = path.join(dir, f);
    try {
      if (fs.lstatSync(file).isFile()) fs.rmSync(file);
    } catch {
      // Already gone.
    }
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    // Not empty: what is left is not the run's.
  }
}

/** Removes checkpoints/step-N of this run (its recorded files only). */
export function removeCheckpoint(checkpoint: OwnCheckpoint): void {
  removeOwnedFiles(checkpoint.dir, checkpoint.state.files);
}

/** Half-written checkpoint folders of this run that a killed process left (never the current process's). */
export function removeStaleCheckpointTmps(run: RunFolder): void {
  if (!fs.existsSync(run.checkpoints)) return;
  for (const name of listDir(run.checkpoints)) {
    // Named with this run's random id: nobody else's folder can carry that name.
    if (isOwnTmp(name, run.id) && !name.endsWith(`-${process.pid}`)) fs.rmSync(path.join(run.checkpoints, name), { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// Replacing a folder without removing what the run did not write.

/**
 * Runs `write(tmp)` in a temporary folder of this run next to `finalDir`, then puts it in place of
 * `finalDir`. An existing `finalDir` may hold only `previous` (the files the run wrote there before), or
 * it is refused; after the swap exactly those are removed. Returns the names written. On a failure the
 * old folder stays as it was.
 */
function replaceDir(
  run: RunFolder,
  finalDir: string,
  previous: readonly string[] | undefined,
  write: (tmp: string) => void,
  beforeSwap?: (files: string[]) => void,
): string[] {
  const parent = path.dirname(finalDir);
  const base = path.basename(finalDir);
  const tmp = path.join(parent, `${TMP_PREFIX}${base}-${run.id}-${process.pid}`);
  const old = path.join(parent, `${TMP_PREFIX}old-${base}-${run.id}-${process.pid}`);
  guarded(`create ${parent}`, () => fs.mkdirSync(parent, { recursive: true }));
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    guarded(`write ${finalDir}`, () => {
      fs.mkdirSync(tmp, { recursive: true });
      write(tmp);
    });
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const files = listDir(tmp);
  const existing = guarded(`use ${finalDir}`, () => (fs.existsSync(finalDir) ? fs.lstatSync(finalDir) : undefined));
  if (existing) {
    const foreign = existing.isDirectory() ? listDir(finalDir).filter((f) => !(previous ?? []).includes(f)) : [base];
    if (!existing.isDirectory() || previous === undefined || foreign.length > 0) {
      // Nothing of the user's is removed: the new folder stays where it was written, and the message says where.
      throw new RunFolderError(
        `${finalDir} holds ${existing.isDirectory() ? `files this run did not write (${foreign.join(', ')})` : 'a file, not a folder'}, so the run will not replace it; ` +
          `the new files are in ${tmp}. Move them yourself, or move the other files out of the way`,
      );
    }
  }
  beforeSwap?.(files);
  guarded(`replace ${finalDir}`, () => {
    if (existing) {
      fs.rmSync(old, { recursive: true, force: true });
      fs.renameSync(finalDir, old);
    }
    fs.renameSync(tmp, finalDir);
  });
  if (existing) removeOwnedFiles(old, previous ?? []);
  return files;
}

/** Writes checkpoints/step-N through a temporary folder; replaces only a step-N of this run. */
export function writeCheckpoint(run: RunFolder, step: number, write: (tmp: string) => void): string {
  const dir = path.join(run.checkpoints, `step-${step}`);
  const previous = fs.existsSync(dir) ? ownState(dir, run.id)?.files : undefined;
  replaceDir(run, dir, previous, write);
  return dir;
}

/**
 * Writes output/ through a temporary folder and records its files in the marker (before the swap the
 * union of old and new, so that a crash between the two never leaves files of the run unrecorded).
 */
export function writeOutput(run: RunFolder, write: (tmp: string) => void): string[] {
  const marker = readMarkerFile(run.dir);
  if (!marker || marker.id !== run.id)
    throw new RunFolderError(`${run.dir}: the run marker ${RUN_MARKER} is missing or belongs to another run; the output was not written`);
  const files = replaceDir(run, run.output, marker.output, write, (next) =>
    writeMarker(run.dir, { ...marker, output: [...new Set([...marker.output, ...next])].sort() }),
  );
  writeMarker(run.dir, { ...marker, output: files });
  return files;
}

// ---------------------------------------------------------------------------------------------------
// Before any work: the folder, and every path the run will write in it.

function checkKind(file: string, want: 'file' | 'folder', dir: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return;
  }
  const ok = want === 'folder' ? stat.isDirectory() : stat.isFile();
  if (!ok)
    throw new RunFolderError(
      `${file} exists and is not a ${want}: the run writes its ${path.basename(file)} there. Move it away, or choose another --out than ${dir}`,
    );
}

function checkWritable(dir: string): void {
  guarded(`write into ${dir}`, () => fs.accessSync(dir, fs.constants.W_OK));
}

/** Step events in an events.jsonl (what a start-over discards). */
function countSteps(file: string): number {
  try {
    return parseEventLines(fs.readFileSync(file, 'utf8')).filter((e) => e.type === 'step').length;
  } catch {
    return 0;
  }
}

/**
 * Checks and claims `config.out` for a run, before the model is loaded or any data read: the rule at the
 * top of this file. Writes the marker (a new folder), run.json, and empties events.jsonl when the folder
 * starts over. Throws RunFolderError with the way out.
 */
export function prepareRunFolder(config: TrainConfig, inputs: { configFile?: string } = {}): RunFolder {
  const paths = runPaths(config.out);
  const dir = paths.dir;
  const label = config.resume ? '--resume' : '--out';
  refuseSystemFolder(dir);
  const state = folderState(dir, label);
  if (config.resume && state.kind !== 'owned') {
    throw new RunFolderError(
      `--resume ${dir}: no run created this folder (it has no ${RUN_MARKER}), so a run will not write into it; start a new run with another --out`,
    );
  }
  const owned = state.kind === 'owned';
  const modelPath = fs.existsSync(config.model) ? config.model : undefined;
  refuseInputsInside(
    dir,
    [
      { label: '--data', file: config.data },
      { label: '--eval-data', file: config.evalData },
      { label: '--config', file: inputs.configFile },
      { label: '--model', file: modelPath },
    ],
    owned,
  );
  let startedOver: RunFolder['startedOver'];
  if (state.kind === 'owned') {
    const id = state.marker.id;
    checkWritable(dir);
    for (const file of [paths.runJson, paths.events, paths.marker]) checkKind(file, 'file', dir);
    for (const folder of [paths.checkpoints, paths.output]) checkKind(folder, 'folder', dir);
    const checkpoints = ownCheckpoints(paths, id);
    if (fs.existsSync(paths.checkpoints)) {
      checkWritable(paths.checkpoints);
      // Another run's step-N (copied in, or left by an old trainer) would collide with this run's or be
      // mistaken for one: refused rather than pruned or resumed from.
      const mine = new Set(checkpoints.map((c) => path.basename(c.dir)));
      const foreign = listDir(paths.checkpoints).filter((n) => /^step-\d+$/.test(n) && !mine.has(n));
      if (foreign.length > 0)
        throw new RunFolderError(
          `${paths.checkpoints} holds ${foreign.join(', ')}, which this run did not write; move them out of ${dir}, or choose another --out`,
        );
    }
    const hasOutput = fs.existsSync(paths.output);
    if (hasOutput) {
      checkWritable(paths.output);
      const foreign = listDir(paths.output).filter((f) => !state.marker.output.includes(f));
      if (foreign.length > 0)
        throw new RunFolderError(
          `${paths.output} holds files this run did not write (${foreign.join(', ')}); the run replaces output/ with its model. Move them out, or choose another --out than ${dir}`,
        );
    }
    if (!config.resume && (checkpoints.length > 0 || hasOutput)) {
      const what = [...(checkpoints.length > 0 ? [`checkpoints/step-${checkpoints.at(-1)!.step}`] : []), ...(hasOutput ? ['output/'] : [])].join(', ');
      throw new RunFolderError(`run folder ${dir} already holds a run (${what}); choose a new --out folder, or continue it with --resume ${dir}`);
    }
    if (checkpoints.length === 0) {
      // Killed or failed before its first checkpoint: nothing to continue, so the folder starts over.
      if (fs.existsSync(paths.events)) {
        startedOver = { steps: countSteps(paths.events) };
        guarded(`empty ${paths.events}`, () => fs.truncateSync(paths.events));
      }
      if (!hasOutput && state.marker.output.length > 0) writeMarker(dir, { ...state.marker, output: [] });
    }
  }
  const marker = claim(dir, state);
  writeRunJson(paths, config, marker.id);
  return { ...paths, id: marker.id, ...(startedOver ? { startedOver } : {}) };
}
