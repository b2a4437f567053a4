// GPT-2 numerics against the PyTorch reference (test/fixtures/reference, made by reference/
// gpt2_ref.py), and the model's strategy and file round trips.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { loadModelFolder } from '../../trainer/formats/modelFolder';
import { modelFromWeights } from '../../trainer/loadModel';
import { modelDims, type ModelConfig } from '../../trainer/models/registry';
import { saveFullModel } from '../../trainer/output';
import { loadPeftAdapter, loraLayersOf } from '../../trainer/strategies/lora';
import { saveAdapter, type TunedModel } from '../../trainer/strategies/tunedModel';
import { readSafetensors } from '../../trainer/formats/safetensors';
import { gpt2TokenizerDir } from '../../language/tokenizer';
import type { StrategyConfig } from '../../trainer/strategies/strategy';
import { assertAbsClose, assertAllClose, assertRelClose, gpt2Sums, reordered, reorderedSum } from './tolerance';
import { TEST_BACKEND } from './testBackend';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'reference');
const IDS: number[] = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'ids.json'), 'utf8'));

interface Expected {
  loss: number;
  logits_head: number[];
  logits_sum: number;
  logits_abs_mean: number;
}

function expected(dir: string): Expected {
  return JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;
}

/** Mean next-token loss over IDS, the last 8 logits of the last position, and the logits' sum. */
function evaluate(model: TunedModel, ids = IDS): { loss: number; head: number[]; sum: number } {
  return tf.tidy(() => {
    const t = ids.length;
    const input = tf.tensor2d([ids], [1, t], 'int32');
    const labels = tf.tensor2d([[...ids.slice(1), -1]], [1, t], 'int32');
    const mask = tf.ones([1, t]) as tf.Tensor2D;
    const loss = tf.sum(model.tokenLoss(input, labels, mask, false)).dataSync()[0] / (t - 1);
    const logits = model.logits(input, mask);
    return { loss, head: Array.from(tf.slice(logits, [0, t - 1, 0], [1, 1, 8]).dataSync()), sum: tf.sum(logits).dataSync()[0] };
  });
}

/**
 * The reference is PyTorch's float32 forward pass: ours computes the same sums in another order, so
 * the loss and the logits agree to the reordering bound of the fixture model's forward pass.
 */
function parity(config: ModelConfig, tokens = IDS.length): number {
  return reordered(gpt2Sums(config, tokens));
}

/** The sum of all logits cancels (Σ|logits| ≫ |Σ logits|): its error is relative to Σ|logits|, plus that sum's own. */
function assertLogitSum(got: number, want: Expected, config: { vocabSize: number }, rel: number, what: string): void {
  const count = IDS.length * config.vocabSize;
  assertAbsClose(got, want.logits_sum, (rel + reorderedSum(count)) * want.logits_abs_mean * count, what);
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ft-model-'));
}

const loraStrategy: StrategyConfig = { strategy: 'lora', r: 4, alpha: 8, dropout: 0, targets: ['c_attn', 'mlp.c_fc'] };

before(async () => {
  await initBackend(TEST_BACKEND);
});

describe('GPT-2 matches the PyTorch reference', () => {
  for (const name of ['f32-prefixed', 'f32-plain', 'f16-prefixed', 'f16-plain', 'bf16-plain']) {
    test(`${name}: loss and logits within float32 reordering of PyTorch's`, () => {
      const dir = path.join(FIXTURES, name);
      const { config, weights } = loadModelFolder(dir);
      const model = modelFromWeights(config, weights, { strategy: 'full' }, 0);
      const got = evaluate(model);
      const want = expected(dir);
      const rel = parity(config);
      assertRelClose(got.loss, want.loss, rel, `${name}: loss`);
      assertAllClose(got.head, want.logits_head, rel, `${name}: last logits`);
      assertLogitSum(got.sum, want, config, rel, `${name}: sum of logits`);
      model.dispose();
    });
  }

  test('a PEFT adapter applies like the reference merges it', () => {
    const base = loadModelFolder(path.join(FIXTURES, 'f32-plain'));
    const adapter = loadPeftAdapter(path.join(FIXTURES, 'lora-adapter'));
    assert.equal(adapter.strategy.r, 4);
    assert.equal(adapter.strategy.alpha, 8);
    const model = modelFromWeights(base.config, base.weights, adapter.strategy, 0);
    model.loadAdapterState(adapter.weights);
    const want = expected(path.join(FIXTURES, 'lora-adapter'));
    const got = evaluate(model);
    // The adapter adds one product of rank r per target: within the fixture model's bound.
    const rel = parity(base.config);
    assertRelClose(got.loss, want.loss, rel, 'loss with adapter');
    assertAllClose(got.head, want.logits_head, rel, 'last logits with adapter');
    // And the adapter really changes the model: by far more than rounding could.
    const plain = expected(path.join(FIXTURES, 'f32-plain')).loss;
    assert.ok(Math.abs(got.loss - plain) > 100 * rel * plain, `${got.loss} vs ${plain} without the adapter`);
    model.dispose();
  });
});

