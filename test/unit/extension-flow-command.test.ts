// The "Fine-tune…" and "Fine-tune with run.json" commands against the in-memory vscode stand-in: the
// real language library checks the dataset, a user presses Enter (or Escape) at each step, and a
// recording run manager stands in for the child process.
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fake from './extension-fakeVscode';

fake.installFakeVscode();
const flow = require('../../extension/training/fineTuneFlow') as typeof import('../../extension/training/fineTuneFlow');
import { PRESET_TRAIN_DEFAULTS } from '../../protocol/options';
import type { TrainConfig } from '../../protocol/trainer';
import { resolveTrainConfig } from '../../trainer/runConfig';
import { createRunFolder } from '../../trainer/runOwnership';
import { fixtureCheckpoint } from './runFolderFixture';

const samples = path.join(__dirname, '../../samples');
let runsDir: string;
let started: TrainConfig[];

function deps() {
  return {
    manager: { start: (c: TrainConfig) => started.push(c) } as never,
    settings: { validationOptions: () => ({ maxTokens: 1024, format: 'auto' as const }), maxProblems: 1000, rememberRunModel: async () => {} } as never,
    runsDirectory: () => runsDir,
    log: { info() {}, warn() {}, error() {} } as never,
  };
}

beforeEach(() => {
  runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-flowcmd-'));
  started = [];
  // An empty Hugging Face cache, whatever this machine has downloaded.
  process.env.HF_HUB_CACHE = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-hfcache-'));
  fake.state.trusted = true;
  fake.state.answers = [];
  fake.state.asked = [];
  fake.state.messages = [];
});

test('Enter through every step on alpaca.jsonl starts a tiny full run from a new run folder', async () => {
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'alpaca.jsonl')), deps());
  assert.deepEqual(
    fake.state.asked.map((a) => a.title),
    [
      'Fine-tune alpaca.jsonl (1/5): Base Model',
      'Fine-tune alpaca.jsonl (2/5): Strategy',
      'Fine-tune alpaca.jsonl (3/5): Epochs',
      'Fine-tune alpaca.jsonl (4/5): Learning Rate',
      'Fine-tune alpaca.jsonl (5/5): Batch Size',
      'Fine-tune alpaca.jsonl: Start',
    ],
  );
  assert.ok(
    fake.state.asked.every((a) => a.validation === undefined),
    'every prefilled value is accepted',
  );
  assert.equal(started.length, 1);
  const [config] = started;
  assert.equal(config.model, 'tiny', 'no download: the first model (without a cache) is tiny');
  assert.equal(config.strategy, 'full');
  const own = PRESET_TRAIN_DEFAULTS.tiny;
  assert.deepEqual(
    [config.epochs, config.batchSize, config.maxLength, config.lr, config.warmupSteps],
    [own.epochs, own.batchSize, own.maxLength, own.lr.full, own.warmupSteps],
    "tiny's own defaults",
  );
  const [id] = fs.readdirSync(runsDir);
  assert.match(id, /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-alpaca-full$/);
  assert.equal(config.out, path.join(runsDir, id));
  const runJson = JSON.parse(fs.readFileSync(path.join(runsDir, id, 'run.json'), 'utf8'));
  assert.equal(runJson.data, path.join(samples, 'alpaca.jsonl'));
});

test('a model in the Hugging Face cache comes first, passed as its snapshot folder', async () => {
  const snap = path.join(process.env.HF_HUB_CACHE!, 'models--distilbert--distilgpt2', 'snapshots', 'c'.repeat(40));
  fs.mkdirSync(snap, { recursive: true });
  fs.writeFileSync(
    path.join(snap, 'config.json'),
    JSON.stringify({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_layer: 6, n_embd: 768, n_head: 12 }),
  );
  fs.writeFileSync(path.join(snap, 'model.safetensors'), '');
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'alpaca.jsonl')), deps());
  const models = fake.state.asked[0].items as { label: string }[];
  assert.deepEqual(
    models.slice(0, 2).map((m) => m.label),
    ['distilbert/distilgpt2', 'tiny'],
  );
  assert.equal(started[0].model, snap);
  assert.equal(started[0].strategy, 'lora', 'a pretrained model defaults to LoRA');
});

