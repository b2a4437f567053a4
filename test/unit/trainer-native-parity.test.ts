// Training on the `native` backend (trainer/compute/nativeBackend.ts) is training on wasm: for every
// strategy and the classification head, on the GPT-2 tiny preset and a Llama fixture, the first
// optimizer step's loss and gradient norm agree, and the weights after three steps agree within what
// float32 reordering and AdamW allow. And a frozen weight costs no gradient work on native either.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { gradientsFreeingAsItGoes } from '../../trainer/compute/gradients';
import { nativeKernelsAvailable } from '../../trainer/compute/kernels';
import { padBatch, type TrainingExample } from '../../trainer/data';
import { loadModelFolder } from '../../trainer/formats/modelFolder';
import { ClassificationHead } from '../../trainer/heads/classification';
import { buildModel, modelFromWeights } from '../../trainer/loadModel';
import { presetConfig } from '../../trainer/models/gpt2/config';
import type { LlamaConfig } from '../../trainer/models/llama/config';
import type { ModelConfig } from '../../trainer/models/registry';
import { AdamW } from '../../trainer/optimizer';
import { seededRandom } from '../../trainer/random';
import { optimizerStep, rowWeights, type StepResult } from '../../trainer/step';
import type { StrategyConfig } from '../../trainer/strategies/strategy';
import type { TunedModel } from '../../trainer/strategies/tunedModel';
import { causalLmHead } from '../../trainer/heads/causalLm';
import { adamDrift, assertAllAbsClose, assertRelClose, gpt2Sums, reordered, sumError } from './tolerance';
import { buildNativeAddonIfMissing } from './nativeAddon';

const ROOT = path.join(__dirname, '..', '..');
const LLAMA_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'llama', 'llama-gqa');
const LR = 1e-3;
const STEPS = 3;
/** Row lengths of the batch: padded to 12, and 3·12 = 36 positions match no weight dimension (see the frozen test). */
const ROWS = [12, 8, 10];
const VIRTUAL_TOKENS = 4;

let available = false;

before(async () => {
  buildNativeAddonIfMissing();
  available = nativeKernelsAvailable();
  await initBackend('wasm');
});

interface Fixture {
  name: string;
  config: ModelConfig;
  build(strategy: StrategyConfig): TunedModel;
  vocab: number;
  hidden: number;
  /** The sums of one forward pass over `positions` (for reordered()). */
  sums(positions: number): number[];
}

const gpt2Tiny = presetConfig('tiny');
const llama = loadModelFolder(LLAMA_FIXTURE);

/** A Llama forward pass's sums, as trainer-llama-strategies counts them: norms, projections, attention, MLP, head. */
function llamaSums(c: LlamaConfig, positions: number, lossTokens: number): number[] {
  const e = c.hiddenSize;
  const layer = [e, e, e, e, c.numHeads * c.headDim, c.headDim, positions, positions, e, e, e, c.intermediateSize];
  return [...Array.from({ length: c.numLayers }, () => layer).flat(), e, e, c.vocabSize, lossTokens];
}

const FIXTURES: Fixture[] = [
  {
    name: 'GPT-2 tiny',
    config: gpt2Tiny,
    build: (s) => buildModel(gpt2Tiny, s, 3),
    vocab: gpt2Tiny.vocabSize,
    hidden: gpt2Tiny.nEmbd,
    sums: (t) => gpt2Sums(gpt2Tiny, t),
  },
  {
    name: 'Llama (llama-gqa)',
    config: llama.config,
    build: (s) => modelFromWeights(llama.config, llama.weights, s, 3),
    vocab: (llama.config as LlamaConfig).vocabSize,
    hidden: (llama.config as LlamaConfig).hiddenSize,
    sums: (t) =>
      llamaSums(
        llama.config as LlamaConfig,
        t,
        ROWS.reduce((a, b) => a + b, 0),
      ),
  },
];

