// Dataset -> training examples -> padded batches. Records are parsed, validated and formatted by
// language/ (readDataset, tokenizeExample): there is no second formatter here. An example's inputs are
// its tokens without the last one; its labels are the next tokens, kept only where the formatter marks
// the token as one the loss is taken on (-1 elsewhere), so padding and prompts never count.
import { readDataset } from '../language';
import { ChatTemplateError, resolveChatTemplate, tokenizeRecord } from '../language/chatTemplate';
import { NotRegularFileError } from '../language/regularFile';
import type { TextTokenizer } from '../language/tokenizer';
import type { DatasetDiagnostic } from '../language/types';
import type { DatasetSummary, TrainConfig } from '../protocol/trainer';
import { deriveSeed, seededRandom, shuffleInPlace } from './random';

export const IGNORE_LABEL = -1;

export interface TrainingExample {
  /** 0-based line of the record in its file. */
  line: number;
  task?: string;
  /** Input ids (the example's tokens without the last). */
  inputIds: number[];
  /** labels[t] = the token after position t when the loss is taken on it, else -1. */
  labels: number[];
  /** Labels that are not -1 (1 for a classification example: one loss per example). */
  lossTokens: number;
  /** Classification head: the record's label string, and its id (set once the label map is known). */
  labelText?: string;
  classLabel?: number;
}

/** Tokens + the formatter's loss mask -> shifted inputs/labels; undefined when no loss token is left. */
export function toTrainingExample(
  ids: readonly number[],
  lossMask: readonly (number | boolean)[],
  maxLength: number,
  line = 0,
  task?: string,
): TrainingExample | undefined {
  if (ids.length !== lossMask.length) throw new Error(`record on line ${line + 1}: ${ids.length} tokens but ${lossMask.length} loss-mask entries`);
  const n = Math.min(ids.length, maxLength);
  if (n < 2) return undefined;
  const inputIds = ids.slice(0, n - 1);
  const labels: number[] = new Array(n - 1);
  let lossTokens = 0;
  for (let t = 0; t < n - 1; t++) {
    if (lossMask[t + 1]) {
      labels[t] = ids[t + 1];
      lossTokens++;
    } else {
      labels[t] = IGNORE_LABEL;
    }
  }
  return lossTokens > 0 ? { line, task, inputIds, labels, lossTokens } : undefined;
}

export interface LoadedDataset {
  file: string;
  format: string;
  examples: TrainingExample[];
  /** Records with errors that were skipped (`skipInvalid`). */
  skippedInvalid: number;
  /** Valid records with no loss token within the max length (e.g. a prompt longer than it). */
  droppedEmpty: number;
  /** Records truncated to the max length. */
  truncated: number;
  /** Of those, the records whose cut removed tokens the loss would have been taken on (part of the target). */
  targetTruncated: number;
  /** 0-based lines of the records counted in droppedEmpty, for the warning that names them. */
  droppedLines: number[];
  /** The chat template chat records were rendered with, if any. */
  chatTemplate?: string;
}

/** Invalid records stop a run before training: the message lists the validator's diagnostics. */
export class DatasetError extends Error {
  constructor(
    message: string,
    readonly diagnostics: DatasetDiagnostic[] = [],
  ) {
    super(message);
    this.name = 'DatasetError';
  }
}

export interface LoadOptions {
  tokenizer: TextTokenizer;
  maxLength: number;
  trainOnPrompt: boolean;
  skipInvalid: boolean;
  /** Classification head: inputs are the formatted prompt's tokens (no label, no end-of-text), one label per example. */
  classification?: boolean;
  /** --chat-template: a built-in name or a file; undefined: the model's own template (none: the plain chat format). */
  chatTemplate?: string;
}

/**
 * How a run reads its dataset files, from its settings: one place, so that `export` turns exactly the
 * records `train` trains into the cluster job's data.
 */
export function runLoadOptions(
  config: Pick<TrainConfig, 'trainOnPrompt' | 'chatTemplate' | 'skipInvalid' | 'head'>,
  tokenizer: TextTokenizer,
  maxLength: number,
): LoadOptions {
  return {
    tokenizer,
    maxLength,
    trainOnPrompt: config.trainOnPrompt,
    chatTemplate: config.chatTemplate,
    skipInvalid: config.skipInvalid,
    classification: config.head === 'classification',
  };
}

const MAX_LISTED = 20;

function describeErrors(file: string, errors: DatasetDiagnostic[]): string {
  const lines = errors.slice(0, MAX_LISTED).map((d) => `  ${file}:${d.line + 1}:${d.column + 1}: ${d.code}: ${d.message}`);
  if (errors.length > MAX_LISTED) lines.push(`  … and ${errors.length - MAX_LISTED} more`);
  return lines.join('\n');
}

