// An open JSONL document, validated incrementally: per-line results are cached by line text, so an edit
// re-parses only the changed lines, and the file-level checks are recomputed from per-line summaries.
// `step(budgetMs)` does a bounded slice of the pending work so that an editor never blocks for long.
import type { DatasetDiagnostic, DatasetFormat, ValidationOptions } from './types';
import {
  analyzeLine,
  atLine,
  cachedCheck,
  clearCheck,
  checkLine,
  checkOptions,
  fullHash,
  makeDiagnostic,
  topLevelValueRange,
  wholeRange,
  DEFAULT_MIN_TASK_EXAMPLES,
  type CheckOptions,
  type LineAnalysis,
} from './lineAnalysis';
import { countUp, duplicateMessage, fewTaskMessage, labelImbalanceMessage, majorityFormat, rareLabels, rareTasks, type FirstSeen } from './fileChecks';
import { checkTemplate } from './promptFormat';
import { userSchemaValidator } from './formats';

/** Lines of a text: CRLF or LF, a leading BOM dropped, a final line break does not start a record. */
export function splitLines(text: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.charCodeAt(l.length - 1) === 0x0d) lines[i] = l.slice(0, -1);
  }
  return lines;
}

/** Array splice without spreading arguments (a 1,000,000-line paste would overflow the stack). */
function spliceArray<T>(a: T[], start: number, deleteCount: number, items: T[]): T[] {
  if (items.length < 1000) {
    a.splice(start, deleteCount, ...items);
    return a;
  }
  return a.slice(0, start).concat(items, a.slice(start + deleteCount));
}

function validateOptions(options: ValidationOptions): void {
  checkTemplate(options.template);
  if (options.userSchema) userSchemaValidator(options.userSchema);
  if (options.maxTokens !== undefined && !(Number.isInteger(options.maxTokens) && options.maxTokens > 0)) {
    throw new Error(`maxTokens must be a positive integer, got ${options.maxTokens}`);
  }
}

interface FileScan {
  next: number;
  firstByFingerprint: Map<number, number>;
  /** Lines sharing a fingerprint, once a second one appears (their full hashes are compared). */
  sameFingerprint: Map<number, number[]>;
  tasks: Map<string, FirstSeen>;
  labels: Map<string, FirstSeen>;
  out: DatasetDiagnostic[];
}

/** Above this many replaced lines, their analyses are not kept for reuse (a reload, not an edit). */
const REUSE_LIMIT = 10_000;

export class DatasetDocument {
  private options: ValidationOptions;
  private check: CheckOptions;
  private lines: string[] = [];
  private analyses: (LineAnalysis | undefined)[] = [];
  /** Analyses by line text: unchanged, moved, undone or retyped lines are not parsed again. */
  private cache = new Map<string, LineAnalysis>();
  /** Records per best-matching format, over the analysed lines (kept up to date on every change). */
  private counts: Partial<Record<DatasetFormat, number>> = {};
  /** Lines before this index are analysed. */
  private analyzeCursor = 0;
  /** Lines before this index are checked against `checkedFormat`. */
  private checkCursor = 0;
  private checkedFormat: DatasetFormat | undefined;
  private detected: DatasetFormat | undefined;
  private fileDiagnostics: DatasetDiagnostic[] = [];
  private fileChecksDone = false;
  private scan: FileScan | undefined;
  private assembled: DatasetDiagnostic[] | undefined;

  constructor(options: ValidationOptions = {}) {
    validateOptions(options);
    this.options = options;
    this.check = checkOptions(options);
  }

  setOptions(options: ValidationOptions): void {
    validateOptions(options);
    this.options = options;
    this.check = checkOptions(options);
    for (const a of this.cache.values()) clearCheck(a);
    for (const a of this.analyses) if (a) clearCheck(a);
    this.checkedFormat = undefined;
    this.invalidateFrom(0);
  }

  setText(text: string): void {
    this.replaceLines(0, this.lines.length, splitLines(text));
  }

  /** Replace `deleteCount` lines from `start` with `newLines` (an editor's change, in lines). */
  replaceLines(start: number, deleteCount: number, newLines: string[]): void {
    if (!(start >= 0 && start <= this.lines.length)) throw new RangeError(`replaceLines: start ${start} is outside 0..${this.lines.length}`);
    deleteCount = Math.max(0, Math.min(deleteCount, this.lines.length - start));
    for (let i = start; i < start + deleteCount; i++) {
      const a = this.analyses[i];
      if (!a) continue;
      if (a.best) this.counts[a.best]! -= 1;
      if (deleteCount <= REUSE_LIMIT) this.cache.set(a.text, a);
    }
    if (deleteCount > REUSE_LIMIT) this.cache.clear();
    this.lines = spliceArray(this.lines, start, deleteCount, newLines);
    // New lines are looked up in the cache lazily, by step(): a large paste costs nothing here.
    this.analyses = spliceArray(this.analyses, start, deleteCount, new Array<LineAnalysis | undefined>(newLines.length).fill(undefined));
    this.invalidateFrom(start);
  }

