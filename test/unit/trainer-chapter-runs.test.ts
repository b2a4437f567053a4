// Runs with the chapter's remaining options: task sampling, checkpoint housekeeping (atomic, last K +
// best), early stopping keeping the best checkpoint as the output, and classification / adapter /
// prompt-tuning runs end to end on the tiny preset.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DoneEvent, EvalEvent, TrainerEvent } from '../../protocol/trainer';
import { parseTrainArgs, resolveTrainConfig } from '../../trainer/runConfig';
import { checkpointSteps, pruneCheckpoints } from '../../trainer/checkpoints';
import { EventWriter, writeCheckpointState } from '../../trainer/runFolder';
import { prepareRunFolder, writeCheckpoint } from '../../trainer/runOwnership';
import { taskProbabilities, taskSampledBatches } from '../../trainer/taskSampling';
import { train } from '../../trainer/train';
import { generate } from '../../trainer/generate';
import { assertRelClose, f64Ops } from './tolerance';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-chapter-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

async function runTrain(args: string[], stopAtStep?: number): Promise<{ events: TrainerEvent[]; done: DoneEvent }> {
  const writer = new EventWriter();
  const events: TrainerEvent[] = [];
  const controller = new AbortController();
  writer.onEvent((e) => {
    events.push(e);
    if (e.type === 'step' && e.step === stopAtStep) controller.abort();
  });
  const done = await train(parseTrainArgs([...args, '--backend', 'wasm']), { writer, signal: controller.signal });
  return { events, done };
}
const stepLosses = (events: TrainerEvent[]) => events.flatMap((e) => (e.type === 'step' ? [e.loss] : []));
const evals = (events: TrainerEvent[]) => events.filter((e): e is EvalEvent => e.type === 'eval');

