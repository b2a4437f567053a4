// Chat records as the model's own chat template renders them, and exactly which of their tokens are
// trained. Rendering follows transformers' apply_chat_template: the template is a Jinja string (from
// chat_template.jinja, tokenizer_config.json's `chat_template`, a built-in or a file the user names),
// rendered by @huggingface/jinja (trim_blocks and lstrip_blocks on, as transformers sets them) with
// `messages`, `add_generation_prompt`, the special-token variables, `raise_exception` and
// `strftime_now`. The rendered conversation is tokenized once without adding special tokens (the
// template writes its own BOS: adding one is the double-BOS bug), every added token matched as one.
//
// The trained spans (issue 13 pins this rule): for assistant message i of R = render(messages),
// - start = length of P = render(messages[:i], add_generation_prompt=True) when P is a prefix of R that
//   does not end before the previous span; else where the message's content is found in R after the
//   previous span;
// - end = the end of the first special added token ("special": true) that begins at or after the end of
//   the content in R (<|im_end|>, <|eot_id|>, </s>); none: the end of the content;
// - a token is trained when its text lies within [start, end).
// Records of other formats, and chat records of models without a template, keep the plain formatter of
// promptFormat.ts: tokenizeRecord is the one entry point for the trainer and the previews.
import * as fs from 'node:fs';
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { formatRecord, tokenizeExample } from './promptFormat';
import type { TextTokenizer } from './tokenizer';
import type { DatasetFormat } from './types';

/** A template that cannot be rendered for a record (it raises, or does not parse): the message is the template's own. */
export class ChatTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatTemplateError';
  }
}

/** A --chat-template value that names nothing usable (not a built-in, not a readable file). */
export class ChatTemplateChoiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatTemplateChoiceError';
  }
}

/** Built-in templates for models that have none (`--chat-template chatml`): ChatML as transformers documents it. */
export const BUILTIN_CHAT_TEMPLATES: Readonly<Record<string, string>> = {
  chatml:
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
};

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Python's datetime.strftime in the C locale (English names), for the directives chat templates use. */
export function strftime(date: Date, format: string): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const startOfYear = new Date(date.getFullYear(), 0, 1);
  const dayOfYear = Math.floor((date.getTime() - startOfYear.getTime()) / 86_400_000) + 1;
  return format.replace(/%[a-zA-Z%]/g, (d) => {
    switch (d) {
      case '%Y':
        return String(date.getFullYear());
      case '%y':
        return pad(date.getFullYear() % 100);
      case '%m':
        return pad(date.getMonth() + 1);
      case '%d':
        return pad(date.getDate());
      case '%e':
        return String(date.getDate()).padStart(2, ' ');
      case '%B':
        return MONTHS[date.getMonth()];
      case '%b':
        return MONTHS[date.getMonth()].slice(0, 3);
      case '%A':
        return DAYS[date.getDay()];
      case '%a':
        return DAYS[date.getDay()].slice(0, 3);
      case '%H':
        return pad(date.getHours());
      case '%I':
        return pad(((date.getHours() + 11) % 12) + 1);
      case '%p':
        return date.getHours() < 12 ? 'AM' : 'PM';
      case '%M':
        return pad(date.getMinutes());
      case '%S':
        return pad(date.getSeconds());
      case '%j':
        return pad(dayOfYear, 3);
      case '%%':
        return '%';
      default:
        return d;
    }
  });
}

export interface RenderOptions {
  addGenerationPrompt?: boolean;
  /** The special-token variables (bos_token, eos_token, …): the tokenizer's templateTokens. */
  tokens?: Readonly<Record<string, string | string[]>>;
  /** What strftime_now reads as the time (tests pin it); the clock by default. */
  now?: () => Date;
}

/** A chat template, parsed once and rendered per conversation. */
export class ChatTemplate {
  private parsed: Template | undefined;
  private parseError: string | undefined;

  /** `name`: where it came from (`chatml`, a file, the model's tokenizer_config.json), for messages. */
  constructor(
    readonly source: string,
    readonly name: string,
  ) {}

