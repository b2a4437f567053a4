// Streaming validation of a JSONL file of any size: raw bytes are read in chunks of whole lines and
// validated in worker threads (language/validate.worker.ts), and on the calling thread too when it may
// share the work (the CLI), results merged in file order. Memory grows
// with the number of records (a fingerprint each, for duplicates, and a line number for records of a
// minority format), never with the file's bytes; at most `maxDiagnostics` diagnostics are kept.
// A second, sequential pass re-reads only when needed: records of another format than the majority are
// checked against it, and records whose fingerprints collide get their full hashes compared.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DatasetDiagnostic, DatasetFormat, ValidationOptions } from './types';
import {
  validateChunk,
  decodeChunk,
  chunkLines,
  firstInvalidUtf8,
  invalidUtf8Diagnostic,
  type ChunkSummary,
  type DiagnosticBucket,
  type GroupKey,
} from './chunkValidator';
import {
  analyzeLine,
  atLine,
  checkLine,
  checkOptions,
  fullHash,
  makeDiagnostic,
  topLevelValueRange,
  wholeRange,
  DEFAULT_MIN_TASK_EXAMPLES,
} from './lineAnalysis';
import { duplicateMessage, fewTaskMessage, labelImbalanceMessage, majorityFormat, rareLabels, rareTasks, type FirstSeen } from './fileChecks';
import { checkTemplate } from './promptFormat';
import { userSchemaValidator } from './formats';
import { assertRegularFile, openRegularFile } from './regularFile';

export interface ValidateFileOptions extends ValidationOptions {
  /** Keep at most this many diagnostics (the first ones by line); counts stay exact. Default: all. */
  maxDiagnostics?: number;
  onProgress?: (bytes: number, total: number) => void;
  signal?: AbortSignal;
  /** Worker threads (default: one per core, at most 4; 0 validates on the calling thread). */
  workers?: number;
  /**
   * Validate chunks on the calling thread too whenever the workers' queues are full (a command line
   * tool: the calling thread has nothing else to do, so it can be one of the cores). Keep false where
   * the calling thread must stay responsive (an editor's extension host).
   */
  shareCallingThread?: boolean;
}

export interface FileValidation {
  file: string;
  format: DatasetFormat | undefined;
  /** Non-blank lines. */
  records: number;
  errors: number;
  warnings: number;
  diagnostics: DatasetDiagnostic[];
  /** Some diagnostics were left out (maxDiagnostics). */
  truncated: boolean;
  /** The distinct `task` values of the records, in order of first appearance (the flow asks their weights). */
  tasks: string[];
  /** The distinct labels of the classification records, in order of first appearance (the head question). */
  labels: string[];
}

/** The non-blank names of a first-seen map, in file order. */
function inFileOrder(seen: ReadonlyMap<string, FirstSeen>): string[] {
  return [...seen]
    .filter(([name]) => name.trim() !== '')
    .sort(([, a], [, b]) => a.line - b.line)
    .map(([name]) => name);
}

const CHUNK_BYTES = 2 * 1024 * 1024;
/** Below this size the workers' start-up costs more than they save. */
const WORKER_MIN_BYTES = 8 * 1024 * 1024;

