// Live diagnostics for open JSON Lines documents. One DatasetDocument mirrors each open document;
// edits are folded into one line replacement per debounce window, then the document revalidates in
// slices of ~30 ms with the event loop free in between, and the result goes to Problems. Once the
// document's own checks are done, the checks of the dataset's model (modelChecks.ts: its chat template,
// tokenizer and context length) run in the same slices; a GPT-2 preset needs none, its tokens are the
// plain checks' own.
import * as vscode from 'vscode';
import type { DatasetDocument } from '../../language';
import type { DatasetDiagnostic, DatasetFormat, QuickFix, ValidationOptions } from '../../language/types';
import { type DatasetModels, type ModelState, modelSupport } from './datasetModels';
import type { ModelChecks } from './modelChecks';
import { language } from '../languageLoader';
import { LineChangeAccumulator } from './lineChanges';
import { diagnosticKey, fixesByKey, selectProblems } from './problemSelection';
import type { DatasetSettings } from '../settings';
import { runInSlices, type SliceJob, type SliceRun } from './timeSlicer';

export const DIAGNOSTIC_SOURCE = 'finetune';
const DEBOUNCE_MS = 150;
const SLICE_BUDGET_MS = 30;
/** Schemes whose documents are the user's data (not git's old versions, output channels, …). */
const SCHEMES = new Set(['file', 'untitled', 'vscode-remote', 'vscode-vfs', 'vscode-userdata']);

export function isDatasetDocument(document: vscode.TextDocument): boolean {
  if (!SCHEMES.has(document.uri.scheme)) return false;
  return document.languageId === 'jsonl' || document.uri.path.toLowerCase().endsWith('.jsonl');
}

export function toVscodeDiagnostic(d: DatasetDiagnostic): vscode.Diagnostic {
  const severity =
    d.severity === 'error'
      ? vscode.DiagnosticSeverity.Error
      : d.severity === 'warning'
        ? vscode.DiagnosticSeverity.Warning
        : vscode.DiagnosticSeverity.Information;
  const diagnostic = new vscode.Diagnostic(new vscode.Range(d.line, d.column, d.endLine, d.endColumn), d.message, severity);
  diagnostic.source = DIAGNOSTIC_SOURCE;
  diagnostic.code = d.code;
  return diagnostic;
}

interface Tracked {
  readonly document: vscode.TextDocument;
  readonly dataset: DatasetDocument;
  readonly pending: LineChangeAccumulator;
  debounce?: NodeJS.Timeout;
  run?: SliceRun;
  /** Document version the dataset mirrors. */
  syncedVersion: number;
  /** Document version the published diagnostics and `fixes` belong to (-1: none yet). */
  publishedVersion: number;
  fixes: Map<string, QuickFix[]>;
  /** Lines of the opened text not yet handed to the dataset (fed in slices, see `job`). */
  feed?: { lines: string[]; next: number };
  /** The options the dataset was last given (the maximum length depends on the file's model). */
  options: ValidationOptions;
  /** The model checks of this document, for its current model and maximum length. */
  checks?: ModelChecks;
}

/** The model checks apply: a loaded model whose tokens are not GPT-2's plain ones. */
function checkedModel(state: ModelState | undefined): Extract<ModelState, { kind: 'ready' }> | undefined {
  return state?.kind === 'ready' && !state.model.plainGpt2 ? state : undefined;
}

function sameOptions(a: ValidationOptions, b: ValidationOptions): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof ValidationOptions>;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

/** Lines handed to the dataset per feeding round: splitting a 100,000-line text at once costs ~100 ms. */
const FEED_LINES = 5000;

/** As DatasetDocument.setText splits: LF or CRLF, a leading BOM dropped. */
function splitDocumentLines(text: string): string[] {
  const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split('\n');
  for (let i = 0; i < lines.length; i++) if (lines[i].endsWith('\r')) lines[i] = lines[i].slice(0, -1);
  return lines;
}

export interface ValidationTiming {
  uri: string;
  lines: number;
  totalMs: number;
  longestSliceMs: number;
}

export class DiagnosticsController implements vscode.Disposable {
  private readonly tracked = new Map<string, Tracked>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly finished = new vscode.EventEmitter<ValidationTiming>();
  /** Fires each time a document's diagnostics are published (used for measurement and tests). */
  readonly onDidPublish = this.finished.event;

