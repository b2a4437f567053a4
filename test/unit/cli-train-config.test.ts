import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import { DEFAULT_LR, PRESET_TRAIN_DEFAULTS, TRAIN_DEFAULTS, TRAIN_SETTING_NAMES, TrainConfigError } from '../../protocol/options';
import { parseTrainArgs, runJsonOf } from '../../trainer/runConfig';

// Every folder a test writes lives here and is removed when the file's tests end.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-tests-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const base = ['--data', 'train.jsonl', '--model', 'tiny', '--out', 'runs/a'];
const schema = JSON.parse(fs.readFileSync(path.join(__dirname, '../../trainer/run.schema.json'), 'utf8'));

test('train flags become a camelCased config with defaults filled in', () => {
  // A model without presets' own defaults (tiny has some: the next test).
  const pretrained = ['--data', 'train.jsonl', '--model', 'gpt2', '--out', 'runs/a'];
  const c = parseTrainArgs([
    ...pretrained,
    '--strategy',
    'lora',
    '--lora-r',
    '4',
    '--lora-targets',
    'c_attn,c_proj',
    '--no-shuffle',
    '--max-steps',
    '7',
    '--task-weights',
    'qa=1,sum=0.5',
  ]);
  assert.equal(c.strategy, 'lora');
  assert.equal(c.loraR, 4);
  assert.deepEqual(c.loraTargets, ['c_attn', 'c_proj']);
  assert.equal(c.noShuffle, true);
  assert.equal(c.maxSteps, 7);
  assert.deepEqual(c.taskWeights, { qa: 1, sum: 0.5 });
  assert.equal(c.lr, DEFAULT_LR.lora);
  assert.equal(c.batchSize, TRAIN_DEFAULTS.batchSize);
  assert.equal(c.evalFraction, TRAIN_DEFAULTS.evalFraction);
  assert.equal(c.epochs, TRAIN_DEFAULTS.epochs);
  assert.equal(c.maxLength, undefined, "the model's context");
  assert.equal(parseTrainArgs([...base, '--strategy', 'lora', '--lora-targets', 'all-linear']).loraTargets, 'all-linear');
});

test("--model tiny takes the preset's own training defaults; flags and run.json settings win over them", () => {
  const own = PRESET_TRAIN_DEFAULTS.tiny;
  const pick = (c: ReturnType<typeof parseTrainArgs>) => ({
    epochs: c.epochs,
    batchSize: c.batchSize,
    warmupSteps: c.warmupSteps,
    maxLength: c.maxLength,
    lr: c.lr,
  });
  const wanted = { epochs: own.epochs, batchSize: own.batchSize, warmupSteps: own.warmupSteps, maxLength: own.maxLength, lr: own.lr.full };
  assert.deepEqual(pick(parseTrainArgs(base)), wanted);
  // They are larger than the fine-tuning defaults: a random model must learn from scratch.
  assert.ok(own.epochs > TRAIN_DEFAULTS.epochs && own.lr.full > DEFAULT_LR.full);
  assert.equal(parseTrainArgs([...base, '--strategy', 'lora']).lr, own.lr.lora);
  assert.deepEqual(pick(parseTrainArgs([...base, '--epochs', '2', '--lr', '1e-4', '--batch-size', '8', '--warmup-steps', '0', '--max-length', '64'])), {
    epochs: 2,
    batchSize: 8,
    warmupSteps: 0,
    maxLength: 64,
    lr: 1e-4,
  });
  const file = path.join(scratch, 'tiny-run.json');
  fs.writeFileSync(file, JSON.stringify({ data: 'd.jsonl', model: 'tiny', out: 'run', epochs: 4 }));
  assert.deepEqual(pick(parseTrainArgs(['--config', file])), { ...wanted, epochs: 4 });
  // Other models keep the trainer's defaults.
  assert.deepEqual(pick(parseTrainArgs(['--data', 'd.jsonl', '--model', 'distilgpt2', '--out', 'o'])), {
    epochs: TRAIN_DEFAULTS.epochs,
    batchSize: TRAIN_DEFAULTS.batchSize,
    warmupSteps: TRAIN_DEFAULTS.warmupSteps,
    maxLength: undefined,
    lr: DEFAULT_LR.full,
  });
});