  /** The rendered conversation; a template that raises or does not parse is a ChatTemplateError with its message. */
  render(messages: readonly unknown[], options: RenderOptions = {}): string {
    if (!this.parsed && this.parseError === undefined) {
      try {
        this.parsed = new Template(this.source);
      } catch (err) {
        this.parseError = `the chat template (${this.name}) does not parse: ${(err as Error).message}`;
      }
    }
    if (!this.parsed) throw new ChatTemplateError(this.parseError!);
    const now = options.now ?? (() => new Date());
    // Our own global scope rather than Template.render's: it declares raise_exception and strftime_now
    // itself and refuses a second declaration, and ours must raise ChatTemplateError and read `now`.
    const globals = new Environment();
    for (const [name, value] of Object.entries({ false: false, true: true, none: null, False: false, True: true, None: null })) globals.set(name, value);
    globals.set('range', pythonRange);
    globals.set('raise_exception', (message: unknown) => {
      throw new ChatTemplateError(String(message));
    });
    globals.set('strftime_now', (format: unknown) => strftime(now(), String(format)));
    const scope = new Environment(globals);
    for (const [name, value] of Object.entries(options.tokens ?? {})) scope.set(name, value);
    scope.set('messages', messages);
    // transformers passes tools=None and documents=None: `tools is none` holds in the template.
    scope.set('tools', null);
    scope.set('documents', null);
    scope.set('add_generation_prompt', options.addGenerationPrompt === true);
    try {
      return (new Interpreter(scope).run(this.parsed.parsed) as { value: string }).value;
    } catch (err) {
      throw err instanceof ChatTemplateError ? err : new ChatTemplateError((err as Error).message);
    }
  }
}

/** Python's str.strip / lstrip / rstrip: `chars` (a string) names the characters to remove, none: whitespace. */
function pythonStrip(value: string, chars: unknown, left: boolean, right: boolean): string {
  const strip = typeof chars === 'string' ? (c: string) => chars.includes(c) : (c: string) => /\s/u.test(c);
  const cps = [...value];
  let a = 0;
  let b = cps.length;
  if (left) while (a < b && strip(cps[a])) a++;
  if (right) while (b > a && strip(cps[b - 1])) b--;
  return cps.slice(a, b).join('');
}

/**
 * @huggingface/jinja 0.5.11's str.strip/lstrip/rstrip ignore their argument: Qwen3's template writes
 * `content.lstrip('\n')`, which in Python keeps a leading space that the library drops. Its string
 * methods are built per value by a getter on its StringValue class (not exported: reached through a value
 * the Environment makes), so that getter is wrapped once to give these three Python's meaning.
 */
function patchStringMethods(): void {
  const probe = new Environment();
  const str = probe.set('s', '') as unknown as object;
  const fn = probe.set('f', () => null) as unknown as object;
  type RuntimeArg = { value: unknown };
  const StringValue = str.constructor as new (value: string) => unknown;
  const FunctionValue = fn.constructor as new (call: (args: RuntimeArg[]) => unknown) => unknown;
  const proto = Object.getPrototypeOf(str) as object;
  const getter = Object.getOwnPropertyDescriptor(proto, 'builtins')?.get;
  const patched = new WeakSet<object>();
  if (!getter) return;
  Object.defineProperty(proto, 'builtins', {
    configurable: true,
    get(this: { value: string }) {
      const methods = getter.call(this) as Map<string, unknown>;
      if (!patched.has(methods)) {
        patched.add(methods);
        for (const [name, left, right] of [
          ['strip', true, true],
          ['lstrip', true, false],
          ['rstrip', false, true],
        ] as const) {
          methods.set(name, new FunctionValue((args) => new StringValue(pythonStrip(this.value, args[0]?.value, left, right))));
        }
      }
      return methods;
    },
  });
}
patchStringMethods();

/** Python's range(), as Jinja templates call it. */
function pythonRange(start: number, stop?: number, step = 1): number[] {
  const [from, to] = stop === undefined ? [0, start] : [start, stop];
  if (step === 0) throw new Error('range() arg 3 must not be zero');
  const out: number[] = [];
  for (let i = from; step > 0 ? i < to : i > to; i += step) out.push(i);
  return out;
}

/**
 * The template a run uses: `choice` (--chat-template) is a built-in name or a file (a .jinja template,
 * or a tokenizer_config.json whose chat_template is taken); without it, the model's own; undefined when
 * there is none (the plain chat format).
 */
