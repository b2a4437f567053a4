// The chapter's other strategies and heads: exact parameter counts on GPT-2 small, bottleneck adapters,
// prompt tuning and the classification head against hand computations on a small model, the multi-task
// loss against its formula, and their saved folders read back.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { presetConfig, type GPT2Config } from '../../trainer/models/gpt2/config';
import {
  assignLabels,
  ClassificationHead,
  classificationHfConfig,
  labelMapping,
  readClassificationFolder,
  saveClassificationModel,
} from '../../trainer/heads/classification';
import { padBatch, type TrainingExample } from '../../trainer/data';
import { buildModel, modelFromWeights } from '../../trainer/loadModel';
import { parameterBreakdown } from '../../trainer/params';
import { readAdapter } from '../../trainer/strategies';
import { initPromptFromTokens, promptEmbeddingsOf, promptInitTokenIds } from '../../trainer/strategies/prompt';
import { saveAdapter, type TunedModel } from '../../trainer/strategies/tunedModel';
import { adapterParamsPerBlock, type StrategyConfig } from '../../trainer/strategies/strategy';
import { microBatchGradients, rowWeights } from '../../trainer/step';
import { run as paramsCli } from '../../cli/params';
import { captureStdout } from './captureStdout';
import { assertAllClose, assertRelClose, elementwise, gpt2Sums, reordered } from './tolerance';

const gpt2 = presetConfig('gpt2');
/** Small enough that every test here runs in well under a second. */
const small: GPT2Config = { vocabSize: 40, nPositions: 32, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEpsilon: 1e-5, dropout: 0 };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ft-strategies-'));

before(async () => {
  await initBackend('cpu');
});

function logitsOf(model: TunedModel, rows: number[][], mask?: number[][]): number[][][] {
  return tf.tidy(() => {
    const t = rows[0].length;
    const m = mask ?? rows.map((r) => r.map(() => 1));
    return model.logits(tf.tensor2d(rows, [rows.length, t], 'int32'), tf.tensor2d(m, [rows.length, t])).arraySync();
  });
}

/**
 * Two ways of computing the same logits or losses of `small` (an identity adapter, virtual tokens as
 * embeddings, a padded batch against its rows): the forward pass's sums in another order, over at most
 * 8 positions (3 virtual tokens and 5 real ones).
 */
const FORWARD = reordered(gpt2Sums(small, 8));

function assertClose(a: number[] | number[][] | number[][][], b: typeof a, what: string, rel = FORWARD) {
  assertAllClose((a as unknown[]).flat(3) as number[], (b as unknown[]).flat(3) as number[], rel, what);
}