function writeJsonl(name: string, records: object[]): string {
  const file = path.join(fs.mkdtempSync(path.join(scratch, 'data-')), name);
  fs.writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

test('task sampling: proportional, uniform and temperature probabilities', () => {
  const counts = new Map([
    ['big', 90],
    ['small', 10],
  ]);
  // float64: a power, a sum and a division each, so a few float64 roundings.
  const near = (m: Map<string, number>, big: number) => {
    assertRelClose(m.get('big')!, big, f64Ops(8), `p(big) of ${JSON.stringify([...m])}`);
    assertRelClose(m.get('small')!, 1 - big, f64Ops(8), `p(small) of ${JSON.stringify([...m])}`);
  };
  near(taskProbabilities(counts, 'proportional'), 0.9);
  near(taskProbabilities(counts, 'uniform'), 0.5);
  near(taskProbabilities(counts, 'temperature', 2), Math.sqrt(90) / (Math.sqrt(90) + Math.sqrt(10)));
  near(taskProbabilities(counts, 'temperature', 1), 0.9);
  assert.throws(() => taskProbabilities(counts, 'temperature', 0), /greater than 0/);
});

test('uniform task sampling draws a small task as often as a big one, repeatably from the seed', () => {
  const tasks = [...new Array(900).fill('big'), ...new Array(100).fill('small')];
  const batches = taskSampledBatches(tasks, 10, { mode: 'uniform', temperature: 1, seed: 3, epoch: 0 });
  assert.equal(batches.flat().length, 1000);
  const small = batches.flat().filter((i) => tasks[i] === 'small').length;
  assert.ok(small > 420 && small < 580, `${small}`);
  assert.deepEqual(batches, taskSampledBatches(tasks, 10, { mode: 'uniform', temperature: 1, seed: 3, epoch: 0 }));
  assert.notDeepEqual(batches, taskSampledBatches(tasks, 10, { mode: 'uniform', temperature: 1, seed: 3, epoch: 1 }));
});

test('checkpoints: pruning keeps the last K and the best; atomic writes leave the old folder on failure', () => {
  const run = prepareRunFolder(resolveTrainConfig({ data: path.join(scratch, 'data.jsonl'), model: 'tiny', out: fs.mkdtempSync(path.join(scratch, 'ckpt-')) }));
  const state = (step: number) => ({ step, epoch: 0, nextBatch: step, evalsWithoutGain: 0, lastEvalStep: -1, trainSeconds: 0 });
  const save = (step: number, text: string) =>
    writeCheckpoint(run, step, (tmp) => {
      fs.writeFileSync(path.join(tmp, 'model.safetensors'), text);
      writeCheckpointState(tmp, state(step), new Map(), run.id);
    });
  for (const s of [1, 2, 3, 4, 5, 6]) save(s, 'old');
  // a half-written checkpoint a killed process of this run left behind
  fs.mkdirSync(path.join(run.checkpoints, `.tmp-step-7-${run.id}-999999999`));
  assert.deepEqual(pruneCheckpoints(run, 3, 2), [1, 3]);
  assert.deepEqual(checkpointSteps(run), [2, 4, 5, 6]);
  const target = path.join(run.checkpoints, 'step-6');
  assert.throws(() =>
    writeCheckpoint(run, 6, (tmp) => {
      fs.writeFileSync(path.join(tmp, 'model.safetensors'), 'half');
      throw new Error('disk full');
    }),
  );
  assert.equal(fs.readFileSync(path.join(target, 'model.safetensors'), 'utf8'), 'old');
  assert.deepEqual(fs.readdirSync(run.checkpoints).sort(), ['step-2', 'step-4', 'step-5', 'step-6']);
  save(6, 'new');
  assert.equal(fs.readFileSync(path.join(target, 'model.safetensors'), 'utf8'), 'new');
});

const colors = ['red', 'blue', 'green', 'yellow', 'purple', 'orange', 'black', 'white'];

test('early stopping stops where the patience says and keeps the best checkpoint as the output', async () => {
  const data = writeJsonl(
    'train.jsonl',
    colors.map((c) => ({ instruction: `Name the color ${c}.`, output: `The color is ${c}.` })),
  );
  const evalData = writeJsonl(
    'eval.jsonl',
    colors.slice(0, 3).map((c) => ({ instruction: `Name the color ${c}.`, output: `The color is ${c}.` })),
  );
  const out = path.join(scratch, 'early');
  // a vanishing learning rate: no eval improves on the first by min-delta, so patience 2 stops at step 3
  const { events, done } = await runTrain([
    '--data',
    data,
    '--eval-data',
    evalData,
    '--model',
    'tiny',
    '--strategy',
    'lora',
    '--out',
    out,
    '--max-steps',
    '10',
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
  ]);
  assert.equal(done.status, 'early-stopped');
  assert.equal(done.step, 3);
  assert.equal(evals(events).length, 3);
  // the best (step 1) was checkpointed and is the output
  const best = path.join(out, 'checkpoints', 'step-1', 'adapter_model.safetensors');
  assert.ok(fs.existsSync(best));
  assert.deepEqual(fs.readFileSync(path.join(out, 'output', 'adapter_model.safetensors')), fs.readFileSync(best));
  assert.ok(!fs.existsSync(path.join(out, 'output', 'trainer_state.json')));
});

test('a classification run reports accuracy and per-class counts and saves GPT2ForSequenceClassification', async () => {
  const records = ['good', 'great', 'fine', 'bad', 'awful', 'poor', 'nice', 'sad'].map((w, i) => ({
    text: `This is ${w}.`,
    label: i % 2 === 0 ? 'pos' : 'neg',
  }));
  const data = writeJsonl('cls.jsonl', records);
  const evalData = writeJsonl('cls-eval.jsonl', records.slice(0, 4));
  const out = path.join(scratch, 'cls');
  const { events, done } = await runTrain([
    '--data',
    data,
    '--eval-data',
    evalData,
    '--model',
    'tiny',
    '--head',
    'classification',
    '--strategy',
    'partial',
    '--freeze-layers',
    '1',
    '--out',
    out,
    '--max-steps',
    '2',
    '--batch-size',
    '4',
  ]);
  assert.equal(done.status, 'completed', JSON.stringify(events.filter((e) => e.type === 'error')));
  const params = events.find((e) => e.type === 'params');
  assert.ok(params && params.type === 'params' && params.groups.some((g) => g.name.startsWith('score') && g.trainable === 64 * 2));
  const last = evals(events).at(-1)!;
  assert.equal(last.examples, 4);
  assert.ok(last.accuracy !== undefined && last.accuracy >= 0 && last.accuracy <= 1);
  assert.deepEqual(Object.keys(last.perClass!).sort(), ['neg', 'pos']);
  assert.equal(last.perClass!.neg.total + last.perClass!.pos.total, 4);
  assert.equal(last.accuracy, (last.perClass!.neg.correct + last.perClass!.pos.correct) / 4);
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'output', 'config.json'), 'utf8'));
  assert.deepEqual(cfg.architectures, ['GPT2ForSequenceClassification']);
  assert.deepEqual(cfg.id2label, { 0: 'neg', 1: 'pos' });
  assert.equal(cfg.pad_token_id, 50256);
  // --num-labels must agree with the data
  const wrong = await runTrain([
    '--data',
    data,
    '--model',
    'tiny',
    '--head',
    'classification',
    '--num-labels',
    '3',
    '--out',
    path.join(scratch, 'cls-wrong'),
    '--max-steps',
    '1',
  ]);
  assert.equal(wrong.done.status, 'failed');
  assert.match(wrong.done.message ?? '', /--num-labels 3 but the data has 2 distinct labels \(neg, pos\)/);
});

