import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import {
  checkSetting,
  checkRepoId,
  configForRerun,
  configFromChoices,
  findCachedModels,
  modelChoices,
  parseTaskWeights,
  resolveRunsDirectory,
  runDefaults,
  strategyChoices,
  taskWeightsText,
  writeRunJson,
  canResume,
  defaultPromptInit,
  headChoices,
  resumableCheckpoint,
  resumeConfig,
  taskSamplingChoices,
  trainerArgs,
  chatTemplateChoices,
  modelChatTemplate,
} from '../../extension/training/fineTuneChoices';
import { validateFile } from '../../language';
import { PRESET_TRAIN_DEFAULTS, TRAIN_DEFAULTS } from '../../protocol/options';
import { parseTrainArgs, readConfigFile, resolveTrainConfig } from '../../trainer/runConfig';
import { fixtureCheckpoint } from './runFolderFixture';

const root = path.join(__dirname, '../..');
const samples = path.join(root, 'samples');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ft-flow-'));

function cacheRepo(cache: string, repo: string, commit: string, files: Record<string, string>, ref?: string): string {
  const base = path.join(cache, `models--${repo.replace('/', '--')}`);
  const snap = path.join(base, 'snapshots', commit);
  fs.mkdirSync(snap, { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(snap, name), text);
  if (ref) {
    fs.mkdirSync(path.join(base, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(base, 'refs', 'main'), ref);
  }
  return snap;
}

const gpt2Config = JSON.stringify({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_layer: 6, n_embd: 768, n_head: 12 });

test('cached models: complete GPT-2 snapshots only, the one refs/main names first, passed as a folder so nothing downloads', () => {
  const cache = tmp();
  const a = 'a'.repeat(40);
  const b = 'b'.repeat(40);
  cacheRepo(cache, 'distilbert/distilgpt2', a, { 'config.json': gpt2Config, 'model.safetensors': 'x' });
  const main = cacheRepo(cache, 'distilbert/distilgpt2', b, { 'config.json': gpt2Config, 'model.safetensors': 'x' }, b);
  cacheRepo(cache, 'someone/config-only', a, { 'config.json': gpt2Config });
  cacheRepo(cache, 'google-bert/bert-base-uncased', a, { 'config.json': JSON.stringify({ model_type: 'bert' }), 'model.safetensors': 'x' });
  fs.mkdirSync(path.join(cache, 'datasets--x--y'));
  const found = findCachedModels(cache);
  // distilgpt2's size: 6 blocks of GPT-2 small's width.
  assert.deepEqual(found, [{ repoId: 'distilbert/distilgpt2', dir: main, nLayer: 6, family: 'GPT-2', parameters: 81912576 }]);
  assert.deepEqual(findCachedModels(path.join(cache, 'nope')), []);
});

test('the first model item is a cached model when there is one, else the offline tiny preset', () => {
  const none = modelChoices([]);
  assert.equal(none[0].label, 'tiny');
  assert.equal(none[0].model, 'tiny');
  assert.deepEqual(
    none.map((c) => c.label),
    [
      'tiny',
      'gpt2',
      'distilgpt2',
      'smollm2-135m',
      'smollm2-360m',
      'qwen2.5-0.5b',
      'qwen3-0.6b',
      'tinyllama-1.1b',
      'llama-3.2-1b',
      'Browse…',
      'Enter a Hugging Face id…',
    ],
  );
  const some = modelChoices([{ repoId: 'openai-community/gpt2', dir: '/cache/snap', nLayer: 12 }]);
  assert.equal(some[0].label, 'openai-community/gpt2');
  assert.equal(some[0].model, '/cache/snap');
  assert.equal(some[1].label, 'tiny');
});

test('tiny trains fully by default, pretrained models with LoRA; tiny gets its own learning rate and short examples', () => {
  const [tiny] = modelChoices([]);
  assert.equal(strategyChoices(tiny)[0].strategy, 'full');
  const pretrained = modelChoices([{ repoId: 'o/m', dir: '/d', nLayer: 12 }])[0];
  assert.equal(strategyChoices(pretrained)[0].strategy, 'lora');
  assert.deepEqual(
    strategyChoices(pretrained).map((s) => s.strategy),
    ['lora', 'full', 'partial', 'adapter', 'prompt'],
  );
  const d = runDefaults(tiny, 'full');
  const own = PRESET_TRAIN_DEFAULTS.tiny;
  assert.deepEqual(
    { epochs: d.epochs, batchSize: d.batchSize, maxLength: d.maxLength, lr: d.lr },
    { epochs: own.epochs, batchSize: own.batchSize, maxLength: own.maxLength, lr: own.lr.full },
  );
  for (const s of ['partial', 'lora', 'adapter', 'prompt'] as const) assert.equal(runDefaults(tiny, s).lr, own.lr[s], s);
  const p = runDefaults(pretrained, 'full');
  assert.deepEqual(
    { epochs: p.epochs, batchSize: p.batchSize, maxLength: p.maxLength },
    { epochs: TRAIN_DEFAULTS.epochs, batchSize: TRAIN_DEFAULTS.batchSize, maxLength: 256 },
  );
  assert.ok(d.lr > p.lr);
  assert.equal(runDefaults(pretrained, 'lora').lr, 2e-4);
  assert.equal(runDefaults(pretrained, 'partial').freezeLayers, 6);
  assert.equal(runDefaults(tiny, 'partial').freezeLayers, 1);
});

test('Enter all the way on tiny writes the run `finetune train --model tiny` makes without flags', () => {
  const data = path.join(samples, 'alpaca.jsonl');
  const runDir = path.join(tmp(), 'run');
  const model = modelChoices([])[0];
  const strategy = strategyChoices(model)[0].strategy;
  const d = runDefaults(model, strategy);
  const fromFlow = configFromChoices(
    { data, model: model.model!, strategy, epochs: d.epochs, lr: d.lr, batchSize: d.batchSize, maxLength: d.maxLength },
    runDir,
  );
  const fromCli = parseTrainArgs(['--data', data, '--model', 'tiny', '--out', runDir]);
  assert.deepEqual(fromFlow, fromCli);
  // Settings the quick pick does not ask for come from the same declaration.
  assert.equal(fromFlow.warmupSteps, PRESET_TRAIN_DEFAULTS.tiny.warmupSteps);
});

const CLEAN_SAMPLES = ['alpaca.jsonl', 'chat.jsonl', 'completion.jsonl', 'text.jsonl', 'classification.jsonl', 'multitask.jsonl'];

test('Enter all the way on every clean sample gives a valid tiny run that needs no download', async () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(fs.readFileSync(path.join(root, 'trainer/run.schema.json'), 'utf8')));
  for (const name of CLEAN_SAMPLES) {
    const data = path.join(samples, name);
    const check = await validateFile(data, { maxDiagnostics: 1, workers: 0 });
    assert.equal(check.errors, 0, `${name} is clean, so training may start`);
    const model = modelChoices([])[0];
    // Tasks and labels come from the same validation read that let training start.
    const { tasks, labels } = check;
    // The flow's first item at each step, as Enter takes it.
    const head = headChoices(check.format, labels)[0]?.head ?? 'lm';
    const strategy = strategyChoices(model, head)[0].strategy;
    const d = runDefaults(model, strategy);
    const taskWeights = tasks.length ? parseTaskWeights(taskWeightsText(tasks)).weights : undefined;
    const taskSampling = tasks.length > 1 ? taskSamplingChoices()[0]?.value : undefined;
    const runDir = path.join(tmp(), 'run');
    const numLabels = head === 'classification' ? labels.length : undefined;
    const config = configFromChoices(
      {
        data,
        model: model.model!,
        strategy,
        epochs: d.epochs,
        lr: d.lr,
        batchSize: d.batchSize,
        maxLength: d.maxLength,
        taskWeights,
        taskSampling,
        head,
        numLabels,
      },
      runDir,
    );
    assert.equal(config.model, 'tiny');
    assert.equal(config.strategy, 'full');
    if (name === 'classification.jsonl')
      assert.deepEqual([config.head, config.numLabels], ['classification', 3], 'a classification dataset trains the classification head by default');
    else assert.equal(config.head, 'lm');
    const file = writeRunJson(config);
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.ok(validate(json), `${name}: run.json matches run.schema.json: ${ajv.errorsText(validate.errors)}`);
    // What the trainer will read back is what was chosen.
    const reread = resolveTrainConfig(readConfigFile(file));
    assert.equal(reread.data, data);
    assert.equal(reread.out, runDir);
    assert.equal(reread.maxLength, PRESET_TRAIN_DEFAULTS.tiny.maxLength);
    assert.equal(reread.lr, d.lr);
    if (name === 'multitask.jsonl') assert.deepEqual(reread.taskWeights, { translate: 1, summarize: 1, sentiment: 1 });
    else assert.equal(reread.taskWeights, undefined);
  }
});

