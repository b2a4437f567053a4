// Problems that exist only for a chosen model: its chat template, its tokenizer, its context length.
// `modelDiagnostics` checks one record line as the trainer would tokenize it (tokenizeRecord, the same
// code) and reports, with ranges in the line (line 0; callers move them with their line number):
// - template-error (error): the chat template raises for this record; the range is the first message
//   whose addition makes it raise (the conversation up to it renders, with it does not), else the record;
// - no-trained-tokens (warning): nothing is left to train within the maximum length;
// - target-truncated (warning): the maximum length cuts part of an assistant turn (the message) or of
//   the target (its field);
// - double-bos (warning): a text record begins with the BOS token that the tokenizer adds itself.
// The editor (finetune.dataset.model) and the CLI can show these next to the model-independent checks.
import { type Node as JsonNode, parseTree } from 'jsonc-parser/lib/esm/main.js';
import { type ChatTemplate, ChatTemplateError, tokenizeRecord, type RecordTokens } from './chatTemplate';
import { nestingDepth } from './jsonSyntax';
import { findLastNodeAtLocation } from './recordShape';
import type { TextTokenizer } from './tokenizer';
import type { DatasetDiagnostic, DatasetFormat, DiagnosticCode, Severity } from './types';

/** Deeper lines get whole-line ranges: jsonc-parser's tree builder recurses. */
const MAX_TREE_DEPTH = 500;

export interface ModelCheckOptions {
  maxLength: number;
  trainOnPrompt?: boolean;
  chatTemplate?: ChatTemplate;
  promptTemplate?: string;
}

/** Each format's field that holds what is trained, for target-truncated's range. */
const TARGET_FIELD: Partial<Record<DatasetFormat, string>> = { alpaca: 'output', completion: 'completion', text: 'text', classification: 'label' };

function diagnostic(code: DiagnosticCode, severity: Severity, range: [number, number], message: string): DatasetDiagnostic {
  return { line: 0, column: range[0], endLine: 0, endColumn: range[1], severity, code, message };
}

/**
 * The diagnostics of one record line for a model. `record` is the line's parsed value (the caller has
 * parsed it); lines with errors of their own should not be passed.
 */
export function modelDiagnostics(
  lineText: string,
  record: unknown,
  format: DatasetFormat,
  tokenizer: TextTokenizer,
  options: ModelCheckOptions,
): DatasetDiagnostic[] {
  let tree: JsonNode | null | undefined;
  const rangeOf = (path: (string | number)[]): [number, number] => {
    tree ??= nestingDepth(lineText, MAX_TREE_DEPTH) > MAX_TREE_DEPTH ? null : (parseTree(lineText) ?? null);
    const node = tree ? findLastNodeAtLocation(tree, path) : undefined;
    return node ? [node.offset, node.offset + node.length] : [0, lineText.length];
  };
  const messages = (record as { messages?: unknown } | null)?.messages;
  const isChat = format === 'chat' && options.chatTemplate !== undefined && Array.isArray(messages);
  let tokens: RecordTokens;
  try {
    tokens = tokenizeRecord(record, format, tokenizer, {
      maxLength: options.maxLength,
      trainOnPrompt: options.trainOnPrompt,
      chatTemplate: options.chatTemplate,
      promptTemplate: options.promptTemplate,
    });
  } catch (err) {
    if (!(err instanceof ChatTemplateError) || !isChat) throw err;
    const at = faultyMessage(messages as unknown[], options.chatTemplate!, tokenizer);
    return [
      diagnostic(
        'template-error',
        'error',
        at === undefined ? [0, lineText.length] : rangeOf(['messages', at]),
        `the chat template (${options.chatTemplate!.name}) rejects this conversation: ${err.message}`,
      ),
    ];
  }
  const out: DatasetDiagnostic[] = [];
  const firstAssistant = isChat ? (messages as { role?: unknown }[]).findIndex((m) => m && typeof m === 'object' && m.role === 'assistant') : -1;
  const targetRange = (): [number, number] => {
    if (isChat) {
      const cut = cutMessage(tokens);
      return rangeOf(['messages', cut ?? Math.max(0, firstAssistant)]);
    }
    const field = TARGET_FIELD[format];
    return field ? rangeOf([field]) : [0, lineText.length];
  };
  // Labels are the next tokens: the first token is never one (the trainer's shift drops it).
  if (!tokens.lossMask.slice(1).some(Boolean)) {
    out.push(
      diagnostic(
        'no-trained-tokens',
        'warning',
        targetRange(),
        `nothing is left to train within ${options.maxLength} tokens (${tokens.truncated ? 'the maximum length cuts every trained token' : 'no token is trained'}); the record would be skipped`,
      ),
    );
  } else if (tokens.targetTruncated) {
    out.push(
      diagnostic(
        'target-truncated',
        'warning',
        targetRange(),
        `the maximum length of ${options.maxLength} tokens cuts part of ${isChat ? 'an assistant turn' : 'the target'}: the model would not learn its end`,
      ),
    );
  }
  if (format === 'text') {
    const bos = tokenizer.bosToken;
    const text = (record as { text?: unknown } | null)?.text;
    const bosId = bos === undefined ? undefined : tokenizer.addedTokens.find((t) => t.content === bos)?.id;
    if (bos && typeof text === 'string' && text.startsWith(bos) && bosId !== undefined && tokenizer.specialPrefix.includes(bosId)) {
      const [start, end] = rangeOf(['text']);
      // The BOS itself when the JSON string spells it literally, else the whole value.
      const literal = lineText.startsWith(bos, start + 1);
      out.push(
        diagnostic(
          'double-bos',
          'warning',
          literal ? [start + 1, start + 1 + bos.length] : [start, end],
          `the text begins with ${bos}, which the tokenizer adds itself: the example would start with two`,
        ),
      );
    }
  }
  return out;
}

/** The first message whose addition makes the template raise (rendering the messages before it works). */
function faultyMessage(messages: readonly unknown[], template: ChatTemplate, tokenizer: TextTokenizer): number | undefined {
  for (let k = 1; k <= messages.length; k++) {
    try {
      template.render(messages.slice(0, k), { tokens: tokenizer.templateTokens });
    } catch (err) {
      if (err instanceof ChatTemplateError) return k - 1;
      throw err;
    }
  }
  return undefined;
}

/** The first assistant message whose trained span the maximum length cuts. */
function cutMessage(tokens: RecordTokens): number | undefined {
  if (!tokens.spans || !tokens.offsets) return undefined;
  const keptEnd = tokens.offsets.length > 0 ? tokens.offsets[tokens.offsets.length - 1][1] : 0;
  return tokens.spans.find((span) => Buffer.byteLength(tokens.text.slice(0, span.end), 'utf8') > keptEnd)?.message;
}