test('a multi-task dataset asks for task weights, prefilled with 1 for each task', async () => {
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'multitask.jsonl')), deps());
  // The last question is the confirmation (Start), after the settings.
  assert.equal(fake.state.asked.at(-1)!.title, 'Fine-tune multitask.jsonl: Start');
  const weights = fake.state.asked.at(-3)!;
  assert.equal(weights.title, 'Fine-tune multitask.jsonl (6/7): Task Weights');
  assert.equal(weights.value, 'translate=1,summarize=1,sentiment=1');
  const sampling = fake.state.asked.at(-2)!;
  assert.equal(sampling.title, 'Fine-tune multitask.jsonl (7/7): Task Sampling');
  assert.deepEqual(
    (sampling.items as { label: string }[]).map((i) => i.label),
    ['proportional', 'uniform', 'temperature'],
  );
  assert.deepEqual(started[0].taskWeights, { translate: 1, summarize: 1, sentiment: 1 });
  assert.equal(started[0].taskSampling, 'proportional');
});

test('LoRA asks for r, alpha and targets, and they reach the run', async () => {
  const pickLabel = (label: string) => (r: { items?: unknown[] }) => (r.items as { label: string }[]).find((i) => i.label === label);
  fake.state.answers = [
    (r) => r.items![0], // model: tiny
    pickLabel('lora'),
    () => '4', // r
    () => '16', // alpha
    pickLabel('all-linear'),
  ];
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'alpaca.jsonl')), deps());
  const [c] = started;
  assert.deepEqual([c.strategy, c.loraR, c.loraAlpha, c.loraTargets], ['lora', 4, 16, 'all-linear']);
  assert.equal(c.lr, 2e-3);
  assert.match(fs.readdirSync(runsDir)[0], /-alpaca-lora$/);
});

test('a dataset with errors is not trained on: the message counts them and offers Problems', async () => {
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'mistakes.jsonl')), deps());
  assert.deepEqual(fake.state.messages, [{ kind: 'error', text: '8 errors in mistakes.jsonl: fix them before training.' }]);
  assert.equal(started.length, 0);
  assert.equal(fake.state.asked.length, 0);
  assert.deepEqual(fs.readdirSync(runsDir), []);
});

test('in an untrusted workspace nothing starts and the user is told why', async () => {
  fake.state.trusted = false;
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'alpaca.jsonl')), deps());
  assert.equal(started.length, 0);
  assert.deepEqual(fake.state.messages, [{ kind: 'warning', text: flow.UNTRUSTED_MESSAGE }]);
});

test('Escape at any step leaves no run folder behind', async () => {
  fake.state.answers = [(r) => r.items![0], () => undefined];
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'alpaca.jsonl')), deps());
  assert.equal(started.length, 0);
  assert.deepEqual(fs.readdirSync(runsDir), []);
});

test("Fine-tune with run.json starts a new run with the file's settings in its own folder", async () => {
  const old = path.join(runsDir, 'old-run');
  fs.mkdirSync(old);
  const file = path.join(old, 'run.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ data: path.join(samples, 'text.jsonl'), model: 'tiny', strategy: 'partial', freezeLayers: 1, out: old, epochs: 1, lr: 0.001 }),
  );
  await flow.runFromConfigCommand(fake.Uri.file(file), deps());
  assert.equal(started.length, 1);
  const [c] = started;
  assert.notEqual(c.out, old);
  assert.match(path.basename(c.out), /-text-partial$/);
  assert.equal(c.freezeLayers, 1);
  assert.ok(fs.existsSync(path.join(c.out, 'run.json')));
});

