// The time estimate before a run starts: trained tokens × epochs ÷ a throughput from the last comparable
// finished run (a real `finetune train` run folder here) or from a cached measurement, never a number
// made up; and the quick pick's last step that shows it, offers to measure and then starts.
import { before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fake from './extension-fakeVscode';

fake.installFakeVscode();
const flow = require('../../extension/training/fineTuneFlow') as typeof import('../../extension/training/fineTuneFlow');
import { survey } from '../../cli/params';
import { run as runTrain } from '../../cli/train';
import type { SurveyedModel, SurveyRequest } from '../../protocol/params';
import type { TrainConfig, TrainerEvent, TrainerEventInit } from '../../protocol/trainer';
import { appendRunEvents, readRunEvents } from '../../trainer/runFolder';
import {
  benchArgs,
  chooseThroughput,
  durationText,
  estimateSeconds,
  estimateText,
  lastComparableRun,
  runThroughput,
  ThroughputCache,
  throughputCacheKey,
  type RunMatch,
  type Throughput,
} from '../../extension/training/timeEstimate';
import { captureStdout } from './captureStdout';

const samples = path.join(__dirname, '../../samples');
const data = path.join(samples, 'alpaca.jsonl');
const tmp = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

let runsDir: string;
let realRun: string;
let realEvents: TrainerEvent[];

before(async () => {
  // One real run of tiny at the quick pick's defaults for it (full, batch 4, 128 tokens), three steps.
  runsDir = tmp('ft-qt-runs-');
  realRun = path.join(runsDir, '2026-12-01T10-00-00-alpaca-full');
  const { code } = await captureStdout(() => runTrain(['--data', data, '--model', 'tiny', '--strategy', 'full', '--out', realRun, '--max-steps', '3']));
  assert.equal(code, 0);
  realEvents = readRunEvents(realRun);
});

beforeEach(() => {
  process.env.HF_HUB_CACHE = tmp('ft-qt-hf-');
  fake.state.trusted = true;
  fake.state.answers = [];
  fake.state.asked = [];
  fake.state.messages = [];
});

/** What a run of tiny at its defaults is compared on, from the survey (as the flow builds it). */
async function tinyMatch(): Promise<{ surveyed: SurveyedModel; backend: string; match: RunMatch }> {
  const result = await survey({ models: [{ model: 'tiny', batchSize: 4, maxLength: 128 }], strategies: ['full'], data });
  const surveyed = result.models[0] as SurveyedModel;
  const match: RunMatch = {
    shapeKey: surveyed.shapeKey,
    strategy: 'full',
    backend: result.backend,
    batchSize: 4,
    model: { vocabSize: surveyed.vocabSize, nEmbd: surveyed.hiddenSize, nLayer: surveyed.layers, nHead: surveyed.heads },
    totalParameters: surveyed.strategies[0].total,
  };
  return { surveyed, backend: result.backend, match };
}

test('the arithmetic: tokens × epochs ÷ tokens per second, said in minutes', () => {
  assert.equal(estimateSeconds(9000, 3, 45), 600);
  assert.equal(durationText(600), 'about 10 min');
  assert.equal(durationText(59), 'under a minute');
  assert.equal(durationText(7800), 'about 2 h 10 min');
  assert.equal(durationText(7200), 'about 2 h');
  assert.throws(() => estimateSeconds(9000, 3, 0), /cannot estimate/);
  const measured: Throughput = { tokensPerSec: 45, source: 'measured', time: Date.UTC(2026, 11, 1) };
  assert.equal(estimateText(9000, 3, measured), 'about 10 min (measured here on 2026-12-01; 9,000 tokens × 3 epochs at 45.0 tokens/s)');
});

test("a finished run's throughput is its steps' tokens over the time to its last step", () => {
  const r = runThroughput(realEvents)!;
  const steps = realEvents.filter((e) => e.type === 'step');
  assert.equal(steps.length, 3);
  const tokens = steps.reduce((a, e) => a + (e.type === 'step' ? e.tokens : 0), 0);
  const last = steps.at(-1)!;
  assert.equal(r.tokensPerSec, tokens / (last.type === 'step' ? last.elapsedSec : NaN));
  const failed = realEvents.map((e) => (e.type === 'done' ? { ...e, status: 'failed' as const } : e));
  assert.equal(runThroughput(failed), undefined, 'a failed run timed nothing to trust');
  assert.equal(runThroughput(realEvents.filter((e) => e.type !== 'done')), undefined, 'nor one still going');
});

test('the last comparable run is the newest finished one of the same shape, strategy, backend and batch size', async () => {
  const { match } = await tinyMatch();
  const found = lastComparableRun(runsDir, match)!;
  assert.equal(found.source, 'run');
  assert.equal(found.runId, path.basename(realRun));
  assert.equal(found.tokensPerSec, runThroughput(realEvents)!.tokensPerSec);
  for (const other of [{ strategy: 'lora' }, { backend: 'other' }, { batchSize: 8 }, { totalParameters: match.totalParameters + 1 }]) {
    assert.equal(lastComparableRun(runsDir, { ...match, ...other }), undefined, JSON.stringify(other));
  }
  // A newer copy of the run (twice as fast) wins; a failed one is passed over.
  const dir = tmp('ft-qt-runs2-');
  // appendRunEvents stamps each event with the time it is written: the folders are written oldest first.
  const restamp = (speed: number, status?: string): TrainerEventInit[] =>
    realEvents.map((e) => {
      const { time: _t, ...rest } = e as TrainerEvent & { elapsedSec?: number };
      if (e.type === 'step') return { ...rest, elapsedSec: e.elapsedSec / speed } as TrainerEventInit;
      if (e.type === 'done' && status) return { ...rest, status } as TrainerEventInit;
      return rest as TrainerEventInit;
    });
  fs.mkdirSync(path.join(dir, 'old'));
  appendRunEvents(path.join(dir, 'old'), restamp(1));
  fs.mkdirSync(path.join(dir, 'new'));
  appendRunEvents(path.join(dir, 'new'), restamp(2));
  fs.mkdirSync(path.join(dir, 'newest-failed'));
  appendRunEvents(path.join(dir, 'newest-failed'), restamp(4, 'failed'));
  const newest = lastComparableRun(dir, match)!;
  assert.equal(newest.runId, 'new');
  assert.ok(Math.abs(newest.tokensPerSec / runThroughput(realEvents)!.tokensPerSec - 2) < 1e-9);
});

test('a measurement is cached per shape, strategy, backend and batch size; a run wins over it; without either there is no estimate', () => {
  const cache = new ThroughputCache(path.join(tmp('ft-qt-cache-'), 'sub', 'throughput.json'));
  const key = { shapeKey: 'llama L2 E64', strategy: 'lora', backend: 'wasm', batchSize: 8 };
  assert.equal(cache.get(key), undefined);
  cache.put(key, 123.5, 256, Date.UTC(2026, 11, 1));
  assert.deepEqual(cache.get(key), { tokensPerSec: 123.5, source: 'measured', time: Date.UTC(2026, 11, 1) });
  assert.equal(cache.get({ ...key, batchSize: 4 }), undefined);
  assert.equal(cache.get({ ...key, strategy: 'full' }), undefined);
  assert.match(throughputCacheKey(key), /llama L2 E64 \| lora \| wasm \| batch 8/);
  const run: Throughput = { tokensPerSec: 50, source: 'run', time: 1 };
  assert.equal(chooseThroughput(run, cache.get(key)), run);
  assert.equal(chooseThroughput(undefined, cache.get(key))!.source, 'measured');
  assert.equal(chooseThroughput(undefined, undefined), undefined);
});

/** The flow's trainer queries: the real survey in this process, and a bench whose calls are recorded. */
function flowDeps(benchCalls: string[][], cacheFile: string, runs: string) {
  const started: TrainConfig[] = [];
  return {
    started,
    deps: {
      manager: { start: (c: TrainConfig) => started.push(c) } as never,
      settings: { validationOptions: () => ({ maxTokens: 1024, format: 'auto' as const }), maxProblems: 1000, rememberRunModel: async () => {} } as never,
      runsDirectory: () => runs,
      log: { info() {}, warn() {}, error() {} } as never,
      queries: {
        survey: (request: SurveyRequest) => survey(request),
        bench: async (args: string[]) => {
          benchCalls.push(args);
          return 40;
        },
      },
      throughputCacheFile: cacheFile,
    },
  };
}

const startItem = () => (fake.state.asked.at(-1)!.items as { label: string; description?: string; detail?: string }[])[0];

test('the last step shows the time from the comparable run and the memory estimate, and Enter starts the run', async () => {
  const { surveyed, backend, match } = await tinyMatch();
  const { deps, started } = flowDeps([], path.join(tmp('ft-qt-c-'), 'throughput.json'), runsDir);
  await flow.fineTuneCommand(fake.Uri.file(data), deps);
  assert.equal(fake.state.asked.at(-1)!.title, 'Fine-tune alpaca.jsonl: Start');
  const expected = estimateText(surveyed.trainTokens!, 50, lastComparableRun(runsDir, match)!);
  assert.equal(startItem().description, expected);
  assert.match(expected, /from your run of \d{4}-\d\d-\d\d \(2026-12-01T10-00-00-alpaca-full\)/);
  assert.match(startItem().detail!, new RegExp(`^Memory: fits in .* \\(batch 4 × ${surveyed.seq} tokens, ${backend} backend\\)\\. Time: `));
  assert.equal(started.length, 1);
  // Each strategy said whether it fits at the defaults.
  const strategies = fake.state.asked[1].items as { label: string; detail?: string }[];
  assert.ok(
    strategies.every((s) => /^fits in /.test(s.detail ?? '')),
    JSON.stringify(strategies),
  );
});

test('without a comparable run the time is unknown; Measure runs bench for the shape, caches it, and the estimate is then "measured here"', async () => {
  const calls: string[][] = [];
  const cacheFile = path.join(tmp('ft-qt-c-'), 'throughput.json');
  const { deps, started } = flowDeps(calls, cacheFile, tmp('ft-qt-empty-'));
  const pickLabel = (label: string) => (r: { items?: unknown[] }) => (r.items as { label: string }[]).find((i) => i.label === label);
  fake.state.answers = [...Array(5).fill(undefined), pickLabel('Measure the speed first')] as typeof fake.state.answers;
  await flow.fineTuneCommand(fake.Uri.file(data), deps);
  const confirmations = fake.state.asked.filter((a) => a.title === 'Fine-tune alpaca.jsonl: Start');
  assert.equal(confirmations.length, 2);
  const first = (confirmations[0].items as { label: string; description?: string }[]).map((i) => [i.label, i.description]);
  assert.deepEqual(first[0], ['Start training', 'time unknown']);
  assert.ok(first.some(([l]) => l === 'Measure the speed first'));
  const { surveyed, backend } = await tinyMatch();
  const key = { shapeKey: surveyed.shapeKey, strategy: 'full', backend, batchSize: 4 };
  assert.deepEqual(calls, [benchArgs(surveyed.benchArgs, key, surveyed.seq)]);
  assert.equal(new ThroughputCache(cacheFile).get(key)!.tokensPerSec, 40);
  assert.equal(startItem().description, estimateText(surveyed.trainTokens!, 50, new ThroughputCache(cacheFile).get(key)!));
  assert.match(startItem().description!, /measured here/);
  assert.equal(started.length, 1, 'Enter on the second confirmation starts the run');
});

test('Browse… takes a Llama-family folder of the workspace: LoRA with the family’s own targets, each strategy with its fit', async () => {
  const folder = path.join(tmp('ft-qt-ws-'), 'my-llama');
  fs.cpSync(path.join(__dirname, '../fixtures/llama/llama-gqa'), folder, { recursive: true });
  const { deps, started } = flowDeps([], path.join(tmp('ft-qt-c-'), 'throughput.json'), tmp('ft-qt-empty-'));
  const pickLabel = (label: string) => (r: { items?: unknown[] }) => (r.items as { label: string }[]).find((i) => i.label === label);
  fake.state.answers = [pickLabel('Browse…')];
  const opened = fake.window.showOpenDialog;
  fake.window.showOpenDialog = (async () => [fake.Uri.file(folder)]) as unknown as typeof opened;
  try {
    await flow.fineTuneCommand(fake.Uri.file(data), deps);
  } finally {
    fake.window.showOpenDialog = opened;
  }
  assert.equal(started.length, 1, JSON.stringify(fake.state.messages));
  assert.deepEqual([started[0].model, started[0].strategy, started[0].loraTargets], [folder, 'lora', 'default']);
  const strategies = fake.state.asked.find((a) => /Strategy$/.test(a.title ?? ''))!.items as { label: string; detail?: string }[];
  assert.ok(
    strategies.every((s) => /^fits in /.test(s.detail ?? '')),
    JSON.stringify(strategies),
  );
  // A folder of an architecture the trainer does not load is refused with the reason.
  fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify({ architectures: ['MistralForCausalLM'], model_type: 'mistral' }));
  fake.state.answers = [pickLabel('Browse…')];
  fake.state.messages = [];
  fake.window.showOpenDialog = (async () => [fake.Uri.file(folder)]) as unknown as typeof opened;
  try {
    await flow.fineTuneCommand(fake.Uri.file(data), deps);
  } finally {
    fake.window.showOpenDialog = opened;
  }
  assert.equal(started.length, 1, 'nothing more started');
  assert.match(
    fake.state.messages.at(-1)!.text,
    /cannot be fine-tuned here: architecture "MistralForCausalLM" is not supported \(supported architectures: GPT2LMHeadModel/,
  );
});