test('strategy options reach run.json: freeze N layers for partial, r / alpha / targets for LoRA', () => {
  const data = path.join(samples, 'alpaca.jsonl');
  const partial = configFromChoices({ data, model: 'tiny', strategy: 'partial', epochs: 1, lr: 1e-3, batchSize: 4, freezeLayers: 1, loraR: 99 }, '/tmp/x');
  assert.equal(partial.freezeLayers, 1);
  assert.equal(partial.loraR, 8, 'options of another strategy are not carried over');
  const lora = configFromChoices(
    { data, model: 'tiny', strategy: 'lora', epochs: 1, lr: 1e-3, batchSize: 4, loraR: 4, loraAlpha: 16, loraTargets: 'all-linear' },
    '/tmp/x',
  );
  assert.deepEqual([lora.loraR, lora.loraAlpha, lora.loraTargets], [4, 16, 'all-linear']);
});

test('re-running a run.json keeps its settings but gets its own folder and never resumes the old run', () => {
  const saved = { data: '/d/a.jsonl', model: 'tiny', strategy: 'lora' as const, loraR: 4, out: '/old/run', resume: '/old/run', epochs: 2 };
  const c = configForRerun(saved, '/new/run');
  assert.equal(c.out, '/new/run');
  assert.equal(c.resume, undefined);
  assert.equal(c.loraR, 4);
  assert.equal(c.epochs, 2);
});

