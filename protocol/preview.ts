// Messages between the dataset preview webview (webview/preview/main.ts) and the extension
// (extension/dataset/previewPanel.ts). Both sides build and read messages only through these types.
import type { DatasetFormat, DatasetStatistics } from '../language/types';

/** The page the webview asks for; also what it keeps in `vscode.setState` across reloads. */
export interface PreviewQuery {
  /** 0-based index of the first matching record to show. */
  offset: number;
  /** Rows per page. */
  limit: number;
  /** Case-insensitive text every shown record must contain (empty: all records). */
  query: string;
}

export const DEFAULT_PREVIEW_QUERY: PreviewQuery = { offset: 0, limit: 25, query: '' };
export const MAX_PREVIEW_LIMIT = 200;

/** One rendered record, cut down to what the table shows. */
export interface PreviewRow {
  /** 0-based line of the record in the file. */
  line: number;
  format?: DatasetFormat;
  task?: string;
  label?: string;
  prompt: string;
  target: string;
  /** True when prompt or target were shortened for display. */
  truncated: boolean;
  promptTokens: number;
  targetTokens: number;
  totalTokens: number;
  /** How many tokens the loss is taken on. */
  lossTokens: number;
  /** Set instead of the texts when the line is not a valid record. */
  error?: string;
  /**
   * The record as the dataset's model sees it (a model other than a GPT-2 preset): its text in runs,
   * `trained` where the loss is taken; prompt and target are then empty.
   */
  rendered?: { text: string; trained: boolean }[];
  /** The chat template that rendered it. */
  template?: string;
}

/** The dataset's model the rows are rendered for (finetune.dataset.model, the last run's, or GPT-2). */
export interface PreviewModelInfo {
  label: string;
  /** `setting`, `last run` or `default`. */
  origin: string;
  /** Why the model cannot be used (the rows then use GPT-2). */
  error?: string;
  /** The rows count the model's tokens, while the statistics still count GPT-2's (they are computed off-thread without the model). */
  statisticsInGpt2?: boolean;
}

/** `chooseModel`: the user asks to change the dataset's model (the host runs Choose Dataset Model…). */
export type WebviewToHost = { type: 'ready' } | { type: 'chooseModel' } | ({ type: 'query' } & PreviewQuery);

export type HostToWebview =
  | ({
      type: 'page';
      /** File name shown in the header. */
      file: string;
      /** The file's URI, kept in the webview state so that the panel can be restored after a reload. */
      uri: string;
      /** Records matching the query. */
      total: number;
      rows: PreviewRow[];
      /** Null while they are being computed (a page with them follows). */
      statistics: DatasetStatistics | null;
      model?: PreviewModelInfo;
    } & PreviewQuery)
  | { type: 'error'; message: string };

/** Clamps a query that came over the wire (the webview is not trusted to send sane numbers). */
export function normalizeQuery(q: Partial<PreviewQuery> | undefined): PreviewQuery {
  const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? Math.floor(v) : fallback);
  const limit = Math.min(MAX_PREVIEW_LIMIT, Math.max(1, num(q?.limit, DEFAULT_PREVIEW_QUERY.limit)));
  const offset = Math.max(0, num(q?.offset, 0));
  const query = typeof q?.query === 'string' ? q.query.slice(0, 1000) : '';
  return { offset, limit, query };
}

export function isWebviewToHost(value: unknown): value is WebviewToHost {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return type === 'ready' || type === 'query' || type === 'chooseModel';
}
