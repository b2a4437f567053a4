// The hover of a record as the dataset's model sees it: dataset text only inside a code block it cannot
// close (or escaped), the trained runs between ⟦ ⟧ on each of their lines, and the token counts; long
// renderings keep the head and the tail (where the trained turns are).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markTrained, modelHoverMarkdown, TRAINED_CLOSE, TRAINED_OPEN } from '../../extension/dataset/hoverMarkdown';
import type { ModelRecordView } from '../../extension/dataset/modelView';
import { cutRuns } from '../../extension/dataset/textRuns';

const view = (runs: ModelRecordView['runs'], extra: Partial<ModelRecordView> = {}): ModelRecordView => ({
  model: 'llama',
  format: 'chat',
  template: "the model's chat template",
  runs,
  totalTokens: 20,
  trainedTokens: 7,
  maxLength: 4096,
  truncated: false,
  targetTruncated: false,
  ...extra,
});

test('dataset text stays inside a fence longer than any backtick run in it, trained text marked', () => {
  const hostile = '```\n</code><img src=x onerror=alert(1)> [link](command:workbench.action.quit) **bold**\n````';
  const md = modelHoverMarkdown(
    view([
      { text: `<s>[INST] ${hostile} [/INST]`, trained: false },
      { text: ' Sure.\nDone </s>', trained: true },
    ]),
    'llama',
    'setting',
  );
  const block = /^(`{5,})text\n([\s\S]*?)\n\1$/m.exec(md);
  assert.ok(block, `a fence of 5+ backticks holds the rendering:\n${md}`);
  assert.equal(block[1].length, 5, 'one longer than the longest run (4) in the text');
  assert.equal(block[2], `<s>[INST] ${hostile} [/INST]${TRAINED_OPEN} Sure.${TRAINED_CLOSE}\n${TRAINED_OPEN}Done </s>${TRAINED_CLOSE}`);
  // Outside the block nothing of the record appears.
  const outside = md.replace(block[0], '');
  assert.ok(!outside.includes('<img') && !outside.includes('command:'), outside);
  assert.match(outside, /Tokens: total 20 · trained 7\n/);
});

test('a template error is shown escaped, and names that hold Markdown are escaped in the header', () => {
  const md = modelHoverMarkdown({ error: 'roles must alternate <b>[x](http://e)</b>' }, 'evil_[x](y)', 'setting');
  assert.ok(md.includes('**template-error**: roles must alternate \\<b\\>\\[x\\]\\(http\\://e\\)\\</b\\>'), md);
  assert.ok(md.includes('model evil\\_\\[x\\]\\(y\\)'), md);
});

test('the counts say when the maximum length cut trained text', () => {
  const md = modelHoverMarkdown(view([{ text: 'a', trained: true }], { truncated: true, targetTruncated: true, maxLength: 8 }), 'llama', 'last run');
  assert.match(md, /Tokens: total 20 · trained 7 · cut to the maximum length of 8, which cuts trained text/);
});

test('a long rendering keeps a quarter from the head and the rest from the tail, each run keeping its kind', () => {
  const runs = [
    { text: 'P'.repeat(1000), trained: false },
    { text: 'T'.repeat(300), trained: true },
  ];
  const cut = cutRuns(runs, 400);
  assert.deepEqual(
    cut.map((r) => [r.text[0], r.text.length, r.trained]),
    [
      ['P', 100, false],
      ['\n', '\n… 900 characters …\n'.length, false],
      ['T', 300, true],
    ],
  );
  assert.equal(markTrained(cut).endsWith(`${TRAINED_OPEN}${'T'.repeat(300)}${TRAINED_CLOSE}`), true);
  // Short ones are kept whole.
  assert.deepEqual(cutRuns(runs, 1300), runs);
});

test('a cut never splits a surrogate pair', () => {
  const emoji = '🤗'.repeat(50);
  for (const r of cutRuns(
    [
      { text: emoji, trained: false },
      { text: emoji, trained: true },
    ],
    41,
  )) {
    assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(r.text), JSON.stringify(r.text));
  }
});