test('the task list comes from the dataset; the weights box takes task=weight pairs and explains mistakes', async () => {
  const tasksOf = async (name: string) => (await validateFile(path.join(samples, name), { maxDiagnostics: 1, workers: 0 })).tasks;
  assert.deepEqual(await tasksOf('multitask.jsonl'), ['translate', 'summarize', 'sentiment']);
  assert.deepEqual(await tasksOf('alpaca.jsonl'), []);
  assert.equal(taskWeightsText(['translate', 'summarize']), 'translate=1,summarize=1');
  assert.deepEqual(parseTaskWeights('translate=1, summarize=0.5').weights, { translate: 1, summarize: 0.5 });
  assert.match(parseTaskWeights('translate').error!, /expected task=weight/);
  assert.match(parseTaskWeights('translate=-1').error!, /at least 0/);
});

test('input checks reject what the trainer would refuse', () => {
  assert.equal(checkSetting('batchSize', '8', 'Batch size'), undefined);
  assert.match(checkSetting('batchSize', '0', 'Batch size')!, /at least 1/);
  assert.match(checkSetting('batchSize', '2.5', 'Batch size')!, /whole number/);
  assert.equal(checkSetting('lr', '5e-5', 'Learning rate'), undefined);
  assert.match(checkSetting('lr', '-1', 'Learning rate')!, /greater than 0/);
  assert.match(checkSetting('epochs', 'abc', 'Epochs')!, /greater than 0/);
  assert.equal(checkRepoId('openai-community/gpt2'), undefined);
  assert.ok(checkRepoId('gpt2 please'));
});

test('the runs directory is relative to the workspace folder unless absolute', () => {
  assert.equal(resolveRunsDirectory(undefined, '/ws', '/global'), path.resolve('/ws/.finetune/runs'));
  assert.equal(resolveRunsDirectory('', '/ws', '/global'), path.resolve('/ws/.finetune/runs'));
  assert.equal(resolveRunsDirectory('out/runs', undefined, '/global'), path.resolve('/global/out/runs'));
  assert.equal(resolveRunsDirectory('/abs/runs', '/ws', '/global'), '/abs/runs');
});

