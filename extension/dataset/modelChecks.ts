// The checks that depend on the dataset's model (language/modelDiagnostics.ts: template-error,
// no-trained-tokens, target-truncated, double-bos) and `too-long` counted in the model's own tokens, run
// over a validated DatasetDocument in time slices like its own checks. Results are cached by line text
// and format, so an edit re-checks only the lines it changed. No `vscode` import.
import { ChatTemplateError, tokenizeRecord } from '../../language/chatTemplate';
import type { DatasetDocument } from '../../language/datasetDocument';
import { modelDiagnostics } from '../../language/modelDiagnostics';
import { formatRecord } from '../../language/promptFormat';
import type { TextTokenizer } from '../../language/tokenizer';
import type { DatasetDiagnostic, DatasetFormat } from '../../language/types';
import type { DatasetModel } from './datasetModel';
import { MODEL_CHECK_MAX_CHARS } from './hoverMarkdown';

type CheckedDocument = Pick<DatasetDocument, 'lineCount' | 'lineText' | 'lineAnalysis' | 'checkFormat' | 'diagnostics'>;

const NONE: readonly DatasetDiagnostic[] = Object.freeze([]);

/** Leading and trailing whitespace excluded, as the plain `too-long` marks a record. */
function trimmedRange(text: string): [number, number] {
  const start = text.length - text.trimStart().length;
  return [start, Math.max(start, text.trimEnd().length)];
}

export function tooLongMessage(count: number, maxLength: number, model: string, atLeast = false): string {
  const n = `${atLeast ? 'more than ' : ''}${(atLeast ? maxLength : count).toLocaleString('en-US')}`;
  return `the example is ${n} tokens of ${model}, longer than the maximum length of ${maxLength.toLocaleString('en-US')}; training truncates it`;
}

function tooLong(lineText: string, count: number, maxLength: number, model: string, atLeast = false): DatasetDiagnostic {
  const [start, end] = trimmedRange(lineText);
  return {
    line: 0,
    column: start,
    endLine: 0,
    endColumn: end,
    severity: 'warning',
    code: 'too-long',
    message: tooLongMessage(count, maxLength, model, atLeast),
  };
}

/** The checks of a line over MODEL_CHECK_MAX_CHARS: the template's verdict and whether it exceeds the maximum length. */
function checkLongLine(lineText: string, record: unknown, format: DatasetFormat, model: DatasetModel, maxLength: number): DatasetDiagnostic[] {
  const messages = (record as { messages?: unknown } | null)?.messages;
  let text: string;
  if (format === 'chat' && model.chatTemplate && Array.isArray(messages)) {
    try {
      text = model.chatTemplate.render(messages, { tokens: model.tokenizer.templateTokens });
    } catch (err) {
      if (!(err instanceof ChatTemplateError)) throw err;
      // The library's path for a rejected record renders prefixes only: it never tokenizes.
      return modelDiagnostics(lineText, record, format, model.tokenizer, { maxLength, chatTemplate: model.chatTemplate });
    }
  } else {
    const f = formatRecord(record, format);
    text = f.prompt + f.target;
  }
  // Every token covers at most the longest token's text, so a text longer than that many characters
  // per allowed token is over the limit without being tokenized at all.
  if (text.length > longestTokenChars(model.tokenizer) * maxLength) return [tooLong(lineText, maxLength + 1, maxLength, model.label, true)];
  const ids = model.tokenizer.encodeUpTo(text, maxLength + 1);
  return ids.length > maxLength ? [tooLong(lineText, ids.length, maxLength, model.label, true)] : [];
}

const longestTokens = new WeakMap<TextTokenizer, number>();

/**
 * The most UTF-16 code units one token can stand for: its vocabulary string's length (a byte-level or
 * SentencePiece token is written with one character per byte or per character, and a code unit is never
 * more than one byte of UTF-8), or an added token's text.
 */
export function longestTokenChars(tokenizer: TextTokenizer): number {
  let longest = longestTokens.get(tokenizer);
  if (longest === undefined) {
    longest = 1;
    for (let id = 0; id < tokenizer.vocabSize; id++) longest = Math.max(longest, tokenizer.idToToken(id)?.length ?? 0);
    for (const t of tokenizer.addedTokens) longest = Math.max(longest, t.content.length);
    longestTokens.set(tokenizer, longest);
  }
  return longest;
}

