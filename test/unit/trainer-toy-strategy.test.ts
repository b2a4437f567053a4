// A strategy defined in this test alone ("bias-only": the biases of the blocks from --bias-from N on, and
// the final norm's, train; everything else is frozen) and its toy option, both declared once in the module
// below and registered through the strategy registry at test time, work end to end without a change to
// the trainer: the CLI's flag parser and --help, run.json's schema, the `params` command, model building,
// a training step, and its adapter folder. This is what "adding a strategy is one module and one registry
// line" promises.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import Ajv from 'ajv';
import { run as paramsRun } from '../../cli/params';
import { trainHelp } from '../../cli/train';
import { UsageError } from '../../cli/usage';
import { runJsonSchema, strategySpec, strategySpecs, TrainConfigError } from '../../protocol/options';
import { initBackend } from '../../trainer/compute/backend';
import { padBatch, type TrainingExample } from '../../trainer/data';
import { adapterKind } from '../../trainer/generate';
import { buildModel } from '../../trainer/loadModel';
import { baseParameterCount, PRESETS, type GPT2Config } from '../../trainer/models/gpt2/config';
import { AdamW } from '../../trainer/optimizer';
import { parameterBreakdown } from '../../trainer/params';
import { parseTrainArgs, runJsonOf } from '../../trainer/runConfig';
import { optimizerStep } from '../../trainer/step';
import { readAdapter, registerStrategy, strategyFor, strategyNames, strategyOf, unregisterStrategy } from '../../trainer/strategies';
import { nothingAdded, type Strategy } from '../../trainer/strategies/strategy';
import { saveAdapter } from '../../trainer/strategies/tunedModel';
import { captureStdout } from './captureStdout';

type BiasOnly = { strategy: 'bias-only'; biasFrom: number };

/** The default settings: every block's biases train. */
const ALL_BIASES: BiasOnly = { strategy: 'bias-only', biasFrom: 0 };

const biasOnly: Strategy<BiasOnly> = {
  // Its one declaration: name, help, learning rate, heads, and its toy option (`--bias-from N`).
  spec: {
    name: 'bias-only',
    help: 'the biases train; everything else is frozen',
    lr: 1e-3,
    heads: ['lm'],
    options: [
      {
        name: 'biasFrom',
        kind: 'int',
        value: 'N',
        min: 0,
        default: 0,
        commands: ['train', 'params'],
        help: 'the biases of the blocks before block N stay frozen too',
      },
    ],
  },
  fromTrainConfig: (c) => ({ strategy: 'bias-only', biasFrom: (c as unknown as { biasFrom: number }).biasFrom }),
  validate(structure, s) {
    if (s.biasFrom > structure.numLayers)
      throw new TrainConfigError(`--bias-from must be at most ${structure.numLayers} (the model's layer count), got ${s.biasFrom}`);
  },
  // Blocks by part, then everything but a bias frozen by name (a bias keeps its part's answer).
  trains: (s) => ({
    embeddings: false,
    block: (layer) => layer >= s.biasFrom,
    finalNorm: true,
    parameter: (name) => (name.endsWith('.bias') ? undefined : false),
  }),
  added: nothingAdded,
  attach(model) {
    // Attached after freezing: the biases that train.
    const biases = model.namedParameters().filter(([name, v]) => name.endsWith('.bias') && v.trainable);
    return {
      // The biases are base parameters: the model lists them as trainable; nothing is added.
      variables: [],
      stateDict: () => new Map(biases.map(([name, v]) => [name, { shape: [...v.shape], data: v.dataSync() as Float32Array }])),
      loadStateDict(map) {
        for (const [name, v] of biases) {
          const w = map.get(name);
          if (!w) throw new Error(`no '${name}' in the bias-only folder`);
          tf.tidy(() => v.assign(tf.tensor(w.data, v.shape)));
        }
      },
      dispose: () => {},
    };
  },
  adapterFolder: {
    label: 'adapter_type "bias-only"',
    recognizes: (raw) => raw.adapter_type === 'bias-only',
    config: (s, structure, baseModel) => ({
      adapter_type: 'bias-only',
      bias_from: s.biasFrom,
      num_layers: structure.numLayers,
      base_model_name_or_path: baseModel,
    }),
    read: (raw, tensors) => ({ strategy: { strategy: 'bias-only', biasFrom: Number(raw.bias_from) }, weights: tensors }),
  },
};