/** The bundled worker next to this file (dist/), or the TypeScript source when running under tsx. */
export function validateWorkerPath(): string | undefined {
  for (const f of ['validate.worker.js', 'validate.worker.ts']) {
    const p = path.join(__dirname, f);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

interface ChunkJob {
  id: number;
  bytes: Uint8Array;
  first: boolean;
}

class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly inFlight: number[] = [];
  /** Whether each worker has started (its first message): until then a calling thread that shares the work keeps it. */
  private readonly started: boolean[] = [];
  private readonly pending = new Map<number, { resolve: (s: ChunkSummary) => void; reject: (e: Error) => void; worker: number }>();
  private failure: Error | undefined;

  constructor(file: string, count: number, data: { options: ValidationOptions; cap: number }) {
    for (let w = 0; w < count; w++) {
      // Under tsx (tests, development) the worker is TypeScript: load it through tsx's require hook.
      const worker = file.endsWith('.ts')
        ? new Worker(`const r = require('node:module').createRequire(${JSON.stringify(file)}); r('tsx/cjs'); r(${JSON.stringify(file)});`, {
            eval: true,
            workerData: data,
          })
        : new Worker(file, { workerData: data });
      worker.on('message', (m: { id: number; summary?: ChunkSummary; error?: string; ready?: true }) => {
        if (m.ready) {
          this.started[w] = true;
          return;
        }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        this.inFlight[p.worker]--;
        if (m.summary) p.resolve(m.summary);
        else p.reject(new Error(m.error ?? 'validation worker failed'));
      });
      worker.on('error', (e) => this.fail(e));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`validation worker exited with code ${code}`));
      });
      this.workers.push(worker);
      this.inFlight.push(0);
      this.started.push(false);
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /**
   * The worker to give the next chunk to: the one with the fewest in flight, among those started when
   * `started` (undefined when none of them has fewer than two). A worker takes 50-100 ms to start (its
   * own bundle to compile, Node's own modules to load): chunks queued for it before that would only wait
   * while the calling thread could have done them.
   */
  pick(started: boolean): number | undefined {
    let w: number | undefined;
    for (let i = 0; i < this.workers.length; i++) {
      if (started && !this.started[i]) continue;
      if (w === undefined || this.inFlight[i] < this.inFlight[w]) w = i;
    }
    return w !== undefined && (!started || this.inFlight[w] < 2) ? w : undefined;
  }

  run(job: ChunkJob, w = this.pick(false)!): Promise<ChunkSummary> {
    if (this.failure) return Promise.reject(this.failure);
    this.inFlight[w]++;
    return new Promise((resolve, reject) => {
      this.pending.set(job.id, { resolve, reject, worker: w });
      const buf = job.bytes.buffer as ArrayBuffer;
      this.workers[w].postMessage({ id: job.id, buffer: buf, offset: job.bytes.byteOffset, length: job.bytes.byteLength, first: job.first }, [buf]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * The fingerprints (integers below 2^53) of every record, to find those seen more than once. They are
 * appended to 256 buckets by their top bits as the chunks come, and compared bucket by bucket at the end
 * in a table that stays in cache: one hash table of all of them, probed as they came, spent most of its
 * time in cache misses (~40 ms for 230,000 records, a third of the main thread's share of a 100 MB file).
 */
class FingerprintLog {
  private readonly buckets: Float64Array[] = Array.from({ length: 256 }, () => new Float64Array(64));
  private readonly counts = new Int32Array(256);

  add(fps: Float64Array): void {
    const { buckets, counts } = this;
    for (let i = 0; i < fps.length; i++) {
      const fp = fps[i];
      const k = (fp / 2 ** 45) & 255;
      const n = counts[k];
      let bucket = buckets[k];
      if (n === bucket.length) {
        const grown = new Float64Array(n * 2);
        grown.set(bucket);
        buckets[k] = bucket = grown;
      }
      bucket[n] = fp;
      counts[k] = n + 1;
    }
  }

  /** The fingerprints added more than once. */
  repeated(): Set<number> {
    const out = new Set<number>();
    let most = 0;
    for (const n of this.counts) most = Math.max(most, n);
    const table = new Float64Array(2 ** (33 - Math.clz32(most)));
    const mask = table.length - 1;
    for (let k = 0; k < 256; k++) {
      table.fill(-1);
      const bucket = this.buckets[k];
      for (let i = 0; i < this.counts[k]; i++) {
        const fp = bucket[i];
        for (let slot = (fp >>> 0) & mask; ; slot = (slot + 1) & mask) {
          const x = table[slot];
          if (x === -1) {
            table[slot] = fp;
            break;
          }
          if (x === fp) {
            out.add(fp);
            break;
          }
        }
      }
    }
    return out;
  }
}

/** Merges chunk summaries in file order. */
class Merger {
  lineBase = 0;
  records = 0;
  readonly formatCounts: Partial<Record<DatasetFormat, number>> = {};
  readonly common: DiagnosticBucket = { diagnostics: [], errors: 0, warnings: 0 };
  /** Per group: its diagnostics, and its records' lines as the chunks' runs (line = base + relative line). */
  readonly groups = new Map<GroupKey, DiagnosticBucket & { runs: { base: number; lines: Int32Array }[] }>();
  /** Every record's fingerprint: those seen more than once have their records compared by full hash in pass 2. */
  readonly fingerprints = new FingerprintLog();
  readonly tasks = new Map<string, FirstSeen & { s: number; e: number }>();
  readonly labels = new Map<string, FirstSeen & { s: number; e: number }>();

  constructor(private readonly cap: number) {}

  private addBucket(into: DiagnosticBucket, from: DiagnosticBucket, base: number): void {
    into.errors += from.errors;
    into.warnings += from.warnings;
    for (const d of from.diagnostics) {
      if (into.diagnostics.length >= this.cap) break;
      into.diagnostics.push(base ? atLine([d], base)[0] : d);
    }
  }

  add(s: ChunkSummary): void {
    const base = this.lineBase;
    this.records += s.records;
    for (const [f, c] of Object.entries(s.formatCounts)) this.formatCounts[f as DatasetFormat] = (this.formatCounts[f as DatasetFormat] ?? 0) + (c ?? 0);
    this.addBucket(this.common, s.common, base);
    for (const [k, g] of Object.entries(s.groups) as [GroupKey, DiagnosticBucket & { lines: Int32Array }][]) {
      let into = this.groups.get(k);
      if (!into) this.groups.set(k, (into = { diagnostics: [], errors: 0, warnings: 0, runs: [] }));
      this.addBucket(into, g, base);
      if (g.lines.length) into.runs.push({ base, lines: g.lines });
    }
    this.fingerprints.add(s.fingerprints);
    for (const [t, [count, line, st, en]] of Object.entries(s.tasks)) {
      const x = this.tasks.get(t);
      if (x) x.count += count;
      else this.tasks.set(t, { count, line: line + base, s: st, e: en });
    }
    for (const [l, [count, line, st, en]] of Object.entries(s.labels)) {
      const x = this.labels.get(l);
      if (x) x.count += count;
      else this.labels.set(l, { count, line: line + base, s: st, e: en });
    }
    this.lineBase += s.lineCount;
  }
}

/**
 * Reads a file as chunks of whole lines (the last chunk may end without a line break). The next chunk is
 * read while the caller works on this one (on the thread pool: another core where there is one).
 * `spares`: buffers of chunks the caller is done with (validated on this thread, not transferred to a
 * worker), read into again: fresh buffers cost page faults for every byte of the file.
 */
async function* readChunks(file: string, signal?: AbortSignal, spares: ArrayBuffer[] = []): AsyncGenerator<{ bytes: Uint8Array; end: number }> {
  // Never a FIFO or device: its read would wait for a writer forever.
  const { handle: fh } = await openRegularFile(file, { what: 'dataset' });
  let position = 0;
  /** Reads the next CHUNK_BYTES after `carry` (a partial line that the last chunk left over). */
  const readAfter = (carry: Uint8Array) => {
    signal?.throwIfAborted();
    const need = carry.length + CHUNK_BYTES;
    const spare = spares.pop();
    // Room for a typical carried-over partial line, so that buffers can be reused.
    const buf = spare && spare.byteLength >= need ? Buffer.from(spare) : Buffer.allocUnsafeSlow(Math.max(need, CHUNK_BYTES + 256 * 1024));
    buf.set(carry, 0);
    return { buf, carried: carry.length, read: fh.read(buf, carry.length, CHUNK_BYTES, position) };
  };
  let next: ReturnType<typeof readAfter> | undefined;
  try {
    next = readAfter(new Uint8Array(0));
    for (;;) {
      const { buf, carried, read } = next;
      next = undefined;
      const { bytesRead } = await read;
      position += bytesRead;
      const total = carried + bytesRead;
      if (bytesRead === 0) {
        if (total > 0) yield { bytes: buf.subarray(0, total), end: position };
        return;
      }
      const nl = buf.lastIndexOf(10, total - 1);
      if (nl === -1) {
        next = readAfter(buf.subarray(0, total)); // a line longer than a chunk: keep reading
        continue;
      }
      next = readAfter(buf.subarray(nl + 1, total));
      yield { bytes: buf.subarray(0, nl + 1), end: position };
    }
  } finally {
    // A read still in flight writes into its buffer: let it finish before the file is closed.
    await next?.read.catch(() => undefined);
    await fh.close();
  }
}

function checkValidationOptions(o: ValidationOptions): void {
  checkTemplate(o.template);
  if (o.userSchema) userSchemaValidator(o.userSchema);
  if (o.maxTokens !== undefined && !(Number.isInteger(o.maxTokens) && o.maxTokens > 0))
    throw new Error(`maxTokens must be a positive integer, got ${o.maxTokens}`);
}

export async function validateFile(file: string, options: ValidateFileOptions = {}): Promise<FileValidation> {
  const { maxDiagnostics, onProgress, signal, workers: wantedWorkers, shareCallingThread, ...validation } = options;
  checkValidationOptions(validation);
  const cap = maxDiagnostics === undefined ? Number.MAX_SAFE_INTEGER : Math.max(0, Math.floor(maxDiagnostics));
  const size = (await assertRegularFile(file, 'dataset')).size;
  const check = checkOptions(validation);
  const forced = check.forced ? (validation.format as DatasetFormat) : undefined;
  const merger = new Merger(cap);

  const workerFile = validateWorkerPath();
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const count = wantedWorkers ?? (size >= WORKER_MIN_BYTES ? Math.min(4, Math.max(1, cores)) : 0);
  const pool = count > 0 && workerFile ? new WorkerPool(workerFile, count, { options: validation, cap }) : undefined;

  try {
    // Pass 1: every line, each record against its own best-matching format (or the forced one).
    let id = 0;
    let nextToMerge = 0;
    const done = new Map<number, { summary: ChunkSummary; end: number }>();
    const inFlight = new Set<Promise<void>>();
    const drain = () => {
      for (let d = done.get(nextToMerge); d; d = done.get(nextToMerge)) {
        done.delete(nextToMerge++);
        merger.add(d.summary);
        onProgress?.(d.end, size);
      }
    };
    const spares: ArrayBuffer[] = [];
    for await (const { bytes, end } of readChunks(file, signal, spares)) {
      const job = { id: id++, bytes, first: id === 1 };
      if (!pool) {
        merger.add(validateChunk(bytes, job.first, { options: validation, cap }));
        spares.push(bytes.buffer as ArrayBuffer);
        nextToMerge++;
        onProgress?.(end, size);
        continue;
      }
      const to = shareCallingThread ? pool.pick(true) : undefined;
      if (shareCallingThread && to === undefined) {
        done.set(job.id, { summary: validateChunk(bytes, job.first, { options: validation, cap }), end });
        spares.push(bytes.buffer as ArrayBuffer);
        drain();
        continue;
      }
      const p: Promise<void> = pool.run(job, to).then((summary) => {
        inFlight.delete(p);
        done.set(job.id, { summary, end });
        drain();
      });
      inFlight.add(p);
      // Two chunks queued per worker keep it busy; more would only hold memory (when the calling thread
      // shares the work, it validates the next chunk itself instead of waiting).
      if (!shareCallingThread) while (inFlight.size >= 2 * count) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    signal?.throwIfAborted();

    const detected = forced ?? majorityFormat(merger.formatCounts);
    const format: DatasetFormat = detected ?? 'alpaca';

    // Pass 2 (only when needed): minority-format records against the file's format; full hashes where
    // fingerprints collided.
    const recheck = { diagnostics: [] as DatasetDiagnostic[], errors: 0, warnings: 0 };
    const duplicates = { diagnostics: [] as DatasetDiagnostic[], errors: 0, warnings: 0 };
    const collided = merger.fingerprints.repeated();
    const revisit: number[] = [];
    if (!forced) for (const [k, g] of merger.groups) if (k !== format) for (const r of g.runs) for (const l of r.lines) revisit.push(l + r.base);
    if (revisit.length || collided.size) {
      const lastRecheck = revisit.reduce((m, l) => Math.max(m, l), -1);
      await secondPass(file, { format, validation, cap, recheck: new Set(revisit), lastRecheck, collided }, recheck, duplicates, merger, signal);
    }

    const main = merger.groups.get(format) ?? { diagnostics: [], errors: 0, warnings: 0 };
    const fileLevel: DatasetDiagnostic[] = [];
    if (format === 'classification') {
      for (const r of rareLabels(merger.labels)) {
        const x = merger.labels.get(r.label)!;
        fileLevel.push({
          ...makeDiagnostic('label-imbalance', 'warning', x.s, x.e, labelImbalanceMessage(r.label, r.seen.count, r.top, r.topCount)),
          line: x.line,
          endLine: x.line,
        });
      }
    }
    const min = validation.minTaskExamples ?? DEFAULT_MIN_TASK_EXAMPLES;
    for (const t of rareTasks(merger.tasks, min)) {
      const x = merger.tasks.get(t.task)!;
      fileLevel.push({ ...makeDiagnostic('few-task-examples', 'warning', x.s, x.e, fewTaskMessage(t.task, t.seen.count, min)), line: x.line, endLine: x.line });
    }
    const buckets = [merger.common, main, recheck, duplicates];
    const errors = buckets.reduce((n, b) => n + b.errors, 0);
    const warnings = buckets.reduce((n, b) => n + b.warnings, 0) + fileLevel.length;
    const all = [...merger.common.diagnostics, ...main.diagnostics, ...recheck.diagnostics, ...duplicates.diagnostics, ...fileLevel];
    all.sort((a, b) => a.line - b.line || a.column - b.column);
    const diagnostics = all.slice(0, cap);
    return {
      file,
      format: detected,
      records: merger.records,
      errors,
      warnings,
      diagnostics,
      truncated: errors + warnings > diagnostics.length,
      tasks: inFileOrder(merger.tasks),
      labels: inFileOrder(merger.labels),
    };
  } finally {
    await pool?.close();
  }
}

async function* fileLines(file: string, signal?: AbortSignal): AsyncGenerator<{ line: number; text: string }> {
  let line = 0;
  let first = true;
  for await (const { bytes } of readChunks(file, signal)) {
    const lines = chunkLines(decodeChunk(bytes, first));
    for (let i = 0; i < lines.length; i++) yield { line: line + i, text: lines[i] };
    line += lines.length;
    first = false;
  }
}

async function secondPass(
  file: string,
  plan: { format: DatasetFormat; validation: ValidationOptions; cap: number; recheck: Set<number>; lastRecheck: number; collided: Set<number> },
  recheck: DiagnosticBucket,
  duplicates: DiagnosticBucket,
  merger: Merger,
  signal?: AbortSignal,
): Promise<void> {
  const check = checkOptions(plan.validation);
  const { format, cap } = plan;
  const byHash = new Map<number, number>();
  // Lines to visit: the recheck set, and every record whose fingerprint collided (found while reading).
  for await (const l of fileLines(file, signal)) {
    const needsRecheck = plan.recheck.has(l.line);
    if (plan.collided.size === 0 && l.line > plan.lastRecheck) break;
    // Cheap pre-filter: only lines that parse as records can be duplicates.
    const first = l.text.charCodeAt(0);
    if (!needsRecheck && first !== 0x7b && !/^\s*\{/.test(l.text)) continue;
    const a = analyzeLine(l.text);
    if (a.kind !== 'record') continue;
    if (plan.collided.has(a.fingerprint!)) {
      const h = fullHash(a);
      const firstLine = byHash.get(h);
      if (firstLine === undefined) byHash.set(h, l.line);
      else {
        duplicates.warnings++;
        if (duplicates.diagnostics.length < cap) {
          const [s, e] = wholeRange(l.text);
          duplicates.diagnostics.push({ ...makeDiagnostic('duplicate-record', 'warning', s, e, duplicateMessage(firstLine)), line: l.line, endLine: l.line });
        }
      }
    }
    if (!needsRecheck) continue;
    const c = checkLine(a, format, check);
    for (const d of c.diagnostics) {
      if (d.severity === 'error') recheck.errors++;
      else recheck.warnings++;
    }
    if (recheck.diagnostics.length < cap) recheck.diagnostics.push(...atLine(c.diagnostics, l.line));
    if (format === 'classification' && c.label !== undefined) {
      const x = merger.labels.get(c.label);
      if (x) {
        x.count++;
        if (l.line < x.line) Object.assign(x, { line: l.line, ...rangeOf(topLevelValueRange(a, 'label')) });
      } else merger.labels.set(c.label, { count: 1, line: l.line, ...rangeOf(topLevelValueRange(a, 'label')) });
    }
  }
}

const rangeOf = ([s, e]: [number, number]) => ({ s, e });

/** Invalid UTF-8 per line of a whole file's bytes (for readers that take the file at once). */
export function invalidUtf8Lines(bytes: Uint8Array): Map<number, DatasetDiagnostic> {
  const out = new Map<number, DatasetDiagnostic>();
  let start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  let line = 0;
  while (start <= bytes.length) {
    let nl = bytes.indexOf(10, start);
    if (nl === -1) nl = bytes.length;
    let end = nl;
    if (end > start && bytes[end - 1] === 13) end--;
    const bad = firstInvalidUtf8(bytes, start, end);
    if (bad >= 0) out.set(line, { ...invalidUtf8Diagnostic(bytes, start, end, bad), line, endLine: line });
    start = nl + 1;
    line++;
  }
  return out;
}
