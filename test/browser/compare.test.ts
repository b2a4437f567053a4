// The compare-runs view in Debian's chromium: the chapter's "Full vs LoRA" comparison from two recorded
// GPT-2-small runs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { recordedRun } from './fixtures/streams';
import { paintedPixels, screenshotPath, startHarness, type Harness } from './harness';

let harness: Harness;
before(async () => {
  harness = await startHarness();
});
after(async () => {
  await harness?.close();
});

interface CompareDebug {
  draws: number;
  points: number;
  series: number;
  runs: number;
}

const compareDebug = (page: Page) => page.evaluate(() => ({ ...(window as unknown as { __compare: CompareDebug }).__compare, chart: undefined }));

test('full vs LoRA: both runs draw their curves and the table measures both', async () => {
  const p = await harness.open('compare');
  try {
    const { page, send } = p;
    assert.deepEqual(await p.posted(), [{ type: 'ready' }]);
    const full = recordedRun({ strategy: 'full', steps: 300, evalEvery: 50 });
    const lora = recordedRun({ strategy: 'lora', steps: 300, evalEvery: 50 });
    await send({
      type: 'runs',
      runs: [
        { id: 'run-full', label: 'full', events: full },
        { id: 'run-lora', label: 'lora r=8', events: lora },
      ],
    });
    await page.waitForFunction(() => {
      const d = (window as unknown as { __compare: CompareDebug }).__compare;
      return d.series === 4 && d.points === 300;
    });
    const d = await compareDebug(page);
    assert.equal(d.runs, 2);
    assert.ok((await paintedPixels(page, '#compare-chart')) > 3000, 'the overlay chart has drawn lines');
    const legend = await page.locator('#compare-chart .u-legend').textContent();
    for (const label of ['full train', 'full eval', 'lora r=8 train', 'lora r=8 eval']) assert.ok(legend?.includes(label), `legend shows ${label}`);

    const rows = await page.$$eval('#compare-table tbody tr', (trs) => trs.map((tr) => Array.from(tr.children, (c) => c.textContent)));
    assert.equal(rows.length, 2);
    const [fullRow, loraRow] = rows;
    assert.deepEqual(fullRow.slice(0, 5), ['full', 'completed', 'full', '124,439,808', '100.00%']);
    assert.deepEqual(loraRow.slice(0, 5), ['lora r=8', 'completed', 'lora', '294,912', '0.24%']);
    // Memory: LoRA keeps no gradients or optimizer state for the frozen weights.
    const bytes = (s: string | null) => {
      const [v, unit] = (s ?? '').split(' ');
      return Number(v) * 1024 ** ['B', 'KiB', 'MiB', 'GiB'].indexOf(unit);
    };
    assert.ok(bytes(loraRow[5]) < bytes(fullRow[5]), `LoRA memory ${loraRow[5]} < full ${fullRow[5]}`);
    const doneOf = (events: typeof full) => events.find((e) => e.type === 'done')!;
    const fullDone = doneOf(full);
    const loraDone = doneOf(lora);
    assert.ok(fullDone.type === 'done' && loraDone.type === 'done');
    assert.equal(fullRow[8], String(Number(fullDone.finalLoss!.toPrecision(4))));
    assert.equal(loraRow[9], String(Number(loraDone.bestEvalLoss!.toPrecision(4))));
    const mean = (events: typeof full) => {
      const steps = events.filter((e) => e.type === 'step');
      return steps.reduce((a, e) => a + (e.type === 'step' ? e.tokensPerSec : 0), 0) / steps.length;
    };
    assert.equal(fullRow[7], `${Math.round(mean(full))} tok/s`);
    assert.equal(loraRow[7], `${Math.round(mean(lora))} tok/s`);
    // The lower best eval loss is marked.
    const best = await page.$$eval('#compare-table td.best', (tds) => tds.map((t) => t.textContent));
    assert.equal(best.length, 1);
    await page.screenshot({ path: screenshotPath('compare.png'), fullPage: true });
  } finally {
    await p.close();
  }
  assert.deepEqual(p.problems, []);
});

test('run labels with markup show as text, and a run without steps does not break the overlay', async () => {
  const p = await harness.open('compare');
  try {
    const { page, send } = p;
    const label = '<img src=x onerror=alert(1)>';
    const started = recordedRun({ strategy: 'lora', steps: 10, live: true }).filter((e) => e.type !== 'step' && e.type !== 'eval');
    await send({
      type: 'runs',
      runs: [
        { id: 'a', label, events: recordedRun({ strategy: 'full', steps: 40 }) },
        { id: 'b', label: 'waiting', events: started },
      ],
    });
    await page.waitForFunction(() => (window as unknown as { __compare: CompareDebug }).__compare.points === 40);
    const rows = await page.$$eval('#compare-table tbody tr', (trs) => trs.map((tr) => tr.children[0].textContent));
    assert.deepEqual(rows, [label, 'waiting']);
    assert.ok((await page.locator('#title').textContent())?.includes(label));
    assert.equal(await page.locator('img').count(), 0);
    assert.ok((await paintedPixels(page, '#compare-chart')) > 1000);
  } finally {
    await p.close();
  }
  assert.deepEqual(p.problems, []);
});