const small: GPT2Config = { vocabSize: 40, nPositions: 32, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEpsilon: 1e-5, dropout: 0 };
/** Per block: ln_1 (E), c_attn (3E), attn c_proj (E), ln_2 (E), c_fc (4E), mlp c_proj (E); then ln_f (E). */
const BIASES = small.nLayer * 11 * small.nEmbd + small.nEmbd;

before(async () => {
  await initBackend('cpu');
  registerStrategy(biasOnly);
});

// The last test unregisters it already.
after(() => {
  if (strategyNames().includes('bias-only')) unregisterStrategy('bias-only');
});

const base = ['--data', 'train.jsonl', '--model', 'tiny', '--out', 'runs/a'];
/** Tiny's biases from block 1 on: block 1's (11 per width: ln_1, c_attn ×3, attn c_proj, ln_2, c_fc ×4, mlp c_proj) and ln_f's. */
const TINY_FROM_1 = 11 * PRESETS.tiny.nEmbd + PRESETS.tiny.nEmbd;

test('a registered strategy is listed, found by name, declared in the option table once, and a second one of the same name is refused', () => {
  assert.ok(strategyNames().includes('bias-only'));
  assert.equal(strategyFor('bias-only'), biasOnly);
  assert.deepEqual(strategySpec('bias-only'), biasOnly.spec, "the option table holds the module's own declaration");
  assert.throws(() => registerStrategy(biasOnly), /already registered/);
  assert.throws(() => strategyFor('no-such'), /unknown strategy 'no-such' \(full, partial, lora, adapter, prompt or bias-only\)/);
  // The built-in ones the same way: one module per declared name, each carrying the table's declaration.
  assert.deepEqual(
    strategySpecs().map((s) => s.name),
    strategyNames(),
  );
  for (const name of strategyNames()) assert.deepEqual(strategyFor(name).spec, strategySpec(name), name);
});

test("the CLI's train parser takes --strategy bias-only and its --bias-from: parsed, range-checked, defaulted, owned by it", () => {
  const c = parseTrainArgs([...base, '--strategy', 'bias-only', '--bias-from', '1']);
  assert.equal(c.strategy, 'bias-only');
  assert.equal(c.lr, 1e-3, "the strategy's learning rate");
  assert.deepEqual(strategyOf(c), { strategy: 'bias-only', biasFrom: 1 });
  assert.deepEqual(strategyOf(parseTrainArgs([...base, '--strategy', 'bias-only'])), ALL_BIASES, 'the declared default');
  const refused: [string[], RegExp][] = [
    [['--strategy', 'bias-only', '--bias-from=-1'], /^--bias-from must be at least 0, got -1$/],
    [['--strategy', 'bias-only', '--bias-from', '1.5'], /^--bias-from must be an integer, got 1\.5$/],
    [['--strategy', 'full', '--bias-from', '1'], /^--bias-from needs --strategy bias-only \(got full\)$/],
    [['--strategy', 'bias-only', '--head', 'classification'], /^--head classification trains with --strategy full, partial or lora, not bias-only$/],
  ];
  for (const [flags, message] of refused) {
    assert.throws(
      () => parseTrainArgs([...base, ...flags]),
      (e: Error) => e instanceof TrainConfigError && message.test(e.message),
      flags.join(' '),
    );
  }
  assert.match(trainHelp(), /^ {2}--strategy full\|partial\|lora\|adapter\|prompt\|bias-only$/m);
  assert.match(trainHelp(), /^ {2}--bias-from N +bias-only: the biases of the blocks before block N stay frozen too; default 0$/m);
});

test("run.json's schema, generated from the table, accepts the toy strategy and its option and refuses a value out of range", () => {
  const validate = new Ajv({ allErrors: true }).compile(runJsonSchema());
  const json = runJsonOf(parseTrainArgs([...base, '--strategy', 'bias-only', '--bias-from', '1']));
  assert.deepEqual([json.strategy, json.biasFrom], ['bias-only', 1]);
  assert.ok(validate(json), JSON.stringify(validate.errors));
  assert.equal(validate({ ...json, biasFrom: -1 }), false);
  assert.equal(validate({ ...json, biasFrom: 'x' }), false);
  assert.equal(validate({ ...json, strategy: 'bias-none' }), false);
});