const STRATEGIES: { name: string; strategy: StrategyConfig; classification?: boolean }[] = [
  { name: 'full', strategy: { strategy: 'full' } },
  { name: 'partial (freeze-layers 1)', strategy: { strategy: 'partial', freezeLayers: 1 } },
  { name: 'lora', strategy: { strategy: 'lora', r: 4, alpha: 8, dropout: 0, targets: 'default' } },
  { name: 'adapter', strategy: { strategy: 'adapter', adapterDim: 8 } },
  { name: 'prompt', strategy: { strategy: 'prompt', virtualTokens: VIRTUAL_TOKENS } },
  { name: 'classification head', strategy: { strategy: 'full' }, classification: true },
];

/** Seeded token rows (and, for the classification head, a label per row). */
function examples(vocab: number, classification: boolean): TrainingExample[] {
  const r = seededRandom(5);
  return ROWS.map((n, line) => {
    const ids = Array.from({ length: n + 1 }, () => r.int(vocab));
    return classification
      ? { line, inputIds: ids.slice(0, n), labels: [], lossTokens: 1, classLabel: line % 2 }
      : { line, inputIds: ids.slice(0, n), labels: ids.slice(1), lossTokens: n };
  });
}

interface Run {
  initial: Float32Array[];
  steps: StepResult[];
  names: string[];
  weights: Float32Array[];
}

/** STEPS optimizer steps of the real training step (trainer/step.ts) on `backend`, from the same start. */
async function train(backend: 'wasm' | 'native', fixture: Fixture, strategy: StrategyConfig, classification: boolean): Promise<Run> {
  await initBackend(backend);
  assert.equal(tf.getBackend(), backend);
  const model = fixture.build(strategy);
  const head = classification ? new ClassificationHead(fixture.hidden, 2, 7) : undefined;
  const optimizer = new AdamW([...model.trainableVariables(), ...(head?.trainableVariables() ?? [])], { weightDecay: 0.01 });
  try {
    const read = () => optimizer.variables.map((v) => Float32Array.from(v.variable.dataSync()));
    const initial = read();
    const batch = padBatch(examples(fixture.vocab, classification));
    const steps: StepResult[] = [];
    for (let i = 0; i < STEPS; i++) steps.push(await optimizerStep({ model, optimizer, microBatches: [batch], lr: LR, gradClip: 1.0, head }));
    return { initial, steps, names: optimizer.variables.map((v) => v.name), weights: read() };
  } finally {
    optimizer.dispose();
    model.dispose();
    head?.dispose();
  }
}

/**
 * Both backends run the same sgemm for every matrix product (the addon's BatchMatMul is registered on
 * wasm too), so what differs is the order of the other float32 sums: wasm's kernels sum in float32 in
 * their order, the native ones in double, and exp/log come from different libraries. The loss of the
 * first step (same weights, same batch) is therefore the same computation reordered. Its bound,
 * reordered(forward sums), is 2e-4 for GPT-2 tiny (the 50,257-logit log-sum-exp dominates) and 4e-5 for
 * the Llama fixture; the measured difference is at most 2e-7, so 1e-5 is tighter than the bound and
 * still 50× from what the kernels do.
 */
const LOSS_TOL = 1e-5;

/**
 * The gradient norm adds to the gradients' own reordering (the backward pass, bounded as the loss is)
 * wasm's global norm: each gradient's squares summed in float32 (a sum of n positive terms is within
 * sumError(n) relative; the square root halves it), where native sums them in double. With the largest
 * gradient of GPT-2 tiny (the 3.2M-element embedding) that sum alone may be 4e-4 off; measured here
 * 4e-6 (GPT-2 tiny) and 8e-6 (Llama, 16k-element weights), so a flat 1e-5 would be a coin toss on
 * another CPU.
 */
function gradNormTolerance(fixture: Fixture, run: Run, positions: number): number {
  const largest = Math.max(...run.initial.map((w) => w.length));
  return Math.max(LOSS_TOL, reordered([...fixture.sums(positions), ...fixture.sums(positions)]) + sumError(largest) / 2);
}

