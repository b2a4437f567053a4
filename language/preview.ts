// Previews: the exact prompt and target the trainer builds from a record, its tokens and which of them
// the loss is taken on; dataset statistics; a paged, searchable table of rendered records.
import type { DatasetFormat, DatasetStatistics, RecordPreview, ValidationOptions } from './types';
import { gpt2Tokenizer, type TextTokenizer } from './tokenizer';
import { formatRecord, tokenizeExample } from './promptFormat';
import { analyzeLine, checkLine, checkOptions, fullHash, DEFAULT_MAX_TOKENS, type LineAnalysis } from './lineAnalysis';
import { majorityFormat } from './fileChecks';
import { countTokensUpTo } from './tokenLength';
import { splitLines } from './datasetDocument';

export type PreviewOptions = ValidationOptions & { format?: DatasetFormat; trainOnPrompt?: boolean };

function previewFromAnalysis(a: LineAnalysis, format: DatasetFormat, options: PreviewOptions, tokenizer: TextTokenizer): RecordPreview | { error: string } {
  if (a.kind === 'blank') return { error: 'blank line' };
  if (a.kind === 'error') return { error: a.errors[0].message };
  const f = formatRecord(a.record, format, { template: options.template });
  const t = tokenizeExample(f, tokenizer, { trainOnPrompt: options.trainOnPrompt });
  return {
    format,
    ...(f.task !== undefined ? { task: f.task } : {}),
    prompt: f.prompt,
    target: f.target,
    ...(f.label !== undefined ? { label: f.label } : {}),
    promptTokens: t.promptTokens,
    targetTokens: t.targetTokens,
    totalTokens: t.ids.length,
    tokens: t.ids.map((id, i) => ({ id, text: tokenizer.decode([id]), inLoss: t.lossMask[i] })),
  };
}

/** The rendered record of one line (format: given, or the line's own best match, or alpaca). */
export function previewRecord(lineText: string, options: PreviewOptions = {}): RecordPreview | { error: string } {
  const a = analyzeLine(lineText.replace(/^\uFEFF/, '').replace(/\r$/, ''));
  const format = options.format ?? a.best ?? 'alpaca';
  return previewFromAnalysis(a, format, options, gpt2Tokenizer());
}

/** Token histogram buckets: powers of two from 16 up to the first one that holds the longest example. */
function histogram(lengths: number[]): { upTo: number; count: number }[] {
  if (!lengths.length) return [];
  const max = Math.max(...lengths);
  const bounds: number[] = [];
  for (let b = 16; ; b *= 2) {
    bounds.push(b);
    if (b >= max) break;
  }
  const counts = bounds.map(() => 0);
  for (const l of lengths) {
    let i = 0;
    while (bounds[i] < l) i++;
    counts[i]++;
  }
  return bounds.map((upTo, i) => ({ upTo, count: counts[i] }));
}

/**
 * Records per format and task, labels, duplicates, over-length examples and the token-length histogram.
 * Every valid record's tokens are counted exactly (counted, not encoded: see tokenLength.ts).
 */
export function computeStatistics(lines: Iterable<string>, options: ValidationOptions = {}): DatasetStatistics {
  const analyses: LineAnalysis[] = [];
  for (const l of lines) {
    const a = analyzeLine(l);
    if (a.kind === 'record') analyses.push(a);
  }
  return statisticsOf(analyses, options);
}

function statisticsOf(analyses: LineAnalysis[], options: ValidationOptions): DatasetStatistics {
  const byFormat: Partial<Record<DatasetFormat, number>> = {};
  for (const a of analyses) if (a.best) byFormat[a.best] = (byFormat[a.best] ?? 0) + 1;
  const forced = options.format && options.format !== 'auto' ? options.format : undefined;
  const format = forced ?? majorityFormat(byFormat) ?? 'alpaca';
  const check = checkOptions(options);
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  // Maps: tasks and labels are the user's strings, and may be `constructor` or `__proto__` (counted in a
  // plain object, they would reach Object.prototype). Object.fromEntries makes them own properties.
  const byTask = new Map<string, number>();
  const byLabel = new Map<string, number>();
  const seen = new Set<number>();
  let duplicates = 0;
  let overLength = 0;
  const lengths: number[] = [];
  for (const a of analyses) {
    const h = fullHash(a);
    if (seen.has(h)) duplicates++;
    else seen.add(h);
    if (a.task !== undefined) byTask.set(a.task, (byTask.get(a.task) ?? 0) + 1);
    const c = checkLine(a, format, check);
    if (c.errors > 0) continue;
    if (c.label !== undefined) byLabel.set(c.label, (byLabel.get(c.label) ?? 0) + 1);
    const f = formatRecord(a.record, format, { template: options.template });
    // Exact GPT-2 counts without encoding (see tokenLength.ts): statistics of large files stay fast.
    const n = countTokensUpTo(f.prompt) + countTokensUpTo(f.target) + 1;
    lengths.push(n);
    if (n > maxTokens) overLength++;
  }
  let min = 0;
  let max = 0;
  let sum = 0;
  if (lengths.length) {
    min = Infinity;
    for (const l of lengths) {
      if (l < min) min = l;
      if (l > max) max = l;
      sum += l;
    }
  }
  return {
    records: analyses.length,
    byFormat,
    byTask: Object.fromEntries(byTask),
    byLabel: Object.fromEntries(byLabel),
    duplicates,
    overLength,
    lengthHistogram: histogram(lengths),
    minTokens: min,
    maxTokens: max,
    meanTokens: lengths.length ? sum / lengths.length : 0,
  };
}

export interface DatasetPreviewPage {
  /** Non-blank lines matching the query. */
  total: number;
  rows: { line: number; preview: RecordPreview | { error: string } }[];
  statistics: DatasetStatistics;
}

/**
 * One page of rendered records: non-blank lines whose text contains `query` (case-insensitive), from
 * `offset`, at most `limit`. Lines are 0-based.
 */
export function previewDataset(text: string, options: PreviewOptions = {}, page: { offset?: number; limit?: number; query?: string } = {}): DatasetPreviewPage {
  const lines = splitLines(text);
  const analyses: LineAnalysis[] = [];
  const matching: number[] = [];
  const q = page.query?.trim().toLowerCase();
  const all: LineAnalysis[] = [];
  for (let i = 0; i < lines.length; i++) {
    const a = analyzeLine(lines[i]);
    all.push(a);
    if (a.kind === 'record') analyses.push(a);
    if (a.kind !== 'blank' && (!q || lines[i].toLowerCase().includes(q))) matching.push(i);
  }
  const statistics = statisticsOf(analyses, options);
  const format: DatasetFormat = options.format ?? majorityFormat(statistics.byFormat) ?? 'alpaca';
  const offset = Math.max(0, page.offset ?? 0);
  const limit = Math.max(0, page.limit ?? 50);
  const tokenizer = gpt2Tokenizer();
  const rows = matching.slice(offset, offset + limit).map((line) => ({ line, preview: previewFromAnalysis(all[line], format, options, tokenizer) }));
  return { total: matching.length, rows, statistics };
}