/**
 * One record line's model diagnostics (line 0). Tokenized once in full for the count; the library's
 * checks (which tokenize again, cut to the maximum length) run only where they can find something: a
 * template error, a record over the limit, nothing trained, or a text record (double-bos).
 */
export function checkRecordLine(lineText: string, record: unknown, format: DatasetFormat, model: DatasetModel, maxLength: number): DatasetDiagnostic[] {
  if (lineText.length > MODEL_CHECK_MAX_CHARS) return checkLongLine(lineText, record, format, model, maxLength);
  const options = { maxLength, chatTemplate: model.chatTemplate };
  let count: number | undefined;
  let trained = false;
  try {
    const full = tokenizeRecord(record, format, model.tokenizer, { chatTemplate: model.chatTemplate });
    count = full.ids.length;
    trained = full.lossMask.slice(1).some(Boolean);
  } catch (err) {
    if (!(err instanceof ChatTemplateError)) throw err;
  }
  const needsLibrary = count === undefined || count > maxLength || !trained || format === 'text';
  const out = needsLibrary ? modelDiagnostics(lineText, record, format, model.tokenizer, options) : [];
  if (count !== undefined && count > maxLength) {
    out.push(tooLong(lineText, count, maxLength, model.label));
    // For formats other than chat the cut always takes the target's end: too-long already says so.
    if (format !== 'chat') return out.filter((d) => d.code !== 'target-truncated');
  }
  return out;
}

/** Resumable model checks of one document for one model and maximum length. */
export class ModelChecks {
  private cache = new Map<string, readonly DatasetDiagnostic[]>();
  private cursor = 0;
  private errorLines: Set<number> | undefined;
  private results: { line: number; diagnostics: readonly DatasetDiagnostic[] }[] = [];
  private checkedFormat: DatasetFormat | undefined;

  constructor(
    readonly model: DatasetModel,
    readonly maxLength: number,
  ) {}

  /** Starts over (the document changed): cached lines are not checked again. */
  restart(): void {
    this.cursor = 0;
    this.errorLines = undefined;
    this.results = [];
  }

  /**
   * Checks lines until `budgetMs` is spent; true when every record line is checked. Call only once the
   * document's own step() has returned true (its format and diagnostics are final).
   */
  step(doc: CheckedDocument, budgetMs: number): boolean {
    const deadline = performance.now() + budgetMs;
    const format = doc.checkFormat;
    if (format !== this.checkedFormat) {
      this.checkedFormat = format;
      this.cache.clear();
      this.restart();
    }
    // Lines with errors of their own are not records the trainer would use.
    this.errorLines ??= new Set(doc.diagnostics().flatMap((d) => (d.severity === 'error' ? [d.line] : [])));
    const n = doc.lineCount;
    while (this.cursor < n) {
      const i = this.cursor++;
      if (this.errorLines.has(i)) continue;
      const a = doc.lineAnalysis(i);
      if (a.kind !== 'record') continue;
      let found = this.cache.get(a.text);
      if (!found) {
        const ds = checkRecordLine(a.text, a.record, format, this.model, this.maxLength);
        found = ds.length ? ds : NONE;
        this.cache.set(a.text, found);
        if (found.length) this.results.push({ line: i, diagnostics: found });
        if (performance.now() >= deadline) return this.finish(doc);
        continue;
      }
      if (found.length) this.results.push({ line: i, diagnostics: found });
      if ((i & 1023) === 0 && performance.now() >= deadline) return this.finish(doc);
    }
    return this.finish(doc);
  }

  private finish(doc: CheckedDocument): boolean {
    const n = doc.lineCount;
    if (this.cursor < n) return false;
    // Keep the cache to about the document's size: it exists to make edits, undo and moves cheap.
    if (this.cache.size > 2 * n + 1000) {
      const keep = new Map<string, readonly DatasetDiagnostic[]>();
      for (let i = 0; i < n; i++) {
        const text = doc.lineText(i);
        const found = this.cache.get(text);
        if (found) keep.set(text, found);
      }
      this.cache = keep;
    }
    return true;
  }

  /** The diagnostics found, at their lines. */
  diagnostics(): DatasetDiagnostic[] {
    return this.results.flatMap(({ line, diagnostics }) => diagnostics.map((d) => ({ ...d, line: d.line + line, endLine: d.endLine + line })));
  }
}
