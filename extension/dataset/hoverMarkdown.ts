// The Markdown of a record's hover. Dataset text is user data: it only ever appears inside fenced code
// blocks whose fence is longer than any backtick run in it, or escaped, so it cannot become Markdown
// links, images, or HTML (the MarkdownString is also created untrusted and without HTML support).
// No `vscode` import.
import type { RecordPreview } from '../../language/types';
import type { ModelRecordView } from './modelView';
import { cutRuns, type TextRun } from './textRuns';

/**
 * Longest line that is rendered and tokenized for a preview: tokenizing runs at roughly 200 KB/s on
 * the extension host's thread, so a 5 MB record would freeze it for half a minute.
 */
export const PREVIEW_MAX_LINE_CHARS = 100_000;

/**
 * Longest line that gets every check of the dataset's model, and its view in the hover and the preview,
 * on the extension host's thread. Tokenizing runs at about 100-250 characters per ms with Llama 3's or
 * Qwen's tokenizer and 10-20 with Llama 2's (its BPE has no pre-tokenizer, so a long text is one word).
 * A longer line gets only the checks that need no full tokenization: template-error (rendering is fast)
 * and too-long (counting stops after the maximum length).
 */
export const MODEL_CHECK_MAX_CHARS = 20_000;

/** The hover of a record too long to render on the spot. */
export function tooLongHoverMarkdown(length: number, limit = PREVIEW_MAX_LINE_CHARS): string {
  return `**Fine-Tune preview** · this record has ${length.toLocaleString('en-US')} characters; hovers render records of up to ${limit.toLocaleString('en-US')}. Its token count is checked by the \`too-long\` diagnostic.\n`;
}

/** Most characters of prompt or target shown in a hover. */
export const HOVER_TEXT_LIMIT = 2000;
/** Above this many tokens the loss-mask view keeps only the head and the tail. */
export const HOVER_TOKEN_LIMIT = 256;
const HEAD_TOKENS = 64;

/** Backslash-escapes every character Markdown could treat as syntax. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~&"'=:]/g, (c) => `\\${c}`).replace(/\r?\n/g, ' ');
}

/** A fenced code block that `text` cannot close early. */
export function codeBlock(text: string, lang = 'text'): string {
  let longest = 0;
  for (const run of text.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${lang}\n${text}\n${fence}\n`;
}

export function truncateText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  // Do not cut a surrogate pair in half.
  let end = limit;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}\n… (${text.length - end} more characters)`;
}

function showToken(text: string): string {
  return text.replace(/\n/g, '↵\n').replace(/\t/g, '→');
}

/**
 * The token sequence as text, with each token the loss is taken on wrapped in ⟦ ⟧; long records keep
 * the first tokens and the last ones (where the target usually is).
 */
export function lossMaskText(tokens: RecordPreview['tokens'], limit = HOVER_TOKEN_LIMIT): string {
  const render = (ts: RecordPreview['tokens']) => ts.map((t) => (t.inLoss ? `⟦${showToken(t.text)}⟧` : showToken(t.text))).join('');
  if (tokens.length <= limit) return render(tokens);
  const tail = limit - HEAD_TOKENS;
  const skipped = tokens.length - HEAD_TOKENS - tail;
  return `${render(tokens.slice(0, HEAD_TOKENS))}\n… ${skipped} tokens …\n${render(tokens.slice(tokens.length - tail))}`;
}

export function hoverMarkdown(preview: RecordPreview, fileFormat?: string): string {
  const inLoss = preview.tokens.filter((t) => t.inLoss).length;
  const parts: string[] = [];
  const head = [`**Fine-Tune preview** · ${escapeMarkdown(preview.format)}`];
  if (preview.task !== undefined) head.push(`task ${escapeMarkdown(preview.task)}`);
  if (preview.label !== undefined) head.push(`label ${escapeMarkdown(preview.label)}`);
  if (fileFormat && fileFormat !== preview.format) head.push(`file format ${escapeMarkdown(fileFormat)}`);
  parts.push(head.join(' · ') + '\n\n');
  parts.push(`Tokens: prompt ${preview.promptTokens} · target ${preview.targetTokens} · total ${preview.totalTokens} · loss on ${inLoss}\n\n`);
  parts.push('**Prompt**\n\n', codeBlock(truncateText(preview.prompt, HOVER_TEXT_LIMIT)), '\n');
  parts.push('**Target**\n\n', codeBlock(truncateText(preview.target, HOVER_TEXT_LIMIT)), '\n');
  parts.push(`**Loss mask** (tokens in ⟦ ⟧ are the ${inLoss} the loss is taken on)\n\n`, codeBlock(lossMaskText(preview.tokens)));
  return parts.join('');
}

/** Trained text is wrapped in these in the hover's code block: Markdown cannot colour inside one. */
export const TRAINED_OPEN = '⟦';
export const TRAINED_CLOSE = '⟧';

/** The runs as one text, each trained run between ⟦ ⟧ (line by line, so a marker never spans a line break). */
export function markTrained(runs: readonly TextRun[]): string {
  return runs.map((r) => (r.trained ? r.text.replace(/[^\n]+/g, (s) => `${TRAINED_OPEN}${s}${TRAINED_CLOSE}`) : r.text)).join('');
}

/** The hover of a record as the dataset's model renders and tokenizes it. */
export function modelHoverMarkdown(view: ModelRecordView | { error: string }, model: string, origin: string): string {
  const head = `**Fine-Tune preview** · model ${escapeMarkdown(model)} (${escapeMarkdown(origin)})`;
  if ('error' in view) return `${head}\n\n**template-error**: ${escapeMarkdown(view.error)}\n`;
  const parts = [`${head} · ${escapeMarkdown(view.format)}${view.template ? ` · rendered by ${escapeMarkdown(view.template)}` : ''}\n\n`];
  const cut = view.truncated ? ` · cut to the maximum length of ${view.maxLength}${view.targetTruncated ? ', which cuts trained text' : ''}` : '';
  parts.push(`Tokens: total ${view.totalTokens} · trained ${view.trainedTokens}${cut}\n\n`);
  parts.push(
    `**As the model sees it** (the trained text is in ${TRAINED_OPEN} ${TRAINED_CLOSE})\n\n`,
    codeBlock(markTrained(cutRuns(view.runs, HOVER_TEXT_LIMIT * 2))),
  );
  return parts.join('');
}
