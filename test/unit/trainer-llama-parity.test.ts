// Llama / Qwen2 / Qwen3 numerics against the project's PyTorch reference (reference/llama_ref.py, written
// from transformers' modeling code; fixtures made by test/fixtures/llama/make.sh): one fixture per variant
// (grouped-query attention, untied head with attention and MLP biases and an explicit head_dim, BF16
// weights, two shards, llama3 RoPE scaling in the classic and the rope_parameters form, Qwen2's q/k/v
// biases, Qwen3's q/k norms). The fixtures' weights are large enough that the logits are peaked, and the
// last tests show that they are sensitive: a wrong RoPE layout, a dropped norm weight or an ignored
// RoPE scaling moves the loss by orders of magnitude more than the tolerance.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { fromHfConfig, hasQkNorm, type LlamaConfig } from '../../trainer/models/llama/config';
import { LlamaModel } from '../../trainer/models/llama/model';
import { layerKey, readLlamaWeights } from '../../trainer/models/llama/weights';
import { assertAbsClose, assertAllClose, assertRelClose, reordered, reorderedSum } from './tolerance';
import { batchLoss } from './batchLoss';
import { TEST_BACKEND } from './testBackend';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'llama');
const IDS: number[] = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'ids.json'), 'utf8'));
const EVAL_IDS: number[][] = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'eval-ids.json'), 'utf8'));
const VARIANTS = ['llama-gqa', 'llama-untied', 'llama-bf16', 'llama-shards', 'llama3-rope', 'llama3-rope-parameters', 'qwen2-bias', 'qwen3-qk-norm'];

interface Expected {
  loss: number;
  logits_head: number[];
  logits_sum: number;
  logits_abs_mean: number;
}

const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

function load(name: string): { config: LlamaConfig; weights: Map<string, { shape: number[]; data: Float32Array }> } {
  const dir = path.join(FIXTURES, name);
  const config = fromHfConfig(readJson(path.join(dir, 'config.json')), `${name}/config.json`);
  return { config, weights: readLlamaWeights(config, dir) };
}

/**
 * The sums of one forward pass over `tokens` positions, for reordered() (tolerance.ts): per layer the
 * two RMSNorms' means (hidden), the q/k/v products (hidden) and o_proj (heads·head_dim), Qwen3's q/k
 * norms (head_dim), the attention scores (head_dim), the softmax and the weighted values (tokens),
 * gate and up (hidden) and down (intermediate); then the final norm, the head (hidden), the
 * log-sum-exp over the vocabulary and the mean over the tokens.
 */
function llamaSums(c: LlamaConfig, tokens: number): number[] {
  const e = c.hiddenSize;
  const layer = [e, e, e, e, c.numHeads * c.headDim, ...(hasQkNorm(c) ? [c.headDim] : []), c.headDim, tokens, tokens, e, e, e, c.intermediateSize];
  return [...Array.from({ length: c.numLayers }, () => layer).flat(), e, e, c.vocabSize, tokens];
}

/**
 * The reference is PyTorch's float32 forward pass: ours computes the same sums in another order (the
 * RoPE tables are computed as transformers computes them, in float32), so losses and logits agree to
 * the reordering bound of the model's forward pass.
 */
const parity = (c: LlamaConfig, tokens = IDS.length) => reordered(llamaSums(c, tokens));

