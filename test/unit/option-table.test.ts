// The option table (protocol/options.ts) is the one declaration of every run setting: a toy option
// declared here alone must work through everything derived from it (the train and params parsers, the
// run.json schema, --help, the quick pick's check), the committed schema must be the generated one, and
// every declared default must pass its own check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import { paramsHelp, paramsSettings, run as paramsRun } from '../../cli/params';
import { trainHelp } from '../../cli/train';
import { UsageError } from '../../cli/usage';
import { checkSetting, runDefaults, modelChoices } from '../../extension/training/fineTuneChoices';
import {
  coerceOption,
  DEFAULT_LR,
  defineOption,
  defineStrategy,
  optionSpecs,
  PRESET_TRAIN_DEFAULTS,
  runJsonSchema,
  TRAIN_DEFAULTS,
  TrainConfigError,
  type OptionSpec,
} from '../../protocol/options';
import type { TrainConfig } from '../../protocol/trainer';
import { parseTrainArgs, readConfigFile, runJsonOf } from '../../trainer/runConfig';
import { captureStdout } from './captureStdout';

const base = ['--data', 'train.jsonl', '--model', 'gpt2', '--out', 'runs/a'];

/** A LoRA setting no module of the project knows: declared for one test, removed after it. */
const TOY: OptionSpec = {
  name: 'toyScale',
  kind: 'number',
  value: 'S',
  min: 0,
  max: 4,
  default: 1.5,
  needs: { option: 'strategy', values: ['lora'] },
  group: 'strategies',
  commands: ['train', 'params'],
  help: 'a scale only the option-table test declares',
};

async function withToy(body: () => void | Promise<void>): Promise<void> {
  const remove = defineOption(TOY);
  try {
    await body();
  } finally {
    remove();
  }
}

const toyOf = (c: Partial<TrainConfig>) => (c as Record<string, unknown>).toyScale;

