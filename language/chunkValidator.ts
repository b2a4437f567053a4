// Validation of a chunk of a JSONL file's bytes (whole lines): the unit of work of validateFile, run in
// worker threads. The file's format is known only at the end (majority of records), so in 'auto' mode
// each record is checked against its own best-matching format and filed under that group; the caller
// keeps the group that wins and re-checks the other groups' lines (usually none) against the winner.
// Clean records take RecordScanner's fast path (bytes only: no decoding, JSON.parse or ajv); every other
// line is decoded and goes through analyzeLine/checkLine, which find and locate its problems.
import { isUtf8 } from 'node:buffer';
import type { DatasetDiagnostic, DatasetFormat, ValidationOptions } from './types';
import { analyzeLine, atLine, checkLine, checkOptions, makeDiagnostic, topLevelValueRange, type CheckOptions } from './lineAnalysis';
import { RecordScanner } from './recordScan';

export type GroupKey = DatasetFormat | 'none';

export interface DiagnosticBucket {
  /** The first `cap` diagnostics, lines relative to the chunk. */
  diagnostics: DatasetDiagnostic[];
  errors: number;
  warnings: number;
}

export interface ChunkSummary {
  lineCount: number;
  records: number;
  formatCounts: Partial<Record<DatasetFormat, number>>;
  /** Format-independent problems: invalid JSON/UTF-8, not an object, blank lines. */
  common: DiagnosticBucket;
  /** Per group, its records' relative lines (a typed array: transferred, not copied, from a worker). */
  groups: Partial<Record<GroupKey, DiagnosticBucket & { lines: Int32Array }>>;
  /** The fingerprint of every record, in line order. */
  fingerprints: Float64Array;
  /** task -> [count, first relative line, start column, end column] */
  tasks: Record<string, [number, number, number, number]>;
  /** classification label -> [count, first relative line, start column, end column] (group 'classification' only) */
  labels: Record<string, [number, number, number, number]>;
}

export interface ChunkOptions {
  options: ValidationOptions;
  /** Keep at most this many diagnostics per bucket. */
  cap: number;
}