  constructor(
    private readonly collection: vscode.DiagnosticCollection,
    private readonly settings: DatasetSettings,
    private readonly log: vscode.LogOutputChannel,
    /** Called when a document starts being validated live (its file-level results become stale). */
    private readonly onTrack: (uri: vscode.Uri) => void = () => {},
    /** The dataset's model per file; without it every file is checked as for GPT-2. */
    private readonly models?: DatasetModels,
  ) {
    this.disposables.push(
      this.finished,
      vscode.workspace.onDidOpenTextDocument((d) => this.track(d)),
      vscode.workspace.onDidCloseTextDocument((d) => this.untrack(d.uri)),
      vscode.workspace.onDidChangeTextDocument((e) => this.changed(e)),
      settings.onDidChange(() => this.revalidateAll()),
    );
    if (models) this.disposables.push(models.onDidChange(() => this.revalidateAll()));
  }

  /** The options for a document: the settings', with the maximum length of its model once loaded. */
  private optionsFor(uri: vscode.Uri): { options: ValidationOptions; state: ModelState | undefined } {
    const options = this.settings.validationOptions();
    const state = this.models?.peek(uri);
    return { options: state?.kind === 'ready' ? { ...options, maxTokens: state.maxLength } : options, state };
  }

  /** The model checks for the document's current model (kept while the model and the length stay). */
  private checksFor(entry: Tracked, state: ModelState | undefined): ModelChecks | undefined {
    const ready = checkedModel(state);
    if (!ready) return (entry.checks = undefined);
    // The same loaded files (a copy of the model may carry another origin) keep the cached lines.
    if (entry.checks?.model.tokenizer !== ready.model.tokenizer || entry.checks.maxLength !== ready.maxLength) {
      entry.checks = new (modelSupport().ModelChecks)(ready.model, ready.maxLength);
    }
    return entry.checks;
  }

  trackAll(documents: readonly vscode.TextDocument[]): void {
    for (const d of documents) this.track(d);
  }

  track(document: vscode.TextDocument): void {
    const key = document.uri.toString();
    if (this.tracked.has(key) || !isDatasetDocument(document)) return;
    let dataset: DatasetDocument;
    let options: ValidationOptions;
    let state: ModelState | undefined;
    try {
      ({ options, state } = this.optionsFor(document.uri));
      dataset = new (language().DatasetDocument)(options);
    } catch (err) {
      this.fail(document.uri, err);
      return;
    }
    const entry: Tracked = {
      document,
      dataset,
      pending: new LineChangeAccumulator(),
      syncedVersion: document.version,
      publishedVersion: -1,
      fixes: new Map(),
      feed: { lines: splitDocumentLines(document.getText()), next: 0 },
      options,
    };
    this.checksFor(entry, state);
    this.tracked.set(key, entry);
    this.onTrack(document.uri);
    this.validate(entry);
  }

  private untrack(uri: vscode.Uri): void {
    const key = uri.toString();
    const entry = this.tracked.get(key);
    if (!entry) return;
    clearTimeout(entry.debounce);
    entry.run?.cancel();
    this.tracked.delete(key);
    this.collection.delete(uri);
  }

  private changed(event: vscode.TextDocumentChangeEvent): void {
    const entry = this.tracked.get(event.document.uri.toString());
    if (!entry || event.contentChanges.length === 0) return;
    entry.pending.addAll(event.contentChanges);
    // Diagnostics in flight describe text that no longer exists.
    entry.run?.cancel();
    entry.run = undefined;
    clearTimeout(entry.debounce);
    entry.debounce = setTimeout(() => this.flush(entry), DEBOUNCE_MS);
  }

  /** Applies the pending edits to the dataset mirror, then revalidates. */
  private flush(entry: Tracked): void {
    entry.debounce = undefined;
    if (this.tracked.get(entry.document.uri.toString()) !== entry) return;
    const replacement = entry.pending.take();
    if (entry.feed) {
      // Edited while the opened text was still being handed over: hand over the current text instead.
      entry.dataset.setText('');
      entry.feed = { lines: splitDocumentLines(entry.document.getText()), next: 0 };
    } else if (replacement) {
      const { document } = entry;
      const lines: string[] = new Array(replacement.insertCount);
      for (let i = 0; i < replacement.insertCount; i++) lines[i] = document.lineAt(replacement.start + i).text;
      try {
        entry.dataset.replaceLines(replacement.start, replacement.deleteCount, lines);
      } catch (err) {
        // The mirror may now disagree with the editor: start over from the full text.
        this.log.error(`replaceLines failed, resynchronising ${document.uri.toString(true)}: ${String(err)}`);
        entry.dataset.setText(document.getText());
      }
    }
    entry.syncedVersion = entry.document.version;
    this.validate(entry);
  }

  private validate(entry: Tracked): void {
    entry.run?.cancel();
    entry.checks?.restart();
    const started = performance.now();
    const run = runInSlices(this.job(entry), { budgetMs: SLICE_BUDGET_MS });
    entry.run = run;
    run.done.then(
      (finished) => {
        if (!finished || entry.run !== run) return;
        entry.run = undefined;
        this.publish(entry, performance.now() - started, run.longestSliceMs);
      },
      (err) => {
        if (entry.run === run) entry.run = undefined;
        this.fail(entry.document.uri, err);
      },
    );
  }

