// The training panel's classification and Try It parts in Debian's chromium: eval accuracy (header fact,
// curve, per-class table) from a classification-head run, and the Try It box of a finished run driven
// with stubbed host answers.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { recordedRun } from './fixtures/streams';
import { paintedPixels, screenshotPath, startHarness, type Harness, type PanelPage } from './harness';
import type { TrainerEvent } from '../../protocol/trainer';

let harness: Harness;
before(async () => {
  harness = await startHarness();
});
after(async () => {
  await harness?.close();
});

async function withPanel(fn: (p: PanelPage) => Promise<void>): Promise<void> {
  const p = await harness.open('run');
  try {
    await fn(p);
    await p.posted();
  } finally {
    await p.close();
  }
  assert.deepEqual(p.problems, [], 'no CSP violation, console error, page error or dialog');
}

const text = (page: Page, selector: string) => page.locator(selector).first().textContent();
const XSS = '<img src=x onerror=alert(1)><script>alert(2)</script>';

/** A classification-head run: evals every 10 steps carry accuracy and per-class counts. */
function classificationRun(steps: number, labels: string[]): TrainerEvent[] {
  const events = recordedRun({ strategy: 'full', steps, evalEvery: 10 });
  let k = 0;
  return events.map((e) => {
    if (e.type === 'start')
      return { ...e, config: { ...e.config, head: 'classification', numLabels: labels.length }, dataset: { ...e.dataset, format: 'classification' } };
    if (e.type !== 'eval') return e;
    k++;
    // Each label has 10 examples; label i gets min(10, k + i) right.
    const perClass = Object.fromEntries(labels.map((l, i) => [l, { correct: Math.min(10, k + i), total: 10 }]));
    const correct = Object.values(perClass).reduce((a, c) => a + c.correct, 0);
    return { ...e, accuracy: correct / (10 * labels.length), perClass };
  });
}

test('a classification run shows its eval accuracy, an accuracy curve and the per-class counts of the last eval', async () => {
  await withPanel(async ({ page, send }) => {
    const labels = ['positive', 'negative', XSS];
    const events = classificationRun(40, labels);
    await send({ type: 'events', events, reset: true });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'completed');
    await page.waitForFunction(() => !(document.getElementById('accuracy-card') as HTMLElement).hidden);
    const evals = events.filter((e): e is Extract<TrainerEvent, { type: 'eval' }> => e.type === 'eval');
    const last = evals.at(-1) as (typeof evals)[number] & { accuracy: number; perClass: Record<string, { correct: number; total: number }> };
    assert.equal(await text(page, '#fact-accuracy'), `${(100 * last.accuracy).toFixed(1)}%`);
    const rows = await page.$$eval('#per-class tbody tr', (trs) => trs.map((r) => Array.from(r.children, (c) => c.textContent)));
    const expected = labels.map((l) => [l, String(last.perClass[l].correct), '10', `${(10 * last.perClass[l].correct).toFixed(1)}%`]);
    const all = labels.reduce((a, l) => a + last.perClass[l].correct, 0);
    assert.deepEqual(rows, [...expected, ['All', String(all), '30', `${((100 * all) / 30).toFixed(1)}%`]]);
    assert.equal(await page.locator('#per-class img').count(), 0, 'a label with markup is text');
    assert.equal(await text(page, '#per-class-title'), `Per class at step ${last.step}`);
    await page.waitForFunction(() => (window as unknown as { __runPanel: { accuracyPoints: number } }).__runPanel.accuracyPoints > 0);
    assert.ok((await paintedPixels(page, '#accuracy-chart')) > 100, 'the accuracy curve is drawn');
    assert.equal(await page.locator('#try-it').isVisible(), false, 'a classification head does not generate text: no Try It');
    await page.screenshot({ path: screenshotPath('run-panel-accuracy.png'), fullPage: true });
  });
});

test('an LM run shows no accuracy card or fact', async () => {
  await withPanel(async ({ page, send }) => {
    await send({ type: 'events', events: recordedRun({ strategy: 'lora', steps: 30, evalEvery: 10 }), reset: true });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'completed');
    assert.equal(await page.locator('#accuracy-card').isVisible(), false);
    assert.equal(await page.locator('#fact-accuracy').isVisible(), false);
  });
});