describe('parameter counts on GPT-2 small, every strategy', () => {
  const count = (s: StrategyConfig, head?: Parameters<typeof parameterBreakdown>[2]) => parameterBreakdown(gpt2, s, head);

  test('full, partial, LoRA', () => {
    assert.equal(count({ strategy: 'full' }).trainable, 124_439_808);
    const partial = count({ strategy: 'partial', freezeLayers: 6 });
    assert.equal(partial.trainable, 124_439_808 - 6 * 7_087_872);
    assert.equal(partial.total, 124_439_808);
    const lora = count({ strategy: 'lora', r: 8, alpha: 8, dropout: 0, targets: ['c_attn'] });
    assert.deepEqual([lora.trainable, lora.total], [294_912, 124_734_720]);
  });

  test('adapters add 2·(2·d·m + m + d) per block, all trainable, base frozen', () => {
    const m = 64;
    const perBlock = 2 * (2 * 768 * m + m + 768);
    assert.equal(adapterParamsPerBlock(768, m), perBlock);
    const p = count({ strategy: 'adapter', adapterDim: m });
    assert.equal(p.trainable, 12 * perBlock);
    assert.equal(p.trainable, 2_379_264);
    assert.equal(p.total, 124_439_808 + 2_379_264);
    assert.equal(p.perLayer[5].lora, perBlock);
  });

  test('prompt tuning trains N·n_embd parameters', () => {
    const p = count({ strategy: 'prompt', virtualTokens: 20 });
    assert.equal(p.trainable, 20 * 768);
    assert.equal(p.total, 124_439_808 + 15_360);
  });

  test("the chapter's partial example with a 2-label head prints its exact line", async () => {
    const p = count({ strategy: 'partial', freezeLayers: 6 }, { kind: 'classification', numLabels: 2 });
    assert.equal(p.chapterLine, 'Trainable: 81914112, Total: 124441344, Ratio: 65.83%');
    assert.equal(p.groups.find((g) => g.name.startsWith('score'))!.trainable, 1536);
    // a LoRA run with a classification head trains the score layer too (PEFT's modules_to_save)
    assert.equal(
      count({ strategy: 'lora', r: 8, alpha: 8, dropout: 0, targets: ['c_attn'] }, { kind: 'classification', numLabels: 3 }).trainable,
      294_912 + 3 * 768,
    );
    const { code, out } = await captureStdout(() =>
      paramsCli(['--model', 'gpt2', '--strategy', 'partial', '--freeze-layers', '6', '--head', 'classification', '--num-labels', '2']),
    );
    assert.equal(code, 0);
    assert.ok(out.split('\n').includes('Trainable: 81914112, Total: 124441344, Ratio: 65.83%'), out);
  });

  test('model variables agree with the counts (small model)', () => {
    for (const s of [
      { strategy: 'adapter', adapterDim: 3 },
      { strategy: 'prompt', virtualTokens: 4 },
    ] as StrategyConfig[]) {
      const model = buildModel(small, s, 1);
      const trainable = model.trainableVariables().reduce((a, v) => a + v.variable.size, 0);
      assert.equal(trainable, parameterBreakdown(small, s).trainable, s.strategy);
      model.dispose();
    }
  });
});

describe('bottleneck adapters', () => {
  test('start as the identity, change the output once trained, and round-trip through their folder', () => {
    const base = buildModel(small, { strategy: 'full' }, 7);
    const weights = base.hfStateDict();
    const adapted = modelFromWeights(small, weights, { strategy: 'adapter', adapterDim: 4 }, 7);
    const rows = [[1, 2, 3, 4, 5]];
    assertClose(logitsOf(adapted, rows), logitsOf(base, rows), 'untrained adapters vs the base model');
    // Give the up-projections weight: the output must move, and a reloaded folder must reproduce it.
    for (const v of adapted.addedVariables) if (v.name.endsWith('up.weight')) v.variable.assign(tf.randomNormal(v.variable.shape, 0, 0.5, 'float32', 3));
    const changed = logitsOf(adapted, rows);
    assert.ok(
      Math.abs(changed[0][4][0] - logitsOf(base, rows)[0][4][0]) > 100 * FORWARD * Math.abs(logitsOf(base, rows)[0][4][0]),
      'trained adapters change the output by more than rounding',
    );
    const dir = tmp();
    saveAdapter(adapted, 'small', dir);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.adapter_type, 'bottleneck');
    assert.equal(cfg.adapter_dim, 4);
    const saved = readAdapter(dir);
    assert.deepEqual(saved.weights.get('transformer.h.0.attn_adapter.down.weight')!.shape, [4, 16]);
    assert.deepEqual(saved.weights.get('transformer.h.1.mlp_adapter.up.weight')!.shape, [16, 4]);
    assert.equal(saved.weights.size, 2 * 2 * 4);
    const reloaded = modelFromWeights(small, weights, saved.strategy, 99);
    reloaded.loadAdapterState(saved.weights);
    assertClose(logitsOf(reloaded, rows), changed, 'reloaded adapters');
    assert.deepEqual([...reloaded.adapterStateDict().keys()], [...saved.weights.keys()]);
    // the base stays frozen: only adapter weights train
    assert.ok(adapted.trainableVariables().every((v) => v.name.includes('_adapter.')));
    for (const m of [base, adapted, reloaded]) m.dispose();
  });
});

