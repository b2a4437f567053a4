import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { DoneEvent, EvalEvent, StepEvent, TrainerEvent } from '../../protocol/trainer';
import { parseTrainArgs } from '../../trainer/runConfig';
import { initBackend } from '../../trainer/compute/backend';
import { loadDataset, padBatch } from '../../trainer/data';
import { EventWriter } from '../../trainer/runFolder';
import { evaluate } from '../../trainer/evaluate';
import { loadBaseModel } from '../../trainer/loadModel';
import { rowWeights } from '../../trainer/step';
import { loadPeftAdapter } from '../../trainer/strategies/lora';
import { train } from '../../trainer/train';
import { presetConfig } from '../../trainer/models/gpt2/config';
import { assertAbsClose, assertRelClose, elementwise, gpt2Sums, reordered, reorderedSum } from './tolerance';
import { TEST_BACKEND } from './testBackend';

/**
 * The same tiny-model loss computed with another batching (padding changes the products' shapes, so
 * their blocking) or from weights read back from disk: the forward pass's sums in another order, over
 * the records' longest row (about 20 tokens here); gradient norms go through the backward pass too.
 */
const TINY = presetConfig('tiny');
const FORWARD = reordered(gpt2Sums(TINY, 32));
const BACKWARD = reordered(gpt2Sums(TINY, 32, true));

// Every folder a test writes lives here and is removed when the file's tests end.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-tests-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

// Small, fast runs: the `tiny` preset (GPT-2 tokenizer, random init) with short examples.
const colors = ['red', 'blue', 'green', 'yellow', 'purple', 'orange', 'black', 'white', 'pink', 'brown', 'grey', 'gold'];
const record = (c: string, task?: string) => JSON.stringify({ instruction: `Name the color ${c}.`, output: `The color is ${c}.`, ...(task ? { task } : {}) });

function workspace(): { dir: string; data: string; evalData: string } {
  const dir = fs.mkdtempSync(path.join(scratch, 'ft-train-'));
  const data = path.join(dir, 'train.jsonl');
  const evalData = path.join(dir, 'eval.jsonl');
  fs.writeFileSync(data, colors.map((c) => record(c)).join('\n') + '\n');
  fs.writeFileSync(
    evalData,
    colors
      .slice(0, 4)
      .map((c) => record(c))
      .join('\n') + '\n',
  );
  return { dir, data, evalData };
}

async function runTrain(
  args: string[],
  onEvent?: (e: TrainerEvent, controller: AbortController) => void,
): Promise<{ events: TrainerEvent[]; done: DoneEvent; lines: string[] }> {
  const writer = new EventWriter();
  const events: TrainerEvent[] = [];
  const lines: string[] = [];
  const controller = new AbortController();
  writer.onEvent((e, line) => {
    events.push(e);
    lines.push(line);
    onEvent?.(e, controller);
  });
  const done = await train(parseTrainArgs([...args, '--backend', 'wasm']), { writer, signal: controller.signal });
  return { events, done, lines };
}

const steps = (events: TrainerEvent[]) => events.filter((e): e is StepEvent => e.type === 'step');
const evals = (events: TrainerEvent[]) => events.filter((e): e is EvalEvent => e.type === 'eval');