describe('strategies', () => {
  const { config, weights } = loadModelFolder(path.join(FIXTURES, 'f32-plain'));

  test('LoRA with B = 0 computes exactly the base model', () => {
    const base = modelFromWeights(config, weights, { strategy: 'full' }, 0);
    const lora = modelFromWeights(config, weights, loraStrategy, 0);
    // A is random (PEFT's init) and B zero.
    assert.ok(tf.tidy(() => tf.max(tf.abs(loraLayersOf(lora)[0].aT)).dataSync()[0]) > 0);
    assert.equal(
      tf.tidy(() => tf.max(tf.abs(loraLayersOf(lora)[0].bT)).dataSync()[0]),
      0,
    );
    const a = evaluate(base);
    const b = evaluate(lora);
    assert.equal(b.loss, a.loss);
    assert.deepEqual(b.head, a.head);
    base.dispose();
    lora.dispose();
  });

  test('LoRA merged into the weights (hfStateDict merged) equals the unmerged model', () => {
    const lora = modelFromWeights(config, weights, loraStrategy, 0);
    loraLayersOf(lora).forEach((l, i) => l.bT.assign(tf.randomNormal(l.bT.shape, 0, 0.5, 'float32', i + 1)));
    const unmerged = evaluate(lora);
    const merged = modelFromWeights(config, lora.hfStateDict({ merged: true }), { strategy: 'full' }, 0);
    const m = evaluate(merged);
    // Merging reorders each target's x·W + s·(x·A)·B into x·(W + s·A·B): the forward pass's bound plus the rank-r product's.
    const rel = parity(config) + reorderedSum(loraStrategy.r);
    assertRelClose(m.loss, unmerged.loss, rel, 'merged loss');
    assertAllClose(m.head, unmerged.head, rel, 'merged last logits');
    // Unmerged export keeps the base weights.
    const plain = modelFromWeights(config, lora.hfStateDict(), { strategy: 'full' }, 0);
    assert.equal(evaluate(plain).loss, evaluate(modelFromWeights(config, weights, { strategy: 'full' }, 0)).loss);
    for (const model of [lora, merged, plain]) model.dispose();
  });

  test('LoRA trains only A and B; full trains everything; partial skips the frozen blocks', () => {
    const lora = modelFromWeights(config, weights, loraStrategy, 0);
    const names = lora.trainableVariables().map((v) => v.name);
    assert.deepEqual(names, [
      'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight',
      'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight',
      'base_model.model.transformer.h.0.mlp.c_fc.lora_A.weight',
      'base_model.model.transformer.h.0.mlp.c_fc.lora_B.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight',
      'base_model.model.transformer.h.1.mlp.c_fc.lora_A.weight',
      'base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight',
    ]);
    const full = modelFromWeights(config, weights, { strategy: 'full' }, 0);
    assert.equal(full.trainableVariables().length, 2 + 12 * modelDims(config).numLayers + 2);
    const decay = full
      .trainableVariables()
      .filter((v) => v.decay)
      .map((v) => v.name);
    assert.ok(decay.includes('transformer.wte.weight') && decay.includes('transformer.h.0.attn.c_attn.weight'));
    assert.ok(!decay.some((n) => n.endsWith('.bias') || n.includes('ln_')), 'no decay on biases and norms');
    const partial = modelFromWeights(config, weights, { strategy: 'partial', freezeLayers: 1, freezeEmbeddings: true }, 0);
    const pn = partial.trainableVariables().map((v) => v.name);
    assert.ok(pn.every((n) => !n.includes('h.0.') && !n.includes('wte') && !n.includes('wpe')));
    assert.ok(pn.includes('transformer.h.1.mlp.c_proj.weight') && pn.includes('transformer.ln_f.weight'));
    for (const model of [lora, full, partial]) model.dispose();
  });

  test('frozen weights get no gradient and stay unchanged by a training step', () => {
    const partial = modelFromWeights(config, weights, { strategy: 'partial', freezeLayers: 1 }, 0);
    const vars = partial.trainableVariables();
    const frozen = partial.namedParameters().find(([n]) => n === 'transformer.h.0.attn.c_attn.weight')![1];
    assert.equal(frozen.trainable, false);
    const before = frozen.dataSync().slice();
    const ids = tf.tensor2d([IDS], [1, IDS.length], 'int32');
    const labels = tf.tensor2d([[...IDS.slice(1), -1]], [1, IDS.length], 'int32');
    const mask = tf.ones([1, IDS.length]) as tf.Tensor2D;
    const { grads } = tf.variableGrads(
      () => tf.sum(partial.tokenLoss(ids, labels, mask, true)) as tf.Scalar,
      vars.map((v) => v.variable),
    );
    assert.equal(Object.keys(grads).length, vars.length);
    assert.ok(!(frozen.name in grads));
    for (const v of vars) tf.tidy(() => v.variable.assign(tf.sub(v.variable, tf.mul(grads[v.variable.name], 0.1))));
    assert.deepEqual(frozen.dataSync(), before);
    // The trainable ones did move.
    assert.ok(tf.tidy(() => tf.max(tf.abs(grads[vars[vars.length - 1].variable.name])).dataSync()[0]) > 0);
    tf.dispose(grads);
    partial.dispose();
  });

  test("padding: masked keys do not change the real tokens' loss, and ignored labels cost 0", () => {
    const model = modelFromWeights(config, weights, { strategy: 'full' }, 0);
    const t = IDS.length;
    const padded = [...IDS, 0, 0, 0, 0];
    const input = tf.tensor2d([padded, padded], [2, t + 4], 'int32');
    const labels = tf.tensor2d(
      [
        [...IDS.slice(1), -1, -1, -1, -1, -1],
        [...IDS.slice(1), -1, 9, 9, 9, 9],
      ],
      [2, t + 4],
      'int32',
    );
    const mask = tf.tensor2d(
      [
        [...IDS.map(() => 1), 0, 0, 0, 0],
        [...IDS.map(() => 1), 0, 0, 0, 0],
      ],
      [2, t + 4],
    );
    const loss = model.tokenLoss(input, labels, mask, false).arraySync();
    const sum = loss[0].reduce((a, b) => a + b, 0) / (t - 1);
    // Padded keys add exact zeros to the softmax; the longer rows may block the products differently.
    assertRelClose(sum, expected(path.join(FIXTURES, 'f32-plain')).loss, parity(config, t + 4), 'loss with right padding');
    assert.deepEqual(loss[0].slice(t - 1), [0, 0, 0, 0, 0]);
    assert.ok(loss[1][t] > 0, 'a label on a padded position is still counted when asked');
    model.dispose();
  });

  test('dropout is active only in training and is repeatable for a seed', () => {
    const cfg = { ...config, dropout: 0.5 };
    const run = (training: boolean, seed: number) => {
      const model = modelFromWeights(cfg, weights, { strategy: 'full' }, seed);
      const t = IDS.length;
      const out = tf.tidy(
        () =>
          tf
            .sum(
              model.tokenLoss(
                tf.tensor2d([IDS], [1, t], 'int32'),
                tf.tensor2d([[...IDS.slice(1), -1]], [1, t], 'int32'),
                tf.ones([1, t]) as tf.Tensor2D,
                training,
              ),
            )
            .dataSync()[0],
      );
      model.dispose();
      return out;
    };
    assert.equal(run(false, 1), run(false, 2));
    assert.notEqual(run(true, 1), run(false, 1));
    assert.equal(run(true, 1), run(true, 1));
  });

  test('token ids outside the vocabulary and sequences past the context are refused', () => {
    const model = modelFromWeights(config, weights, { strategy: 'full' }, 0);
    assert.throws(
      () => model.logits(tf.tensor2d([[1, 320]], [1, 2], 'int32'), tf.ones([1, 2]) as tf.Tensor2D),
      /token id 320 is outside the model's vocabulary \(320 tokens\)/,
    );
    assert.throws(
      () => model.logits(tf.zeros([1, 65], 'int32') as tf.Tensor2D, tf.ones([1, 65]) as tf.Tensor2D),
      /sequence length 65 exceeds the model's context \(64\)/,
    );
    model.dispose();
  });

  test('bad weights are reported by name', () => {
    const missing = new Map(weights);
    missing.delete('transformer.h.1.mlp.c_fc.bias');
    assert.throws(() => modelFromWeights(config, missing, { strategy: 'full' }, 0), /missing weight\(s\): transformer\.h\.1\.mlp\.c_fc\.bias/);
    const wrong = new Map(weights);
    wrong.set('transformer.ln_f.weight', { shape: [5], data: new Float32Array(5) });
    assert.throws(() => modelFromWeights(config, wrong, { strategy: 'full' }, 0), /ln_f\.weight' has shape \[5\], expected \[32\]/);
    const extra = new Map(weights);
    extra.set('score.weight', { shape: [2, 32], data: new Float32Array(64) });
    assert.throws(() => modelFromWeights(config, extra, { strategy: 'full' }, 0), /unexpected weight 'score\.weight'/);
  });
});

describe('model files', () => {
  test('a saved full model loads back identical, in HF layout with tokenizer files', () => {
    const { config, weights } = loadModelFolder(path.join(FIXTURES, 'f16-prefixed'));
    const model = modelFromWeights(config, weights, { strategy: 'full' }, 0);
    const out = tmpDir();
    saveFullModel(model, config, gpt2TokenizerDir(), out);
    for (const f of ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json'])
      assert.ok(fs.existsSync(path.join(out, f)), f);
    const hf = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(hf.model_type, 'gpt2');
    assert.deepEqual(hf.architectures, ['GPT2LMHeadModel']);
    const keys = [...readSafetensors(path.join(out, 'model.safetensors')).keys()];
    assert.ok(keys.every((k) => k.startsWith('transformer.')) && !keys.includes('lm_head.weight'));
    const back = loadModelFolder(out);
    assert.deepEqual(back.config, { ...config, bosTokenId: 319, eosTokenId: 319 });
    for (const [k, v] of weights) assert.deepEqual(back.weights.get(k)!.data, v.data, k);
    assert.equal(back.tokenizer!.encode('Hello world').join(','), '15496,995');
    const reloaded = modelFromWeights(back.config, back.weights, { strategy: 'full' }, 0);
    assert.equal(evaluate(reloaded).loss, evaluate(model).loss);
    model.dispose();
    reloaded.dispose();
  });

  test('a saved PEFT adapter reads back with the same weights and the same loss', () => {
    const { config, weights } = loadModelFolder(path.join(FIXTURES, 'f32-plain'));
    const model = modelFromWeights(config, weights, { strategy: 'lora', r: 2, alpha: 4, dropout: 0.1, targets: 'all-linear' }, 5);
    loraLayersOf(model).forEach((l, i) => l.bT.assign(tf.randomNormal(l.bT.shape, 0, 0.3, 'float32', 50 + i)));
    const out = tmpDir();
    saveAdapter(model, 'my/base', out);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.peft_type, 'LORA');
    assert.equal(cfg.task_type, 'CAUSAL_LM');
    assert.equal(cfg.fan_in_fan_out, true);
    assert.equal(cfg.bias, 'none');
    assert.equal(cfg.base_model_name_or_path, 'my/base');
    assert.deepEqual([cfg.r, cfg.lora_alpha, cfg.lora_dropout], [2, 4, 0.1]);
    const tensors = readSafetensors(path.join(out, 'adapter_model.safetensors'));
    assert.deepEqual(tensors.get('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight')!.shape, [2, 32]);
    assert.deepEqual(tensors.get('base_model.model.transformer.h.0.attn.c_attn.lora_B.weight')!.shape, [96, 2]);
    assert.deepEqual(tensors.get('base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight')!.shape, [2, 128]);
    const adapter = loadPeftAdapter(out);
    const again = modelFromWeights(config, weights, adapter.strategy, 9);
    again.loadAdapterState(adapter.weights);
    assert.equal(evaluate(again).loss, evaluate(model).loss);
    model.dispose();
    again.dispose();
  });

  test('broken folders and adapters get clear errors', () => {
    const empty = tmpDir();
    assert.throws(() => loadModelFolder(empty), /has no config\.json/);
    fs.copyFileSync(path.join(FIXTURES, 'f32-plain', 'config.json'), path.join(empty, 'config.json'));
    fs.writeFileSync(path.join(empty, 'pytorch_model.bin'), 'x');
    assert.throws(() => loadModelFolder(empty), /no model\.safetensors \(it has pytorch_model\.bin/);
    assert.throws(() => loadPeftAdapter(empty), /no adapter_config\.json/);
    const adapter = tmpDir();
    fs.copyFileSync(path.join(FIXTURES, 'lora-adapter', 'adapter_model.safetensors'), path.join(adapter, 'adapter_model.safetensors'));
    fs.writeFileSync(path.join(adapter, 'adapter_config.json'), JSON.stringify({ peft_type: 'PREFIX_TUNING' }));
    assert.throws(() => loadPeftAdapter(adapter), /peft_type "PREFIX_TUNING" is not supported/);
    fs.writeFileSync(path.join(adapter, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, use_dora: true }));
    assert.throws(() => loadPeftAdapter(adapter), /DoRA/);
  });
});