  private trimCache(): void {
    // Keep the cache to about the document's size: it exists to make undo, moves and retyping cheap.
    if (this.cache.size > 2 * this.lines.length + 1000) {
      const keep = new Map<string, LineAnalysis>();
      for (const a of this.analyses) if (a) keep.set(a.text, a);
      this.cache = keep;
    }
  }

  private invalidateFrom(line: number): void {
    this.analyzeCursor = Math.min(this.analyzeCursor, line);
    this.checkCursor = Math.min(this.checkCursor, line);
    this.fileChecksDone = false;
    this.scan = undefined;
    this.assembled = undefined;
  }

  get lineCount(): number {
    return this.lines.length;
  }

  get format(): DatasetFormat | undefined {
    return this.detected;
  }

  /** The parsed record on a line (undefined for blank or invalid lines). */
  recordAt(line: number): unknown | undefined {
    if (!(line >= 0 && line < this.lines.length)) return undefined;
    return this.analysisAt(line).record;
  }

  private analysisAt(i: number): LineAnalysis {
    let a = this.analyses[i];
    if (!a) {
      const text = this.lines[i];
      a = this.cache.get(text);
      if (!a) {
        a = analyzeLine(text);
        this.cache.set(text, a);
      }
      this.analyses[i] = a;
      if (a.best) this.counts[a.best] = (this.counts[a.best] ?? 0) + 1;
    }
    return a;
  }

  /** The format records are checked against: forced, detected, or alpaca (the chapter's) for none. */
  private effectiveFormat(): DatasetFormat {
    return this.check.forced ? (this.options.format as DatasetFormat) : (this.detected ?? 'alpaca');
  }

  /** Validate pending lines until `budgetMs` is spent; true when everything is up to date. */
  step(budgetMs: number): boolean {
    const deadline = performance.now() + budgetMs;
    const n = this.lines.length;
    // 1. Parse (format-independent; cached by line text).
    while (this.analyzeCursor < n) {
      const i = this.analyzeCursor++;
      if (!this.analyses[i]) {
        this.analysisAt(i);
        this.assembled = undefined;
        if (performance.now() >= deadline) return false;
      } else if ((i & 1023) === 0 && performance.now() >= deadline) return false;
    }
    this.trimCache();
    // 2. The file's format: the majority of records.
    this.detected = this.check.forced ? (this.options.format as DatasetFormat) : majorityFormat(this.counts);
    const format = this.effectiveFormat();
    if (format !== this.checkedFormat) {
      this.checkedFormat = format;
      this.checkCursor = 0;
      this.fileChecksDone = false;
      this.scan = undefined;
      this.assembled = undefined;
    }
    // 3. Each line against the format (cached per line and format).
    while (this.checkCursor < n) {
      const a = this.analyses[this.checkCursor++]!;
      if (a.kind === 'record' && !cachedCheck(a, format)) {
        checkLine(a, format, this.check);
        this.assembled = undefined;
        if (performance.now() >= deadline) return false;
      } else if ((this.checkCursor & 1023) === 0 && performance.now() >= deadline) return false;
    }
    // 4. File-level checks, resumable.
    return this.fileChecksDone || this.scanFile(format, deadline);
  }