test("a run.json with a bad setting is refused with the trainer's own message", async () => {
  const file = path.join(runsDir, 'run.json');
  fs.writeFileSync(file, JSON.stringify({ data: path.join(samples, 'text.jsonl'), model: 'tiny', out: runsDir, lr: -1 }));
  await flow.runFromConfigCommand(fake.Uri.file(file), deps());
  assert.equal(started.length, 0);
  assert.match(fake.state.messages[0].text, /^Fine-tune with run\.json: .*lr.*greater than 0/);
});

test('Enter all the way on a classification dataset trains tiny fully with the classification head, one label per class', async () => {
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'classification.jsonl')), deps());
  assert.deepEqual(
    fake.state.asked.map((a) => a.title),
    [
      'Fine-tune classification.jsonl (1/6): Base Model',
      'Fine-tune classification.jsonl (2/6): Head',
      'Fine-tune classification.jsonl (3/6): Strategy',
      'Fine-tune classification.jsonl (4/6): Epochs',
      'Fine-tune classification.jsonl (5/6): Learning Rate',
      'Fine-tune classification.jsonl (6/6): Batch Size',
      'Fine-tune classification.jsonl: Start',
    ],
  );
  const [c] = started;
  assert.deepEqual([c.model, c.strategy, c.head, c.numLabels], ['tiny', 'full', 'classification', 3]);
  const strategies = (fake.state.asked[2].items as { label: string }[]).map((i) => i.label);
  assert.ok(!strategies.includes('adapter') && !strategies.includes('prompt tuning'), 'the classification head trains with full, partial or LoRA');
});

const pickLabel = (label: string) => (r: { items?: unknown[] }) => (r.items as { label: string }[]).find((i) => i.label === label);

test('the adapter strategy asks for the bottleneck dimension, 64 by default', async () => {
  let asked: string | undefined;
  fake.state.answers = [(r) => r.items![0], pickLabel('adapter'), (r) => ((asked = r.value), '32')];
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'alpaca.jsonl')), deps());
  assert.equal(asked, '64');
  assert.deepEqual([started[0].strategy, started[0].adapterDim], ['adapter', 32]);
});

test('prompt tuning asks for virtual tokens (20) and an init text: the task for classification data with the LM head, random otherwise', async () => {
  const values: (string | undefined)[] = [];
  const enter = (r: { value?: string }) => (values.push(r.value), r.value);
  fake.state.answers = [(r) => r.items![0], pickLabel('causal LM'), pickLabel('prompt tuning'), enter, enter];
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'classification.jsonl')), deps());
  assert.deepEqual(values, ['20', 'Classify the sentiment:']);
  assert.deepEqual([started[0].strategy, started[0].head, started[0].virtualTokens, started[0].promptInit], ['prompt', 'lm', 20, 'Classify the sentiment:']);

  started = [];
  values.length = 0;
  fake.state.answers = [(r) => r.items![0], pickLabel('prompt tuning'), enter, enter];
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'alpaca.jsonl')), deps());
  assert.deepEqual(values, ['20', '']);
  assert.equal(started[0].promptInit, undefined, 'random initialisation');
});

test('temperature task sampling asks for T', async () => {
  fake.state.answers = [
    (r) => r.items![0],
    (r) => r.items![0],
    () => '3',
    () => '1e-3',
    () => '8',
    () => 'translate=1,summarize=0.5,sentiment=0',
    pickLabel('temperature'),
    () => '4',
  ];
  await flow.fineTuneCommand(fake.Uri.file(path.join(samples, 'multitask.jsonl')), deps());
  const [c] = started;
  assert.deepEqual([c.taskSampling, c.samplingTemperature], ['temperature', 4]);
  assert.deepEqual(c.taskWeights, { translate: 1, summarize: 0.5, sentiment: 0 });
});