describe('prompt tuning', () => {
  test("PEFT's TEXT init repeats the text's ids and crops them to N", () => {
    assert.deepEqual(promptInitTokenIds([5, 6, 7], 7), [5, 6, 7, 5, 6, 7, 5]);
    assert.deepEqual(promptInitTokenIds([5, 6, 7, 8], 2), [5, 6]);
    assert.throws(() => promptInitTokenIds([], 3), /no tokens/);
  });

  test("virtual tokens equal to word embeddings give the base model's logits on [those tokens, input]", () => {
    const base = buildModel(small, { strategy: 'full' }, 11);
    const prompted = modelFromWeights(small, base.hfStateDict(), { strategy: 'prompt', virtualTokens: 3 }, 11);
    const virtualIds = [9, 8, 7];
    initPromptFromTokens(prompted, virtualIds);
    // Hand computation: the base model's forward on the extended sequence, positions 0…N+T−1, keep the last T.
    const input = [
      [1, 2, 3, 4],
      [5, 6, 0, 0],
    ];
    const mask = [
      [1, 1, 1, 1],
      [1, 1, 0, 0],
    ];
    const expected = logitsOf(
      base,
      input.map((r) => [...virtualIds, ...r]),
      mask.map((r) => [1, 1, 1, ...r]),
    ).map((r) => r.slice(3));
    const got = logitsOf(prompted, input, mask);
    assert.equal(got[0].length, 4);
    assertClose(got[0], expected[0], 'virtual tokens, row 0');
    assertClose(got[1].slice(0, 2), expected[1].slice(0, 2), 'virtual tokens, padded row 1');
    base.dispose();
    prompted.dispose();
  });

  test("random init is N(0, 1) like torch.nn.Embedding, and the adapter folder is PEFT's layout", () => {
    const model = buildModel(small, { strategy: 'prompt', virtualTokens: 8, promptInit: 'Classify the sentiment:' }, 2);
    const values = Array.from(promptEmbeddingsOf(model)!.dataSync() as Float32Array);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    assert.ok(Math.abs(mean) < 0.25 && sd > 0.8 && sd < 1.2, `${mean} ${sd}`);
    const dir = tmp();
    saveAdapter(model, 'small', dir);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.peft_type, 'PROMPT_TUNING');
    assert.equal(cfg.task_type, 'CAUSAL_LM');
    assert.equal(cfg.num_virtual_tokens, 8);
    assert.equal(cfg.token_dim, 16);
    assert.equal(cfg.num_transformer_submodules, 1);
    assert.equal(cfg.prompt_tuning_init, 'TEXT');
    const back = readAdapter(dir).weights.get('prompt_embeddings')!;
    assert.deepEqual(back.shape, [8, 16]);
    assert.deepEqual(Array.from(back.data), Array.from(values));
    model.dispose();
  });
});

