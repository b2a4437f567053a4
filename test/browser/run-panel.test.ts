// The training panel in Debian's chromium, loaded in its production HTML shell and CSP, fed recorded
// trainer event streams the way the run manager feeds it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { recordedRun } from './fixtures/streams';
import { paintedPixels, screenshotPath, startHarness, type Harness, type PanelPage } from './harness';
import { formatBytes } from '../../webview/common/format';
import type { TrainerEvent } from '../../protocol/trainer';

let harness: Harness;
before(async () => {
  harness = await startHarness();
});
after(async () => {
  await harness?.close();
});

interface PanelDebug {
  renders: number;
  lossDraws: number;
  lossDrawnAt: number;
  lossPoints: number;
  lrPoints: number;
  model: { smoothing: number; rows: number; status: string };
}

async function withPanel(fn: (p: PanelPage) => Promise<void>, state?: unknown): Promise<void> {
  const p = await harness.open('run', { state });
  try {
    await fn(p);
    await p.posted();
  } finally {
    await p.close();
  }
  assert.deepEqual(p.problems, [], 'no CSP violation, console error, page error or dialog');
}

const debug = (page: Page) =>
  page.evaluate(() => {
    const d = (window as unknown as { __runPanel: PanelDebug }).__runPanel;
    return {
      renders: d.renders,
      lossDraws: d.lossDraws,
      lossDrawnAt: d.lossDrawnAt,
      lossPoints: d.lossPoints,
      lrPoints: d.lrPoints,
      smoothing: d.model.smoothing,
      rows: d.model.rows,
      status: d.model.status,
    };
  });

async function waitForPoints(page: Page, n: number): Promise<void> {
  await page.waitForFunction((k) => (window as unknown as { __runPanel: PanelDebug }).__runPanel.lossPoints === k, n, { timeout: 10_000 });
}

const text = (page: Page, selector: string) => page.locator(selector).first().textContent();

test('a finished GPT-2-small LoRA run draws its charts and the exact parameter breakdown', async () => {
  await withPanel(async ({ page, send }) => {
    const events = recordedRun({ strategy: 'lora', steps: 600, evalEvery: 100, tasks: ['qa', 'summarize'] });
    await send({ type: 'events', events, reset: true });
    await waitForPoints(page, 600);
    const d = await debug(page);
    assert.equal(d.lrPoints, 600);
    assert.ok((await paintedPixels(page, '#loss-chart')) > 2000, 'the loss chart canvas has drawn lines');
    assert.ok((await paintedPixels(page, '#lr-chart')) > 500, 'the learning-rate chart canvas has drawn a line');

    assert.equal(await text(page, '#chapter-line'), 'Trainable: 294,912, Total: 124,734,720, Ratio: 0.24%');
    assert.equal(await text(page, '#peft-line'), 'trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364');
    const groups = await page.$$eval('#groups tbody tr', (rows) => rows.map((r) => Array.from(r.children, (c) => c.textContent)));
    assert.deepEqual(
      groups.find((r) => r[0] === 'lora'),
      ['lora', '294,912', '294,912', '100.0%'],
    );
    assert.deepEqual(
      groups.find((r) => r[0] === 'attn'),
      ['attn', '28,348,416', '0', '0.0%'],
    );
    assert.deepEqual(groups.at(-1), ['Total', '124,734,720', '294,912', '0.24%']);
    // Bars from the module groups: embeddings, 12 blocks, ln_f and the LoRA weights.
    const layerNames = await page.$$eval('#layers > span.mono', (s) => s.map((x) => x.textContent));
    assert.deepEqual(layerNames, ['embeddings', ...Array.from({ length: 12 }, (_, i) => `h.${i}`), 'ln_f', 'lora']);

    const memory = events.find((e) => e.type === 'memory')!;
    const memoryRows = await page.$$eval('#memory-table tr', (rows) => rows.map((r) => Array.from(r.children, (c) => c.textContent)));
    assert.deepEqual(memoryRows.at(-1)?.slice(0, 2), ['Total', formatBytes(memory.total)]);
    assert.equal(memoryRows.length, 5);

    assert.equal(await text(page, '#status'), 'completed');
    assert.equal(await text(page, '#fact-step'), '600 / 600');
    assert.equal(await text(page, '#fact-strategy'), 'LoRA r=8 α=16 (c_attn)');
    assert.equal(await text(page, '#fact-backend'), 'tensorflow / cpu (2 threads)');
    assert.ok(await page.locator('#stop').evaluate((b) => (b as HTMLElement & { disabled: boolean }).disabled), 'Stop is disabled once the run is over');
    const legend = await page.locator('#loss-chart .u-legend').textContent();
    for (const label of ['train', 'train (smoothed)', 'eval', 'task qa', 'task summarize']) assert.ok(legend?.includes(label), `legend shows ${label}`);
    const config = await page.$$eval('#config-table tr', (rows) => Object.fromEntries(rows.map((r) => [r.children[0].textContent, r.children[1].textContent])));
    assert.equal(config.strategy, 'lora');
    assert.equal(config.loraTargets, '["c_attn"]');
    await page.screenshot({ path: screenshotPath('run-panel.png'), fullPage: true });
  });
});

