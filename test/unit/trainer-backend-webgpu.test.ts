// The webgpu backend (Dawn through the `webgpu` package): `auto` never takes a software adapter, a
// forced `--backend webgpu` says clearly why it cannot start, and where it runs (a real GPU, or Mesa's
// llvmpipe when FINETUNE_WEBGPU_SOFTWARE=1) it trains with the same losses and gradients as wasm.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { adapterDescription, BackendUnavailableError, initBackend, isSoftwareAdapter } from '../../trainer/compute/backend';
import { buildModel } from '../../trainer/loadModel';
import { assertAllClose, assertRelClose, gpt2Sums, reordered } from './tolerance';

const STEP_CONFIG = { vocabSize: 61, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEpsilon: 1e-5, dropout: 0 };

test('software adapters (llvmpipe, lavapipe, SwiftShader, WARP, fallback) are recognised; real GPUs are not', () => {
  assert.equal(isSoftwareAdapter({ info: { vendor: '', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'OpenGL ES 3.2 Mesa 22.3.6' } }), true);
  assert.equal(isSoftwareAdapter({ info: { vendor: 'mesa', device: 'llvmpipe (LLVM 15.0.6, 256 bits)', description: 'lavapipe' } }), true);
  assert.equal(isSoftwareAdapter({ info: { vendor: 'google', architecture: 'swiftshader', device: 'SwiftShader Device (Subzero)' } }), true);
  assert.equal(isSoftwareAdapter({ info: { vendor: 'microsoft', description: 'Microsoft Basic Render Driver' } }), true);
  assert.equal(isSoftwareAdapter({ isFallbackAdapter: true, info: { vendor: 'nvidia' } }), true);
  assert.equal(
    isSoftwareAdapter({ info: { vendor: 'nvidia', architecture: 'ampere', device: 'NVIDIA GeForce RTX 3080', description: 'NVIDIA: 535.104' } }),
    false,
  );
  assert.equal(isSoftwareAdapter({ info: { vendor: 'apple', architecture: 'metal-3', description: 'Apple M2' } }), false);
  assert.equal(adapterDescription({ info: { vendor: 'nvidia', device: 'NVIDIA H100', description: 'NVIDIA: 550.54' } }), 'nvidia NVIDIA H100, NVIDIA: 550.54');
  assert.equal(adapterDescription({}), 'unknown adapter');
});

/** Loss and gradients of one step of a small GPT-2 on the running backend (read asynchronously: webgpu has no dataSync in Node). */
async function step(): Promise<{ loss: number; grads: Float32Array[] }> {
  const model = buildModel(STEP_CONFIG, { strategy: 'full' }, 7);
  const vars = model.trainableVariables().map((v) => v.variable);
  const ids = tf.tensor2d(
    [
      [5, 9, 1, 33, 2, 60],
      [7, 7, 3, 0, 0, 0],
    ],
    [2, 6],
    'int32',
  );
  const labels = tf.tensor2d(
    [
      [9, 1, 33, 2, 60, -1],
      [7, 3, -1, -1, -1, -1],
    ],
    [2, 6],
    'int32',
  );
  const mask = tf.tensor2d(
    [
      [1, 1, 1, 1, 1, 1],
      [1, 1, 1, 0, 0, 0],
    ],
    [2, 6],
  );
  const { value, grads } = tf.variableGrads(() => tf.sum(model.tokenLoss(ids, labels, mask, true)) as tf.Scalar, vars);
  const out = { loss: (await value.data())[0], grads: await Promise.all(vars.map(async (v) => (await grads[v.name].data()) as Float32Array)) };
  tf.dispose([value, ids, labels, mask, ...Object.values(grads)]);
  model.dispose();
  return out;
}

test('forced webgpu starts on a GPU adapter or fails with a clear reason; with the software opt-in it trains like wasm', async () => {
  const saved = process.env.FINETUNE_WEBGPU_SOFTWARE;
  delete process.env.FINETUNE_WEBGPU_SOFTWARE;
  try {
    const reasons =
      /webgpu' is not available: (no WebGPU adapter was found|only a software adapter was found \(.+FINETUNE_WEBGPU_SOFTWARE=1|the webgpu package is not installed)/;
    const hardware = await initBackend('webgpu').then(
      (info) => info,
      (err: Error) => {
        assert.ok(err instanceof BackendUnavailableError, String(err));
        assert.match(err.message, reasons);
        return null;
      },
    );
    if (hardware) assert.doesNotMatch(hardware.device, /software/);

    await initBackend('wasm');
    const want = await step();
    process.env.FINETUNE_WEBGPU_SOFTWARE = '1';
    const info = await initBackend('webgpu').catch((err: Error) => {
      assert.match(err.message, /webgpu' is not available: /);
      return null;
    });
    if (info) {
      assert.equal(info.backend, 'webgpu');
      assert.equal(tf.getBackend(), 'webgpu');
      const got = await step();
      // One step before any update: the same float32 sums in another order, forward (the loss) and back (the gradients).
      assertRelClose(got.loss, want.loss, reordered(gpt2Sums(STEP_CONFIG, 12)), 'loss, webgpu vs wasm');
      got.grads.forEach((g, i) => assertAllClose(g, want.grads[i], reordered(gpt2Sums(STEP_CONFIG, 12, true)), `gradient ${i}, webgpu vs wasm`));
    }
  } finally {
    if (saved === undefined) delete process.env.FINETUNE_WEBGPU_SOFTWARE;
    else process.env.FINETUNE_WEBGPU_SOFTWARE = saved;
    await initBackend('wasm');
  }
});

test('auto probes Dawn only where a GPU device node exists (Linux: /dev/dri/renderD*, /dev/nvidia*)', async () => {
  const fsp = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { mayHaveGpu } = await import('../../trainer/compute/backend');
  const dev = fsp.mkdtempSync(path.join(os.tmpdir(), 'ft-dev-'));
  try {
    const linux = process.platform === 'linux';
    assert.equal(mayHaveGpu(dev), !linux);
    fsp.mkdirSync(path.join(dev, 'dri'));
    fsp.writeFileSync(path.join(dev, 'dri', 'card0'), '');
    assert.equal(mayHaveGpu(dev), !linux);
    fsp.writeFileSync(path.join(dev, 'dri', 'renderD128'), '');
    assert.equal(mayHaveGpu(dev), true);
    fsp.rmSync(path.join(dev, 'dri'), { recursive: true });
    fsp.writeFileSync(path.join(dev, 'nvidia0'), '');
    assert.equal(mayHaveGpu(dev), true);
  } finally {
    fsp.rmSync(dev, { recursive: true, force: true });
  }
});