/** Mean next-token loss over `ids`, the first 8 logits of the last position, and the logits' sum. */
function evaluate(model: LlamaModel, ids = IDS): { loss: number; head: number[]; sum: number } {
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

before(async () => {
  await initBackend(TEST_BACKEND);
});

describe('the Llama family matches the PyTorch reference', () => {
  for (const name of VARIANTS) {
    test(`${name}: loss, logits and the padded-batch eval loss within float32 reordering of PyTorch's`, () => {
      const { config, weights } = load(name);
      const model = LlamaModel.fromWeights(config, weights, 0);
      const want = readJson<Expected>(path.join(FIXTURES, name, 'expected.json'));
      const got = evaluate(model);
      const rel = parity(config);
      assertRelClose(got.loss, want.loss, rel, `${name}: loss`);
      assertAllClose(got.head, want.logits_head, rel, `${name}: last logits`);
      // The logits' sum cancels (Σ|logits| ≫ |Σ logits|): its error is relative to Σ|logits|, plus that sum's own.
      const count = IDS.length * config.vocabSize;
      assertAbsClose(got.sum, want.logits_sum, (rel + reorderedSum(count)) * want.logits_abs_mean * count, `${name}: logits sum`);
      const wantEval = readJson<{ loss: number; tokens: number }>(path.join(FIXTURES, name, 'expected-eval.json'));
      const gotEval = batchLoss(model, EVAL_IDS);
      assert.equal(gotEval.tokens, wantEval.tokens);
      // Padded positions add exact zeros (masked keys have probability 0, ignored labels loss 0).
      assertRelClose(gotEval.loss, wantEval.loss, parity(config, Math.max(...EVAL_IDS.map((r) => r.length))), `${name}: eval loss`);
      model.dispose();
    });
  }

  test('the fixtures are the variants they are named after', () => {
    const c = (name: string) => load(name).config;
    assert.equal(c('llama-gqa').numKvHeads * 2, c('llama-gqa').numHeads);
    assert.equal(c('llama-untied').tieWordEmbeddings, false);
    assert.ok(c('llama-untied').attentionBias && c('llama-untied').mlpBias);
    assert.notEqual(c('llama-untied').headDim * c('llama-untied').numHeads, c('llama-untied').hiddenSize);
    assert.equal(readJson<Record<string, unknown>>(path.join(FIXTURES, 'llama-bf16', 'config.json')).torch_dtype, 'bfloat16');
    assert.ok(fs.existsSync(path.join(FIXTURES, 'llama-shards', 'model.safetensors.index.json')));
    assert.ok(!fs.existsSync(path.join(FIXTURES, 'llama-shards', 'model.safetensors')));
    assert.equal(c('llama3-rope').rope.type, 'llama3');
    assert.equal(c('llama3-rope').ropeForm, 'classic');
    assert.equal(c('llama3-rope-parameters').ropeForm, 'parameters');
    assert.equal(c('llama3-rope-parameters').ropeTheta, 500000);
    assert.equal(c('qwen2-bias').modelType, 'qwen2');
    assert.equal(c('qwen3-qk-norm').modelType, 'qwen3');
  });
});

describe('the fixtures are sensitive: a mistake moves the loss far beyond the tolerance', () => {
  /** The loss on IDS after `change` edits the checkpoint's weights or config. */
  function lossAfter(name: string, change: (w: Map<string, { shape: number[]; data: Float32Array }>, c: LlamaConfig) => LlamaConfig | undefined): number {
    const { config, weights } = load(name);
    const model = LlamaModel.fromWeights(change(weights, config) ?? config, weights, 0);
    const { loss } = evaluate(model);
    model.dispose();
    return loss;
  }

  function assertMoves(name: string, what: string, loss: number): void {
    const want = readJson<Expected>(path.join(FIXTURES, name, 'expected.json')).loss;
    const tol = parity(load(name).config);
    const moved = Math.abs(loss - want) / want;
    if (process.env.TOLERANCE_REPORT === '1') process.stderr.write(`sensitivity ${name}, ${what}: ${(moved / tol).toFixed(0)}× the tolerance\n`);
    // Measured: from about 300× (Qwen3 with interleaved RoPE, Qwen2 without q biases) to 3,700× the tolerance.
    assert.ok(moved > 100 * tol, `${name}, ${what}: the loss moved by ${moved.toExponential(2)} relative, not ≫ the tolerance ${tol.toExponential(2)}`);
  }

  /**
   * Rotating pairs (2i, 2i+1) instead of (i, i + d/2) (the interleaved layout of Meta's checkpoints)
   * is the same as rotate_half on q and k projections whose rows within each head are permuted so:
   * output row j of the interleaved layout is row perm[j] of this one.
   */
  function interleave(w: { shape: number[]; data: Float32Array }, headDim: number): void {
    const [rows, cols] = w.shape;
    const src = w.data.slice();
    const half = headDim / 2;
    for (let r = 0; r < rows; r++) {
      const head = Math.floor(r / headDim);
      const j = r % headDim;
      // rotate_half pairs j with j + half; interleaved pairs 2i with 2i + 1.
      const from = head * headDim + (j < half ? 2 * j : 2 * (j - half) + 1);
      w.data.set(src.subarray(from * cols, from * cols + cols), r * cols);
    }
  }

  test('the interleaved RoPE layout instead of rotate_half', () => {
    for (const name of ['llama-gqa', 'qwen3-qk-norm']) {
      const loss = lossAfter(name, (w, c) => {
        for (let i = 0; i < c.numLayers; i++) {
          for (const p of ['q_proj', 'k_proj']) interleave(w.get(layerKey(i, `self_attn.${p}.weight`))!, c.headDim);
          if (hasQkNorm(c))
            for (const p of ['q_norm', 'k_norm']) interleave({ ...w.get(layerKey(i, `self_attn.${p}.weight`))!, shape: [c.headDim, 1] }, c.headDim);
        }
        return undefined;
      });
      assertMoves(name, 'interleaved RoPE', loss);
    }
  });

  test('norm weights left at 1 (an input_layernorm, the final norm, Qwen3 q_norm and k_norm)', () => {
    const ones = (w: Map<string, { data: Float32Array }>, key: string) => w.get(key)!.data.fill(1);
    assertMoves(
      'llama-gqa',
      'layer 0 input_layernorm at 1',
      lossAfter('llama-gqa', (w) => void ones(w, layerKey(0, 'input_layernorm.weight'))),
    );
    assertMoves(
      'llama-gqa',
      'model.norm at 1',
      lossAfter('llama-gqa', (w) => void ones(w, 'model.norm.weight')),
    );
    const qkNormsAtOne = (w: Map<string, { data: Float32Array }>) => {
      for (const i of [0, 1]) for (const p of ['q_norm', 'k_norm']) ones(w, layerKey(i, `self_attn.${p}.weight`));
    };
    assertMoves(
      'qwen3-qk-norm',
      'q_norm and k_norm at 1',
      lossAfter('qwen3-qk-norm', (w) => void qkNormsAtOne(w)),
    );
  });

  test('llama3 RoPE scaling ignored (rope type default), and Qwen2 biases dropped', () => {
    assertMoves(
      'llama3-rope',
      'rope type default',
      lossAfter('llama3-rope', (_, c) => ({ ...c, rope: { type: 'default' } })),
    );
    // The q bias, not k's: q·b_k is the same for every key of a query but for the rotation, so softmax all but ignores it.
    assertMoves(
      'qwen2-bias',
      'q_proj biases 0',
      lossAfter('qwen2-bias', (w) => void [0, 1].forEach((i) => w.get(layerKey(i, 'self_attn.q_proj.bias'))!.data.fill(0))),
    );
  });
});