test('adapter and prompt-tuning options reach run.json, and only for their own strategy', () => {
  const data = path.join(samples, 'alpaca.jsonl');
  const base = { data, model: 'tiny', epochs: 1, lr: 1e-3, batchSize: 4 };
  const adapter = configFromChoices({ ...base, strategy: 'adapter', adapterDim: 32, virtualTokens: 7, promptInit: 'x' }, '/tmp/x');
  assert.deepEqual([adapter.strategy, adapter.adapterDim, adapter.virtualTokens, adapter.promptInit], ['adapter', 32, 20, undefined]);
  const prompt = configFromChoices({ ...base, strategy: 'prompt', virtualTokens: 8, promptInit: 'Classify the sentiment:', adapterDim: 5 }, '/tmp/x');
  assert.deepEqual([prompt.strategy, prompt.virtualTokens, prompt.promptInit, prompt.adapterDim], ['prompt', 8, 'Classify the sentiment:', 64]);
  const random = configFromChoices({ ...base, strategy: 'prompt', virtualTokens: 8, promptInit: '  ' }, '/tmp/x');
  assert.equal(random.promptInit, undefined, 'an empty init text means random initialisation');
});

test('prompt tuning starts from a task description for classification data and randomly otherwise', () => {
  assert.equal(defaultPromptInit('classification', ['positive', 'negative', 'neutral']), 'Classify the sentiment:');
  assert.equal(defaultPromptInit('classification', ['spam', 'ham']), 'Classify the text as spam, ham:');
  assert.equal(defaultPromptInit('alpaca', []), '');
  assert.equal(defaultPromptInit(undefined), '');
});

test('classification datasets are asked for the head, classification head first with one label per distinct label', async () => {
  const { labels } = await validateFile(path.join(samples, 'classification.jsonl'), { maxDiagnostics: 1, workers: 0 });
  assert.deepEqual(labels, ['positive', 'negative', 'neutral']);
  assert.deepEqual(
    headChoices('classification', labels).map((h) => h.head),
    ['classification', 'lm'],
  );
  assert.deepEqual(headChoices('alpaca', labels), []);
  assert.deepEqual(headChoices('classification', ['only']), [], 'one label cannot train a classifier');
  const [tiny] = modelChoices([]);
  assert.deepEqual(
    strategyChoices(tiny, 'classification').map((s) => s.strategy),
    ['full', 'partial', 'lora'],
    'adapters and prompt tuning train the LM head only',
  );
  const config = configFromChoices(
    {
      data: path.join(samples, 'classification.jsonl'),
      model: 'tiny',
      strategy: 'full',
      epochs: 1,
      lr: 1e-3,
      batchSize: 4,
      head: 'classification',
      numLabels: 3,
    },
    '/tmp/x',
  );
  assert.deepEqual([config.head, config.numLabels], ['classification', 3]);
  const lm = configFromChoices(
    { data: path.join(samples, 'classification.jsonl'), model: 'tiny', strategy: 'full', epochs: 1, lr: 1e-3, batchSize: 4, head: 'lm', numLabels: 3 },
    '/tmp/x',
  );
  assert.deepEqual([lm.head, lm.numLabels], ['lm', undefined]);
});

test('task sampling is offered only when the trainer has the setting; temperature carries its T', () => {
  assert.deepEqual(taskSamplingChoices([]), []);
  assert.deepEqual(
    taskSamplingChoices().map((c) => c.value),
    ['proportional', 'uniform', 'temperature'],
  );
  const data = path.join(samples, 'multitask.jsonl');
  const c = configFromChoices(
    { data, model: 'tiny', strategy: 'full', epochs: 1, lr: 1e-3, batchSize: 4, taskSampling: 'temperature', samplingTemperature: 3 },
    '/tmp/x',
  );
  assert.deepEqual([c.taskSampling, c.samplingTemperature], ['temperature', 3]);
  const u = configFromChoices(
    { data, model: 'tiny', strategy: 'full', epochs: 1, lr: 1e-3, batchSize: 4, taskSampling: 'uniform', samplingTemperature: 3 },
    '/tmp/x',
  );
  assert.deepEqual([u.taskSampling, u.samplingTemperature], ['uniform', 2], 'T belongs to temperature sampling only');
});

