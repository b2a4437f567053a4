// Generation: greedy decoding is the argmax of the model's logits step by step; sampling repeats with a
// seed and stays in the top k; adapter folders (PEFT LoRA, bottleneck, prompt tuning) apply to --model.
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { presetConfig, type GPT2Config } from '../../trainer/models/gpt2/config';
import { adapterKind, applyTemplate, generate, generateTokens, pickToken } from '../../trainer/generate';
import { buildModel } from '../../trainer/loadModel';
import { loraLayersOf } from '../../trainer/strategies/lora';
import { saveAdapter, type TunedModel } from '../../trainer/strategies/tunedModel';
import { gpt2Tokenizer } from '../../language/tokenizer';
import { run as generateCli } from '../../cli/generate';
import { UsageError } from '../../cli/usage';

const small: GPT2Config = { vocabSize: 40, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEpsilon: 1e-5, dropout: 0 };

before(async () => {
  await initBackend('cpu');
});

function argmaxAfter(model: TunedModel, ids: number[]): number {
  return tf.tidy(() => {
    const logits = model.logits(tf.tensor2d([ids], [1, ids.length], 'int32'), tf.ones([1, ids.length]) as tf.Tensor2D);
    return tf.argMax(tf.reshape(tf.slice(logits, [0, ids.length - 1, 0], [1, 1, small.vocabSize]), [small.vocabSize])).dataSync()[0];
  });
}

test('greedy generation is the argmax of the logits, step by step, cropped to the context', async () => {
  const model = buildModel(small, { strategy: 'full' }, 4);
  const prompt = [1, 2, 3];
  const { tokens, stopReason } = await generateTokens(model, prompt, { maxNewTokens: 20, temperature: 0, topK: 0, seed: 0, stopAtEos: false, eosId: 39 });
  assert.equal(stopReason, 'max-tokens');
  assert.equal(tokens.length, 20);
  const ids = [...prompt];
  for (const t of tokens) {
    assert.equal(t, argmaxAfter(model, ids.slice(-small.nPositions)));
    ids.push(t);
  }
  model.dispose();
});

test('generation stops at end-of-text, which is not part of the output', async () => {
  const model = buildModel(small, { strategy: 'full' }, 4);
  const first = await generateTokens(model, [1, 2, 3], { maxNewTokens: 5, temperature: 0, topK: 0, seed: 0, stopAtEos: false, eosId: -1 });
  // declare the third greedy token the end-of-text id: generation must stop before it
  const stopped = await generateTokens(model, [1, 2, 3], { maxNewTokens: 5, temperature: 0, topK: 0, seed: 0, stopAtEos: true, eosId: first.tokens[2] });
  assert.equal(stopped.stopReason, 'eos');
  assert.deepEqual(stopped.tokens, first.tokens.slice(0, first.tokens.indexOf(first.tokens[2])));
  model.dispose();
});

test('sampling repeats with its seed and only picks among the top k', () => {
  const logits = Float32Array.from([0.1, 3, 2.9, -1, 2.8, 0]);
  const draw = (seed: number) => {
    let s = seed;
    const random = () => (s = (s * 16807) % 2147483647) / 2147483647;
    return Array.from({ length: 50 }, () => pickToken(logits, 1.5, 3, random));
  };
  const a = draw(7);
  assert.deepEqual(a, draw(7));
  assert.ok(
    a.every((t) => [1, 2, 4].includes(t)),
    a.join(','),
  );
  assert.ok(new Set(a).size > 1);
  assert.equal(pickToken(logits, 0, 0, Math.random), 1);
});

test('templates format the prompt as training records were', () => {
  assert.equal(applyTemplate('Hi', 'none'), 'Hi');
  assert.match(applyTemplate('Name a colour', 'alpaca'), /### Instruction:\nName a colour\n\n### Response:\n$/);
});

test('a LoRA adapter folder applies to --model: generate() follows the fine-tuned model, not the base', async () => {
  const tiny = presetConfig('tiny');
  // the tiny preset is random from the seed: the same seed rebuilds the same base weights
  const tuned = buildModel(tiny, { strategy: 'lora', r: 2, alpha: 4, dropout: 0, targets: ['c_attn'] }, 42);
  for (const l of loraLayersOf(tuned)) l.bT.assign(tf.randomNormal(l.bT.shape, 0, 0.5, 'float32', 1));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-generate-'));
  saveAdapter(tuned, 'tiny', dir);
  assert.equal(adapterKind(dir), 'lora');
  const ids = gpt2Tokenizer().encode('The weather today');
  const expected = (await generateTokens(tuned, ids, { maxNewTokens: 4, temperature: 0, topK: 0, seed: 0, stopAtEos: false, eosId: 50256 })).tokens;
  const viaFolder = await generate({ modelSpec: 'tiny', adapterDir: dir, prompt: 'The weather today', maxNewTokens: 4, stopAtEos: false, backend: 'cpu' });
  assert.deepEqual(viaFolder.tokens, expected);
  assert.equal(viaFolder.text, gpt2Tokenizer().decode(expected));
  const plain = await generate({ modelSpec: 'tiny', prompt: 'The weather today', maxNewTokens: 4, stopAtEos: false, backend: 'cpu' });
  assert.notDeepEqual(plain.tokens, expected);
  tuned.dispose();
});

test('a prompt-tuning folder applies too', async () => {
  const tiny = presetConfig('tiny');
  const tuned = buildModel(tiny, { strategy: 'prompt', virtualTokens: 3 }, 42);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-generate-'));
  saveAdapter(tuned, 'tiny', dir);
  assert.equal(adapterKind(dir), 'prompt');
  const ids = gpt2Tokenizer().encode('Hello');
  const expected = (await generateTokens(tuned, ids, { maxNewTokens: 3, temperature: 0, topK: 0, seed: 0, stopAtEos: false, eosId: 50256 })).tokens;
  const r = await generate({ modelSpec: 'tiny', adapterDir: dir, prompt: 'Hello', maxNewTokens: 3, stopAtEos: false, backend: 'cpu' });
  assert.deepEqual(r.tokens, expected);
  tuned.dispose();
});

test('finetune generate: bad flags are usage errors', async () => {
  await assert.rejects(generateCli(['--prompt', 'x']), (e: unknown) => e instanceof UsageError && /--model is required/.test((e as Error).message));
  await assert.rejects(generateCli(['--model', 'tiny']), (e: unknown) => e instanceof UsageError && /--prompt is required/.test((e as Error).message));
  await assert.rejects(generateCli(['--model', 'tiny', '--prompt', 'x', '--temperature', '-1']), UsageError);
  await assert.rejects(generateCli(['--model', 'tiny', '--prompt', 'x', '--template', 'yaml']), /--template must be/);
});