test('a short full fine-tuning run lowers the eval loss and writes a loadable model, run.json and events.jsonl', async () => {
  const ws = workspace();
  const out = path.join(ws.dir, 'run');
  const args = [
    '--data',
    ws.data,
    '--eval-data',
    ws.evalData,
    '--model',
    'tiny',
    '--out',
    out,
    '--max-steps',
    '12',
    '--batch-size',
    '4',
    '--lr',
    '3e-3',
    '--schedule',
    'constant',
    '--warmup-steps',
    '0',
    '--eval-every',
    '6',
  ];
  await initBackend(TEST_BACKEND);
  const base = await loadBaseModel('tiny', { strategy: 'full' }, 42);
  const evalSet = (await loadDataset(ws.evalData, { tokenizer: base.tokenizer, maxLength: 256, trainOnPrompt: false, skipInvalid: false })).examples;
  const before = (await evaluate(base.model, evalSet, { batchSize: 4 })).loss;
  base.model.dispose();

  const { events, done, lines } = await runTrain(args);
  assert.equal(done.status, 'completed', JSON.stringify(events.filter((e) => e.type === 'error')));
  assert.deepEqual(
    events.slice(0, 3).map((e) => e.type),
    ['start', 'params', 'memory'],
  );
  const s = steps(events);
  assert.deepEqual(
    s.map((e) => e.step),
    Array.from({ length: 12 }, (_, i) => i + 1),
  );
  for (const e of s) {
    assert.ok(Number.isFinite(e.loss) && e.gradNorm > 0 && e.tokens > 0 && e.tokensPerSec > 0 && e.etaSec >= 0 && e.lr === 3e-3);
  }
  assert.equal(s.at(-1)!.etaSec, 0);
  // --max-steps wins over --epochs: 12 examples / batch 4 = 3 steps an epoch, so the data cycled
  assert.ok(s.at(-1)!.epoch > 3.9, String(s.at(-1)!.epoch));
  const ev = evals(events);
  assert.ok(ev.length >= 2);
  assert.equal(ev.at(-1)!.step, 12);
  assert.equal(ev.at(-1)!.examples, 4);
  assert.ok(ev.at(-1)!.loss < before - 0.5, `eval loss ${before} -> ${ev.at(-1)!.loss}`);
  assert.equal(done.outputDir, path.join(out, 'output'));
  assert.ok(done.outputFiles.includes('model.safetensors') && done.outputFiles.includes('config.json'), done.outputFiles.join());
  // events.jsonl holds exactly the emitted lines; run.json reads back as the same settings
  assert.deepEqual(fs.readFileSync(path.join(out, 'events.jsonl'), 'utf8').trim().split('\n'), lines);
  assert.equal(parseTrainArgs(['--config', path.join(out, 'run.json')]).maxSteps, 12);
  // the saved model evaluates to the run's final eval loss
  const saved = await loadBaseModel(path.join(out, 'output'), { strategy: 'full' }, 1);
  assertRelClose((await evaluate(saved.model, evalSet, { batchSize: 3 })).loss, ev.at(-1)!.loss, FORWARD, "saved model vs the run's last eval loss");
  saved.model.dispose();
});

test('the same --seed gives identical step losses; another seed does not', async () => {
  const ws = workspace();
  // LoRA dropout on: the masks, the shuffle, the eval split and the initialisation all follow the seed.
  const args = (out: string, seed: string) => [
    '--data',
    ws.data,
    '--model',
    'tiny',
    '--out',
    path.join(ws.dir, out),
    '--strategy',
    'lora',
    '--lora-dropout',
    '0.2',
    '--max-steps',
    '3',
    '--batch-size',
    '3',
    '--lr',
    '1e-2',
    '--seed',
    seed,
    '--eval-fraction',
    '0.25',
  ];
  const a = steps((await runTrain(args('a', '5'))).events).map((e) => e.loss);
  const b = steps((await runTrain(args('b', '5'))).events).map((e) => e.loss);
  const c = steps((await runTrain(args('c', '6'))).events).map((e) => e.loss);
  assert.equal(a.length, 3);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('stop ends the run after the current step with its output saved and done: stopped', async () => {
  const ws = workspace();
  const out = path.join(ws.dir, 'run');
  const { events, done } = await runTrain(
    ['--data', ws.data, '--model', 'tiny', '--out', out, '--strategy', 'lora', '--epochs', '50', '--batch-size', '2', '--eval-fraction', '0'],
    (e, controller) => {
      if (e.type === 'step' && e.step === 2) controller.abort();
    },
  );
  assert.equal(done.status, 'stopped');
  assert.equal(done.step, 2);
  assert.equal(steps(events).length, 2);
  assert.deepEqual(done.outputFiles, ['adapter_config.json', 'adapter_model.safetensors']);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'output', 'adapter_config.json'), 'utf8'));
  assert.equal(config.peft_type, 'LORA');
  assert.equal(events.at(-1), done);
});

test('a NaN or infinite loss stops the run with an error event and done: failed', async () => {
  const ws = workspace();
  const { events, done } = await runTrain([
    '--data',
    ws.data,
    '--model',
    'tiny',
    '--out',
    path.join(ws.dir, 'run'),
    '--max-steps',
    '20',
    '--batch-size',
    '4',
    '--lr',
    '1e30',
    '--grad-clip',
    '0',
    '--weight-decay',
    '0',
    '--eval-fraction',
    '0',
  ]);
  assert.equal(done.status, 'failed');
  const error = events.find((e) => e.type === 'error');
  assert.ok(error && error.type === 'error' && /(loss|gradient norm) is (NaN|Infinity|-Infinity) at step \d+/.test(error.message), JSON.stringify(error));
  assert.ok(steps(events).every((e) => Number.isFinite(e.loss)));
  assert.ok(steps(events).length < 20);
  assert.deepEqual(done.outputFiles, []);
});