describe('classification head', () => {
  test('labels map to ids in sorted order', () => {
    const m = labelMapping(['positive', 'negative', 'neutral', 'negative']);
    assert.deepEqual(m.labels, ['negative', 'neutral', 'positive']);
    assert.deepEqual(m.id2label, { 0: 'negative', 1: 'neutral', 2: 'positive' });
    assert.equal(m.label2id.positive, 2);
  });

  test("logits are the last non-padding token's hidden state times score.weightᵀ, and the loss is their CE", () => {
    const model = buildModel(small, { strategy: 'full' }, 5);
    const head = new ClassificationHead(16, 3, 1);
    const rows = [
      [3, 4, 5, 6],
      [7, 8, 0, 0],
    ];
    const mask = [
      [1, 1, 1, 1],
      [1, 1, 0, 0],
    ];
    const got = tf.tidy(() => head.logits(model, tf.tensor2d(rows, [2, 4], 'int32'), tf.tensor2d(mask), false).arraySync());
    const score = head.score.arraySync() as number[][]; // [E, L]
    const expected = rows.map((row, b) => {
      const n = mask[b].reduce((a, x) => a + x, 0);
      // the unpadded row alone: padding must not change the last real token's state
      const h = tf.tidy(() => model.hiddenStates(tf.tensor2d([row.slice(0, n)], [1, n], 'int32'), tf.ones([1, n]) as tf.Tensor2D, false).arraySync())[n - 1];
      return [0, 1, 2].map((l) => h.reduce((a, x, e) => a + x * score[e][l], 0));
    });
    assertClose(got, expected, 'classification logits vs the unpadded rows by hand');
    const examples: TrainingExample[] = rows.map((r, b) => ({
      line: b,
      inputIds: r.slice(
        0,
        mask[b].reduce((a, x) => a + x, 0),
      ),
      labels: [],
      lossTokens: 1,
      labelText: ['b', 'a'][b],
    }));
    assignLabels(examples, labelMapping(['a', 'b']));
    const ce = tf.tidy(() => head.loss(model, padBatch(examples), false).arraySync());
    const byHand = expected.map((z, b) => {
      const label = examples[b].classLabel!;
      const max = Math.max(...z);
      return Math.log(z.reduce((a, x) => a + Math.exp(x - max), 0)) + max - z[label];
    });
    assertClose(ce, byHand, 'classification loss by hand');
    model.dispose();
    head.dispose();
  });

  test('a saved classification model is GPT2ForSequenceClassification with id2label / label2id / pad_token_id', () => {
    const model = buildModel(small, { strategy: 'full' }, 5);
    const head = new ClassificationHead(16, 2, 1);
    const labels = labelMapping(['spam', 'ham']);
    const dir = tmp();
    saveClassificationModel({ model, head, labels, padTokenId: 39, tokenizerDir: null }, dir);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(cfg.architectures, ['GPT2ForSequenceClassification']);
    assert.deepEqual(cfg.id2label, { 0: 'ham', 1: 'spam' });
    assert.deepEqual(cfg.label2id, { ham: 0, spam: 1 });
    assert.equal(cfg.pad_token_id, 39);
    assert.deepEqual(classificationHfConfig(small, labels, 39).id2label, cfg.id2label);
    const back = readClassificationFolder(dir)!;
    assert.deepEqual(back.score.shape, [2, 16]);
    const hfScore = tf.tidy(() => tf.transpose(head.score).dataSync());
    assert.deepEqual(Array.from(back.score.data), Array.from(hfScore));
    model.dispose();
    head.dispose();
  });
});

describe('multi-task loss', () => {
  test('the batch loss equals Σ_t α_t · L_t computed by hand from per-token losses', async () => {
    const model = buildModel(small, { strategy: 'full' }, 3);
    const ex = (ids: number[], task: string): TrainingExample => ({
      line: 0,
      task,
      inputIds: ids.slice(0, -1),
      labels: ids.slice(1),
      lossTokens: ids.length - 1,
    });
    const batch = padBatch([ex([1, 2, 3, 4], 'translate'), ex([5, 6, 7], 'summarize'), ex([8, 9, 10, 11, 12], 'translate')], 0);
    const alpha = { translate: 1, summarize: 0.5 };
    const r = await microBatchGradients({ model, variables: model.trainableVariables(), taskWeights: alpha }, batch);
    r.grads.forEach((g) => g.dispose());
    const ce = tf.tidy(() =>
      model
        .tokenLoss(
          tf.tensor2d(batch.inputIds, [batch.size, batch.length], 'int32'),
          tf.tensor2d(batch.labels, [batch.size, batch.length], 'int32'),
          tf.tensor2d(batch.attentionMask, [batch.size, batch.length]),
          false,
        )
        .arraySync(),
    );
    const rowSum = ce.map((row) => row.reduce((a, b) => a + b, 0));
    const lTranslate = (rowSum[0] + rowSum[2]) / (3 + 4);
    const lSummarize = rowSum[1] / 2;
    const byHand = 1 * lTranslate + 0.5 * lSummarize;
    assertRelClose(r.loss, byHand, FORWARD, 'multi-task loss vs Σ α_t·L_t by hand');
    // a task's α scales its term only: with α_summarize = 0 the loss is L_translate
    const w = rowWeights(batch, { translate: 1, summarize: 0 });
    assert.equal(w[1], 0);
    assertRelClose(w[0], 1 / 7, elementwise(2), 'row weight 1/7');
    model.dispose();
  });
});
