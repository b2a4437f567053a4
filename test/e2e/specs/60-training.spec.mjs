// Fine-tuning from the Explorer with the packaged extension: a tiny-preset run to completion, a run
// stopped from its panel, a run whose trainer is killed, then the Runs view and Compare Runs over them.
// The tests share the runs they start (in this order), so they run in file order.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { e2eTest, runIds, runsDir, tryItGenerate, until } from '../harness.mjs';

const runs = {};

/** Pids of trainer processes (dist/trainer.js) whose command line names `text` (a run folder). */
function trainerPids(text) {
  const pids = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmdline.some((a) => a.endsWith('trainer.js')) && cmdline.some((a) => a.includes(text))) pids.push(Number(pid));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

const events = (id) =>
  readFileSync(join(runsDir(), id, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

/** Right-click alpaca.jsonl -> Fine-tune…, Enter through the questions; returns the new run's id once its panel is the active tab. */
async function startRun(wb, valueFor) {
  const before = new Set(runIds());
  await wb.closeAllEditors();
  await wb.runCommand('View: Show Explorer');
  await wb.explorerContextMenu('alpaca.jsonl', 'Fine-tune…', { timeout: 60_000 });
  const titles = await wb.answerQuickInputs(valueFor);
  // Numbered steps "Fine-tune alpaca.jsonl (1/5): Base Model" … "(5/5): Batch Size" (strategy-specific ones are unnumbered).
  const numbered = titles.map((t) => /^Fine-tune alpaca\.jsonl \((\d+)\/(\d+)\): (.+)$/.exec(t)).filter(Boolean);
  assert.deepEqual(
    numbered.map((m) => Number(m[1])),
    numbered.map((_, i) => i + 1),
    JSON.stringify(titles),
  );
  assert.ok(
    numbered.every((m) => Number(m[2]) === numbered.length),
    JSON.stringify(titles),
  );
  for (const step of ['Base Model', 'Strategy', 'Epochs', 'Learning Rate', 'Batch Size'])
    assert.ok(
      numbered.some((m) => m[3] === step),
      `asked for ${step}: ${JSON.stringify(titles)}`,
    );
  const id = await until(() => runIds().find((r) => !before.has(r)), 'the new run folder');
  await wb.page.locator(`.tabs-container .tab[aria-label*="Training: ${id}"]`).waitFor({ timeout: 30_000 });
  return id;
}

/** The panel's step counter as numbers: "3 / 9" -> [3, 9]. */
async function stepOf(frame) {
  const m = /^([\d,]+)\s*\/\s*([\d,]+)$/.exec((await frame.locator('#fact-step').innerText()).trim());
  return m ? [Number(m[1].replace(/,/g, '')), Number(m[2].replace(/,/g, ''))] : [0, 0];
}

/** The first `n` words of a text: what a memorised answer must share with the record's output. */
const firstWords = (text, n) => text.trim().split(/\s+/).slice(0, n).join(' ');

e2eTest(
  'Fine-tune… on alpaca.jsonl with the tiny defaults shows live steps in its panel, ends completed with the model saved, and has learnt the sample',
  async (wb) => {
    // Earlier specs leave the Problems panel open (alone, this spec finds it closed): the training panel
    // gets the editor area's full height.
    if (await wb.page.locator('.part.panel').isVisible()) await wb.runCommand('View: Hide Panel');
    const startedAt = Date.now();
    const id = (runs.completed = await startRun(wb, () => undefined));
    const frame = wb.webviewFrame();
    const status = frame.locator('#status');
    // Live: while the badge says running, the step counter moves.
    const seen = new Set();
    await until(
      async () => {
        const text = (await status.textContent()).trim();
        if (text === 'running') {
          const [step, total] = await stepOf(frame);
          if (step > 0 && step < total) seen.add(step);
        }
        return text === 'completed' || text === 'failed' || text === 'stopped';
      },
      'the run to end',
      150_000,
    );
    assert.equal(
      (await status.textContent()).trim(),
      'completed',
      await frame
        .locator('#error')
        .innerText()
        .catch(() => ''),
    );
    assert.ok(seen.size >= 2, `the panel showed steps while running: ${[...seen]}`);
    const [step, total] = await stepOf(frame);
    assert.ok(total > 0 && step === total, `ended at ${step} / ${total}`);
    await wb.waitForNotification(new RegExp(`Training completed: ${id}`), 10_000);

    const output = join(runsDir(), id, 'output');
    for (const f of ['config.json', 'model.safetensors']) assert.ok(statSync(join(output, f)).size > 0, `${f} in ${output}`);
    const done = events(id).at(-1);
    assert.equal(done.type, 'done');
    assert.equal(done.status, 'completed');
    // The defaults train long enough to memorise the sample (PRESET_TRAIN_DEFAULTS in protocol/trainer.ts),
    // and still take about a minute: a flat curve near ln(50257) ≈ 10.8 would tell a new user nothing works.
    // Measured on 2 cores: 61 s alone, 91 s beside code-server and chromium, 136 s with a second test run on
    // the same cores; the bound is "about two minutes" with room for a slower or busier machine.
    const seconds = (Date.now() - startedAt) / 1000;
    assert.ok(seconds < 180 && done.elapsedSec < 150, `Enter all the way took ${seconds.toFixed(0)} s (trainer: ${done.elapsedSec.toFixed(0)} s)`);
    const lastStep = events(id)
      .filter((e) => e.type === 'step')
      .at(-1);
    assert.ok(lastStep.loss < 2.0, `the last step's train loss ${lastStep.loss} (step ${lastStep.step})`);
    await frame.locator('#fact-output', { hasText: 'output' }).waitFor();
    await wb.page.waitForTimeout(500); // the charts' last draw
    await wb.screenshot('training-panel-completed');
    await wb.clearNotifications();
    await wb.page.locator('.notifications-toasts .notification-toast').first().waitFor({ state: 'hidden' });
    await wb.screenshotOf('.part.editor', 'training-panel-completed-editor');

    // Try It, greedy, on a training record's instruction and input answers with that record's output.
    // run.mjs copies the samples into the workspace's root.
    const record = JSON.parse(readFileSync(join(process.env.FINETUNE_E2E_WORKSPACE, 'alpaca.jsonl'), 'utf8').split('\n')[0]);
    assert.equal(record.input, 'Hello, how are you?');
    const answer = await tryItGenerate(frame, JSON.stringify({ instruction: record.instruction, input: record.input }));
    assert.equal(
      firstWords(answer, 2),
      firstWords(record.output, 2),
      `Try It answered ${JSON.stringify(answer)} for ${JSON.stringify(record.input)}; the record says ${JSON.stringify(record.output)}`,
    );
    await frame.locator('#try-it').scrollIntoViewIfNeeded();
    await wb.screenshotOf('.part.editor', 'training-panel-try-it-editor');
  },
  { timeout: 240_000 },
);

e2eTest(
  'Stop in the panel of a running fine-tune ends it "stopped", keeps its checkpoint and output, and leaves no trainer process',
  async (wb) => {
    // More epochs, so there is time to stop, and a larger learning rate, so its curve is told apart in Compare.
    const id = (runs.stopped = await startRun(wb, (title) => (/Epochs$/.test(title) ? '20' : /Learning Rate$/.test(title) ? '0.003' : undefined)));
    const frame = wb.webviewFrame();
    // Past the first evaluation (the end of the first epoch: step 5 of tiny's batches of 4), so the stopped
    // run has a curve of its own in Compare.
    await until(async () => (await stepOf(frame))[0] >= 6, 'step 6', 60_000);
    assert.ok(trainerPids(id).length > 0, 'the trainer runs while the panel counts steps');
    await frame.locator('#stop').click();
    await frame.locator('#status', { hasText: /^stopped$/ }).waitFor({ timeout: 60_000 });
    const note = await wb.waitForNotification(new RegExp(`Training stopped: ${id}`), 10_000);
    assert.match(note, /stopped at step \d+/);
    const [step, total] = await stepOf(frame);
    assert.ok(step >= 6 && step < total, `stopped at ${step} / ${total}`);

    const done = events(id).at(-1);
    assert.equal(done.type, 'done');
    assert.equal(done.status, 'stopped');
    assert.ok(done.checkpoint && readdirSync(done.checkpoint).length > 0, `checkpoint ${done.checkpoint}`);
    assert.ok(done.outputDir && existsSync(join(done.outputDir, 'model.safetensors')), `output ${done.outputDir}`);
    await until(() => trainerPids(id).length === 0, 'the trainer process to exit', 10_000);
    await wb.screenshot('training-panel-stopped');
  },
  { timeout: 150_000 },
);

e2eTest('Compare Runs over the completed and the stopped run draws both loss curves and lists both runs', async (wb) => {
  await wb.closeAllEditors();
  await wb.runCommand('Fine-Tune: Compare Runs');
  // The pick preselects the two newest runs: Enter compares them.
  const picked = wb.page.locator('.quick-input-widget .monaco-list-row[aria-checked="true"]');
  await until(async () => (await picked.count()) === 2, 'two preselected runs');
  await wb.page.keyboard.press('Enter');
  await wb.page.locator('.tabs-container .tab[aria-label*="Compare Runs"]').waitFor();
  const frame = wb.webviewFrame();
  for (const id of [runs.completed, runs.stopped]) await frame.locator(`#compare-table tbody tr[data-run-id="${id}"]`).waitFor();
  const curves = await until(async () => {
    const c = await frame.locator('body').evaluate(() => {
      const plot = window.__compare?.chart?.plot;
      if (!plot) return undefined;
      return plot.series.slice(1).map((s, i) => ({ label: s.label, points: plot.data[i + 1].filter((v) => v != null && Number.isFinite(v)).length }));
    });
    return c?.length ? c : undefined;
  }, 'the compare chart');
  for (const id of [runs.completed, runs.stopped]) {
    const train = curves.find((c) => c.label === `${id} train`);
    assert.ok(train && train.points >= 2, `a loss curve for ${id}: ${JSON.stringify(curves)}`);
  }
  await wb.page.waitForTimeout(500);
  await wb.screenshot('compare-runs');
  await wb.screenshotOf('.part.editor', 'compare-runs-editor');
});

e2eTest('a fine-tune whose trainer is killed shows the error in its panel and a "Training failed" notification', async (wb) => {
  await wb.clearNotifications();
  const id = (runs.failed = await startRun(wb, (title) => (/Epochs$/.test(title) ? '20' : undefined)));
  const frame = wb.webviewFrame();
  await until(async () => (await stepOf(frame))[0] >= 2, 'step 2', 60_000);
  const pids = trainerPids(id);
  assert.equal(pids.length, 1, `one trainer for ${id}`);
  process.kill(pids[0], 'SIGKILL');
  const note = await wb.waitForNotification(/Training failed/, 20_000);
  assert.match(note, /SIGKILL/);
  await frame.locator('#status', { hasText: /^failed$/ }).waitFor({ timeout: 20_000 });
  const error = frame.locator('#error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.innerText(), /SIGKILL/);
  await wb.screenshot('training-panel-failed');
  await wb.screenshotOf('.part.editor', 'training-panel-failed-editor');
});

e2eTest(
  'the Runs view lists the completed, stopped and failed runs with their status icons, and a click reopens a finished run from its events',
  async (wb) => {
    await wb.closeAllEditors();
    await wb.runCommand('Fine-Tune: Focus on Runs View');
    const rows = wb.page.locator('.part.sidebar .monaco-list-row');
    // The status shows as the row's icon.
    const expected = [
      [runs.completed, 'pass'],
      [runs.stopped, 'debug-stop'],
      [runs.failed, 'error'],
    ];
    for (const [id, icon] of expected) {
      assert.ok(id, 'the run was started by an earlier test');
      const row = rows.filter({ hasText: id }).first();
      await row.waitFor();
      await row.locator(`.codicon-${icon}`).waitFor({ timeout: 5000 });
    }
    await wb.screenshot('runs-view');
    assert.deepEqual(trainerPids(process.env.FINETUNE_E2E_WORKSPACE), [], 'no trainer process is left in the workspace');

    // Clicking a finished run opens its panel rebuilt from events.jsonl alone (the backlog).
    await rows.filter({ hasText: runs.completed }).first().click();
    await wb.page.locator(`.tabs-container .tab[aria-label*="Training: ${runs.completed}"]`).waitFor();
    const frame = wb.webviewFrame();
    await frame.locator('#status', { hasText: /^completed$/ }).waitFor();
    const total = events(runs.completed).find((e) => e.type === 'start').totalSteps;
    await until(async () => (await stepOf(frame))[0] === total, `step ${total} / ${total} in the reopened panel`, 10_000);
    await wb.closeAllEditors();
    await wb.runCommand('View: Show Explorer');
  },
);
