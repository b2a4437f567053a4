// The five record formats: their JSON Schemas (compiled once, lazily, with ajv), the keys that identify
// them, and the alias tables behind the quick fixes.
import type AjvClass from 'ajv';
import type { ValidateFunction } from 'ajv';
import type { DatasetFormat } from './types';
import { DATASET_FORMATS } from './types';
import alpacaSchema from './schemas/alpaca.schema.json';
import chatSchema from './schemas/chat.schema.json';
import completionSchema from './schemas/completion.schema.json';
import textSchema from './schemas/text.schema.json';
import classificationSchema from './schemas/classification.schema.json';

export const FORMAT_SCHEMAS: Record<DatasetFormat, object> = {
  alpaca: alpacaSchema,
  chat: chatSchema,
  completion: completionSchema,
  text: textSchema,
  classification: classificationSchema,
};

/** Each format's own keys (required first). `task` belongs to every format and identifies none. */
export const FORMAT_KEYS: Record<DatasetFormat, { required: readonly string[]; optional: readonly string[] }> = {
  alpaca: { required: ['instruction', 'output'], optional: ['input'] },
  chat: { required: ['messages'], optional: [] },
  completion: { required: ['prompt', 'completion'], optional: [] },
  text: { required: ['text'], optional: [] },
  classification: { required: ['text', 'label'], optional: [] },
};

export const CHAT_ROLES = ['system', 'user', 'assistant'] as const;

/**
 * Alias keys: a key commonly used by other tools for one of the format's fields. An unknown field that is
 * an alias gets a "Rename to ..." quick fix (and so does the missing field it stands for).
 * Maps, not objects: they are looked up with the user's keys, and a key like `constructor` or `__proto__`
 * must find nothing rather than Object.prototype's members.
 */
const aliasMap = <V extends string>(entries: Record<string, V>): ReadonlyMap<string, V> => new Map(Object.entries(entries));

export const KEY_ALIASES: Record<DatasetFormat, ReadonlyMap<string, string>> = {
  alpaca: aliasMap({
    response: 'output',
    answer: 'output',
    target: 'output',
    completion: 'output',
    reply: 'output',
    output_text: 'output',
    outputs: 'output',
    question: 'instruction',
    prompt: 'instruction',
    query: 'instruction',
    instructions: 'instruction',
    instruct: 'instruction',
    context: 'input',
    input_text: 'input',
    inputs: 'input',
  }),
  chat: aliasMap({ conversations: 'messages', conversation: 'messages', dialog: 'messages', dialogue: 'messages', turns: 'messages' }),
  completion: aliasMap({
    input: 'prompt',
    question: 'prompt',
    source: 'prompt',
    context: 'prompt',
    output: 'completion',
    response: 'completion',
    answer: 'completion',
    target: 'completion',
  }),
  text: aliasMap({ content: 'text', body: 'text', document: 'text', sentence: 'text' }),
  classification: aliasMap({
    sentence: 'text',
    content: 'text',
    input: 'text',
    document: 'text',
    labels: 'label',
    category: 'label',
    class: 'label',
    target: 'label',
    sentiment: 'label',
  }),
};

/** Aliases of a chat message's keys (ShareGPT writes {from, value}). */
export const MESSAGE_KEY_ALIASES: ReadonlyMap<string, string> = aliasMap({
  from: 'role',
  speaker: 'role',
  value: 'content',
  text: 'content',
  message: 'content',
});

/** Role spellings that mean one of the three roles; anything differing only in case maps too. */
export const ROLE_ALIASES: ReadonlyMap<string, (typeof CHAT_ROLES)[number]> = aliasMap({
  human: 'user',
  customer: 'user',
  person: 'user',
  prompter: 'user',
  usr: 'user',
  bot: 'assistant',
  gpt: 'assistant',
  model: 'assistant',
  ai: 'assistant',
  chatbot: 'assistant',
  agent: 'assistant',
  answer: 'assistant',
  sys: 'system',
  system_prompt: 'system',
  instruction: 'system',
});

export function roleFor(role: string): (typeof CHAT_ROLES)[number] | undefined {
  const lower = role.trim().toLowerCase();
  if ((CHAT_ROLES as readonly string[]).includes(lower)) return lower as (typeof CHAT_ROLES)[number];
  return ROLE_ALIASES.get(lower);
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The format whose keys the record has most of (its required keys all present breaks ties), or undefined
 * when it has none of any format's keys. `complete` says whether all of that format's required keys are there.
 */
export function bestFormat(record: object): { format: DatasetFormat | undefined; score: number; complete: boolean } {
  let best: DatasetFormat | undefined;
  let bestScore = 0;
  let bestComplete = false;
  for (const f of DATASET_FORMATS) {
    const { required, optional } = FORMAT_KEYS[f];
    let score = 0;
    let complete = true;
    for (const k of required) {
      if (hasOwn.call(record, k)) score++;
      else complete = false;
    }
    for (const k of optional) if (hasOwn.call(record, k)) score++;
    if (score > bestScore || (score === bestScore && score > 0 && complete && !bestComplete)) {
      best = f;
      bestScore = score;
      bestComplete = complete;
    }
  }
  return { format: best, score: bestScore, complete: bestComplete };
}

export function formatScore(record: object, format: DatasetFormat): number {
  const { required, optional } = FORMAT_KEYS[format];
  let score = 0;
  for (const k of required) if (hasOwn.call(record, k)) score++;
  for (const k of optional) if (hasOwn.call(record, k)) score++;
  return score;
}

// ajv is required on first use: clean records are proven valid by the byte scanner without it, and
// loading it costs 20-40 ms per thread.
let ajv: AjvClass | undefined;
const loadAjv = (): typeof AjvClass => (require('ajv') as { default: typeof AjvClass }).default;
const compiled = new Map<DatasetFormat, ValidateFunction>();

/** The compiled validator of a format's schema (compiled on first use, once per process). */
export function formatValidator(format: DatasetFormat): ValidateFunction {
  let v = compiled.get(format);
  if (!v) {
    ajv ??= new (loadAjv())({ allErrors: true, strict: true, allowUnionTypes: true });
    v = ajv.compile(FORMAT_SCHEMAS[format]);
    compiled.set(format, v);
  }
  return v;
}

const userCompiled = new WeakMap<object, ValidateFunction>();

/** The user's schema compiled once per schema object; draft 2020-12 schemas get Ajv2020. Throws on a bad schema. */
export function userSchemaValidator(schema: object): ValidateFunction {
  let v = userCompiled.get(schema);
  if (!v) {
    const draft = (schema as { $schema?: unknown }).$schema;
    const instance =
      typeof draft === 'string' && draft.includes('2020-12')
        ? new (require('ajv/dist/2020') as { default: typeof AjvClass }).default({ allErrors: true, strict: false })
        : new (loadAjv())({ allErrors: true, strict: false });
    try {
      v = instance.compile(schema);
    } catch (e) {
      throw new Error(`invalid JSON Schema: ${e instanceof Error ? e.message : String(e)}`);
    }
    userCompiled.set(schema, v);
  }
  return v;
}
