// The public vocabulary of the dataset language: formats, diagnostics, previews. The extension, the CLI,
// the trainer and the tests all speak it; nothing here knows about VS Code.

export type DatasetFormat = 'alpaca' | 'chat' | 'completion' | 'text' | 'classification';
export const DATASET_FORMATS: readonly DatasetFormat[] = ['alpaca', 'chat', 'completion', 'text', 'classification'];

export type Severity = 'error' | 'warning' | 'info';

/** Stable identifiers: tests, the CLI's `--json` and quick fixes key on them. */
export type DiagnosticCode =
  // errors
  | 'invalid-json' // not parseable: exact column of the first problem (truncated line, control character, trailing text)
  | 'invalid-utf8' // bytes that are not UTF-8 (files read from disk)
  | 'not-an-object' // a JSON value that is not an object
  | 'missing-field' // a required field of the format is absent
  | 'wrong-type' // a field has the wrong JSON type
  | 'empty-field' // a required string is empty or whitespace
  | 'unknown-role' // chat: role not system/user/assistant
  | 'missing-content' // chat: a message without content
  | 'no-assistant-message' // chat: nothing for the model to learn
  | 'empty-conversation' // chat: messages is []
  | 'format-mismatch' // record is of another format than the file's
  | 'schema' // the user's JSON Schema (finetune.dataset.schema / --schema) rejects the record
  | 'schema-timeout' // the user's schema ran past its time limit on the record (a runaway pattern); not applied to later records
  | 'template-error' // chat: the model's chat template raises for the record (its own message)
  // warnings
  | 'unknown-field'
  | 'duplicate-key' // a key repeated in one object: JSON.parse keeps the last value (reported there)
  | 'lone-surrogate' // a string with half of a UTF-16 surrogate pair ("\ud800"): training turns it into U+FFFD
  | 'duplicate-record'
  | 'too-long' // longer than the max length in tokens once formatted
  | 'no-trained-tokens' // for the chosen model: nothing left to train within the maximum length
  | 'target-truncated' // for the chosen model: the maximum length cuts part of an assistant turn / the target
  | 'double-bos' // for the chosen model: a text record begins with the BOS token the tokenizer adds
  | 'label-imbalance'
  | 'few-task-examples'
  | 'blank-line';

/** A text edit in the same coordinates as a diagnostic. */
export interface TextEdit {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  newText: string;
}

export interface QuickFix {
  title: string;
  edits: TextEdit[];
  /** The one fix an editor may apply on "Fix all"/preferred. */
  preferred?: boolean;
}

/**
 * Positions are 0-based lines and 0-based UTF-16 columns, end exclusive (the VS Code convention);
 * the CLI adds 1 to both when it prints or emits JSON.
 */
export interface DatasetDiagnostic {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: Severity;
  code: DiagnosticCode;
  message: string;
  fixes?: QuickFix[];
}

export interface ValidationOptions {
  /** Force a format; 'auto' (default) detects the file's format from the majority of records. */
  format?: DatasetFormat | 'auto';
  /** Maximum length in tokens of a formatted example (prompt + target + end-of-text); default 1024. */
  maxTokens?: number;
  /** An extra JSON Schema every record must satisfy. */
  userSchema?: object;
  /** How long the user schema may take on one record before `schema-timeout` (default 1000 ms). */
  schemaTimeLimitMs?: number;
  /** Prompt template name (default 'alpaca'); see language/promptFormat.ts. */
  template?: string;
  /** A task with fewer records than this is warned about (default 5); 0 disables. */
  minTaskExamples?: number;
}

/** One token of a preview, and whether the loss is taken on it. */
export interface PreviewToken {
  id: number;
  text: string;
  inLoss: boolean;
}

/** What the trainer builds from one record: the exact prompt and target text, and their tokens. */
export interface RecordPreview {
  format: DatasetFormat;
  task?: string;
  prompt: string;
  target: string;
  label?: string;
  promptTokens: number;
  targetTokens: number;
  totalTokens: number;
  tokens: PreviewToken[];
}

export interface DatasetStatistics {
  records: number;
  byFormat: Partial<Record<DatasetFormat, number>>;
  byTask: Record<string, number>;
  byLabel: Record<string, number>;
  duplicates: number;
  overLength: number;
  /** Token-length histogram: bucket upper bounds and counts. */
  lengthHistogram: { upTo: number; count: number }[];
  minTokens: number;
  maxTokens: number;
  meanTokens: number;
}
