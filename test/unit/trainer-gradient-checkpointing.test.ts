// Gradient checkpointing (trainer/models/checkpoint.ts): with each block recomputed in the backward
// pass, the loss and every trainable gradient equal those of the plain pass (GPT-2 full, LoRA and
// adapters, a Llama fixture with LoRA, with dropout on: the recomputation replays the same masks), a
// `finetune train` run takes the same losses with --gradient-checkpointing, and the activations kept
// after the forward pass, measured and estimated, are smaller.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseTrainerEvent } from '../../protocol/trainer';
import { initBackend } from '../../trainer/compute/backend';
import { loadModelFolder } from '../../trainer/formats/modelFolder';
import { buildModel, modelFromWeights } from '../../trainer/loadModel';
import { presetConfig, type GPT2Config } from '../../trainer/models/gpt2/config';
import type { LlamaConfig } from '../../trainer/models/llama/config';
import type { ModelConfig } from '../../trainer/models/registry';
import { memoryEstimate } from '../../trainer/params';
import type { AnyStrategyConfig } from '../../trainer/strategies/strategy';
import type { TunedModel } from '../../trainer/strategies/tunedModel';
import { assertAllClose, assertRelClose, gpt2Sums, reordered } from './tolerance';

before(async () => {
  await initBackend('wasm');
});

/** Deterministic ids in [0, vocab) for a [batch, seq] input. */
function ids(batch: number, seq: number, vocab: number, salt: number): number[] {
  return Array.from({ length: batch * seq }, (_, i) => (i * 7919 + salt * 104729) % vocab);
}

interface PassResult {
  loss: number;
  grads: Float32Array[];
  /** Tensor bytes allocated at the end of the forward pass beyond those before it: what the backward pass keeps. */
  keptBytes: number;
}

/** Mean token loss and its gradient in every trainable variable, one training pass from dropout counter 0. */
function pass(model: TunedModel, batch: number, seq: number, checkpointing: boolean): PassResult {
  const vocab = model.base.dims.vocabSize;
  model.base.gradientCheckpointing = checkpointing;
  model.dropoutCounter = 0;
  const variables = model.trainableVariables().map((v) => v.variable);
  const input = tf.tensor2d(ids(batch, seq, vocab, 1), [batch, seq], 'int32');
  const labels = tf.tensor2d(ids(batch, seq, vocab, 2), [batch, seq], 'int32');
  const mask = tf.ones([batch, seq]) as tf.Tensor2D;
  const before = tf.memory().numBytes;
  let keptBytes = 0;
  const { value, grads } = tf.variableGrads(() => {
    const loss = tf.mean(model.tokenLoss(input, labels, mask, true)) as tf.Scalar;
    keptBytes = tf.memory().numBytes - before;
    return loss;
  }, variables);
  const result = { loss: value.dataSync()[0], grads: variables.map((v) => grads[v.name].dataSync() as Float32Array), keptBytes };
  tf.dispose([value, input, labels, mask, ...Object.values(grads)]);
  return result;
}

/** Both passes' loss and gradients agree within `rel`; some gradient is nonzero, so agreement says something. */
function assertSamePass(model: TunedModel, batch: number, seq: number, rel: number): void {
  const plain = pass(model, batch, seq, false);
  const counterPlain = model.dropoutCounter;
  const recomputed = pass(model, batch, seq, true);
  assert.equal(model.dropoutCounter, counterPlain, 'the dropout counter ends where the plain pass leaves it');
  assertRelClose(recomputed.loss, plain.loss, rel, 'loss');
  assert.equal(recomputed.grads.length, plain.grads.length);
  assert.ok(
    plain.grads.some((g) => g.some((v) => v !== 0)),
    'some gradient is nonzero',
  );
  plain.grads.forEach((g, i) => assertAllClose(recomputed.grads[i], g, rel, `gradient ${i}`));
}

/**
 * The sums along a Llama forward pass over `tokens` positions, then the backward (the same chain again):
 * per block the two RMSNorms and q/k/v (E), the scores (D), softmax and weighted values (T), o_proj (H·D),
 * gate/up (E) and down (I); then the final norm and LM head (E), the log-sum-exp (V) and the loss (T).
 */
function llamaSums(c: LlamaConfig, tokens: number): number[] {
  const block = [c.hiddenSize, c.hiddenSize, c.headDim, tokens, tokens, c.numHeads * c.headDim, c.hiddenSize, c.hiddenSize, c.intermediateSize];
  const forward = [...Array.from({ length: c.numLayers }, () => block).flat(), c.hiddenSize, c.hiddenSize, c.vocabSize, tokens];
  return [...forward, ...forward];
}

const tiny = presetConfig('tiny');
const withDropout: GPT2Config = { ...tiny, dropout: 0.1 };
const lora = { strategy: 'lora', r: 4, alpha: 8, dropout: 0.1, targets: ['c_attn', 'c_proj'] };
const [B, T] = [2, 12];