export function resolveChatTemplate(choice: string | undefined, tokenizer: TextTokenizer): ChatTemplate | undefined {
  if (choice === undefined || choice === '')
    return tokenizer.chatTemplate === undefined ? undefined : new ChatTemplate(tokenizer.chatTemplate, "the model's chat template");
  if (Object.hasOwn(BUILTIN_CHAT_TEMPLATES, choice)) return new ChatTemplate(BUILTIN_CHAT_TEMPLATES[choice], choice);
  let text: string;
  try {
    text = fs.readFileSync(choice, 'utf8');
  } catch (err) {
    throw new ChatTemplateChoiceError(
      `--chat-template ${choice}: not a built-in template (${Object.keys(BUILTIN_CHAT_TEMPLATES).join(', ')}) nor a readable file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  if (choice.endsWith('.json')) {
    let template: unknown;
    try {
      const config = JSON.parse(text) as { chat_template?: unknown };
      template = config.chat_template;
      if (Array.isArray(template))
        template = (template.find((t) => (t as { name?: unknown })?.name === 'default') as { template?: unknown } | undefined)?.template;
    } catch (err) {
      throw new ChatTemplateChoiceError(`--chat-template ${choice}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof template !== 'string')
      throw new ChatTemplateChoiceError(`--chat-template ${choice}: it has no "chat_template" string (or a template named "default")`);
    return new ChatTemplate(template, choice);
  }
  return new ChatTemplate(text, choice);
}

/** A [start, end) range of the rendered text (UTF-16 offsets) whose tokens are trained. */
export interface TrainedSpan {
  start: number;
  end: number;
  /** The assistant message it trains (0-based index in `messages`). */
  message: number;
}

const contentText = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));

/** Where `content` is in `text` at or after `from` (the template may trim it); -1 when it is not. */
function findContent(text: string, content: string, from: number): { at: number; length: number } | undefined {
  if (content === '') return { at: from, length: 0 };
  const at = text.indexOf(content, from);
  if (at >= 0) return { at, length: content.length };
  const trimmed = content.trim();
  if (trimmed !== '' && trimmed !== content) {
    const t = text.indexOf(trimmed, from);
    if (t >= 0) return { at: t, length: trimmed.length };
  }
  return undefined;
}

/** The end of the first of `specials` that begins at or after `from` in `text`, or undefined. */
function firstSpecialEnd(text: string, specials: readonly string[], from: number): number | undefined {
  let best: number | undefined;
  let bestEnd = 0;
  for (const s of specials) {
    const at = text.indexOf(s, from);
    if (at >= 0 && (best === undefined || at < best || (at === best && at + s.length > bestEnd))) {
      best = at;
      bestEnd = at + s.length;
    }
  }
  return best === undefined ? undefined : bestEnd;
}

/** R = render(messages) and the trained spans of its assistant messages, by the rule at the top of this file. */
export function trainedSpans(
  messages: readonly unknown[],
  template: ChatTemplate,
  tokenizer: TextTokenizer,
  options: Omit<RenderOptions, 'addGenerationPrompt' | 'tokens'> = {},
): { text: string; spans: TrainedSpan[] } {
  const render = (ms: readonly unknown[], addGenerationPrompt: boolean) =>
    template.render(ms, { ...options, addGenerationPrompt, tokens: tokenizer.templateTokens });
  const text = render(messages, false);
  const specials = tokenizer.addedTokens.filter((t) => t.special && t.content !== '').map((t) => t.content);
  const spans: TrainedSpan[] = [];
  let previousEnd = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as { role?: unknown; content?: unknown } | null;
    if (!m || typeof m !== 'object' || m.role !== 'assistant') continue;
    const content = contentText(m.content);
    const prompt = render(messages.slice(0, i), true);
    let start: number;
    if (text.startsWith(prompt) && prompt.length >= previousEnd) start = prompt.length;
    else {
      const found = findContent(text, content, previousEnd);
      if (!found) throw new ChatTemplateError(`the rendered conversation does not hold assistant message ${i + 1}'s content (the template changes it)`);
      start = found.at;
    }
    // The content as rendered may differ (Qwen3 moves a think block): then the turn ends at the first
    // special token after the start.
    const found = findContent(text, content, start);
    const contentEnd = found ? found.at + found.length : start;
    const end = firstSpecialEnd(text, specials, contentEnd) ?? contentEnd;
    spans.push({ start, end, message: i });
    previousEnd = end;
  }
  return { text, spans };
}

/** A record as the trainer sees it: its tokens, which are trained, and what the previews show. */
export interface RecordTokens {
  /** The text the ids are the tokens of: the rendered conversation, or the formatted prompt and target. */
  text: string;
  ids: number[];
  /** Per token: whether the loss is taken on predicting it. */
  lossMask: boolean[];
  /** Each token's UTF-8 byte range in `text` when known (chat templates); for showing the trained text. */
  offsets?: [number, number][];
  /** The trained spans of a chat record (UTF-16 offsets in `text`). */
  spans?: TrainedSpan[];
  /** Longer than the maximum length and cut (the start is kept). */
  truncated: boolean;
  /** The cut removed tokens that would have been trained (part of an assistant turn). */
  targetTruncated: boolean;
  /** The chat template that rendered it, if any. */
  template?: string;
}