/** A run folder as the trainer leaves it: run.json, and checkpoints/step-N with or without trainer_state.json. */
function runFolder(checkpoints: { step: number; complete: boolean }[]): string {
  const dir = path.join(tmp(), 'run');
  const config = configFromChoices(
    { data: path.join(samples, 'alpaca.jsonl'), model: 'tiny', strategy: 'lora', epochs: 1, lr: 1e-3, batchSize: 4, loraR: 4 },
    dir,
  );
  writeRunJson(config);
  // checkpoints as the trainer writes them: trainer_state.json (written last) carries the run's id
  for (const c of checkpoints) fixtureCheckpoint(dir, c.step, c.complete);
  return dir;
}

test('a new run reads its run.json; Resume continues the folder with --resume, from its last complete checkpoint', () => {
  assert.deepEqual(trainerArgs('/runs/a'), [`--config=${path.join(path.resolve('/runs/a'), 'run.json')}`]);
  assert.deepEqual(trainerArgs('/runs/a', true), [`--resume=${path.resolve('/runs/a')}`]);
  const dir = runFolder([
    { step: 4, complete: true },
    { step: 6, complete: false },
  ]);
  assert.equal(resumableCheckpoint(dir), path.join(dir, 'checkpoints', 'step-4'), 'a checkpoint without trainer_state.json is incomplete');
  assert.equal(canResume('stopped', dir), true);
  assert.equal(canResume('failed', dir), true);
  assert.equal(canResume('completed', dir), false);
  assert.equal(canResume('early-stopped', dir), false);
  assert.equal(canResume('running', dir), false);
  const none = runFolder([{ step: 2, complete: false }]);
  assert.equal(canResume('stopped', none), false, 'nothing to continue from');
  const config = resumeConfig(dir);
  assert.equal(config.resume, dir);
  assert.equal(config.out, dir);
  assert.deepEqual([config.strategy, config.loraR], ['lora', 4], 'the run keeps its own settings');
  assert.throws(() => resumeConfig(path.join(tmp(), 'nothing')), /no run\.json/);
});

test("modelChatTemplate reads a model's own template as the trainer does: chat_template.jinja, a tokenizer_config.json string or its `default` entry", () => {
  const folder = (files: Record<string, string>) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-template-'));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    return dir;
  };
  const emptyCache = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-hfcache-'));
  assert.equal(modelChatTemplate(folder({ 'chat_template.jinja': '{{ messages }}', 'tokenizer_config.json': '{}' }), emptyCache), 'own');
  assert.equal(modelChatTemplate(folder({ 'tokenizer_config.json': JSON.stringify({ chat_template: '{{ x }}' }) }), emptyCache), 'own');
  assert.equal(
    modelChatTemplate(
      folder({
        'tokenizer_config.json': JSON.stringify({
          chat_template: [
            { name: 'tool_use', template: 'a' },
            { name: 'default', template: 'b' },
          ],
        }),
      }),
      emptyCache,
    ),
    'own',
  );
  assert.equal(
    modelChatTemplate(folder({ 'tokenizer_config.json': JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'a' }] }) }), emptyCache),
    'none',
  );
  assert.equal(modelChatTemplate(folder({ 'tokenizer_config.json': JSON.stringify({ bos_token: '<s>' }) }), emptyCache), 'none');
  assert.equal(modelChatTemplate('tiny', emptyCache), 'none');
  assert.equal(modelChatTemplate('gpt2', emptyCache), 'none');
  // A Llama-family preset not downloaded yet: its template is not known before its files are.
  assert.equal(modelChatTemplate('smollm2-135m', emptyCache), 'unknown');
  assert.deepEqual(
    chatTemplateChoices('own').map((c) => [c.label, c.value]),
    [
      ["The model's own template", undefined],
      ['ChatML', 'chatml'],
      ['Template file…', 'file'],
    ],
  );
});
