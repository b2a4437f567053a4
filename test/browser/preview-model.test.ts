// The dataset preview in Debian's chromium with a dataset model: a row rendered by the model's chat
// template shows its trained runs highlighted as <mark> text (dataset markup stays text, under the
// production CSP), the header names the model, and "Change Model…" posts the typed message.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostToWebview } from '../../protocol/preview';
import { startHarness, type Harness } from './harness';

let harness: Harness;
before(async () => {
  harness = await startHarness();
});
after(async () => {
  await harness?.close();
});

const HOSTILE = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>';

const page: HostToWebview = {
  type: 'page',
  file: 'chat.jsonl',
  uri: 'file:///ws/chat.jsonl',
  offset: 0,
  limit: 25,
  query: '',
  total: 2,
  statistics: null,
  model: { label: 'llama2-chat', origin: 'setting', statisticsInGpt2: true },
  rows: [
    {
      line: 0,
      format: 'chat',
      prompt: '',
      target: '',
      truncated: false,
      promptTokens: 9,
      targetTokens: 4,
      totalTokens: 13,
      lossTokens: 4,
      template: "the model's chat template",
      rendered: [
        { text: `<s>[INST] ${HOSTILE} [/INST]`, trained: false },
        { text: ' Hello! </s>', trained: true },
      ],
    },
    {
      line: 1,
      prompt: '',
      target: '',
      truncated: false,
      promptTokens: 0,
      targetTokens: 0,
      totalTokens: 0,
      lossTokens: 0,
      error: 'the chat template rejects this record',
    },
  ],
};

test('the trained run is highlighted, the record markup stays text, and Change Model… posts chooseModel', async () => {
  const p = await harness.open('preview');
  try {
    await p.send(page);
    const row = p.page.locator('tr[data-line="1"]');
    await row.waitFor();
    assert.deepEqual(await row.locator('mark.trained').allTextContents(), [' Hello! </s>']);
    assert.equal(await row.locator('pre.rendered').textContent(), `<s>[INST] ${HOSTILE} [/INST] Hello! </s>`);
    assert.equal(await p.page.locator('tr[data-line] img, tr[data-line] script').count(), 0, 'no element was made from the record');
    assert.equal(await p.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? null), null);
    assert.match((await row.locator('td').last().textContent()) ?? '', /13 total4 trained/);
    assert.equal(await p.page.locator('#model').textContent(), 'Model: llama2-chat (setting)');
    assert.match((await p.page.locator('tr[data-line="2"]').textContent()) ?? '', /rejects this record/);
    await p.page.locator('#choose-model').click();
    await p.page.waitForFunction(() => (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'chooseModel'));
    const posted = (await p.posted()) as { type: string }[];
    assert.deepEqual(
      posted.filter((m) => m.type === 'chooseModel'),
      [{ type: 'chooseModel' }],
    );
    assert.deepEqual(p.problems, []);
  } finally {
    await p.close();
  }
});