test('Try It appears only once the run has finished with an output, posts tryIt and shows the answer as text', async () => {
  await withPanel(async ({ page, send, posted }) => {
    const events = recordedRun({ strategy: 'lora', steps: 30 });
    const doneAt = events.findIndex((e) => e.type === 'done');
    await send({ type: 'events', events: events.slice(0, doneAt), reset: true });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'running');
    assert.equal(await page.locator('#try-it').isVisible(), false, 'no Try It while the run trains');
    await send({ type: 'events', events: events.slice(doneAt) });
    await page.waitForFunction(() => !(document.getElementById('try-it') as HTMLElement).hidden);
    assert.match((await page.locator('#try-prompt').getAttribute('placeholder'))!, /instruction/i, 'the placeholder follows the alpaca format');

    await page.locator('#try-prompt').fill('Name three colours.');
    await page.locator('#try-max-tokens').fill('12');
    await page.locator('#try-temperature').fill('0');
    await page.locator('#try-generate').click();
    await page.waitForFunction(() => document.getElementById('try-generate')?.textContent === 'Generating…');
    await page.locator('#try-generate').click({ force: true });
    const tries = (await posted()).filter((m) => (m as { type: string }).type === 'tryIt');
    assert.deepEqual(tries, [{ type: 'tryIt', prompt: 'Name three colours.', maxNewTokens: 12, temperature: 0 }], 'one request while one is pending');

    const formatted = '### Instruction:\nName three colours.\n\n### Response:\n';
    const speed = `4 tokens; 12-token prompt prefilled in 30 ms, decoding at 55.0 tokens/s ${XSS}`;
    await send({ type: 'tryItResult', text: `Red, green and ${XSS}`, prompt: formatted, speed });
    await page.waitForFunction(() => !(document.getElementById('try-result') as HTMLElement).hidden);
    assert.equal(await text(page, '#try-output'), `Red, green and ${XSS}`);
    assert.equal(await text(page, '#try-speed'), speed, "the generator's speed line, as text");
    assert.equal(await page.locator('#try-formatted').evaluate((e) => e.textContent), formatted);
    assert.equal(await page.locator('#try-result img').count(), 0, 'generated markup is text');
    assert.equal(await text(page, '#try-generate'), 'Generate');

    await page.locator('#try-generate').click();
    await send({ type: 'tryItError', message: `the generator exited with code 1 ${XSS}` });
    await page.waitForFunction(() => !(document.getElementById('try-error') as HTMLElement).hidden);
    assert.equal(await text(page, '#try-error'), `the generator exited with code 1 ${XSS}`);
    assert.equal(await page.locator('#try-error img').count(), 0);

    await page.locator('#try-temperature').fill('0.8');
    await page.locator('#try-top-k').fill('40');
    await page.locator('#try-top-p').fill('0.9');
    await page.locator('#try-generate').click();
    const sampled = (await posted()).filter((m) => (m as { type: string }).type === 'tryIt').at(-1);
    assert.deepEqual(
      sampled,
      { type: 'tryIt', prompt: 'Name three colours.', maxNewTokens: 12, temperature: 0.8, topK: 40, topP: 0.9 },
      'the cuts go with the request',
    );
    await send({ type: 'tryItResult', text: 'Blue.', prompt: formatted, speed });
    await page.waitForFunction(() => document.getElementById('try-generate')?.textContent === 'Generate');
    await page.screenshot({ path: screenshotPath('run-panel-try-it.png'), fullPage: true });
  });
});

test('Try It checks its numbers before asking the host, and a resumed run hides it again', async () => {
  await withPanel(async ({ page, send, posted }) => {
    const events = recordedRun({ strategy: 'full', steps: 20 });
    await send({ type: 'events', events, reset: true });
    await page.waitForFunction(() => !(document.getElementById('try-it') as HTMLElement).hidden);
    await page.locator('#try-max-tokens').fill('0');
    await page.locator('#try-generate').click();
    assert.match((await text(page, '#try-error'))!, /Max new tokens must be a whole number from 1/);
    assert.deepEqual(
      (await posted()).filter((m) => (m as { type: string }).type === 'tryIt'),
      [],
    );

    // Resume appends a second start: the run is running again, with the steps after the checkpoint.
    const start = events.find((e) => e.type === 'start')!;
    const step = events.filter((e) => e.type === 'step').at(-1)!;
    await send({
      type: 'events',
      events: [
        { ...start, time: start.time + 1e6, resumedFrom: 10 },
        { ...step, step: 11 },
      ],
    });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'running');
    assert.equal(await page.locator('#try-it').isVisible(), false);
    assert.equal(await text(page, '#fact-step'), '11 / 20');
  });
});

test('a stopped run with a checkpoint offers Resume, which posts resume; a completed run does not', async () => {
  await withPanel(async ({ page, send, posted }) => {
    const events = recordedRun({ strategy: 'lora', steps: 30 });
    const done = events.find((e) => e.type === 'done')!;
    await send({ type: 'events', events, reset: true });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'completed');
    assert.equal(await page.locator('#resume').isVisible(), false, 'a completed run is finished');
    const stopped = [
      ...events.filter((e) => e.type !== 'done' && e.type !== 'checkpoint'),
      { ...done, status: 'stopped', checkpoint: '/r/checkpoints/step-30' },
    ];
    await send({ type: 'events', events: stopped, reset: true });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'stopped');
    assert.equal(await page.locator('#resume').isVisible(), true);
    await page.locator('#resume').click();
    assert.deepEqual(
      (await posted()).filter((m) => (m as { type: string }).type === 'resume'),
      [{ type: 'resume' }],
    );
  });
});
