// `finetune preview --data FILE --model M [--limit N] [--max-length T] [--train-on-prompt]
// [--chat-template chatml|FILE] [--json]`: each record exactly as training sees it, through the same
// code (language/chatTemplate.ts's tokenizeRecord, with train's defaults: the model's context as the
// maximum length, the model's chat template). --json prints {records: [{line, text, ids, labels}]}
// (labels[k] = ids[k] where the token is trained, -100 where not: the Hugging Face convention; a record
// that cannot be used has {line, error} instead); otherwise a readable view marks the trained text
// (colour on a terminal, [[brackets]] otherwise) with the token counts.
import { readDataset } from '../language';
import { ChatTemplateChoiceError, ChatTemplateError, resolveChatTemplate, tokenizeRecord, trainedRuns, type RecordTokens } from '../language/chatTemplate';
import { NotRegularFileError } from '../language/regularFile';
import type { TextTokenizer } from '../language/tokenizer';
import { effectiveMaxLength } from '../protocol/options';
import { modelTokenizer } from '../trainer/modelTokenizer';
import { numberFlag, parseFlags, UsageError } from './usage';

const HELP = `usage: finetune preview --data FILE --model M [options]
  --data FILE             the dataset (.jsonl)
  --model M               a preset, a model folder or a Hugging Face repo id (its tokenizer and chat template)
  --limit N               only the first N records
  --max-length T          tokens per example (default: the model's context, as train)
  --train-on-prompt       every token trained, as train --train-on-prompt
  --chat-template X       chatml or a .jinja file (default: the model's own; none: the plain chat format)
  --json                  print {records: [{line, text, ids, labels}]}; labels are -100 where not trained`;

/** Hugging Face's ignore index: a label the loss skips. */
export const IGNORED_LABEL = -100;

export interface PreviewEntry {
  /** 1-based line of the record. */
  line: number;
  text?: string;
  ids?: number[];
  labels?: number[];
  error?: string;
}

/** labels as Hugging Face writes them: the id where trained, -100 where not. */
export function hfLabels(tokens: Pick<RecordTokens, 'ids' | 'lossMask'>): number[] {
  return tokens.ids.map((id, k) => (tokens.lossMask[k] ? id : IGNORED_LABEL));
}

const GREEN = '\x1b[42m\x1b[30m';
const RESET = '\x1b[0m';

/** A record for people: a header with the counts, then the text with the trained runs marked. */
export function readableRecord(line: number, tokens: RecordTokens, tokenizer: TextTokenizer, colour: boolean): string {
  const trained = tokens.lossMask.filter(Boolean).length;
  const notes = [`${tokens.ids.length} tokens`, `${trained} trained`];
  if (tokens.template) notes.push(`template: ${tokens.template}`);
  if (tokens.truncated) notes.push(tokens.targetTruncated ? 'truncated (part of the target cut)' : 'truncated');
  const body = trainedRuns(tokens, tokenizer)
    .map((r) => (!r.trained ? r.text : colour ? r.text.replace(/[^\n]+/g, (s) => `${GREEN}${s}${RESET}`) : `[[${r.text}]]`))
    .join('');
  return `── line ${line} · ${notes.join(' · ')}\n${body}\n`;
}

export interface PreviewOptions {
  maxLength: number;
  trainOnPrompt: boolean;
  chatTemplate: ReturnType<typeof resolveChatTemplate>;
  /** Only the first N records (errors included). */
  limit?: number;
}

/**
 * Every record of a read dataset as `preview --json` lists it, in file order, with its tokens: the one
 * place a record becomes its preview entry, for `preview` and for `export` (whose data files must equal
 * it). Records with validation errors carry their first error (`error: validation` entries).
 */
export function previewRows(
  read: Awaited<ReturnType<typeof readDataset>>,
  tokenizer: TextTokenizer,
  options: PreviewOptions,
): { entry: PreviewEntry; tokens?: RecordTokens }[] {
  const firstError = new Map<number, string>();
  for (const d of read.diagnostics) if (d.severity === 'error' && !firstError.has(d.line)) firstError.set(d.line, `${d.code}: ${d.message}`);
  const byLine = new Map(read.examples.map((e) => [e.line, e]));
  const lines = [...new Set([...firstError.keys(), ...byLine.keys()])].sort((a, b) => a - b).slice(0, options.limit ?? Infinity);
  const rows: { entry: PreviewEntry; tokens?: RecordTokens }[] = [];
  for (const line of lines) {
    const error = firstError.get(line);
    const record = byLine.get(line);
    if (error !== undefined || !record) {
      rows.push({ entry: { line: line + 1, error: error ?? 'not a record' } });
      continue;
    }
    let tokens: RecordTokens;
    try {
      tokens = tokenizeRecord(record.record, read.format ?? 'text', tokenizer, {
        maxLength: options.maxLength,
        trainOnPrompt: options.trainOnPrompt,
        chatTemplate: options.chatTemplate,
      });
    } catch (err) {
      if (!(err instanceof ChatTemplateError)) throw err;
      rows.push({ entry: { line: line + 1, error: `template-error: ${err.message}` } });
      continue;
    }
    rows.push({ entry: { line: line + 1, text: tokens.text, ids: tokens.ids, labels: hfLabels(tokens) }, tokens });
  }
  return rows;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const { values } = parseFlags(args, {
    data: { type: 'string' },
    model: { type: 'string' },
    limit: { type: 'string' },
    'max-length': { type: 'string' },
    'train-on-prompt': { type: 'boolean' },
    'chat-template': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (!values.data) throw new UsageError('--data is required');
  if (!values.model) throw new UsageError('--model is required');
  const limit = numberFlag('limit', values.limit, Infinity, { integer: true, min: 0 });
  const maxLengthFlag = values['max-length'] === undefined ? undefined : numberFlag('max-length', values['max-length'], 0, { integer: true, min: 2 });

  const { tokenizer, maxPositions } = await modelTokenizer(values.model, (m) => process.stderr.write(m + '\n'));
  const maxLength = effectiveMaxLength(maxLengthFlag, maxPositions);
  let chatTemplate: ReturnType<typeof resolveChatTemplate>;
  try {
    chatTemplate = resolveChatTemplate(values['chat-template'], tokenizer);
  } catch (err) {
    if (err instanceof ChatTemplateChoiceError) throw new UsageError(err.message);
    throw err;
  }
  let read: Awaited<ReturnType<typeof readDataset>>;
  try {
    read = await readDataset(values.data, { maxTokens: maxLength });
  } catch (err) {
    process.stderr.write(`${err instanceof NotRegularFileError ? err.message : `cannot read dataset ${values.data}: ${(err as Error).message}`}\n`);
    return 1;
  }
  const colour = !values.json && process.stdout.isTTY === true && !process.env.NO_COLOR;
  const rows = previewRows(read, tokenizer, { maxLength, trainOnPrompt: values['train-on-prompt'] === true, chatTemplate, limit });
  let out = '';
  for (const { entry, tokens } of rows) {
    // A template's refusal reads as its own code; a validation error keeps the `error:` prefix.
    const error = entry.error?.startsWith('template-error:') ? entry.error : `error: ${entry.error}`;
    out += tokens ? readableRecord(entry.line, tokens, tokenizer, colour) + '\n' : `── line ${entry.line} · ${error}\n\n`;
  }
  const entries = rows.map((r) => r.entry);
  if (values.json) process.stdout.write(JSON.stringify({ records: entries }) + '\n');
  else process.stdout.write(out);
  return 0;
}