test('the per-layer breakdown, when the trainer sends it, draws frozen, trainable and added parts per block', async () => {
  await withPanel(async ({ page, send }) => {
    await send({ type: 'events', events: recordedRun({ strategy: 'lora', steps: 20, perLayer: true }), reset: true });
    await waitForPoints(page, 20);
    const rows = await page.$$eval('#layers > div', (cells) =>
      cells.map((cell) => Array.from(cell.querySelectorAll('.seg'), (s) => ({ cls: s.className, width: (s as HTMLElement).getBoundingClientRect().width }))),
    );
    const names = await page.$$eval('#layers > span.mono', (s) => s.map((x) => x.textContent));
    assert.deepEqual(names, ['embeddings', ...Array.from({ length: 12 }, (_, i) => `h.${i}`), 'ln_f']);
    const block = rows[1];
    assert.ok(block.find((s) => s.cls.includes('frozen'))!.width > 50, 'a block is mostly frozen');
    assert.ok(block.find((s) => s.cls.includes('added'))!.width >= 2, 'its LoRA weights are visible');
    assert.equal(block.find((s) => s.cls.includes('trainable'))!.width, 0);
  });
});

test('the status follows the events: running while steps arrive, completed after done', async () => {
  await withPanel(async ({ page, send }) => {
    const events = recordedRun({ strategy: 'full', steps: 50, evalEvery: 10 });
    const doneAt = events.findIndex((e) => e.type === 'checkpoint');
    await send({ type: 'events', events: events.slice(0, 20), reset: true });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'running');
    assert.equal(await page.locator('#stop').evaluate((b) => (b as HTMLElement & { disabled: boolean }).disabled), false, 'Stop is enabled while running');
    assert.notEqual(await text(page, '#fact-eta'), '—');
    await send({ type: 'events', events: events.slice(20, doneAt) });
    await send({ type: 'events', events: events.slice(doneAt) });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'completed');
    assert.equal(await page.locator('#error').isVisible(), false);
    assert.equal(await text(page, '#fact-step'), '50 / 50');
    assert.equal(await text(page, '#fact-output'), '/workspace/.finetune/runs/full-run/output');
  });
});

test('a failed run shows failed and its error message', async () => {
  await withPanel(async ({ page, send }) => {
    const message = 'loss is NaN at step 37; the run stopped. Try a lower --lr (now 0.0002)';
    await send({ type: 'events', events: recordedRun({ strategy: 'lora', steps: 100, failAt: { step: 37, message } }), reset: true });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'failed');
    assert.ok(await page.locator('#error').isVisible());
    assert.ok((await text(page, '#error'))?.startsWith(message));
    assert.equal(await text(page, '#fact-step'), '37 / 100');
    await page.screenshot({ path: screenshotPath('run-panel-failed.png'), fullPage: false });
  });
});

test('a trainer that died without done is shown failed with the host message', async () => {
  await withPanel(async ({ page, send }) => {
    await send({ type: 'events', events: recordedRun({ strategy: 'full', steps: 30, live: true }), reset: true });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'running');
    await send({ type: 'status', status: 'failed', message: 'The trainer exited with code 137 without finishing (see the log).' });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'failed');
    assert.equal(await text(page, '#error'), 'The trainer exited with code 137 without finishing (see the log).');
  });
});

test('Stop, Open Output Folder and Open Log post their messages; Stop only once', async () => {
  await withPanel(async ({ page, send, posted }) => {
    assert.deepEqual(await posted(), [{ type: 'ready' }]);
    await send({ type: 'events', events: recordedRun({ strategy: 'lora', steps: 10, live: true }), reset: true });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'running');
    await page.locator('#stop').click();
    await page.waitForFunction(() => document.getElementById('stop')?.textContent === 'Stopping…');
    await page.locator('#stop').click({ force: true });
    await page.locator('#open-output').click();
    await page.locator('#open-log').click();
    assert.deepEqual(await posted(), [{ type: 'ready' }, { type: 'stop' }, { type: 'openOutput' }, { type: 'openLog' }]);
  });
});