test('invalid records stop the run before training with the validator messages', async () => {
  const ws = workspace();
  fs.appendFileSync(ws.data, '{"instruction": "x"}\n');
  const { events, done } = await runTrain(['--data', ws.data, '--model', 'tiny', '--out', path.join(ws.dir, 'run'), '--max-steps', '1']);
  assert.equal(done.status, 'failed');
  assert.equal(steps(events).length, 0);
  const error = events.find((e) => e.type === 'error');
  assert.ok(error?.type === 'error' && /train\.jsonl:13:\d+: missing-field/.test(error.message) && /--skip-invalid/.test(error.message), JSON.stringify(error));
  // the same run folder can be used again: the failed run never got to a step
  const tensorsBefore = tf.memory().numTensors;
  const skipped = await runTrain([
    '--data',
    ws.data,
    '--model',
    'tiny',
    '--out',
    path.join(ws.dir, 'run'),
    '--max-steps',
    '2',
    '--skip-invalid',
    '--eval-fraction',
    '0.2',
  ]);
  assert.equal(skipped.done.status, 'completed');
  // model, optimizer state, batches and gradients are all released when the run ends
  assert.equal(tf.memory().numTensors, tensorsBefore);
  const start = skipped.events.find((e) => e.type === 'start');
  assert.ok(start?.type === 'start' && start.dataset.skipped === 1 && start.dataset.train + start.dataset.eval === 12);
});

test('eval loss is token-weighted and does not depend on the batch size', async () => {
  const ws = workspace();
  await initBackend(TEST_BACKEND);
  const base = await loadBaseModel('tiny', { strategy: 'full' }, 3);
  const examples = (await loadDataset(ws.data, { tokenizer: base.tokenizer, maxLength: 256, trainOnPrompt: true, skipInvalid: false })).examples;
  const one = await evaluate(base.model, examples, { batchSize: 1 });
  const five = await evaluate(base.model, examples, { batchSize: 5 });
  const all = await evaluate(base.model, examples, { batchSize: 12 });
  assert.equal(
    one.tokens,
    examples.reduce((a, e) => a + e.lossTokens, 0),
  );
  assertRelClose(five.loss, one.loss, FORWARD, 'eval loss, batch 5 vs 1');
  assertRelClose(all.loss, one.loss, FORWARD, 'eval loss, batch 12 vs 1');
  base.model.dispose();
});

test('task weights: the batch loss is Σ α_t·L_t over the tasks present (no normalisation by Σ α_t)', () => {
  const ex = (n: number, task?: string) => ({ line: 0, task, inputIds: new Array(n).fill(1), labels: new Array(n).fill(2), lossTokens: n });
  const batch = padBatch([ex(2, 'a'), ex(3, 'a'), ex(4, 'b')]);
  const w = rowWeights(batch, { a: 1, b: 0.5 });
  // row weights times per-row CE sums: a's rows share 1/5 (a has 5 loss tokens), b's 0.5/4
  // One division (and α's product) each.
  [1 / 5, 1 / 5, 0.5 / 4].forEach((want, i) => assertRelClose(w[i], want, elementwise(2), `row weight ${i}`));
  const plain = rowWeights(padBatch([ex(2), ex(6)]));
  [1 / 8, 1 / 8].forEach((want, i) => assertRelClose(plain[i], want, elementwise(2), `plain row weight ${i}`));
});

test('a LoRA adapter read back gives the run eval loss; --merge saves a full model with the same loss', async () => {
  const ws = workspace();
  const common = [
    '--data',
    ws.data,
    '--eval-data',
    ws.evalData,
    '--model',
    'tiny',
    '--strategy',
    'lora',
    '--lora-r',
    '4',
    '--lora-alpha',
    '8',
    '--max-steps',
    '4',
    '--batch-size',
    '4',
    '--lr',
    '1e-2',
  ];
  const lora = await runTrain([...common, '--out', path.join(ws.dir, 'lora')]);
  const merged = await runTrain([...common, '--out', path.join(ws.dir, 'merged'), '--merge']);
  const loss = evals(lora.events).at(-1)!.loss;
  assert.equal(evals(merged.events).at(-1)!.loss, loss);
  const adapterDir = lora.done.outputDir!;
  const adapter = loadPeftAdapter(adapterDir);
  const base = await loadBaseModel('tiny', adapter.strategy, 42);
  base.model.loadAdapterState(adapter.weights);
  const evalSet = (await loadDataset(ws.evalData, { tokenizer: base.tokenizer, maxLength: 256, trainOnPrompt: false, skipInvalid: false })).examples;
  assertRelClose((await evaluate(base.model, evalSet, { batchSize: 2 })).loss, loss, FORWARD, "LoRA adapter read back vs the run's eval loss");
  base.model.dispose();
  const full = await loadBaseModel(merged.done.outputDir!, { strategy: 'full' }, 1);
  // Merged: x·(W + s·A·B) instead of x·W + s·(x·A)·B, one more rank-4 product in another order.
  assertRelClose((await evaluate(full.model, evalSet, { batchSize: 2 })).loss, loss, FORWARD + reorderedSum(4), "merged model vs the run's eval loss");
  full.model.dispose();
});

