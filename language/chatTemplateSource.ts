// Where a model keeps its chat template, as transformers reads it: `chat_template.jinja` beside the
// tokenizer files wins over tokenizer_config.json's `chat_template` (a string, or a list of named
// templates of which `default` is taken). Kept apart from the tokenizer and the renderer so that the
// quick pick can ask "does this model have a template?" without loading either library.

/** The file that, when present, is the model's chat template. */
export const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** tokenizer_config.json's template: its `chat_template` string, or the entry named `default` of a list. */
export function chatTemplateOf(config: Record<string, unknown>): string | undefined {
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((e) => isPlainObject(e) && e.name === 'default');
    return isPlainObject(named) && typeof named.template === 'string' ? named.template : undefined;
  }
  return undefined;
}