/** Index of the first byte that is not valid UTF-8, or -1. */
export function firstInvalidUtf8(b: Uint8Array, start = 0, end = b.length): number {
  let i = start;
  while (i < end) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) [need, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [need, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    if (i + need >= end) return i; // cut short by the end of the line
    let cp = c & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    for (let k = 1; k <= need; k++) {
      const cc = b[i + k];
      if ((cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

function bucket(): DiagnosticBucket {
  return { diagnostics: [], errors: 0, warnings: 0 };
}

function addTo(b: DiagnosticBucket, ds: DatasetDiagnostic[], line: number, cap: number): void {
  for (const d of ds) {
    if (d.severity === 'error') b.errors++;
    else if (d.severity === 'warning') b.warnings++;
  }
  if (b.diagnostics.length < cap) b.diagnostics.push(...atLine(ds, line).slice(0, cap - b.diagnostics.length));
}

/** Lines of a chunk: split on \n, trailing \r removed; the empty piece after a final \n is dropped. */
export function chunkLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.charCodeAt(l.length - 1) === 0x0d) lines[i] = l.slice(0, -1);
  }
  return lines;
}

export function decodeChunk(bytes: Uint8Array, first: boolean): string {
  let start = 0;
  if (first && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  return decoder.decode(start ? bytes.subarray(start) : bytes);
}

export function invalidUtf8Diagnostic(bytes: Uint8Array, lineStart: number, lineEnd: number, bad: number): DatasetDiagnostic {
  const column = decoder.decode(bytes.subarray(lineStart, bad)).length;
  return makeDiagnostic(
    'invalid-utf8',
    'error',
    column,
    column + 1,
    `invalid UTF-8: byte 0x${bytes[bad].toString(16).toUpperCase().padStart(2, '0')} at byte ${bad - lineStart + 1} of the line is not part of a valid UTF-8 sequence`,
  );
}

type Building = DiagnosticBucket & { lines: LineList };
type Groups = Partial<Record<GroupKey, Building>>;

/** Fingerprints as pushed; grows by doubling; `take` hands over exactly what was pushed (a transferable buffer). */
class FingerprintList {
  private data = new Float64Array(4096);
  private n = 0;

  push(x: number): void {
    if (this.n === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.n++] = x;
  }

  take(): Float64Array {
    return this.data.slice(0, this.n);
  }
}

/** Line numbers as pushed, the same way (a JS array of them cost a conversion per chunk). */
class LineList {
  private data = new Int32Array(1024);
  private n = 0;

  push(x: number): void {
    if (this.n === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.n++] = x;
  }

  take(): Int32Array {
    return this.data.slice(0, this.n);
  }
}

/** One scanner per options object (a worker validates every chunk with the same options). */
const scanners = new WeakMap<ValidationOptions, RecordScanner | null>();
function scannerFor(options: ValidationOptions, check: CheckOptions): RecordScanner | undefined {
  let sc = scanners.get(options);
  if (sc === undefined) {
    // A user schema needs the parsed record: every line takes the full path.
    sc = options.userSchema
      ? null
      : new RecordScanner({ forced: check.forced ? (options.format as DatasetFormat) : undefined, maxTokens: check.maxTokens, template: check.template });
    scanners.set(options, sc);
  }
  return sc ?? undefined;
}

/** Validate every line of `bytes` (whole lines; `first` when it starts the file). */
export function validateChunk(bytes: Uint8Array, first: boolean, opts: ChunkOptions): ChunkSummary {
  const check: CheckOptions = checkOptions(opts.options);
  const forced = check.forced ? (opts.options.format as DatasetFormat) : undefined;
  const summary: ChunkSummary = {
    lineCount: 0,
    records: 0,
    formatCounts: {},
    common: bucket(),
    groups: {},
    fingerprints: new Float64Array(0),
    // No prototype: a task or label may be called "constructor".
    tasks: Object.create(null) as ChunkSummary['tasks'],
    labels: Object.create(null) as ChunkSummary['labels'],
  };
  const fingerprints = new FingerprintList();
  const building: Groups = {};
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = buf.length;
  let s = first && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  // One native check for the whole chunk; lines are checked one by one only when it fails.
  const valid = isUtf8(s ? buf.subarray(s) : buf);
  const scanner = valid ? scannerFor(opts.options, check) : undefined;
  scanner?.setBytes(buf);
  let i = 0;
  while (s < n) {
    // A clean line's end comes from the scan itself: one native indexOf per line cost more than its checks.
    let nl = scanner ? scanner.scanLine(s, n) : -1;
    if (nl === -1 || !fastRecord(scanner!, i, summary, building, fingerprints, forced)) {
      if (nl === -1) nl = buf.indexOf(10, s);
      if (nl === -1) nl = n;
      let e = nl;
      if (e > s && buf[e - 1] === 13) e--;
      lineSummary(buf, s, e, !valid, i, summary, building, fingerprints, check, forced, opts.cap);
    }
    s = nl + 1;
    i++;
  }
  summary.lineCount = i;
  summary.fingerprints = fingerprints.take();
  const groups: ChunkSummary['groups'] = {};
  for (const [k, g] of Object.entries(building) as [GroupKey, Building][]) groups[k] = { ...g, lines: g.lines.take() };
  summary.groups = groups;
  return summary;
}

/**
 * A record the scanner found clean, filed as lineSummary would file it. Returns false (nothing recorded)
 * when the full path must run: the first record of a task or label in the chunk (its range is needed).
 */
function fastRecord(
  sc: RecordScanner,
  i: number,
  summary: ChunkSummary,
  groups: Groups,
  fingerprints: FingerprintList,
  forced: DatasetFormat | undefined,
): boolean {
  const task = sc.task;
  if (task !== undefined && !summary.tasks[task]) return false;
  const key = forced ?? sc.best;
  const label = key === 'classification' ? sc.label : undefined;
  if (label !== undefined && !summary.labels[label]) return false;
  summary.records++;
  summary.formatCounts[sc.best] = (summary.formatCounts[sc.best] ?? 0) + 1;
  fingerprints.push(sc.fingerprint);
  if (task !== undefined) summary.tasks[task][0]++;
  const g = (groups[key] ??= { ...bucket(), lines: new LineList() });
  if (!forced) g.lines.push(i);
  if (label !== undefined) summary.labels[label][0]++;
  return true;
}

/** One line the fast path did not take: decode, parse, check, summarise (checkUtf8: the chunk holds bad UTF-8). */
function lineSummary(
  bytes: Buffer,
  start: number,
  end: number,
  checkUtf8: boolean,
  i: number,
  summary: ChunkSummary,
  groups: Groups,
  fingerprints: FingerprintList,
  check: CheckOptions,
  forced: DatasetFormat | undefined,
  cap: number,
): void {
  if (checkUtf8 && !isUtf8(bytes.subarray(start, end))) {
    const bad = firstInvalidUtf8(bytes, start, end);
    if (bad >= 0) {
      summary.records++;
      addTo(summary.common, [invalidUtf8Diagnostic(bytes, start, end, bad)], i, cap);
      return;
    }
  }
  const line = decoder.decode(bytes.subarray(start, end));
  const a = analyzeLine(line);
  if (a.kind === 'blank') {
    addTo(summary.common, [makeDiagnostic('blank-line', 'warning', 0, line.length, 'blank line: every line of a JSONL file should hold one record')], i, cap);
    return;
  }
  summary.records++;
  if (a.kind === 'error') {
    addTo(summary.common, a.errors, i, cap);
    return;
  }
  if (a.best) summary.formatCounts[a.best] = (summary.formatCounts[a.best] ?? 0) + 1;
  fingerprints.push(a.fingerprint!);
  if (a.task !== undefined) {
    const t = summary.tasks[a.task];
    if (t) t[0]++;
    else summary.tasks[a.task] = [1, i, ...topLevelValueRange(a, 'task')];
  }
  const key: GroupKey = forced ?? a.best ?? 'none';
  const g = (groups[key] ??= { ...bucket(), lines: new LineList() });
  if (!forced) g.lines.push(i);
  if (key === 'none') return; // checked once the file's format is known
  const c = checkLine(a, key, check);
  if (c.diagnostics.length) addTo(g, c.diagnostics, i, cap);
  if (key === 'classification' && c.label !== undefined) {
    const l = summary.labels[c.label];
    if (l) l[0]++;
    else summary.labels[c.label] = [1, i, ...topLevelValueRange(a, 'label')];
  }
}
