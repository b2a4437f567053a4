// Frozen weights get no gradient work: in a training step with LoRA or partial freezing, no matrix
// product produces a tensor shaped like a frozen weight (that would be its dW), while full
// fine-tuning does produce them (so the check can tell the difference).
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { buildModel } from '../../trainer/loadModel';
import type { StrategyConfig } from '../../trainer/strategies/strategy';

// Distinct sizes so that every weight shape is unambiguous: E=24, 3E=72, 4E=96, V=50.
const config = { vocabSize: 50, nPositions: 16, nEmbd: 24, nLayer: 2, nHead: 2, layerNormEpsilon: 1e-5, dropout: 0 };
const key = (s: readonly number[]) => s.join('x');

before(async () => {
  await initBackend('wasm');
});

/** Output shapes of every matMul in one forward + backward step. */
async function matMulShapes(strategy: StrategyConfig): Promise<string[]> {
  const model = buildModel(config, strategy, 1);
  const vars = model.trainableVariables().map((v) => v.variable);
  const ids = tf.tensor2d(
    [
      [1, 2, 3, 4, 5, 6, 7],
      [8, 9, 10, 11, 12, 13, 14],
    ],
    [2, 7],
    'int32',
  );
  const labels = tf.tensor2d(
    [
      [2, 3, 4, 5, 6, 7, 8],
      [9, 10, 11, 12, 13, 14, -1],
    ],
    [2, 7],
    'int32',
  );
  const mask = tf.ones([2, 7]) as tf.Tensor2D;
  const info = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => tf.sum(model.tokenLoss(ids, labels, mask, true)) as tf.Scalar, vars);
    tf.dispose([value, ...Object.values(grads)]);
  });
  tf.dispose([ids, labels, mask]);
  model.dispose();
  return info.kernels.filter((k) => k.name === 'BatchMatMul' || k.name === '_FusedMatMul').flatMap((k) => k.outputShapes.map((s) => key(s as number[])));
}

const E = config.nEmbd;
const blockWeightShapes = [key([E, 3 * E]), key([E, E]), key([E, 4 * E]), key([4 * E, E])];
const wteShape = key([config.vocabSize, E]);

test('full fine-tuning computes dW for every block weight and the tied embedding', async () => {
  const shapes = new Set(await matMulShapes({ strategy: 'full' }));
  for (const s of [...blockWeightShapes, wteShape]) assert.ok(shapes.has(s), `no product shaped ${s}`);
});

test('LoRA computes no dW of a frozen weight: only the r-wide adapter products', async () => {
  const shapes = new Set(await matMulShapes({ strategy: 'lora', r: 4, alpha: 8, dropout: 0, targets: ['c_attn'] }));
  for (const s of [...blockWeightShapes, wteShape]) assert.ok(!shapes.has(s), `a product shaped like frozen weight ${s} was computed`);
  assert.ok(shapes.has(key([E, 4])) && shapes.has(key([4, 3 * E])), 'the adapters get their gradients');
});

test('partial: frozen blocks and embeddings get no dW; the trainable last block does', async () => {
  const frozen = await matMulShapes({ strategy: 'partial', freezeLayers: 1, freezeEmbeddings: true });
  const full = await matMulShapes({ strategy: 'full' });
  const count = (list: string[], s: string) => list.filter((x) => x === s).length;
  // One block of two is trainable: half the dW products of full, and none for the embedding.
  for (const s of blockWeightShapes) assert.equal(count(frozen, s), count(full, s) / 2, `products shaped ${s}`);
  assert.equal(count(frozen, wteShape), 0);
  assert.ok(frozen.length < full.length);
});
