// Turns the language library's record previews into the rows the preview webview shows: texts cut to
// a display size, the token list reduced to its loss count (the table does not need every token).
// No `vscode` import.
import type { RecordPreview } from '../../language/types';
import type { PreviewRow } from '../../protocol/preview';
import type { ModelRecordView } from './modelView';
import { cutRuns } from './textRuns';

/** Most characters of prompt or target sent per row; the webview shows them in a scrolling cell. */
export const ROW_TEXT_LIMIT = 4000;

function cut(text: string, limit: number): { text: string; cut: boolean } {
  if (text.length <= limit) return { text, cut: false };
  let end = limit;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return { text: `${text.slice(0, end)}…`, cut: true };
}

export function toPreviewRow(line: number, preview: RecordPreview | { error: string }, limit = ROW_TEXT_LIMIT): PreviewRow {
  if ('error' in preview) {
    return { line, prompt: '', target: '', truncated: false, promptTokens: 0, targetTokens: 0, totalTokens: 0, lossTokens: 0, error: preview.error };
  }
  const prompt = cut(preview.prompt, limit);
  const target = cut(preview.target, limit);
  const row: PreviewRow = {
    line,
    format: preview.format,
    prompt: prompt.text,
    target: target.text,
    truncated: prompt.cut || target.cut,
    promptTokens: preview.promptTokens,
    targetTokens: preview.targetTokens,
    totalTokens: preview.totalTokens,
    lossTokens: preview.tokens.reduce((n, t) => n + (t.inLoss ? 1 : 0), 0),
  };
  if (preview.task !== undefined) row.task = preview.task;
  if (preview.label !== undefined) row.label = preview.label;
  return row;
}

/** A row of the record as the dataset's model sees it: the text in runs (cut to `limit` characters), its token counts. */
export function toModelRow(line: number, format: RecordPreview['format'], view: ModelRecordView | { error: string }, limit = ROW_TEXT_LIMIT): PreviewRow {
  if ('error' in view) return toPreviewRow(line, view);
  const total = view.runs.reduce((n, r) => n + r.text.length, 0);
  const row: PreviewRow = {
    line,
    format,
    prompt: '',
    target: '',
    rendered: cutRuns(view.runs, limit),
    truncated: total > limit,
    promptTokens: view.totalTokens - view.trainedTokens,
    targetTokens: view.trainedTokens,
    totalTokens: view.totalTokens,
    lossTokens: view.trainedTokens,
  };
  if (view.template !== undefined) row.template = view.template;
  return row;
}
