// The dataset language: formats, validation (incremental, whole-text, streaming), previews, the shared
// prompt formatter and the trainer's reader. No VS Code here.
export * from './types';
export * from './tokenizer';
export { formatRecord, tokenizeExample, checkTemplate, PROMPT_TEMPLATES, type FormattedExample, type TokenizedExample } from './promptFormat';
export {
  BUILTIN_CHAT_TEMPLATES,
  ChatTemplate,
  ChatTemplateChoiceError,
  ChatTemplateError,
  resolveChatTemplate,
  tokenizeChat,
  tokenizeRecord,
  trainedSpans,
  type RecordTokens,
  type TrainedSpan,
} from './chatTemplate';
export { modelDiagnostics, type ModelCheckOptions } from './modelDiagnostics';
export { DatasetDocument, validateText, splitLines } from './datasetDocument';
export { validateFile, validateWorkerPath, type ValidateFileOptions, type FileValidation } from './validateFile';
export { previewRecord, computeStatistics, previewDataset, type PreviewOptions, type DatasetPreviewPage } from './preview';
export { readDataset, readDatasetBytes, type DatasetExample, type DatasetRead } from './readDataset';
export { FORMAT_SCHEMAS, FORMAT_KEYS, KEY_ALIASES, MESSAGE_KEY_ALIASES, ROLE_ALIASES, CHAT_ROLES, bestFormat } from './formats';
export { DEFAULT_MAX_TOKENS, DEFAULT_MIN_TASK_EXAMPLES } from './lineAnalysis';
export { IMBALANCE_RATIO } from './fileChecks';
export { findJsonSyntaxError } from './jsonSyntax';
export { exceedsTokenLimit, countTokensUpTo } from './tokenLength';