function stoppedRun(status: 'stopped' | 'completed', checkpoint: boolean): string {
  const dir = path.join(runsDir, `run-${status}-${checkpoint}`);
  const config = { data: path.join(samples, 'alpaca.jsonl'), model: 'tiny', strategy: 'full', out: dir, epochs: 1, lr: 0.001 } as const;
  // claimed as a run's folder, as the extension creates one (trainer/runOwnership.ts)
  createRunFolder(resolveTrainConfig(config));
  const events = [
    { type: 'start', time: 1, config, backend: 'cpu', device: 'cpu', model: {}, dataset: {}, stepsPerEpoch: 4, totalSteps: 4 },
    { type: 'step', time: 2, step: 2, loss: 3 },
    { type: 'done', time: 3, status, step: 2, elapsedSec: 1, outputFiles: [] },
  ];
  fs.writeFileSync(path.join(dir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  if (checkpoint) fixtureCheckpoint(dir, 2);
  return dir;
}

function resumeDeps(active = false) {
  return { ...deps(), manager: { start: (c: TrainConfig) => started.push(c), isActive: () => active } as never };
}

test('Resume Run starts the trainer on the same folder with --resume, so the same panel follows it', async () => {
  const dir = stoppedRun('stopped', true);
  await flow.resumeRunCommand(dir, resumeDeps());
  assert.equal(started.length, 1);
  assert.equal(started[0].resume, dir);
  assert.equal(started[0].out, dir, 'the run continues in its own folder (and events.jsonl)');
  assert.deepEqual(fake.state.messages, []);
});

test('Resume Run refuses finished runs, runs without a checkpoint and runs already going, saying why', async () => {
  await flow.resumeRunCommand(stoppedRun('completed', true), resumeDeps());
  await flow.resumeRunCommand(stoppedRun('stopped', false), resumeDeps());
  await flow.resumeRunCommand(stoppedRun('stopped', true), resumeDeps(true));
  assert.equal(started.length, 0);
  assert.deepEqual(
    fake.state.messages.map((m) => m.kind),
    ['error', 'error', 'info'],
  );
  assert.match(fake.state.messages[0].text, /completed; only stopped or failed runs continue/);
  assert.match(fake.state.messages[1].text, /no checkpoint/);
  assert.match(fake.state.messages[2].text, /already running/);
});

test('a chat dataset asks for the chat template; ChatML and a picked file reach run.json, Escape on the file dialog cancels', async () => {
  const pickLabel = (label: string) => (r: { items?: unknown[] }) => (r.items as { label: string }[]).find((i) => i.label === label);
  const chat = fake.Uri.file(path.join(samples, 'chat.jsonl'));
  fake.state.answers = [(r) => r.items![0], pickLabel('ChatML')];
  await flow.fineTuneCommand(chat, deps());
  const step = fake.state.asked.find((a) => a.title?.endsWith('Chat Template'))!;
  assert.equal(step.title, 'Fine-tune chat.jsonl (2/6): Chat Template');
  // tiny has no template of its own: the plain chat format is the first item, as Enter takes it.
  assert.deepEqual(
    (step.items as { label: string }[]).map((i) => i.label),
    ['Plain chat format', 'ChatML', 'Template file…'],
  );
  assert.equal(started[0].chatTemplate, 'chatml');

  const file = path.join(runsDir, 'my-template.jinja');
  fs.writeFileSync(file, "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}");
  const window = fake.window as { showOpenDialog: unknown };
  const original = window.showOpenDialog;
  try {
    window.showOpenDialog = async () => [fake.Uri.file(file)];
    fake.state.answers = [(r) => r.items![0], pickLabel('Template file…')];
    await flow.fineTuneCommand(chat, deps());
    assert.equal(started[1].chatTemplate, file);
    window.showOpenDialog = async () => undefined;
    fake.state.answers = [(r) => r.items![0], pickLabel('Template file…')];
    await flow.fineTuneCommand(chat, deps());
    assert.equal(started.length, 2, 'no run starts when the file dialog is dismissed');
  } finally {
    window.showOpenDialog = original;
  }
  // Enter on the step keeps the default: no chatTemplate in the run's settings.
  fake.state.answers = [];
  await flow.fineTuneCommand(chat, deps());
  assert.equal(started[2].chatTemplate, undefined);
});
