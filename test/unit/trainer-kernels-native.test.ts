// The optional native BLAS matMul (trainer/native/): it must compute what tfjs's own kernels compute,
// keep the model equal to the PyTorch reference fixtures, and fall back cleanly when it is absent.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { nativeMatMulActive, registerTrainingKernels } from '../../trainer/compute/kernels';
import { loadNativeBlas, nativeAddonCandidates, nativeBlasUnavailableReason, openBlasCoreType } from '../../trainer/native/blas';
import { loadModelFolder } from '../../trainer/formats/modelFolder';
import { buildModel, modelFromWeights } from '../../trainer/loadModel';
import type { StrategyConfig } from '../../trainer/strategies/strategy';
import { assertAllClose, assertRelClose, gpt2Sums, reordered, reorderedSum } from './tolerance';
import { buildNativeAddonIfMissing } from './nativeAddon';

const ROOT = path.join(__dirname, '..', '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'reference');
const IDS: number[] = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'ids.json'), 'utf8'));

before(async () => {
  buildNativeAddonIfMissing();
  await initBackend('wasm');
});

/** Runs fn with tfjs's own matMul on `backend`, then restores the native one (if any). */
function withStockMatMul<T>(backend: string, fn: () => T): T {
  registerTrainingKernels(backend, { nativeBlas: false });
  try {
    return fn();
  } finally {
    registerTrainingKernels(backend);
  }
}

