// A record as the dataset's model sees it, for the hover and the preview: the text the tokens are
// (the chat template's rendering, or the formatted prompt and target), cut into runs of trained and
// untrained text, and the token counts. Built by tokenizeRecord, the trainer's own code. No `vscode` import.
import { ChatTemplateError, tokenizeRecord, trainedRuns, type RecordTokens } from '../../language/chatTemplate';
import type { DatasetFormat } from '../../language/types';
import type { DatasetModel } from './datasetModel';
import type { TextRun } from './textRuns';

export interface ModelRecordView {
  /** The model's short name. */
  model: string;
  format: DatasetFormat;
  /** The chat template that rendered it (chat records of a model that has one). */
  template?: string;
  runs: TextRun[];
  totalTokens: number;
  trainedTokens: number;
  maxLength: number;
  /** Longer than the maximum length: the runs are what is kept. */
  truncated: boolean;
  targetTruncated: boolean;
}

/** The view of one parsed record; `{error}` with the template's message for a record the template rejects. */
export function modelRecordView(record: unknown, format: DatasetFormat, model: DatasetModel, maxLength: number): ModelRecordView | { error: string } {
  let tokens: RecordTokens;
  try {
    tokens = tokenizeRecord(record, format, model.tokenizer, { chatTemplate: model.chatTemplate, maxLength });
  } catch (err) {
    if (err instanceof ChatTemplateError) return { error: `the chat template (${model.chatTemplate?.name ?? 'none'}) rejects this record: ${err.message}` };
    throw err;
  }
  return {
    model: model.label,
    format,
    ...(tokens.template !== undefined ? { template: tokens.template } : {}),
    runs: trainedRuns(tokens, model.tokenizer),
    totalTokens: tokens.ids.length,
    trainedTokens: tokens.lossMask.filter(Boolean).length,
    maxLength,
    truncated: tokens.truncated,
    targetTruncated: tokens.targetTruncated,
  };
}