test('the params command counts the toy strategy exactly: its trainable parameters from --bias-from, the base model frozen', async () => {
  const { code, out } = await captureStdout(() => paramsRun(['--model', 'tiny', '--strategy', 'bias-only', '--bias-from', '1', '--json']));
  assert.equal(code, 0);
  const p = JSON.parse(out);
  assert.equal(p.trainable, TINY_FROM_1);
  assert.equal(p.total, baseParameterCount(PRESETS.tiny));
  assert.equal(p.frozen, p.total - TINY_FROM_1);
  assert.deepEqual(
    p.perLayer.map((l: { trainable: number }) => l.trainable),
    [0, 11 * PRESETS.tiny.nEmbd],
  );
  const text = await captureStdout(() => paramsRun(['--model', 'tiny', '--strategy', 'bias-only', '--bias-from', '1']));
  assert.match(text.out, /^Strategy: bias-only$/m);
  assert.match(text.out, /^trainable params: 768 \|\| all params: 3,332,928 \|\| trainable%: 0\.0230$/m);
  await assert.rejects(
    paramsRun(['--model', 'tiny', '--strategy', 'bias-only', '--bias-from', '3']),
    (e: Error) => e instanceof UsageError && e.message === "--bias-from must be at most 2 (the model's layer count), got 3",
  );
  await assert.rejects(paramsRun(['--model', 'tiny', '--bias-from', '1']), /--bias-from only applies to --strategy bias-only/);
});

test('the model trains exactly the biases, and the params breakdown counts them from the config alone', () => {
  const model = buildModel(small, ALL_BIASES, 1);
  const trainable = model.trainableVariables();
  assert.ok(trainable.length > 0 && trainable.every((v) => v.name.endsWith('.bias') && !v.decay));
  assert.equal(
    trainable.reduce((a, v) => a + v.variable.size, 0),
    BIASES,
  );
  const p = parameterBreakdown(small, ALL_BIASES);
  assert.equal(p.trainable, BIASES);
  assert.equal(p.total, baseParameterCount(small));
  assert.equal(p.groups.find((g) => g.name === 'h.0.norms')!.trainable, 2 * small.nEmbd);
  assert.equal(p.perLayer[1].trainable, 11 * small.nEmbd);
  model.dispose();
});

test('one training step has a finite loss and changes only the biases', async () => {
  const model = buildModel(small, ALL_BIASES, 2);
  const before = new Map(model.namedParameters().map(([name, v]) => [name, Array.from(v.dataSync())]));
  const ex = (ids: number[]): TrainingExample => ({ line: 0, inputIds: ids.slice(0, -1), labels: ids.slice(1), lossTokens: ids.length - 1 });
  const optimizer = new AdamW(model.trainableVariables(), { weightDecay: 0.01 });
  const r = await optimizerStep({ model, optimizer, microBatches: [padBatch([ex([1, 2, 3, 4, 5]), ex([6, 7, 8])], 0)], lr: 1e-2, gradClip: 1 });
  assert.ok(Number.isFinite(r.loss) && r.loss > 0, `loss ${r.loss}`);
  for (const [name, v] of model.namedParameters()) {
    const changed = Array.from(v.dataSync()).some((x, i) => x !== before.get(name)![i]);
    assert.equal(changed, name.endsWith('.bias'), `${name} ${changed ? 'changed' : 'did not change'}`);
  }
  optimizer.dispose();
  model.dispose();
});

test('its folder is written and read back through the adapter-folder module and restores the biases', () => {
  const model = buildModel(small, ALL_BIASES, 3);
  const { name, variable: bias } = model.trainableVariables()[0];
  tf.tidy(() => bias.assign(tf.randomNormal(bias.shape, 0, 1, 'float32', 5)));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-toy-strategy-'));
  const files = saveAdapter(model, 'small', dir);
  assert.deepEqual(files.map((f) => path.basename(f)).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')).adapter_type, 'bias-only');
  assert.equal(adapterKind(dir), 'bias-only');
  const read = readAdapter(dir);
  assert.deepEqual(read.strategy, ALL_BIASES);
  assert.equal(read.baseModel, 'small');
  const other = buildModel(small, ALL_BIASES, 4);
  other.loadAdapterState(read.weights);
  const restored = other.namedParameters().find(([n]) => n === name)![1];
  assert.deepEqual(Array.from(restored.dataSync()), Array.from(bias.dataSync()));
  model.dispose();
  other.dispose();
});

test('unregistering removes the strategy and its option from the parser and the schema', () => {
  unregisterStrategy('bias-only');
  assert.equal(strategySpec('bias-only'), undefined);
  assert.throws(() => parseTrainArgs([...base, '--strategy', 'bias-only']), /--strategy must be full, partial, lora, adapter or prompt, got "bias-only"/);
  assert.throws(() => parseTrainArgs([...base, '--bias-from', '1']), /Unknown option '--bias-from'/);
  assert.equal(new Ajv().compile(runJsonSchema())({ data: 'd', model: 'm', out: 'o', biasFrom: 1 }), false);
});