  private scanFile(format: DatasetFormat, deadline: number): boolean {
    const n = this.lines.length;
    const s: FileScan = (this.scan ??= {
      next: 0,
      firstByFingerprint: new Map(),
      sameFingerprint: new Map(),
      tasks: new Map(),
      labels: new Map(),
      out: [] as DatasetDiagnostic[],
    });
    const out = s.out;
    while (s.next < n) {
      const i = s.next++;
      if ((i & 511) === 0 && performance.now() >= deadline) {
        s.next--;
        return false;
      }
      const a = this.analyses[i]!;
      if (a.kind === 'blank') {
        // The empty line after a final line break is not a blank record.
        if (i < n - 1 || a.text.length > 0) {
          const edit =
            i < n - 1
              ? { line: i, column: 0, endLine: i + 1, endColumn: 0, newText: '' }
              : { line: i - 1, column: this.lines[i - 1]?.length ?? 0, endLine: i, endColumn: a.text.length, newText: '' };
          const fixes = [{ title: 'Delete blank line', edits: [edit], preferred: true }];
          out.push({
            ...makeDiagnostic('blank-line', 'warning', 0, a.text.length, 'blank line: every line of a JSONL file should hold one record', fixes),
            line: i,
            endLine: i,
          });
        }
        continue;
      }
      if (a.kind !== 'record') continue;
      const fp = a.fingerprint!;
      const first = s.firstByFingerprint.get(fp);
      if (first === undefined) s.firstByFingerprint.set(fp, i);
      else {
        let same = s.sameFingerprint.get(fp);
        if (!same) s.sameFingerprint.set(fp, (same = [first]));
        const h = fullHash(a);
        const original = same.find((j) => fullHash(this.analyses[j]!) === h);
        same.push(i);
        if (original !== undefined) {
          const [st, en] = wholeRange(a.text);
          const fixes =
            i < n - 1 ? [{ title: 'Delete duplicate line', edits: [{ line: i, column: 0, endLine: i + 1, endColumn: 0, newText: '' }] }] : undefined;
          out.push({ ...makeDiagnostic('duplicate-record', 'warning', st, en, duplicateMessage(original), fixes), line: i, endLine: i });
        }
      }
      if (a.task !== undefined) countUp(s.tasks, a.task, i);
      if (format === 'classification') {
        const label = cachedCheck(a, format)?.label;
        if (label !== undefined) countUp(s.labels, label, i);
      }
    }
    for (const r of rareLabels(s.labels)) {
      const [st, en] = topLevelValueRange(this.analyses[r.seen.line]!, 'label');
      out.push({
        ...makeDiagnostic('label-imbalance', 'warning', st, en, labelImbalanceMessage(r.label, r.seen.count, r.top, r.topCount)),
        line: r.seen.line,
        endLine: r.seen.line,
      });
    }
    const min = this.options.minTaskExamples ?? DEFAULT_MIN_TASK_EXAMPLES;
    for (const t of rareTasks(s.tasks, min)) {
      const [st, en] = topLevelValueRange(this.analyses[t.seen.line]!, 'task');
      out.push({
        ...makeDiagnostic('few-task-examples', 'warning', st, en, fewTaskMessage(t.task, t.seen.count, min)),
        line: t.seen.line,
        endLine: t.seen.line,
      });
    }
    this.fileDiagnostics = out;
    this.fileChecksDone = true;
    this.scan = undefined;
    this.assembled = undefined;
    return true;
  }

  /** Every diagnostic computed so far, sorted by position. */
  diagnostics(): DatasetDiagnostic[] {
    if (this.assembled) return this.assembled;
    const out: DatasetDiagnostic[] = [];
    const format = this.checkedFormat;
    for (let i = 0; i < this.lines.length; i++) {
      const a = this.analyses[i];
      if (!a) continue;
      if (a.kind === 'error') out.push(...atLine(a.errors, i));
      else if (a.kind === 'record' && format) {
        const c = cachedCheck(a, format);
        if (c && c.diagnostics.length) out.push(...atLine(c.diagnostics, i));
      }
    }
    if (this.fileChecksDone) for (const d of this.fileDiagnostics) out.push(d);
    out.sort((x, y) => x.line - y.line || x.column - y.column);
    this.assembled = out;
    return out;
  }

  /** Non-blank lines: each is meant to be a record. */
  get records(): number {
    let r = 0;
    for (let i = 0; i < this.lines.length; i++) {
      const a = this.analyses[i];
      if (a ? a.kind !== 'blank' : this.lines[i].trim() !== '') r++;
    }
    return r;
  }

  /** Per-line access for previews and statistics (analyses are computed on demand). */
  lineAnalysis(line: number): LineAnalysis {
    return this.analysisAt(line);
  }

  lineText(line: number): string {
    return this.lines[line];
  }

  /** The format records are checked against once validation is done. */
  get checkFormat(): DatasetFormat {
    return this.effectiveFormat();
  }
}

/** Validate a whole text at once. */
export function validateText(
  text: string,
  options: ValidationOptions = {},
): { format: DatasetFormat | undefined; diagnostics: DatasetDiagnostic[]; records: number } {
  const doc = new DatasetDocument(options);
  doc.setText(text);
  while (!doc.step(Infinity));
  return { format: doc.format, diagnostics: doc.diagnostics(), records: doc.records };
}