describe('gradient checkpointing gives the plain pass loss and gradients', () => {
  for (const [label, config, strategy] of [
    ['GPT-2 tiny, full', tiny, { strategy: 'full' }],
    ['GPT-2 tiny, full, dropout 0.1', withDropout, { strategy: 'full' }],
    ['GPT-2 tiny, LoRA with dropout', withDropout, lora],
    ['GPT-2 tiny, adapters, dropout 0.1', withDropout, { strategy: 'adapter', adapterDim: 8 }],
  ] as [string, GPT2Config, AnyStrategyConfig][]) {
    test(label, () => {
      const model = buildModel(config, strategy, 3);
      try {
        assertSamePass(model, B, T, reordered(gpt2Sums(config, T, true)));
      } finally {
        model.dispose();
      }
    });
  }

  test('Llama fixture (llama-gqa), LoRA on q_proj, v_proj with dropout, attention dropout 0.1', () => {
    const folder = loadModelFolder(path.join(__dirname, '..', 'fixtures', 'llama', 'llama-gqa'));
    const config = { ...(folder.config as LlamaConfig), attentionDropout: 0.1 };
    const model = modelFromWeights(config, folder.weights, { ...lora, targets: ['q_proj', 'v_proj'] }, 5);
    try {
      assertSamePass(model, B, T, reordered(llamaSums(config, T)));
    } finally {
      model.dispose();
    }
  });
});

test('gradient checkpointing keeps less after the forward pass and peaks lower on a longer sequence, as the estimate says; it leaks no tensor', async () => {
  const [batch, seq] = [2, 128];
  // A small vocabulary and four blocks, so that the blocks' activations, not the logits, dominate.
  const config: GPT2Config = { ...tiny, vocabSize: 512, nLayer: 4 };
  const model = buildModel(config, { strategy: 'full' }, 3);
  try {
    const plain = pass(model, batch, seq, false);
    const tensorsBefore = tf.memory().numTensors;
    const recomputed = pass(model, batch, seq, true);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'the checkpointed pass frees everything it made');
    // tf.profile's peakBytes: the high-water mark of allocated tensor bytes over the whole pass, backward included.
    const peak = async (on: boolean) => (await tf.profile(() => void pass(model, batch, seq, on))).peakBytes;
    const [peakPlain, peakRecomputed] = [await peak(false), await peak(true)];
    const estimate = (on: boolean) => memoryEstimate(config as ModelConfig, { strategy: 'full' }, batch, seq, 'lm', on).activations;
    process.stdout.write(
      `# kept after forward, B${batch} T${seq}: plain ${plain.keptBytes} B, checkpointed ${recomputed.keptBytes} B; ` +
        `peak plain ${peakPlain} B, checkpointed ${peakRecomputed} B; ` +
        `estimated activations ${estimate(false)} B vs ${estimate(true)} B\n`,
    );
    // Four blocks' activations against four block inputs: well under half is kept.
    assert.ok(recomputed.keptBytes < plain.keptBytes / 2, `${recomputed.keptBytes} < ${plain.keptBytes} / 2`);
    assert.ok(peakRecomputed < peakPlain, `peak ${peakRecomputed} < ${peakPlain}`);
    assert.ok(estimate(true) < estimate(false));
  } finally {
    model.dispose();
  }
});

test('finetune train --gradient-checkpointing takes the same losses as without', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-gc-'));
  try {
    const data = path.join(scratch, 'data.jsonl');
    const records = ['one', 'two', 'three', 'four'].map((w) => ({ instruction: `Repeat ${w}.`, output: w }));
    fs.writeFileSync(data, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const main = path.join(__dirname, '../../cli/main.ts');
    const losses = (extra: string[], out: string) => {
      const args = ['train', '--data', data, '--model', 'tiny', '--strategy', 'lora', '--lora-dropout', '0.1', '--out', out];
      args.push('--max-steps', '3', '--batch-size', '2', '--eval-fraction', '0', '--backend', 'wasm', ...extra);
      const r = spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      const events = r.stdout
        .trim()
        .split('\n')
        .map((l) => parseTrainerEvent(l)!);
      const memory = events.find((e) => e.type === 'memory');
      return { losses: events.flatMap((e) => (e.type === 'step' ? [e.loss] : [])), activations: memory?.type === 'memory' ? memory.activations : NaN };
    };
    const plain = losses([], path.join(scratch, 'plain'));
    const recomputed = losses(['--gradient-checkpointing'], path.join(scratch, 'gc'));
    assert.equal(plain.losses.length, 3);
    assert.equal(recomputed.losses.length, 3);
    // Later steps follow updates made from the gradients, so their distance is the gradients' too.
    const rel = reordered(gpt2Sums(tiny, 64, true));
    plain.losses.forEach((l, i) => assertRelClose(recomputed.losses[i], l, rel, `step ${i + 1} loss`));
    assert.ok(recomputed.activations < plain.activations, 'the memory event reports the checkpointed estimate');
    assert.equal(JSON.parse(fs.readFileSync(path.join(scratch, 'gc', 'run.json'), 'utf8')).gradientCheckpointing, true);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});