/**
 * After STEPS AdamW steps. Adam's step lr·m̂/(√v̂ + ε) is scale-free in the gradient, so a weight whose
 * gradient is well above the rounding noise moves by lr per step times the gradients' relative
 * difference: at most lr·STEPS·ρ, with ρ = reordered(forward and backward sums), the worst case of the
 * √n·u growth of float32 sums. A weight whose gradient is within rounding noise of zero can take
 * Adam's step in opposite directions on the two backends, up to 2·lr per step (adamDrift): that is the
 * hard bound every weight must meet. Such weights are few (measured: at most 0.08% of a model's weights
 * beyond lr·STEPS·ρ, and only a handful beyond 10× it), so at most 1% of each tensor (and 2 elements of a
 * small one) may exceed lr·STEPS·ρ. A wrong kernel (a broadcast, an axis, a stride) moves most of a
 * tensor off the bound, never 1% of it.
 * One slice is all noise: GPT-2's key bias (the middle third of c_attn.bias) adds q·b_k to a whole row of
 * attention scores, which the softmax cancels, so its exact gradient is 0 and both backends hand Adam
 * rounding noise. It is held to the hard bound only.
 */
function assertWeightsClose(fixture: Fixture, got: Run, want: Run, positions: number, what: string): void {
  const rho = reordered([...fixture.sums(positions), ...fixture.sums(positions)]);
  const soft = LR * STEPS * rho;
  want.weights.forEach((w, i) => {
    const name = `${what}: ${want.names[i]} after ${STEPS} steps, native vs wasm`;
    assertAllAbsClose(got.weights[i], w, adamDrift(LR, STEPS), name);
    const noise = /attn\.c_attn\.bias$/.test(want.names[i]) ? [w.length / 3, (2 * w.length) / 3] : [0, 0];
    let beyond = 0;
    for (let j = 0; j < w.length; j++) if ((j < noise[0] || j >= noise[1]) && Math.abs(got.weights[i][j] - w[j]) > soft) beyond++;
    const allowed = Math.max(2, Math.ceil(0.01 * w.length));
    assert.ok(beyond <= allowed, `${name}: ${beyond} of ${w.length} elements differ by more than ${soft.toExponential(2)} (at most ${allowed} may)`);
  });
}

describe('native trains as wasm does: first-step loss and gradient norm, weights after three steps', () => {
  for (const fixture of FIXTURES) {
    for (const { name, strategy, classification = false } of STRATEGIES) {
      test(`${fixture.name}, ${name}`, async () => {
        if (!available) {
          await assert.rejects(initBackend('native'), /backend 'native' is not available/);
          return;
        }
        const wasm = await train('wasm', fixture, strategy, classification);
        const native = await train('native', fixture, strategy, classification);
        await initBackend('wasm');
        // The same start: seeded initialisation and the fixture's weights do not depend on the backend.
        assert.deepEqual(native.names, wasm.names);
        wasm.initial.forEach((w, i) => assert.deepEqual(native.initial[i], w, `initial ${wasm.names[i]}`));
        const positions = Math.max(...ROWS) + (strategy.strategy === 'prompt' ? VIRTUAL_TOKENS : 0);
        const what = `${fixture.name} ${name}`;
        assertRelClose(native.steps[0].loss, wasm.steps[0].loss, LOSS_TOL, `${what}: step 1 loss`);
        assertRelClose(native.steps[0].gradNorm, wasm.steps[0].gradNorm, gradNormTolerance(fixture, wasm, positions), `${what}: step 1 gradient norm`);
        assertWeightsClose(fixture, native, wasm, positions, what);
      });
    }
  }
});

/** Every BatchMatMul output shape (its last two dimensions) of `fn`. */
async function matMulShapes(fn: () => Promise<unknown> | unknown): Promise<Set<string>> {
  const info = await tf.profile(async () => {
    await fn();
  });
  return new Set(
    info.kernels
      .filter((k) => k.name === 'BatchMatMul' || k.name === '_FusedMatMul')
      .flatMap((k) => k.outputShapes.map((s) => (s as number[]).slice(-2).join('x'))),
  );
}