test('adapter and prompt-tuning runs train only what they add, save their folders, and generate from them', async () => {
  const data = writeJsonl(
    'train.jsonl',
    colors.map((c) => ({ instruction: `Name the color ${c}.`, output: `The color is ${c}.` })),
  );
  for (const [strategy, flags, trainable] of [
    ['adapter', ['--adapter-dim', '4'], 2 * 2 * (2 * 64 * 4 + 4 + 64)],
    ['prompt', ['--virtual-tokens', '4', '--prompt-init', 'Name the color:'], 4 * 64],
  ] as const) {
    const out = path.join(scratch, strategy);
    const { events, done } = await runTrain([
      '--data',
      data,
      '--model',
      'tiny',
      '--strategy',
      strategy,
      ...flags,
      '--out',
      out,
      '--max-steps',
      '2',
      '--batch-size',
      '4',
      '--eval-fraction',
      '0',
    ]);
    assert.equal(done.status, 'completed', JSON.stringify(events.filter((e) => e.type === 'error')));
    const params = events.find((e) => e.type === 'params');
    assert.equal(params?.type === 'params' && params.trainable, trainable);
    assert.deepEqual(done.outputFiles, ['adapter_config.json', 'adapter_model.safetensors']);
    const r = await generate({
      modelSpec: 'tiny',
      adapterDir: done.outputDir,
      prompt: 'Name the color red.',
      template: 'alpaca',
      maxNewTokens: 2,
      stopAtEos: false,
      backend: 'wasm',
    });
    assert.equal(r.tokens.length, 2);
  }
});

test("stopped classification (LoRA), prompt-tuning and adapter runs resume on the uninterrupted run's losses", async () => {
  const cls = writeJsonl(
    'cls.jsonl',
    ['good', 'great', 'fine', 'bad', 'awful', 'poor', 'nice', 'sad'].map((w, i) => ({ text: `This is ${w}.`, label: i % 2 === 0 ? 'pos' : 'neg' })),
  );
  const lm = writeJsonl(
    'lm.jsonl',
    colors.map((c) => ({ instruction: `Name the color ${c}.`, output: `The color is ${c}.` })),
  );
  for (const [name, flags] of [
    ['cls-lora', ['--data', cls, '--head', 'classification', '--strategy', 'lora', '--lr', '1e-2']],
    ['prompt', ['--data', lm, '--strategy', 'prompt', '--virtual-tokens', '3']],
    ['adapter', ['--data', lm, '--strategy', 'adapter', '--adapter-dim', '4', '--lr', '1e-2']],
  ] as const) {
    const common = [...flags, '--model', 'tiny', '--max-steps', '4', '--batch-size', '2', '--eval-fraction', '0'];
    const straight = stepLosses((await runTrain([...common, '--out', path.join(scratch, `${name}-straight`)])).events);
    const out = path.join(scratch, `${name}-resumed`);
    const first = await runTrain([...common, '--out', out], 2);
    assert.equal(first.done.status, 'stopped');
    const second = await runTrain(['--resume', out]);
    assert.equal(second.done.status, 'completed', JSON.stringify(second.events.filter((e) => e.type === 'error')));
    const resumed = stepLosses(second.events);
    assert.equal(resumed.length, 2);
    // The checkpoint holds every trained float32 tensor and the optimizer state bit for bit: the same losses exactly.
    for (let i = 0; i < 2; i++) assert.equal(resumed[i], straight[i + 2], `${name}: step ${i + 3} resumed vs uninterrupted`);
  }
});