/** Posts a 100,000-step stream generated in the page and returns the ms from posting to the first complete draw. */
async function timeLongRun(page: Page, as: 'backlog' | 'events'): Promise<number> {
  // The stream is made first, in its own task, so that making it (the host's work) is not timed.
  await page.evaluate((kind) => {
    const w = window as unknown as { FixtureStreams: { longRun(n: number): unknown[] }; __message: unknown };
    const events = w.FixtureStreams.longRun(100_000);
    w.__message =
      kind === 'backlog' ? { type: 'backlog', jsonl: events.map((e) => JSON.stringify(e)).join('\n') + '\n' } : { type: 'events', events, reset: true };
  }, as);
  await page.waitForTimeout(200);
  return page.evaluate(async () => {
    const w = window as unknown as { __runPanel: PanelDebug; __message: unknown };
    const t0 = performance.now();
    window.postMessage(w.__message, '*');
    w.__message = undefined;
    while (w.__runPanel.lossPoints !== 100_000 || w.__runPanel.lossDrawnAt < t0) await new Promise((r) => setTimeout(r, 5));
    return w.__runPanel.lossDrawnAt - t0;
  });
}

test('a 100,000-step backlog (events.jsonl text) renders within a second of being posted', async () => {
  await withPanel(async ({ page }) => {
    // Best of up to three backlogs (each replaces the last): other processes on a busy test machine
    // can stall any single attempt.
    const times: number[] = [];
    while (times.length < 3 && !(Math.min(...times) < 1000)) times.push(await timeLongRun(page, 'backlog'));
    const ms = Math.min(...times);
    console.log(`100,000 steps as a jsonl backlog: first complete draw ${times.map((t) => t.toFixed(0)).join(', ')} ms after posting`);
    assert.ok(ms < 1000, `drawn in ${ms.toFixed(0)} ms`);
    assert.ok((await paintedPixels(page, '#loss-chart')) > 2000);
    assert.equal(await text(page, '#fact-step'), '100,000 / 100,000');

    // Live steps on top of that history: each redraw (model to pixels) stays short.
    const frames = await page.evaluate(async () => {
      const w = window as unknown as { __runPanel: PanelDebug & { frameMs: number; renders: number } };
      const last = w.__runPanel.model as unknown as { lastStep: Record<string, unknown> };
      const base = { ...last.lastStep };
      const out: number[] = [];
      let renders = w.__runPanel.renders;
      const t0 = performance.now();
      for (let i = 1; performance.now() - t0 < 1500; i++) {
        window.postMessage({ type: 'events', events: [{ ...base, step: 100_000 + i, epoch: 3 + i / 1e5 }] }, '*');
        await new Promise((r) => setTimeout(r, 10));
        if (w.__runPanel.renders !== renders) {
          await new Promise((r) => setTimeout(r, 0));
          renders = w.__runPanel.renders;
          out.push(w.__runPanel.frameMs);
        }
      }
      return out.sort((a, b) => a - b);
    });
    const median = frames[Math.floor(frames.length / 2)];
    console.log(`live redraws over a 100,000-step history: ${frames.length}, median ${median.toFixed(1)} ms, max ${frames.at(-1)!.toFixed(1)} ms`);
    assert.ok(frames.length >= 5);
    assert.ok(median < 50, `median redraw ${median.toFixed(1)} ms`);
    await page.screenshot({ path: screenshotPath('run-panel-100k.png') });
  });
});

test('a 100,000-step stream posted as event objects renders too (the copy of 100,000 objects dominates)', async () => {
  await withPanel(async ({ page }) => {
    const ms = await timeLongRun(page, 'events');
    console.log(`100,000 steps as event objects: first complete draw ${ms.toFixed(0)} ms after posting`);
    assert.ok(ms < 5000, `drawn in ${ms.toFixed(0)} ms`);
  });
});

