// Finite-difference checks of the hand-written gradients (trainer/compute/ops.ts) through whole tiny models:
// embeddings, LayerNorm, attention (with padding and dropout), gelu_new MLP, tied head, cross-entropy,
// and LoRA layers. Central differences in float32 on small shapes.
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import type { GPT2Config } from '../../trainer/models/gpt2/config';
import { modelFromWeights } from '../../trainer/loadModel';
import { expectedKeys, expectedShape } from '../../trainer/models/gpt2/weights';
import type { NamedTensor } from '../../trainer/models/model';
import { loraLayersOf } from '../../trainer/strategies/lora';
import type { TunedModel } from '../../trainer/strategies/tunedModel';
import type { StrategyConfig } from '../../trainer/strategies/strategy';
import { TEST_BACKEND } from './testBackend';

const config: GPT2Config = { vocabSize: 13, nPositions: 8, nEmbd: 8, nLayer: 1, nHead: 2, layerNormEpsilon: 1e-5, dropout: 0 };

/** Random weights of every tensor (LayerNorm gains around 1), so that no gradient is trivially 0. */
function randomWeights(cfg: GPT2Config, seed: number): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  expectedKeys(cfg).forEach((key, i) => {
    const shape = expectedShape(cfg, key);
    const t = tf.randomNormal(shape, key.includes('ln_') && key.endsWith('weight') ? 1 : 0, 0.4, 'float32', seed + i);
    out.set(key, { shape, data: t.dataSync() as Float32Array });
    t.dispose();
  });
  return out;
}

const B = 2;
const T = 5;
const ids = () =>
  tf.tensor2d(
    [
      [1, 5, 7, 2, 11],
      [3, 3, 12, 0, 0],
    ],
    [B, T],
    'int32',
  );
const labels = () =>
  tf.tensor2d(
    [
      [5, 7, 2, 11, -1],
      [3, 12, -1, -1, -1],
    ],
    [B, T],
    'int32',
  );
const mask = () =>
  tf.tensor2d(
    [
      [1, 1, 1, 1, 1],
      [1, 1, 1, 0, 0],
    ],
    [B, T],
  );

function lossOf(model: TunedModel, training: boolean): tf.Scalar {
  model.dropoutCounter = 0; // the same dropout masks on every evaluation
  return tf.sum(model.tokenLoss(ids(), labels(), mask(), training));
}

/** Compares d loss / d v at a few coordinates of every trainable variable with central differences. */
function checkGradients(model: TunedModel, training: boolean, coordsPerVariable = 3): number {
  const vars = model.trainableVariables();
  const { grads } = tf.variableGrads(
    () => lossOf(model, training),
    vars.map((v) => v.variable),
  );
  const h = 1e-2;
  let checked = 0;
  for (const { name, variable } of vars) {
    const g = grads[variable.name].dataSync();
    const values = variable.dataSync().slice();
    // The coordinates with the largest gradients: small ones drown in float32 rounding.
    const order = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]));
    for (const i of order.slice(0, coordsPerVariable)) {
      const at = (delta: number) => {
        const v = values.slice();
        v[i] += delta;
        variable.assign(tf.tensor(v, variable.shape));
        return tf.tidy(() => lossOf(model, training).dataSync()[0]);
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      variable.assign(tf.tensor(values, variable.shape));
      const err = Math.abs(numeric - g[i]);
      // Float32 central differences here agree to ~2e-3 relative; 5e-3 leaves room without hiding a wrong term.
      assert.ok(err <= 5e-3 * Math.max(Math.abs(numeric), Math.abs(g[i])) + 1e-3, `${name}[${i}]: analytic ${g[i]} vs numeric ${numeric}`);
      checked++;
    }
  }
  tf.dispose(grads);
  return checked;
}

before(async () => {
  await initBackend(TEST_BACKEND);
});

test('full model: every gradient (embeddings, block, final norm, tied head) matches finite differences', () => {
  const model = modelFromWeights(config, randomWeights(config, 1), { strategy: 'full' }, 0);
  assert.equal(checkGradients(model, false), 3 * (2 + 12 + 2));
  model.dispose();
});

test('with dropout in training, gradients still match finite differences for the same masks', () => {
  const cfg = { ...config, dropout: 0.2 };
  const model = modelFromWeights(cfg, randomWeights(cfg, 2), { strategy: 'full' }, 4);
  checkGradients(model, true, 2);
  model.dispose();
});

test('LoRA layers: gradients of A and B match finite differences', () => {
  const strategy: StrategyConfig = { strategy: 'lora', r: 2, alpha: 4, dropout: 0, targets: 'all-linear' };
  const model = modelFromWeights(config, randomWeights(config, 3), strategy, 0);
  loraLayersOf(model).forEach((l, i) => l.bT.assign(tf.randomNormal(l.bT.shape, 0, 0.5, 'float32', 70 + i)));
  assert.equal(checkGradients(model, false), 3 * 8);
  model.dispose();
});

test('LoRA with dropout on its input: gradients match for the same masks', () => {
  const strategy: StrategyConfig = { strategy: 'lora', r: 2, alpha: 2, dropout: 0.3, targets: ['c_attn'] };
  const model = modelFromWeights(config, randomWeights(config, 4), strategy, 1);
  loraLayersOf(model).forEach((l, i) => l.bT.assign(tf.randomNormal(l.bT.shape, 0, 0.5, 'float32', 90 + i)));
  checkGradients(model, true, 3);
  model.dispose();
});