test('gradient accumulation over 2 micro-batches of 2 matches one batch of 4', async () => {
  const ws = workspace();
  // equal-length records, so the mean of micro-batch means is the batch mean
  fs.writeFileSync(ws.data, ['1', '2', '3', '4', '5', '6', '7', '8'].map((n) => JSON.stringify({ text: `Number ${n} here.` })).join('\n') + '\n');
  const common = ['--data', ws.data, '--model', 'tiny', '--strategy', 'lora', '--max-steps', '2', '--no-shuffle', '--eval-fraction', '0', '--lr', '1e-2'];
  const whole = steps((await runTrain([...common, '--out', path.join(ws.dir, 'a'), '--batch-size', '4'])).events);
  const accum = steps((await runTrain([...common, '--out', path.join(ws.dir, 'b'), '--batch-size', '2', '--grad-accum', '2'])).events);
  assert.equal(accum.length, 2);
  for (let i = 0; i < 2; i++) {
    // Step 1 starts from the same weights; step 2 from weights one update apart, where only elements whose
    // gradient is at rounding level can differ (by Adam's ≤ 2·lr), too few to move a loss beyond rounding.
    assertRelClose(accum[i].loss, whole[i].loss, FORWARD, `step ${i + 1} loss, accumulated vs one batch`);
    assertRelClose(accum[i].gradNorm, whole[i].gradNorm, BACKWARD, `step ${i + 1} gradient norm, accumulated vs one batch`);
    assert.equal(whole[i].tokens, accum[i].tokens);
  }
});

test('checkpoints are written every N steps, and early stopping ends a run whose eval loss stops improving', async () => {
  const ws = workspace();
  const out = path.join(ws.dir, 'run');
  // a vanishing learning rate: eval loss cannot improve by min-delta
  const { events, done } = await runTrain([
    '--data',
    ws.data,
    '--eval-data',
    ws.evalData,
    '--model',
    'tiny',
    '--strategy',
    'lora',
    '--out',
    out,
    '--max-steps',
    '12',
    '--batch-size',
    '4',
    '--lr',
    '1e-9',
    '--eval-every',
    '1',
    '--early-stopping-patience',
    '2',
    '--min-delta',
    '0.01',
    '--checkpoint-every',
    '1',
  ]);
  assert.equal(done.status, 'early-stopped');
  assert.equal(done.step, 3);
  assert.equal(evals(events).length, 3);
  const checkpoints = events.filter((e) => e.type === 'checkpoint');
  assert.deepEqual(
    checkpoints.map((e) => (e.type === 'checkpoint' ? e.step : 0)),
    [1, 2],
  );
  assert.ok(fs.existsSync(path.join(out, 'checkpoints', 'step-2', 'adapter_model.safetensors')));
  assert.ok(fs.existsSync(path.join(out, 'output', 'adapter_model.safetensors')));
});