test('a flood of live batches redraws at most ~10 times a second', async () => {
  await withPanel(async ({ page, send }) => {
    await send({ type: 'events', events: recordedRun({ strategy: 'lora', steps: 1, live: true }).slice(0, 3), reset: true });
    const r = await page.evaluate(async () => {
      const w = window as unknown as { FixtureStreams: { longRun(n: number): { type: string }[] }; __runPanel: PanelDebug };
      const steps = w.FixtureStreams.longRun(20_000).filter((e) => e.type === 'step');
      const before = w.__runPanel.renders;
      const t0 = performance.now();
      // One message per step, as fast as the page can take them, for about 1.5 s.
      let i = 0;
      while (performance.now() - t0 < 1500 && i < steps.length) {
        window.postMessage({ type: 'events', events: [steps[i++]] }, '*');
        if (i % 20 === 0) await new Promise((res) => setTimeout(res, 0));
      }
      await new Promise((res) => setTimeout(res, 300));
      return { renders: w.__runPanel.renders - before, ms: performance.now() - t0, posted: i, points: w.__runPanel.lossPoints };
    });
    console.log(`${r.posted} live messages in ${r.ms.toFixed(0)} ms -> ${r.renders} redraws`);
    assert.ok(r.posted > 500, 'the flood was big');
    assert.ok(r.renders <= Math.ceil(r.ms / 100) + 2, `${r.renders} redraws in ${r.ms.toFixed(0)} ms`);
    assert.ok(r.renders >= 3, 'but it does keep redrawing while data arrives');
    assert.equal(r.points, r.posted, 'every step is drawn in the end');
  });
});

test('dataset, config, task and message text with markup shows as literal text', async () => {
  const script = '<script>alert(1)</script>';
  const img = '<img src=x onerror=alert(1)>';
  const events: TrainerEvent[] = recordedRun({
    strategy: 'lora',
    steps: 40,
    tasks: [img, 'qa'],
    data: `/data/${script}.jsonl`,
    model: img,
    logs: [`skipped line 3: ${img}`],
    failAt: { step: 40, message: `bad record ${script} ${img}` },
  });
  await withPanel(async ({ page, send }) => {
    await send({ type: 'events', events, reset: true });
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'failed');
    await page.waitForTimeout(150);
    assert.equal(await text(page, '#fact-dataset'), `/data/${script}.jsonl`);
    assert.equal(await text(page, '#fact-model'), img);
    assert.equal(await text(page, '#title'), `${img} · lora`);
    assert.ok((await text(page, '#error'))?.includes(`bad record ${script} ${img}`));
    assert.ok((await text(page, '#log'))?.includes(`skipped line 3: ${img}`));
    assert.ok((await page.locator('#loss-chart .u-legend').textContent())?.includes(`task ${img}`));
    const config = await page.$$eval('#config-table tr', (rows) => Object.fromEntries(rows.map((r) => [r.children[0].textContent, r.children[1].textContent])));
    assert.equal(config.data, `/data/${script}.jsonl`);
    assert.equal(config.model, img);
    // Nothing was created from the data: no <img> anywhere, only the page's own three scripts.
    assert.equal(await page.locator('img').count(), 0);
    assert.equal(await page.locator('script').count(), 3);
  });
});

test('UI choices survive a reload through setState; the data comes back from the backlog', async () => {
  await withPanel(async ({ page, send }) => {
    await send({ type: 'events', events: recordedRun({ strategy: 'lora', steps: 50 }), reset: true });
    await waitForPoints(page, 50);
    await page.locator('#smoothing').fill('0.9');
    await page.locator('#log-scale').click();
    await page.locator('#x-axis').evaluate((select) => {
      (select as HTMLElement & { value: string }).value = 'tokens';
      select.dispatchEvent(new Event('change'));
    });
    await page.waitForFunction(() => document.querySelector('#loss-chart .u-legend th')?.textContent === 'tokens');
    const state = await page.evaluate(() => (window as unknown as { __state: unknown }).__state);
    assert.deepEqual(state, { xAxis: 'tokens', smoothing: 0.9, log: true });
    assert.equal((await debug(page)).smoothing, 0.9);
  });
  await withPanel(
    async ({ page, send }) => {
      await send({ type: 'events', events: recordedRun({ strategy: 'lora', steps: 50 }), reset: true });
      await waitForPoints(page, 50);
      assert.equal((await debug(page)).smoothing, 0.9);
      assert.equal(await page.locator('#smoothing').inputValue(), '0.9');
      assert.equal(await page.locator('#log-scale').evaluate((c) => (c as HTMLElement & { checked: boolean }).checked), true);
      assert.equal(await page.locator('#loss-chart .u-legend th').first().textContent(), 'epoch');
      // A reset backlog replaces what was there.
      await send({ type: 'events', events: recordedRun({ strategy: 'full', steps: 30 }), reset: true });
      await waitForPoints(page, 30);
      assert.equal(await text(page, '#fact-strategy'), 'full');
    },
    { xAxis: 'epoch', smoothing: 0.9, log: true },
  );
});
