// Generation on the webgpu backend (Dawn; Mesa's llvmpipe through OpenGL ES without a GPU, with
// FINETUNE_WEBGPU_SOFTWARE=1). webgpu has no synchronous read in Node, so this passes only if the
// prefill, every cached decode step and every logits read are asynchronous; its greedy tokens are wasm's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { generate } from '../../trainer/generate';

/** What Dawn needs for its OpenGL ES adapter on Debian/Ubuntu (llvmpipe when there is no GPU). */
const GL_PACKAGES = 'libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri';

test("greedy generation on webgpu (llvmpipe without a GPU) gives wasm's tokens, reading every step asynchronously", async () => {
  const saved = process.env.FINETUNE_WEBGPU_SOFTWARE;
  process.env.FINETUNE_WEBGPU_SOFTWARE = '1';
  try {
    const request = { modelSpec: 'tiny', prompt: 'The weather today is', maxNewTokens: 12, stopAtEos: false };
    try {
      await initBackend('webgpu');
    } catch (err) {
      // Not a skip: where Dawn finds no adapter at all, this test fails and says what to install.
      assert.fail(`${(err as Error).message}. Without a GPU, webgpu needs Mesa's OpenGL ES: apt-get install ${GL_PACKAGES}`);
    }
    const onGpu = await generate({ ...request, backend: 'webgpu' });
    assert.equal(tf.getBackend(), 'webgpu');
    const onWasm = await generate({ ...request, backend: 'wasm' });
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(onGpu.tokens.length, 12);
    assert.deepEqual(onGpu.tokens, onWasm.tokens);
    assert.ok(onGpu.tokensPerSecond !== null && onGpu.tokensPerSecond > 0);
  } finally {
    if (saved === undefined) delete process.env.FINETUNE_WEBGPU_SOFTWARE;
    else process.env.FINETUNE_WEBGPU_SOFTWARE = saved;
  }
});