test('--resume continues a stopped run from its checkpoint: same losses as an uninterrupted run, events appended', async () => {
  const ws = workspace();
  const common = [
    '--data',
    ws.data,
    '--model',
    'tiny',
    '--strategy',
    'lora',
    '--max-steps',
    '6',
    '--batch-size',
    '4',
    '--lr',
    '1e-2',
    '--eval-fraction',
    '0',
    '--weight-decay',
    '0.1',
  ];
  const straight = steps((await runTrain([...common, '--out', path.join(ws.dir, 'straight')])).events);
  const out = path.join(ws.dir, 'resumed');
  const first = await runTrain([...common, '--out', out], (e, controller) => {
    if (e.type === 'step' && e.step === 3) controller.abort();
  });
  assert.equal(first.done.status, 'stopped');
  assert.equal(first.done.checkpoint, path.join(out, 'checkpoints', 'step-3'));
  // a second plain start in the same folder is refused; --resume continues it
  const refused = await runTrain([...common, '--out', out]);
  assert.equal(refused.done.status, 'failed');
  assert.match(refused.done.message ?? '', /--resume/);
  const second = await runTrain(['--resume', out]);
  assert.equal(second.done.status, 'completed', JSON.stringify(second.events.find((e) => e.type === 'error')));
  const start = second.events.find((e) => e.type === 'start');
  assert.ok(start?.type === 'start' && start.resumedFrom === 3);
  const resumed = steps(second.events);
  assert.deepEqual(
    resumed.map((e) => e.step),
    [4, 5, 6],
  );
  // The checkpoint holds the float32 weights and Adam moments bit for bit: the same computation resumes.
  for (let i = 0; i < 3; i++) assert.equal(resumed[i].loss, straight[i + 3].loss, `step ${i + 4}: resumed vs uninterrupted`);
  const onDisk = fs
    .readFileSync(path.join(out, 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TrainerEvent);
  assert.deepEqual(
    steps(onDisk).map((e) => e.step),
    [1, 2, 3, 4, 5, 6],
  );
});

test('a stop that arrives before the first step ends the run without writing an untrained output', async () => {
  const ws = workspace();
  const out = path.join(ws.dir, 'run');
  const { events, done } = await runTrain(['--data', ws.data, '--model', 'tiny', '--strategy', 'lora', '--out', out, '--max-steps', '5'], (e, controller) => {
    if (e.type === 'start') controller.abort();
  });
  assert.equal(done.status, 'stopped');
  assert.equal(done.step, 0);
  assert.equal(steps(events).length, 0);
  assert.equal(fs.existsSync(path.join(out, 'output')), false);
});

test('--batch-size larger than the dataset is capped at the number of records (with a warning) before the memory estimate', async () => {
  const ws = workspace();
  const out = path.join(ws.dir, 'run');
  const { events, done } = await runTrain([
    '--data',
    ws.data,
    '--model',
    'tiny',
    '--out',
    out,
    '--max-steps',
    '1',
    '--batch-size',
    '2000',
    '--eval-fraction',
    '0',
  ]);
  assert.equal(done.status, 'completed', JSON.stringify(events.filter((e) => e.type === 'error')));
  const warning = events.find((e) => e.type === 'log' && e.message.includes('--batch-size'));
  assert.ok(warning?.type === 'log' && warning.level === 'warning', JSON.stringify(events.filter((e) => e.type === 'log')));
  assert.equal(warning.message, `--batch-size 2000 is more than the ${colors.length} training record(s); using batches of ${colors.length}`);
  const start = events.find((e) => e.type === 'start');
  assert.equal(start?.type === 'start' && start.config.batchSize, colors.length);
  const memory = events.find((e) => e.type === 'memory');
  const capped = await runTrain([
    '--data',
    ws.data,
    '--model',
    'tiny',
    '--out',
    path.join(ws.dir, 'run12'),
    '--max-steps',
    '1',
    '--batch-size',
    String(colors.length),
    '--eval-fraction',
    '0',
  ]);
  assert.deepEqual(
    { ...memory, time: 0 },
    { ...capped.events.find((e) => e.type === 'memory'), time: 0 },
    'the estimate is the one of a batch of every record',
  );
  assert.deepEqual(
    steps(capped.events).map((s) => s.loss),
    steps(events).map((s) => s.loss),
  );
});

test("a LoRA rank above the adapted weights' min(in, out) is refused before any training, naming the limit", async () => {
  const ws = workspace();
  const out = path.join(ws.dir, 'run');
  const t0 = Date.now();
  const { events, done } = await runTrain(['--data', ws.data, '--model', 'tiny', '--out', out, '--max-steps', '1', '--strategy', 'lora', '--lora-r', '100000']);
  assert.ok(Date.now() - t0 < 5000, `refused in ${Date.now() - t0} ms`);
  assert.equal(done.status, 'failed');
  const error = events.find((e) => e.type === 'error');
  assert.ok(error?.type === 'error', JSON.stringify(events));
  // tiny: n_embd 64, so c_attn is 64×192 and the rank is at most 64.
  assert.match(
    error.message,
    /--lora-r 100000 is larger than the attn\.c_attn weights it adapts \(64×192\): a LoRA update B·A cannot have a rank above 64; use --lora-r 64 or less/,
  );
  assert.equal(steps(events).length, 0);
  // The largest meaningful rank trains.
  const ok = await runTrain([
    '--data',
    ws.data,
    '--model',
    'tiny',
    '--out',
    path.join(ws.dir, 'run64'),
    '--max-steps',
    '1',
    '--strategy',
    'lora',
    '--lora-r',
    '64',
    '--lora-targets',
    'all-linear',
  ]);
  assert.equal(ok.done.status, 'completed', JSON.stringify(ok.events.filter((e) => e.type === 'error')));
});