/** Reads, validates and tokenizes a dataset file. */
export async function loadDataset(file: string, options: LoadOptions): Promise<LoadedDataset> {
  let read: Awaited<ReturnType<typeof readDataset>>;
  try {
    read = await readDataset(file, { maxTokens: options.maxLength });
  } catch (err) {
    // A FIFO, directory or device: the message already names the file and what it is.
    throw new DatasetError(err instanceof NotRegularFileError ? err.message : `cannot read dataset ${file}: ${(err as Error).message}`);
  }
  const errors = read.diagnostics.filter((d) => d.severity === 'error');
  const errorLines = new Set(errors.map((d) => d.line));
  if (errors.length > 0 && !options.skipInvalid) {
    throw new DatasetError(
      `${file}: ${errorLines.size} invalid record${errorLines.size === 1 ? '' : 's'}; fix them or pass --skip-invalid to train without them:\n${describeErrors(file, errors)}`,
      errors,
    );
  }
  const examples: TrainingExample[] = [];
  let droppedEmpty = 0;
  let truncated = 0;
  let targetTruncated = 0;
  const droppedLines: number[] = [];
  // Chat records go through the chat template (language/chatTemplate.ts), the same code as `preview`.
  const chatTemplate = options.classification ? undefined : resolveChatTemplate(options.chatTemplate, options.tokenizer);
  const templateErrors: DatasetDiagnostic[] = [];
  for (const record of read.examples) {
    if (errorLines.has(record.line)) continue;
    if (options.classification) {
      const label = record.formatted.label;
      if (label === undefined)
        throw new DatasetError(`${file}:${record.line + 1}: --head classification needs a classification dataset ({"text", "label"} records)`);
      // Only what can be kept is tokenized (encodeUpTo): a huge record costs its first maxLength tokens.
      const ids = options.tokenizer.encodeUpTo(record.formatted.prompt, options.maxLength);
      if (ids.length > options.maxLength) truncated++;
      const inputIds = ids.slice(0, options.maxLength);
      if (inputIds.length === 0) {
        droppedEmpty++;
        droppedLines.push(record.line);
        continue;
      }
      examples.push({ line: record.line, task: record.task, inputIds, labels: inputIds.map(() => IGNORE_LABEL), lossTokens: 1, labelText: label });
      continue;
    }
    let tokens: ReturnType<typeof tokenizeRecord>;
    try {
      tokens = tokenizeRecord(record.record, read.format ?? 'text', options.tokenizer, {
        trainOnPrompt: options.trainOnPrompt,
        maxLength: options.maxLength,
        chatTemplate,
      });
    } catch (err) {
      if (!(err instanceof ChatTemplateError)) throw err;
      templateErrors.push({
        line: record.line,
        column: 0,
        endLine: record.line,
        endColumn: 0,
        severity: 'error',
        code: 'template-error',
        message: err.message,
      });
      continue;
    }
    if (tokens.truncated) truncated++;
    if (tokens.targetTruncated) targetTruncated++;
    const example = toTrainingExample(tokens.ids, tokens.lossMask, options.maxLength, record.line, record.task);
    if (example) examples.push(example);
    else {
      droppedEmpty++;
      droppedLines.push(record.line);
    }
  }
  if (templateErrors.length > 0 && !options.skipInvalid) {
    throw new DatasetError(
      `${file}: the chat template (${chatTemplate?.name}) rejects ${templateErrors.length} record${templateErrors.length === 1 ? '' : 's'}; fix them or pass --skip-invalid to train without them:\n${describeErrors(file, templateErrors)}`,
      templateErrors,
    );
  }
  for (const d of templateErrors) errorLines.add(d.line);
  if (examples.length === 0) {
    throw new DatasetError(
      `${file}: no record to train on (${read.examples.length} records read, ${errorLines.size} invalid, ${droppedEmpty} without a target token within ${options.maxLength} tokens)`,
      errors,
    );
  }
  return {
    file,
    format: read.format ?? 'unknown',
    examples,
    skippedInvalid: errorLines.size,
    droppedEmpty,
    truncated,
    targetTruncated,
    droppedLines,
    ...(chatTemplate ? { chatTemplate: chatTemplate.name } : {}),
  };
}

/** Lines listed in the start event and the warning for records left out (the rest are counted). */
export const MAX_LISTED_LINES = 20;