test('bad values are refused with a message naming the flag', () => {
  const bad: [string[], RegExp][] = [
    [['--lr', 'abc'], /--lr must be a number/],
    [['--lr', '0'], /--lr must be greater than 0/],
    [['--batch-size', '2.5'], /--batch-size must be an integer/],
    [['--schedule', 'step'], /--schedule must be one of constant, linear, cosine/],
    [['--eval-fraction', '0.95'], /--eval-fraction must be at most 0.9/],
    [['--lora-r', '4'], /--lora-r needs --strategy lora/],
    [['--freeze-layers', '1'], /--freeze-layers needs --strategy partial/],
    [['--eval-data', 'e.jsonl', '--eval-fraction', '0.2'], /either --eval-data or --eval-fraction/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--task-weights', 'a'], /expected task=weight/],
    [['--head', 'classification', '--strategy', 'prompt'], /--head classification trains with --strategy full, partial or lora/],
    [['--num-labels', '3'], /--num-labels needs --head classification/],
    [['--adapter-dim', '8'], /--adapter-dim needs --strategy adapter/],
    [['--prompt-init', 'Hi'], /--prompt-init needs --strategy prompt/],
    [['--sampling-temperature', '3'], /--sampling-temperature needs --task-sampling temperature/],
  ];
  for (const [flags, message] of bad)
    assert.throws(
      () => parseTrainArgs([...base, ...flags]),
      (e: Error) => e instanceof TrainConfigError && message.test(e.message),
      flags.join(' '),
    );
  assert.throws(() => parseTrainArgs(['--model', 'tiny', '--out', 'x']), /--data is required/);
});

test("an infinite number is named as such, not as JSON's null", () => {
  for (const [flags, message] of [
    [['--lr', 'Infinity'], /^--lr must be a finite number, got Infinity$/],
    [['--epochs=-Infinity'], /^--epochs must be a finite number, got -Infinity$/],
    [['--max-steps', '1e999'], /^--max-steps must be a finite number, got Infinity$/],
    [['--task-weights', 'a=Infinity'], /^--task-weights for 'a' must be a finite number, got Infinity$/],
  ] as [string[], RegExp][]) {
    assert.throws(
      () => parseTrainArgs([...base, ...flags]),
      (e: Error) => e instanceof TrainConfigError && message.test(e.message),
      flags.join(' '),
    );
  }
});

test('--config reads run.json, resolves its relative paths, and flags win over it', () => {
  const dir = fs.mkdtempSync(path.join(scratch, 'ft-cfg-'));
  const file = path.join(dir, 'run.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ data: 'd.jsonl', model: 'tiny', out: 'run', strategy: 'partial', freezeLayers: 1, lr: 0.001, epochs: 2, loraTargets: undefined }),
  );
  const c = parseTrainArgs(['--config', file, '--lr', '0.002']);
  assert.equal(c.data, path.join(dir, 'd.jsonl'));
  assert.equal(c.out, path.join(dir, 'run'));
  assert.equal(c.freezeLayers, 1);
  assert.equal(c.epochs, 2);
  assert.equal(c.lr, 0.002);
  fs.writeFileSync(file, JSON.stringify({ data: 'd.jsonl', model: 'tiny', out: 'run', learningRate: 1 }));
  assert.throws(() => parseTrainArgs(['--config', file]), /unknown setting "learningRate"/);
  fs.writeFileSync(file, '{"data": ');
  assert.throws(() => parseTrainArgs(['--config', file]), /not valid JSON/);
  fs.writeFileSync(file, JSON.stringify({ data: 'd.jsonl', model: 'tiny', out: 'run', epochs: '3' }));
  assert.throws(() => parseTrainArgs(['--config', file]), /"epochs" must be a number/);
});

test('run.json written for a config validates against run.schema.json, which lists every setting', () => {
  const validate = new Ajv({ allErrors: true }).compile(schema);
  const c = parseTrainArgs([...base, '--strategy', 'lora', '--task-weights', 'a=2', '--eval-every', '5']);
  assert.ok(validate(runJsonOf(c)), JSON.stringify(validate.errors));
  assert.equal(validate({ ...runJsonOf(c), lr: -1 }), false);
  assert.equal(validate({ ...runJsonOf(c), typo: 1 }), false);
  assert.deepEqual(
    Object.keys(schema.properties)
      .filter((k) => k !== '$schema')
      .sort(),
    [...TRAIN_SETTING_NAMES].sort(),
  );
  // run.json read back gives the same config
  const dir = fs.mkdtempSync(path.join(scratch, 'ft-cfg-'));
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify(runJsonOf(c)));
  assert.deepEqual(parseTrainArgs(['--config', path.join(dir, 'run.json')]), { ...c, data: path.resolve(c.data), out: path.resolve(c.out) });
});
