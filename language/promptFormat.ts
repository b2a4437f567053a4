// The one prompt formatter: the validator (too-long), the previews and the trainer all build their
// examples here, so what the user sees is exactly what the model is trained on.
//
// Templates (ValidationOptions.template / formatRecord's `template`):
// - alpaca (default): the Stanford Alpaca prompt, with its no-input variant when `input` is absent/empty.
// - plain: "{instruction}\n\n{input}\n\n" (input paragraph omitted when empty); for alpaca records only.
// Per format:
// - alpaca: prompt = template; target = output.
// - chat: each message before the LAST assistant message becomes "<|role|>\n{content}\n", then
//   "<|assistant|>\n" ends the prompt; target = that last assistant message's content. Messages after it
//   are not used. (These role markers are plain text to GPT-2, not special tokens.)
// - completion: prompt and completion as they are.
// - text: prompt = '' and target = the text (every token is learnt).
// - classification: prompt = "### Text:\n{text}\n\n### Label:\n"; target = the label as a string.
// The end-of-text token is not part of the strings: tokenizeExample appends it, with the special tokens
// the tokenizer.json post-processor puts around a sequence (Llama's BOS).
import type { DatasetFormat } from './types';
import type { TextTokenizer } from './tokenizer';

export interface FormattedExample {
  prompt: string;
  target: string;
  task?: string;
  label?: string;
}

export const PROMPT_TEMPLATES = ['alpaca', 'plain'] as const;

const ALPACA_WITH_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. ' +
  'Write a response that appropriately completes the request.\n\n';
const ALPACA_NO_INPUT = 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n';

export function checkTemplate(template: string | undefined): void {
  if (template !== undefined && !(PROMPT_TEMPLATES as readonly string[]).includes(template)) {
    throw new Error(`unknown prompt template '${template}' (expected one of: ${PROMPT_TEMPLATES.join(', ')})`);
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** The prompt and target text of a record of `format` (fields of the wrong type are stringified, never thrown on). */
export function formatRecord(record: unknown, format: DatasetFormat, opts: { template?: string } = {}): FormattedExample {
  checkTemplate(opts.template);
  const r = (record && typeof record === 'object' ? record : {}) as Record<string, unknown>;
  const task = typeof r.task === 'string' ? r.task : undefined;
  const withTask = (f: FormattedExample): FormattedExample => (task === undefined ? f : { ...f, task });
  switch (format) {
    case 'alpaca': {
      const instruction = str(r.instruction);
      const input = str(r.input);
      let prompt: string;
      if (opts.template === 'plain') {
        prompt = input.trim() ? `${instruction}\n\n${input}\n\n` : `${instruction}\n\n`;
      } else {
        prompt = input.trim()
          ? `${ALPACA_WITH_INPUT}### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n### Response:\n`
          : `${ALPACA_NO_INPUT}### Instruction:\n${instruction}\n\n### Response:\n`;
      }
      return withTask({ prompt, target: str(r.output) });
    }
    case 'chat': {
      const messages = Array.isArray(r.messages) ? r.messages : [];
      let last = -1;
      for (let i = messages.length - 1; i >= 0; i--) {
        const m = messages[i] as { role?: unknown } | null;
        if (m && typeof m === 'object' && m.role === 'assistant') {
          last = i;
          break;
        }
      }
      let prompt = '';
      const upTo = last === -1 ? messages.length : last;
      for (let i = 0; i < upTo; i++) {
        const m = (messages[i] ?? {}) as { role?: unknown; content?: unknown };
        prompt += `<|${str(m.role)}|>\n${str(m.content)}\n`;
      }
      prompt += '<|assistant|>\n';
      const target = last === -1 ? '' : str((messages[last] as { content?: unknown }).content);
      return withTask({ prompt, target });
    }
    case 'completion':
      return withTask({ prompt: str(r.prompt), target: str(r.completion) });
    case 'text':
      return withTask({ prompt: '', target: str(r.text) });
    case 'classification': {
      const label = str(r.label);
      return withTask({ prompt: `### Text:\n${str(r.text)}\n\n### Label:\n`, target: label, label });
    }
  }
}

export interface TokenizedExample {
  ids: number[];
  /** Per token: whether the loss is taken on predicting it. */
  lossMask: boolean[];
  /** Tokens of the prompt and of the target; with `maxLength` and `truncated`, at least those counted. */
  promptTokens: number;
  targetTokens: number;
  /** The whole example (prompt + target + eos) is longer than `maxLength` and was cut. */
  truncated: boolean;
}

/**
 * ids = the post-processor's prefix (Llama's BOS; none for GPT-2 and Qwen) + tokens(prompt) +
 * tokens(target) + its suffix + [eos] (not repeated when the suffix already ends with it). The loss is
 * taken on the target tokens, the suffix and the eos (on every token with `trainOnPrompt`). `maxLength`
 * keeps the first maxLength tokens, and only those are tokenized (encodeUpTo): the ids are the same as
 * when the whole text is, at the cost of a prefix. Chat records with a chat template are chatTemplate.ts's.
 */
export function tokenizeExample(
  formatted: { prompt: string; target: string },
  tokenizer: TextTokenizer,
  opts: { trainOnPrompt?: boolean; maxLength?: number } = {},
): TokenizedExample {
  const max = opts.maxLength === undefined ? undefined : Math.max(0, opts.maxLength);
  const encode = (text: string, limit: number) => (!text ? [] : max === undefined ? tokenizer.encode(text) : tokenizer.encodeUpTo(text, limit));
  const prefix = tokenizer.specialPrefix;
  const suffix = tokenizer.specialSuffix;
  const promptIds = [...prefix, ...encode(formatted.prompt, max ?? Infinity)];
  // A prompt that fills the length leaves no room for the target: it is not tokenized at all.
  const room = max === undefined ? Infinity : max - promptIds.length;
  const targetIds = room > 0 ? encode(formatted.target, room) : [];
  const end = suffix.at(-1) === tokenizer.eosId ? [...suffix] : [...suffix, tokenizer.eosId];
  let ids = [...promptIds, ...targetIds, ...end];
  let lossMask = ids.map((_, i) => opts.trainOnPrompt === true || i >= promptIds.length);
  // Longer than max exactly when the whole example is: encodeUpTo returns more than its limit then.
  const truncated = max !== undefined && ids.length > max;
  if (max !== undefined && ids.length > max) {
    ids = ids.slice(0, max);
    lossMask = lossMask.slice(0, ids.length);
  }
  return { ids, lossMask, promptTokens: promptIds.length, targetTokens: targetIds.length, truncated };
}