  /** Feeds the opened text in rounds of FEED_LINES, then validates, then runs the model checks. */
  private job(entry: Tracked): SliceJob {
    return {
      step(budgetMs: number): boolean {
        const feed = entry.feed;
        if (!feed) {
          const started = performance.now();
          if (!entry.dataset.step(budgetMs)) return false;
          return entry.checks ? entry.checks.step(entry.dataset, Math.max(1, budgetMs - (performance.now() - started))) : true;
        }
        const deadline = performance.now() + budgetMs;
        while (feed.next < feed.lines.length && performance.now() < deadline) {
          const chunk = feed.lines.slice(feed.next, feed.next + FEED_LINES);
          entry.dataset.replaceLines(feed.next, feed.next === 0 ? entry.dataset.lineCount : 0, chunk);
          feed.next += chunk.length;
        }
        if (feed.next >= feed.lines.length) entry.feed = undefined;
        return false;
      },
    };
  }

  private publish(entry: Tracked, totalMs: number, longestSliceMs: number): void {
    const { document } = entry;
    if (entry.syncedVersion !== document.version || !entry.pending.isEmpty) return; // a newer edit is on its way
    let all = entry.dataset.diagnostics();
    if (entry.checks) {
      // The model's own too-long replaces the one counted in GPT-2 tokens.
      all = [...all.filter((d) => d.code !== 'too-long'), ...entry.checks.diagnostics()].sort((x, y) => x.line - y.line || x.column - y.column);
    }
    const selected = selectProblems(all, this.settings.maxProblems);
    this.collection.set(document.uri, selected.map(toVscodeDiagnostic));
    entry.fixes = fixesByKey(selected);
    entry.publishedVersion = document.version;
    this.finished.fire({ uri: document.uri.toString(), lines: document.lineCount, totalMs, longestSliceMs });
  }

  private revalidateAll(): void {
    for (const entry of this.tracked.values()) {
      try {
        const { options, state } = this.optionsFor(entry.document.uri);
        this.checksFor(entry, state);
        // Unchanged options keep the dataset's checked lines (a model that loaded may not change them).
        if (!sameOptions(options, entry.options)) {
          entry.dataset.setOptions(options);
          entry.options = options;
        }
      } catch (err) {
        this.fail(entry.document.uri, err);
        continue;
      }
      if (!entry.debounce) this.validate(entry);
    }
  }

  private fail(uri: vscode.Uri, err: unknown): void {
    this.log.error(`validation of ${uri.toString(true)} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }

  /** A line's parsed record and the format it is checked as, when the line has no errors of its own. */
  recordAt(document: vscode.TextDocument, line: number): { record: unknown; format: DatasetFormat } | undefined {
    const entry = this.tracked.get(document.uri.toString());
    if (!entry || entry.syncedVersion !== document.version || entry.feed || line >= entry.dataset.lineCount) return undefined;
    const a = entry.dataset.lineAnalysis(line);
    if (a.kind !== 'record') return undefined;
    const format = entry.dataset.checkFormat;
    if (entry.publishedVersion === document.version && entry.dataset.diagnostics().some((d) => d.line === line && d.severity === 'error')) return undefined;
    return { record: a.record, format };
  }

  /** The file's detected format, once known. */
  formatOf(document: vscode.TextDocument): DatasetFormat | undefined {
    return this.tracked.get(document.uri.toString())?.dataset.format;
  }

  isTracked(uri: vscode.Uri): boolean {
    return this.tracked.has(uri.toString());
  }

  /** Quick fixes for a diagnostic VS Code hands back, if it is current. */
  fixesFor(document: vscode.TextDocument, diagnostic: vscode.Diagnostic): QuickFix[] {
    const entry = this.tracked.get(document.uri.toString());
    if (!entry || entry.publishedVersion !== document.version || diagnostic.source !== DIAGNOSTIC_SOURCE) return [];
    const code = typeof diagnostic.code === 'object' ? diagnostic.code.value : diagnostic.code;
    const { start, end } = diagnostic.range;
    const key = diagnosticKey({
      line: start.line,
      column: start.character,
      endLine: end.line,
      endColumn: end.character,
      code: String(code),
      message: diagnostic.message,
    });
    return entry.fixes.get(key) ?? [];
  }

  dispose(): void {
    for (const entry of this.tracked.values()) {
      clearTimeout(entry.debounce);
      entry.run?.cancel();
    }
    this.tracked.clear();
    for (const d of this.disposables) d.dispose();
  }
}