describe('native BLAS matMul', () => {
  test('loads where it was built, and otherwise says why and leaves wasm on its own kernels', () => {
    const built = nativeAddonCandidates(path.join(ROOT, 'trainer', 'native')).some((f) => fs.existsSync(f));
    const blas = loadNativeBlas();
    if (built && process.env.FINETUNE_NATIVE_BLAS !== '0') {
      assert.ok(blas, `the addon was built but did not load: ${nativeBlasUnavailableReason()}`);
      assert.equal(nativeMatMulActive('wasm'), true);
    } else {
      assert.equal(blas, null);
      assert.match(nativeBlasUnavailableReason() ?? '', /not built|failed to load|turned off/);
      assert.equal(nativeMatMulActive('wasm'), false);
    }
  });

  test('OpenBLAS core type follows the CPU flags: AVX-512 -> SkylakeX, AVX2+FMA -> Haswell, else left to OpenBLAS', () => {
    assert.equal(openBlasCoreType(new Set(['avx2', 'fma', 'avx512f', 'avx512vl', 'avx512bw', 'avx512dq', 'avx512cd'])), 'SkylakeX');
    assert.equal(openBlasCoreType(new Set(['avx2', 'fma', 'avx512f'])), 'Haswell');
    assert.equal(openBlasCoreType(new Set(['sse4_2'])), undefined);
  });

  test('the device string names the OpenBLAS kernels really in use, not an OPENBLAS_CORETYPE that OpenBLAS ignored', () => {
    if (!loadNativeBlas()) return assert.equal(nativeMatMulActive('wasm'), false);
    if (process.arch !== 'x64') return; // Prescott (SSE3) is an x86-64 kernel set
    // OpenBLAS reads OPENBLAS_CORETYPE once, when it loads: a fresh process per setting.
    const device = (core: string) => {
      const code = "require('./trainer/compute/backend').initBackend('wasm').then((i) => console.log(i.device))";
      const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, env: { ...process.env, OPENBLAS_CORETYPE: core }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    assert.match(device('Prescott'), /OpenBLAS Prescott\)$/);
    const ignored = device('NoSuchCore');
    assert.doesNotMatch(ignored, /NoSuchCore/);
    assert.match(ignored, /OpenBLAS \w+\)$/);
  });

  test('sgemm rejects arrays too small for the shapes instead of reading past them', () => {
    const blas = loadNativeBlas();
    if (!blas) return assert.equal(nativeMatMulActive('wasm'), false);
    assert.throws(() => blas.sgemm(new Float32Array(3), new Float32Array(4), new Float32Array(4), 1, 2, 2, 2, false, false, 4, 4), /do not fit/);
    assert.throws(() => blas.sgemm(new Float64Array(4) as never, new Float32Array(4), new Float32Array(4), 1, 2, 2, 2, false, false, 4, 4), /Float32Arrays/);
  });

  for (const backend of ['wasm', 'cpu']) {
    test(`${backend}: tf.matMul gives tfjs's own results for every transpose and batch-broadcast case`, async () => {
      await initBackend(backend as 'wasm' | 'cpu');
      const cases: [number[], number[], boolean, boolean][] = [
        [[7, 5], [5, 3], false, false],
        [[5, 7], [5, 3], true, false],
        [[7, 5], [3, 5], false, true],
        [[5, 7], [3, 5], true, true],
        [[4, 6, 5], [4, 5, 3], false, false],
        [[4, 5, 6], [4, 3, 5], true, true],
        [[2, 3, 6, 5], [5, 4], false, false], // one side a single matrix: repeated
        [[6, 5], [2, 3, 5, 4], false, false],
        [[1, 6, 5], [3, 5, 4], false, false],
        [[2, 1, 6, 5], [1, 3, 5, 4], false, false], // true broadcasting: left to the stock kernel
        [[0, 5], [5, 3], false, false],
      ];
      for (const [sa, sb, ta, tb] of cases) {
        const a = tf.randomNormal(sa, 0, 1, 'float32', 1);
        const b = tf.randomNormal(sb, 0, 1, 'float32', 2);
        const got = tf.matMul(a, b, ta, tb);
        const want = withStockMatMul(backend, () => tf.matMul(a, b, ta, tb));
        assert.deepEqual(got.shape, want.shape, `shape for ${JSON.stringify([sa, sb, ta, tb])}`);
        // One product of inner dimension k, summed in BLAS's order and in tfjs's.
        const k = ta ? sa.at(-2)! : sa.at(-1)!;
        assertAllClose(got.dataSync(), want.dataSync(), reorderedSum(k), `values for ${JSON.stringify([sa, sb, ta, tb])}`);
        tf.dispose([a, b, got, want]);
      }
      // An empty inner dimension is an all-zero product (tfjs's wasm kernel leaves whatever memory held).
      const empty = tf.matMul(tf.zeros([4, 0]), tf.zeros([0, 3]));
      assert.deepEqual(Array.from(empty.dataSync()), backend === 'cpu' || nativeMatMulActive(backend) ? new Array(12).fill(0) : Array.from(empty.dataSync()));
      empty.dispose();
      await initBackend('wasm');
    });
  }

  test('the f32 reference fixture keeps its PyTorch loss within float32 reordering with native matMul on and off', () => {
    const dir = path.join(FIXTURES, 'f32-plain');
    const want = (JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as { loss: number }).loss;
    const { config, weights } = loadModelFolder(dir);
    const model = modelFromWeights(config, weights, { strategy: 'full' }, 0);
    const loss = () =>
      tf.tidy(() => {
        const t = IDS.length;
        const ce = model.tokenLoss(
          tf.tensor2d([IDS], [1, t], 'int32'),
          tf.tensor2d([[...IDS.slice(1), -1]], [1, t], 'int32'),
          tf.ones([1, t]) as tf.Tensor2D,
          false,
        );
        return tf.sum(ce).dataSync()[0] / (t - 1);
      });
    const native = loss();
    const stock = withStockMatMul('wasm', loss);
    model.dispose();
    for (const [what, got] of [
      ['native', native],
      ['stock', stock],
    ] as const)
      assertRelClose(got, want, reordered(gpt2Sums(config, IDS.length)), `${what} matMul vs PyTorch`);
  });

  const strategies: StrategyConfig[] = [
    { strategy: 'full' },
    { strategy: 'partial', freezeLayers: 1 },
    { strategy: 'lora', r: 4, alpha: 8, dropout: 0, targets: ['c_attn', 'mlp.c_fc'] },
  ];
  for (const strategy of strategies) {
    test(`${strategy.strategy}: a training step's loss and gradients are the same with native matMul as with wasm's own`, () => {
      const config = { vocabSize: 97, nPositions: 16, nEmbd: 32, nLayer: 2, nHead: 4, layerNormEpsilon: 1e-5, dropout: 0 };
      const tokens = 13;
      const model = buildModel(config, strategy, 3);
      const vars = model.trainableVariables().map((v) => v.variable);
      // LoRA's B starts at 0, which would make A's gradient 0 on both paths; give B values.
      for (const v of vars) if (/lora_B/.test(v.name)) v.assign(tf.randomNormal(v.shape, 0, 0.05, 'float32', 9));
      const ids = tf.tensor2d(
        [
          [5, 9, 1, 33, 2, 80, 4, 4],
          [7, 7, 3, 90, 12, 0, 0, 0],
        ],
        [2, 8],
        'int32',
      );
      const labels = tf.tensor2d(
        [
          [9, 1, 33, 2, 80, 4, 4, -1],
          [7, 3, 90, 12, -1, -1, -1, -1],
        ],
        [2, 8],
        'int32',
      );
      const mask = tf.tensor2d(
        [
          [1, 1, 1, 1, 1, 1, 1, 1],
          [1, 1, 1, 1, 1, 0, 0, 0],
        ],
        [2, 8],
      );
      const step = () => {
        const { value, grads } = tf.variableGrads(() => tf.sum(model.tokenLoss(ids, labels, mask, true)) as tf.Scalar, vars);
        const out = { loss: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync()) };
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      };
      const native = step();
      const stock = withStockMatMul('wasm', step);
      // Before any update: the products summed in another order, forward (the loss) and back (the gradients).
      assertRelClose(native.loss, stock.loss, reordered(gpt2Sums(config, tokens)), 'loss, native vs stock matMul');
      vars.forEach((v, i) =>
        assertAllClose(native.grads[i], stock.grads[i], reordered(gpt2Sums(config, tokens, true)), `gradient of ${v.name}, native vs stock matMul`),
      );
      tf.dispose([ids, labels, mask]);
      model.dispose();
    });
  }
});
