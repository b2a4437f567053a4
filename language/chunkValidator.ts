// Validation of a chunk of a JSONL file's bytes (whole lines): the unit of work of validateFile, run in
// worker threads. The file's format is known only at the end (majority of records), so in 'auto' mode
// each record is checked against its own best-matching format and filed under that group; the caller
// keeps the group that wins and re-checks the other groups' lines (usually none) against the winner.
import type { DatasetDiagnostic, DatasetFormat, ValidationOptions } from './types';
import { analyzeLine, atLine, checkLine, checkOptions, makeDiagnostic, topLevelValueRange, wholeRange, type CheckOptions } from './lineAnalysis';

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
  groups: Partial<Record<GroupKey, DiagnosticBucket & { lines: number[] }>>;
  /** [relative line, fingerprint, start column, end column] of every record. */
  hashes: Float64Array;
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
  return makeDiagnostic('invalid-utf8', 'error', column, column + 1, `invalid UTF-8: byte 0x${bytes[bad].toString(16).toUpperCase().padStart(2, '0')} at byte ${bad - lineStart + 1} of the line is not part of a valid UTF-8 sequence`);
}

/** Validate every line of `bytes` (whole lines; `first` when it starts the file). */
export function validateChunk(bytes: Uint8Array, first: boolean, opts: ChunkOptions): ChunkSummary {
  // One decode and one split per chunk: cheaper than per-line decoding (JSON.parse dominates anyway).
  const text = decodeChunk(bytes, first);
  const lines = chunkLines(text);
  const check: CheckOptions = checkOptions(opts.options);
  const forced = check.forced ? (opts.options.format as DatasetFormat) : undefined;
  const summary: ChunkSummary = {
    lineCount: lines.length,
    records: 0,
    formatCounts: {},
    common: bucket(),
    groups: {},
    hashes: new Float64Array(0),
    // No prototype: a task or label may be called "constructor".
    tasks: Object.create(null) as ChunkSummary['tasks'],
    labels: Object.create(null) as ChunkSummary['labels'],
  };
  const hashes: number[] = [];
  // Byte offsets of lines are needed only to check lines with replacement characters (bad UTF-8?).
  let starts: number[] | undefined;
  const mayHaveBadBytes = text.includes('\uFFFD');
  for (let i = 0; i < lines.length; i++) {
    let start = 0;
    let end = 0;
    if (mayHaveBadBytes && lines[i].includes('\uFFFD')) {
      if (!starts) {
        starts = [first && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0];
        for (let b = 0; b < bytes.length; b++) if (bytes[b] === 10) starts.push(b + 1);
      }
      start = starts[i];
      end = (starts[i + 1] ?? bytes.length + 1) - 1;
      if (end > start && bytes[end - 1] === 13) end--;
    }
    lineSummary(bytes, start, end, i, lines[i], summary, hashes, check, forced, opts.cap);
  }
  summary.hashes = Float64Array.from(hashes);
  return summary;
}

/** One line: parse, check, summarise (bytes[start, end) are its raw bytes when it may hold bad UTF-8). */
function lineSummary(
  bytes: Uint8Array,
  start: number,
  end: number,
  i: number,
  line: string,
  summary: ChunkSummary,
  hashes: number[],
  check: CheckOptions,
  forced: DatasetFormat | undefined,
  cap: number,
): void {
  if (end > start) {
    const bad = firstInvalidUtf8(bytes, start, end);
    if (bad >= 0) {
      summary.records++;
      addTo(summary.common, [invalidUtf8Diagnostic(bytes, start, end, bad)], i, cap);
      return;
    }
  }
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
  const [ws, we] = wholeRange(line);
  hashes.push(i, a.fingerprint!, ws, we);
  if (a.task !== undefined) {
    const t = summary.tasks[a.task];
    if (t) t[0]++;
    else summary.tasks[a.task] = [1, i, ...topLevelValueRange(a, 'task')];
  }
  const key: GroupKey = forced ?? a.best ?? 'none';
  const g = (summary.groups[key] ??= { ...bucket(), lines: [] });
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