/**
 * What data preparation did to the training file, for the start event (protocol/trainer.ts
 * DatasetSummary): records left out for having no trained token, records cut, and the tokens of the
 * training examples the loss is taken on.
 */
export function preparationSummary(
  data: LoadedDataset,
  trainExamples: readonly TrainingExample[],
): Required<Pick<DatasetSummary, 'trainLossTokens' | 'noTrainedToken' | 'noTrainedTokenLines' | 'truncated' | 'targetTruncated'>> {
  return {
    trainLossTokens: trainExamples.reduce((a, e) => a + e.lossTokens, 0),
    noTrainedToken: data.droppedEmpty,
    noTrainedTokenLines: data.droppedLines.slice(0, MAX_LISTED_LINES).map((l) => l + 1),
    truncated: data.truncated,
    targetTruncated: data.targetTruncated,
  };
}

/** Holds out round(n * fraction) examples (at least 1 when fraction > 0 and n >= 2), chosen by the seed. */
export function splitEval<T>(examples: readonly T[], fraction: number, seed: number): { train: T[]; eval: T[] } {
  if (!(fraction > 0) || examples.length < 2) return { train: [...examples], eval: [] };
  const count = Math.min(examples.length - 1, Math.max(1, Math.round(examples.length * fraction)));
  const order = shuffleInPlace(
    examples.map((_, i) => i),
    seededRandom(deriveSeed(seed, 0x5e11)),
  );
  const held = new Set(order.slice(0, count));
  return { train: examples.filter((_, i) => !held.has(i)), eval: examples.filter((_, i) => held.has(i)) };
}

export interface Batch {
  size: number;
  /** Padded length. */
  length: number;
  /** [size * length] row-major. */
  inputIds: Int32Array;
  labels: Int32Array;
  attentionMask: Float32Array;
  tasks: (string | undefined)[];
  /** Classification head: the label id of each row (−1 when an example has none). */
  classLabels?: Int32Array;
  /** Loss tokens per row. */
  rowLossTokens: number[];
  /** Non-padding input tokens. */
  tokens: number;
  lossTokens: number;
}

/** Pads examples on the right to the longest one; padding has mask 0 and label -1. */
export function padBatch(examples: readonly TrainingExample[], padId = 0): Batch {
  const size = examples.length;
  const length = Math.max(...examples.map((e) => e.inputIds.length));
  const inputIds = new Int32Array(size * length).fill(padId);
  const labels = new Int32Array(size * length).fill(IGNORE_LABEL);
  const attentionMask = new Float32Array(size * length);
  let tokens = 0;
  let lossTokens = 0;
  examples.forEach((e, b) => {
    const row = b * length;
    inputIds.set(e.inputIds, row);
    labels.set(e.labels, row);
    attentionMask.fill(1, row, row + e.inputIds.length);
    tokens += e.inputIds.length;
    lossTokens += e.lossTokens;
  });
  const batch: Batch = {
    size,
    length,
    inputIds,
    labels,
    attentionMask,
    tasks: examples.map((e) => e.task),
    rowLossTokens: examples.map((e) => e.lossTokens),
    tokens,
    lossTokens,
  };
  if (examples.some((e) => e.classLabel !== undefined)) batch.classLabels = Int32Array.from(examples, (e) => e.classLabel ?? -1);
  return batch;
}

/** How many batches share a length-sorted pool (Hugging Face's LengthGroupedSampler uses 50). */
const MEGABATCH = 50;

/**
 * The batches of one epoch, as lists of example indices. Shuffled: indices are shuffled with the epoch's
 * seed, sorted by length (longest first) within pools of 50 batches so a batch holds similar lengths,
 * and the batches are shuffled again. Not shuffled: file order.
 */
export function epochBatches(lengths: readonly number[], batchSize: number, options: { shuffle: boolean; seed: number; epoch: number }): number[][] {
  const order = lengths.map((_, i) => i);
  const batches: number[][] = [];
  if (!options.shuffle) {
    for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
    return batches;
  }
  const random = seededRandom(deriveSeed(options.seed, options.epoch));
  shuffleInPlace(order, random);
  const pool = batchSize * MEGABATCH;
  for (let start = 0; start < order.length; start += pool) {
    const chunk = order.slice(start, start + pool).sort((a, b) => lengths[b] - lengths[a]);
    for (let i = 0; i < chunk.length; i += batchSize) batches.push(chunk.slice(i, i + batchSize));
  }
  return shuffleInPlace(batches, random);
}

/** Evaluation batches: sorted by length to waste little padding (order does not change a token-weighted mean). */
export function evalBatches(lengths: readonly number[], batchSize: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a]);
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}