/**
 * The text of each run of equally-trained tokens, in order: by byte offsets when known, else decoded run by
 * run. What `preview` prints and the editor's hover and Preview Dataset show.
 */
export function trainedRuns(tokens: RecordTokens, tokenizer: TextTokenizer): { text: string; trained: boolean }[] {
  const runs: { text: string; trained: boolean }[] = [];
  const bytes = tokens.offsets ? Buffer.from(tokens.text, 'utf8') : undefined;
  let k = 0;
  while (k < tokens.ids.length) {
    const trained = tokens.lossMask[k];
    let j = k;
    while (j < tokens.ids.length && tokens.lossMask[j] === trained) j++;
    // A run's bytes end where the next run's begin, so text between tokens (none for byte-level BPE) is kept.
    const text =
      bytes && tokens.offsets
        ? bytes.subarray(tokens.offsets[k][0], j < tokens.ids.length ? tokens.offsets[j][0] : tokens.offsets[j - 1][1]).toString('utf8')
        : tokenizer.decode(tokens.ids.slice(k, j));
    runs.push({ text, trained });
    k = j;
  }
  return runs;
}

export interface TokenizeRecordOptions {
  trainOnPrompt?: boolean;
  maxLength?: number;
  /** The chat template for chat records (resolveChatTemplate); undefined: the plain chat format. */
  chatTemplate?: ChatTemplate;
  /** The prompt template of alpaca records (promptFormat's `template`). */
  promptTemplate?: string;
  now?: () => Date;
}

/** Byte offset in `text`'s UTF-8 of each UTF-16 offset in `at` (ascending or not). */
function byteOffsets(text: string, at: readonly number[]): number[] {
  return at.map((i) => Buffer.byteLength(text.slice(0, i), 'utf8'));
}

/** A chat record's tokens through its template (ChatTemplateError when the template rejects it). */
export function tokenizeChat(
  messages: readonly unknown[],
  tokenizer: TextTokenizer,
  template: ChatTemplate,
  options: TokenizeRecordOptions = {},
): RecordTokens {
  const { text, spans } = trainedSpans(messages, template, tokenizer, { now: options.now });
  const { ids, offsets } = tokenizer.encodeWithOffsets(text);
  const bytes = byteOffsets(
    text,
    spans.flatMap((s) => [s.start, s.end]),
  );
  const inSpan = ([a, b]: [number, number]) => {
    for (let s = 0; s < bytes.length; s += 2) {
      const [start, end] = [bytes[s], bytes[s + 1]];
      if (a < b ? start <= a && b <= end : start <= a && a < end) return true;
    }
    return false;
  };
  const spanMask = offsets.map(inSpan);
  let lossMask = options.trainOnPrompt === true ? offsets.map(() => true) : spanMask;
  const max = options.maxLength === undefined ? undefined : Math.max(0, options.maxLength);
  const truncated = max !== undefined && ids.length > max;
  const targetTruncated = truncated && spanMask.slice(max).some(Boolean);
  let keptIds = ids;
  let keptOffsets = offsets;
  if (truncated) {
    keptIds = ids.slice(0, max);
    keptOffsets = offsets.slice(0, max);
    lossMask = lossMask.slice(0, max);
  }
  return { text, ids: keptIds, lossMask, offsets: keptOffsets, spans, truncated, targetTruncated, template: template.name };
}

/**
 * Any record's tokens and loss mask: chat records through `chatTemplate` when there is one, everything
 * else (and chat records without a template) through the plain formatter. Throws ChatTemplateError for a
 * record the template rejects.
 */
export function tokenizeRecord(record: unknown, format: DatasetFormat, tokenizer: TextTokenizer, options: TokenizeRecordOptions = {}): RecordTokens {
  const messages = (record as { messages?: unknown } | null)?.messages;
  if (format === 'chat' && options.chatTemplate && Array.isArray(messages)) return tokenizeChat(messages, tokenizer, options.chatTemplate, options);
  const formatted = formatRecord(record, format, { template: options.promptTemplate });
  const t = tokenizeExample(formatted, tokenizer, { trainOnPrompt: options.trainOnPrompt, maxLength: options.maxLength });
  return {
    // Decoded only when asked (the previews): the trainer tokenizes every record and needs none.
    get text() {
      return tokenizer.decode(t.ids);
    },
    ids: t.ids,
    lossMask: t.lossMask,
    truncated: t.truncated,
    // The target and the end-of-text token close the example: any cut takes part of them.
    targetTruncated: t.truncated,
  };
}
