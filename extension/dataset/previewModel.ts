// The preview panel's data: one dataset text, its statistics once they are known (they are computed
// elsewhere, off the extension host's thread), and pages of rendered records computed on demand (only
// the page's lines are formatted and tokenized). Paging and searching cost a scan of the lines, not a
// re-tokenization of the whole file. No `vscode` import: the language functions come in as parameters,
// so the tests use the real library.
import { DATASET_FORMATS, type DatasetFormat, type DatasetStatistics, type RecordPreview, type ValidationOptions } from '../../language/types';
import type { PreviewQuery, PreviewRow } from '../../protocol/preview';
import { MODEL_CHECK_MAX_CHARS, PREVIEW_MAX_LINE_CHARS } from './hoverMarkdown';
import { toModelRow, toPreviewRow } from './previewRows';
import type { ModelRecordView } from './modelView';

/** Renders a valid record as the dataset's model sees it (absent: the GPT-2 prompt / target view). */
export type ModelRenderer = (record: unknown, format: DatasetFormat) => ModelRecordView | { error: string };

export interface PreviewLanguage {
  splitLines(text: string): string[];
  previewRecord(lineText: string, options: ValidationOptions & { format?: DatasetFormat }): RecordPreview | { error: string };
}

export interface PreviewPage {
  total: number;
  rows: PreviewRow[];
  /** Undefined while they are being computed. */
  statistics: DatasetStatistics | undefined;
}

/** The format rows are rendered in: the forced one, else the file's majority (as the validator decides). */
export function pageFormat(options: ValidationOptions, statistics: DatasetStatistics | undefined): DatasetFormat | undefined {
  if (options.format && options.format !== 'auto') return options.format;
  if (!statistics) return undefined;
  let best: DatasetFormat | undefined;
  let bestCount = 0;
  // In DATASET_FORMATS order, so that ties resolve as the validator resolves them.
  for (const format of DATASET_FORMATS) {
    const count = statistics.byFormat[format] ?? 0;
    if (count > bestCount) {
      best = format;
      bestCount = count;
    }
  }
  return best;
}

export class PreviewModel {
  private readonly lines: string[];
  /** Set when known; until then rows use each record's own best-matching format (or the forced one). */
  statistics: DatasetStatistics | undefined;

  constructor(
    text: string,
    private readonly options: ValidationOptions,
    private readonly lang: PreviewLanguage,
    private readonly renderer?: ModelRenderer,
  ) {
    this.lines = lang.splitLines(text);
  }

  /** Non-blank lines containing `query` (case-insensitive), from `offset`, at most `limit`. */
  page(q: PreviewQuery): PreviewPage {
    const statistics = this.statistics;
    const needle = q.query.trim().toLowerCase();
    const end = q.offset + q.limit;
    const picked: number[] = [];
    let total = 0;
    for (let i = 0; i < this.lines.length; i++) {
      const line = this.lines[i];
      if (line.trim() === '') continue;
      if (needle && !line.toLowerCase().includes(needle)) continue;
      if (total >= q.offset && total < end) picked.push(i);
      total++;
    }
    const format = pageFormat(this.options, statistics);
    const options = { ...this.options, format };
    const rows = picked.map((line) => {
      const text = this.lines[line];
      if (text.length > PREVIEW_MAX_LINE_CHARS) {
        return toPreviewRow(line, {
          error: `a record of ${text.length.toLocaleString('en-US')} characters is too long to render here (limit ${PREVIEW_MAX_LINE_CHARS.toLocaleString('en-US')})`,
        });
      }
      const preview = this.lang.previewRecord(text, options);
      if (!this.renderer || 'error' in preview) return toPreviewRow(line, preview);
      if (text.length > MODEL_CHECK_MAX_CHARS) {
        return toPreviewRow(line, {
          error: `a record of ${text.length.toLocaleString('en-US')} characters is too long to render for the model here (limit ${MODEL_CHECK_MAX_CHARS.toLocaleString('en-US')}); bin/finetune preview shows it`,
        });
      }
      // previewRecord accepted the line, so it is one JSON object (a BOM or CR aside, as it reads it).
      return toModelRow(line, preview.format, this.renderer(JSON.parse(text.replace(/^\uFEFF/, '').replace(/\r$/, '')), preview.format));
    });
    return { total, rows, statistics };
  }
}