test('a toy option declared in a test is parsed, range-checked and defaulted by the train parser, and refused for another strategy', () =>
  withToy(() => {
    assert.equal(toyOf(parseTrainArgs([...base, '--strategy', 'lora', '--toy-scale', '2'])), 2);
    assert.equal(toyOf(parseTrainArgs([...base, '--strategy', 'lora'])), 1.5, 'the declared default');
    const refused: [string[], RegExp][] = [
      [['--strategy', 'lora', '--toy-scale', '5'], /^--toy-scale must be at most 4, got 5$/],
      [['--strategy', 'lora', '--toy-scale=-1'], /^--toy-scale must be at least 0, got -1$/],
      [['--strategy', 'lora', '--toy-scale', 'big'], /^--toy-scale must be a number, got "big"$/],
      [['--strategy', 'full', '--toy-scale', '2'], /^--toy-scale needs --strategy lora \(got full\)$/],
    ];
    for (const [flags, message] of refused) {
      assert.throws(
        () => parseTrainArgs([...base, ...flags]),
        (e: Error) => e instanceof TrainConfigError && message.test(e.message),
        flags.join(' '),
      );
    }
    // run.json stores it and reads it back; its default under another strategy is no mistake.
    const c = parseTrainArgs([...base, '--strategy', 'lora', '--toy-scale', '3']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-options-'));
    try {
      const file = path.join(dir, 'run.json');
      fs.writeFileSync(file, JSON.stringify(runJsonOf(c)));
      assert.equal(toyOf(readConfigFile(file)), 3);
      fs.writeFileSync(file, JSON.stringify({ ...runJsonOf(c), strategy: 'full', toyScale: 1.5 }));
      assert.equal(toyOf(parseTrainArgs(['--config', file])), 1.5);
      fs.writeFileSync(file, JSON.stringify({ ...runJsonOf(c), toyScale: 'x' }));
      assert.throws(() => readConfigFile(file), /run\.json: "toyScale" must be a number/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }).then(() => {
    assert.throws(() => parseTrainArgs([...base, '--toy-scale', '2']), /Unknown option '--toy-scale'/, 'removed with its declaration');
  }));

test("the toy option is in run.json's generated schema: accepted in its range, refused outside it", () =>
  withToy(() => {
    const validate = new Ajv({ allErrors: true }).compile(runJsonSchema());
    const json = runJsonOf(parseTrainArgs([...base, '--strategy', 'lora', '--toy-scale', '2']));
    assert.equal(json.toyScale, 2);
    assert.ok(validate(json), JSON.stringify(validate.errors));
    assert.equal(validate({ ...json, toyScale: 4.5 }), false);
    assert.equal(validate({ ...json, toyScale: 'x' }), false);
    const property = (runJsonSchema().properties as Record<string, Record<string, unknown>>).toyScale;
    assert.deepEqual([property.minimum, property.maximum, property.default], [0, 4, 1.5]);
  }).then(() => {
    assert.equal(new Ajv().compile(runJsonSchema())({ data: 'd', model: 'm', out: 'o', toyScale: 2 }), false, 'unknown once removed');
  }));

test('train and params --help list the toy option with its owner, help text and default; bench, which does not take it, does not', () =>
  withToy(async () => {
    const line = /^ {2}--toy-scale S +lora: a scale only the option-table test declares; default 1\.5$/m;
    assert.match(trainHelp(), line);
    assert.match(paramsHelp(), line);
    const { benchHelp } = await import('../../cli/bench');
    assert.doesNotMatch(benchHelp(), /--toy-scale/);
    const { code, out } = await captureStdout(() => paramsRun(['--help']));
    assert.equal(code, 0);
    assert.match(out, line);
  }));

test('params takes the toy option like train: parsed, range-checked, defaulted, refused for another strategy; the breakdown is computed', () =>
  withToy(async () => {
    assert.equal(toyOf(paramsSettings(['--model', 'gpt2', '--strategy', 'lora', '--toy-scale', '3']).settings), 3);
    assert.equal(toyOf(paramsSettings(['--model', 'gpt2', '--strategy', 'lora']).settings), 1.5);
    await assert.rejects(
      paramsRun(['--model', 'gpt2', '--strategy', 'lora', '--toy-scale', '9']),
      (e: Error) => e instanceof UsageError && /--toy-scale must be at most 4/.test(e.message),
    );
    await assert.rejects(paramsRun(['--model', 'gpt2', '--toy-scale', '1']), /--toy-scale only applies to --strategy lora/);
    const { code, out } = await captureStdout(() => paramsRun(['--model', 'gpt2', '--strategy', 'lora', '--toy-scale', '2', '--json']));
    assert.equal(code, 0);
    assert.equal(JSON.parse(out).line, 'trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364');
  }));

test("the quick pick checks a setting against the table's range: the toy option's, and LoRA's rank with the trainer's bounds", () =>
  withToy(() => {
    assert.equal(checkSetting('toyScale' as keyof TrainConfig, '4', 'Scale'), undefined);
    assert.equal(checkSetting('toyScale' as keyof TrainConfig, '4.5', 'Scale'), 'Scale must be at most 4');
    assert.equal(checkSetting('toyScale' as keyof TrainConfig, 'x', 'Scale'), 'Scale must be a number of at least 0');
    // The rank's only bound beyond 1 is the model's own (the trainer's check, with the shape), not 1024.
    assert.equal(checkSetting('loraR', '2048', 'r'), undefined);
    assert.match(checkSetting('loraR', '0', 'r')!, /whole number of at least 1/);
    assert.equal(checkSetting('freezeLayers', '13', 'Frozen layers', 12), 'Frozen layers must be at most 12');
    const d = runDefaults(modelChoices([{ repoId: 'o/m', dir: '/d', nLayer: 12 }])[0], 'lora');
    assert.deepEqual(
      [d.loraR, d.adapterDim, d.virtualTokens, d.samplingTemperature],
      [TRAIN_DEFAULTS.loraR, TRAIN_DEFAULTS.adapterDim, TRAIN_DEFAULTS.virtualTokens, TRAIN_DEFAULTS.samplingTemperature],
    );
  }));

test('a strategy declared with defineStrategy is accepted by --strategy, brings its learning rate, and keeps its heads', () => {
  const remove = defineStrategy({ name: 'toy', help: 'a strategy only this test declares', lr: 0.5, heads: ['lm'] });
  try {
    assert.equal(parseTrainArgs([...base, '--strategy', 'toy']).lr, 0.5);
    assert.throws(
      () => parseTrainArgs([...base, '--strategy', 'toy', '--head', 'classification']),
      /--head classification trains with --strategy full, partial or lora, not toy/,
    );
    assert.deepEqual((runJsonSchema().properties as Record<string, { enum?: string[] }>).strategy.enum, [
      'full',
      'partial',
      'lora',
      'adapter',
      'prompt',
      'toy',
    ]);
  } finally {
    remove();
  }
  assert.throws(() => parseTrainArgs([...base, '--strategy', 'toy']), /--strategy must be full, partial, lora, adapter or prompt, got "toy"/);
});

test('params defaults the strategy settings as train does: --strategy adapter without --adapter-dim counts 64, prompt 20 virtual tokens', async () => {
  const json = async (args: string[]) => JSON.parse((await captureStdout(() => paramsRun(['--model', 'gpt2', ...args, '--json']))).out);
  assert.deepEqual(await json(['--strategy', 'adapter']), await json(['--strategy', 'adapter', '--adapter-dim', String(TRAIN_DEFAULTS.adapterDim)]));
  assert.deepEqual(await json(['--strategy', 'prompt']), await json(['--strategy', 'prompt', '--virtual-tokens', String(TRAIN_DEFAULTS.virtualTokens)]));
});

test('the committed trainer/run.schema.json is the schema the table generates', () => {
  const committed = JSON.parse(fs.readFileSync(path.join(__dirname, '../../trainer/run.schema.json'), 'utf8'));
  assert.deepEqual(committed, runJsonSchema(), 'trainer/run.schema.json is stale: run `node --import tsx scripts/run-schema.mjs`');
});

test('every declared default, preset default and strategy learning rate passes its own option check', () => {
  const checked = optionSpecs().filter((o) => o.default !== undefined);
  assert.ok(checked.length >= 30, `${checked.length} defaults`);
  for (const spec of checked) assert.deepEqual(coerceOption(spec, spec.default, 'json'), spec.default, spec.name);
  const spec = (name: string) => optionSpecs().find((o) => o.name === name)!;
  for (const [preset, d] of Object.entries(PRESET_TRAIN_DEFAULTS)) {
    for (const name of ['epochs', 'batchSize', 'warmupSteps', 'maxLength'] as const)
      assert.equal(coerceOption(spec(name), d[name], 'json'), d[name], `${preset} ${name}`);
    for (const lr of Object.values(d.lr)) coerceOption(spec('lr'), lr, 'json');
  }
  for (const lr of Object.values(DEFAULT_LR)) coerceOption(spec('lr'), lr, 'json');
});