/** Each frozen matrix of `model` with the shapes its dW would have ([in, out] or the transpose). */
function frozenMatrices(model: TunedModel): { name: string; shapes: string[] }[] {
  return model
    .namedParameters()
    .filter(([, v]) => !v.trainable && v.shape.length === 2)
    .map(([name, v]) => ({ name, shapes: [v.shape.join('x'), [...v.shape].reverse().join('x')] }));
}

describe('native: frozen weights get no gradient work', () => {
  for (const fixture of FIXTURES) {
    test(`${fixture.name}: a LoRA step computes no matMul shaped like a frozen linear; full fine-tuning does (the check can tell)`, async () => {
      if (!available) {
        await assert.rejects(initBackend('native'), /backend 'native' is not available/);
        return;
      }
      await initBackend('native');
      const batch = padBatch(examples(fixture.vocab, false));
      const lora: StrategyConfig = { strategy: 'lora', r: 4, alpha: 8, dropout: 0, targets: 'default' };
      const stepShapes = async (strategy: StrategyConfig) => {
        const model = fixture.build(strategy);
        const optimizer = new AdamW(model.trainableVariables(), { weightDecay: 0.01 });
        try {
          const shapes = await matMulShapes(() => optimizerStep({ model, optimizer, microBatches: [batch], lr: LR, gradClip: 1.0 }));
          return { shapes, frozen: frozenMatrices(model) };
        } finally {
          optimizer.dispose();
          model.dispose();
        }
      };
      const tuned = await stepShapes(lora);
      assert.ok(tuned.frozen.length > 0, 'LoRA leaves base weights frozen');
      for (const { name, shapes } of tuned.frozen)
        for (const shape of shapes) assert.ok(!tuned.shapes.has(shape), `a product shaped ${shape} (the dW of frozen ${name}) was computed`);
      // Full fine-tuning computes the dW of each of those linears (embeddings take theirs from a gather's
      // gradient, not a product): the same check sees them there.
      const full = await stepShapes({ strategy: 'full' });
      for (const { name, shapes } of tuned.frozen.filter((m) => !/embed|wte|wpe/.test(m.name)))
        assert.ok(
          shapes.some((shape) => full.shapes.has(shape)),
          `full fine-tuning computed no dW of ${name}`,
        );
      await initBackend('wasm');
    });

    test(`${fixture.name}: gradientsFreeingAsItGoes gives one gradient per trainable variable, none for the frozen ones`, async () => {
      if (!available) return;
      await initBackend('native');
      const model = fixture.build({ strategy: 'lora', r: 4, alpha: 8, dropout: 0, targets: 'default' });
      try {
        const trainable = model.trainableVariables();
        const batch = padBatch(examples(fixture.vocab, false));
        const t = {
          ids: tf.tensor2d(batch.inputIds, [batch.size, batch.length], 'int32'),
          labels: tf.tensor2d(batch.labels, [batch.size, batch.length], 'int32'),
          mask: tf.tensor2d(batch.attentionMask, [batch.size, batch.length], 'float32'),
        };
        const w = tf.tensor2d(rowWeights(batch), [batch.size, 1]);
        const before = tf.memory().numTensors;
        const { value, grads } = gradientsFreeingAsItGoes(
          () => tf.sum(tf.mul(causalLmHead.lossRows(model, batch, t, true), w)) as tf.Scalar,
          trainable.map((v) => v.variable),
        );
        assert.equal(grads.length, trainable.length);
        grads.forEach((g, i) => {
          // LoRA's B starts at zero, so A's gradient is zero, but it is computed: the loss reaches A.
          assert.ok(g, `gradient of ${trainable[i].name}`);
          assert.deepEqual(g.shape, trainable[i].variable.shape, trainable[i].name);
        });
        const frozen = model.namedParameters().filter(([, v]) => !v.trainable);
        assert.ok(frozen.length > 0);
        // What is left over: the loss and one tensor per gradient, nothing of the frozen weights' own.
        assert.equal(tf.memory().numTensors - before, 1 + grads.length);
        tf.dispose([value, ...(grads as tf.Tensor[]), w, t.ids, t.labels, t.mask]);
      } finally {
        model.dispose();
        await initBackend('wasm');
      }
    });
  }
});
