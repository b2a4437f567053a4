// Generation over the key/value cache: at every step the cached decode's logits are the uncached forward
// pass's last-position logits (GPT-2 and the Llama / Qwen3 fixtures: grouped-query attention, q/k norms,
// llama3 RoPE), with LoRA, bottleneck adapters and prompt tuning acting through the same modules; greedy
// output is token-identical with and without the cache, also past the context; top-p cuts to the nucleus.
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { AnyStrategyConfig } from '../../trainer/strategies/strategy';
import { GENERATE_OPTIONS, HELP, run as generateCli } from '../../cli/generate';
import { UsageError } from '../../cli/usage';
import { describeGenerateSpeed, GENERATE_FLAGS } from '../../protocol/generate';
import { initBackend } from '../../trainer/compute/backend';
import { generate, generateTokens, pickToken, samplingDistribution } from '../../trainer/generate';
import { buildModel, modelFromWeights } from '../../trainer/loadModel';
import { type GPT2Config, presetConfig } from '../../trainer/models/gpt2/config';
import { fromHfConfig, hasQkNorm, type LlamaConfig } from '../../trainer/models/llama/config';
import { readLlamaWeights } from '../../trainer/models/llama/weights';
import type { ModelConfig } from '../../trainer/models/registry';
import { seededRandom } from '../../trainer/random';
import type { TunedModel } from '../../trainer/strategies/tunedModel';
import { assertAllClose, gpt2Sums, reordered } from './tolerance';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'llama');
const IDS: number[] = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'ids.json'), 'utf8'));
const LLAMA_VARIANTS = ['llama-gqa', 'qwen3-qk-norm', 'llama3-rope'];
const tiny = presetConfig('tiny');
/** A GPT-2 whose context a short generation overruns. */
const short: GPT2Config = { vocabSize: 40, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEpsilon: 1e-5, dropout: 0 };

before(async () => {
  await initBackend('cpu');
});

function fixture(name: string): { config: LlamaConfig; weights: ReturnType<typeof readLlamaWeights> } {
  const dir = path.join(FIXTURES, name);
  const config = fromHfConfig(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')), `${name}/config.json`);
  return { config, weights: readLlamaWeights(config, dir) };
}

/**
 * The sums of a Llama forward pass over `tokens` positions, as trainer-llama-parity.test.ts counts them:
 * per layer the norms, q/k/v and o_proj products, Qwen3's q/k norms, the scores, softmax and weighted
 * values, gate, up and down; then the final norm, the head, the log-sum-exp and the mean.
 */
function llamaSums(c: LlamaConfig, tokens: number): number[] {
  const e = c.hiddenSize;
  const layer = [e, e, e, e, c.numHeads * c.headDim, ...(hasQkNorm(c) ? [c.headDim] : []), c.headDim, tokens, tokens, e, e, e, c.intermediateSize];
  return [...Array.from({ length: c.numLayers }, () => layer).flat(), e, e, c.vocabSize, tokens];
}

/**
 * Cached and uncached logits are two float32 evaluations of one computation whose sums are ordered
 * differently (one query row against the cache, the whole causal square at once): reordered() of the
 * forward pass over all `positions`.
 */
function tolerance(config: ModelConfig, positions: number): number {
  return reordered('nEmbd' in config ? gpt2Sums(config, positions) : llamaSums(config, positions));
}

/** The forward pass's logits [V] at the last of `ids` (no cache). */
function forwardLastLogits(model: TunedModel, ids: readonly number[]): Float32Array {
  return tf.tidy(() => {
    const t = ids.length;
    const v = model.base.dims.vocabSize;
    const logits = model.logits(tf.tensor2d([[...ids]], [1, t], 'int32'), tf.ones([1, t]) as tf.Tensor2D);
    return tf.slice(logits, [0, t - 1, 0], [1, 1, v]).dataSync() as Float32Array;
  });
}

/** Prefills `prompt`, then decodes `continuation` one token a step; each step's logits, compared with the forward pass's. */
async function assertCachedMatchesForward(
  model: TunedModel,
  config: ModelConfig,
  prompt: number[],
  continuation: number[],
  what: string,
): Promise<Float32Array[]> {
  const virtual = model.base.inputPrefix?.shape[0] ?? 0;
  const cache = model.base.startCache();
  const steps: Float32Array[] = [];
  try {
    const seen = [...prompt];
    for (let i = 0; i <= continuation.length; i++) {
      const logits = model.base.decodeStep(i === 0 ? prompt : [continuation[i - 1]], cache);
      const cached = (await logits.data()) as Float32Array;
      logits.dispose();
      if (i > 0) seen.push(continuation[i - 1]);
      assert.equal(cache.length, virtual + seen.length, `${what}: the cache holds every position`);
      assertAllClose(cached, forwardLastLogits(model, seen), tolerance(config, virtual + seen.length), `${what} step ${i}`);
      steps.push(cached);
    }
  } finally {
    cache.dispose();
  }
  return steps;
}

function randomIds(n: number, vocab: number, seed: number): number[] {
  const rng = seededRandom(seed);
  return Array.from({ length: n }, () => rng.int(vocab));
}

const greedy = (maxNewTokens: number, cache: boolean) => ({ maxNewTokens, temperature: 0, topK: 0, seed: 0, stopAtEos: false, eosId: -1, cache });

describe('cached decoding equals the forward pass at every step', () => {
  test('GPT-2 tiny: position embeddings offset by the cache length', async () => {
    const model = buildModel(tiny, { strategy: 'full' }, 42);
    await assertCachedMatchesForward(model, tiny, randomIds(7, tiny.vocabSize, 1), randomIds(12, tiny.vocabSize, 2), 'gpt2 tiny');
    model.dispose();
  });

  for (const name of LLAMA_VARIANTS) {
    test(`${name}: RoPE at the absolute positions, the kv heads cached`, async () => {
      const { config, weights } = fixture(name);
      const model = modelFromWeights(config, weights, { strategy: 'full' }, 0);
      await assertCachedMatchesForward(model, config, IDS.slice(0, 6), IDS.slice(6), name);
      model.dispose();
    });
  }
});

describe('greedy output is token-identical with and without the cache', () => {
  test('GPT-2 tiny', async () => {
    const model = buildModel(tiny, { strategy: 'full' }, 42);
    const prompt = randomIds(5, tiny.vocabSize, 3);
    const tensors = tf.memory().numTensors;
    const cached = await generateTokens(model, prompt, greedy(16, true));
    assert.equal(tf.memory().numTensors, tensors, 'the cache and every step are disposed');
    const uncached = await generateTokens(model, prompt, greedy(16, false));
    assert.equal(cached.tokens.length, 16);
    assert.deepEqual(cached.tokens, uncached.tokens);
    assert.equal(cached.decodeSteps, 15, 'one step per token after the prefill');
    model.dispose();
  });

  for (const name of LLAMA_VARIANTS) {
    test(name, async () => {
      const { config, weights } = fixture(name);
      const model = modelFromWeights(config, weights, { strategy: 'full' }, 0);
      const cached = await generateTokens(model, IDS.slice(0, 6), greedy(24, true));
      assert.deepEqual(cached.tokens, (await generateTokens(model, IDS.slice(0, 6), greedy(24, false))).tokens);
      model.dispose();
    });
  }

  test('past the context the cropped window is re-encoded: the same tokens as the uncached pass over the window', async () => {
    // 10 + 20 tokens in a 16-position context (GPT-2), 60 + 12 in 64 (Llama): most steps run past the end.
    const gpt2 = buildModel(short, { strategy: 'full' }, 4);
    const prompt = randomIds(10, short.vocabSize, 5);
    assert.deepEqual((await generateTokens(gpt2, prompt, greedy(20, true))).tokens, (await generateTokens(gpt2, prompt, greedy(20, false))).tokens);
    gpt2.dispose();
    const { config, weights } = fixture('llama-gqa');
    const llama = modelFromWeights(config, weights, { strategy: 'full' }, 0);
    const long = [...IDS, ...IDS, ...IDS];
    assert.deepEqual((await generateTokens(llama, long, greedy(12, true))).tokens, (await generateTokens(llama, long, greedy(12, false))).tokens);
    llama.dispose();
  });

  test('a step past the context is refused by the model, naming the context', () => {
    const model = buildModel(short, { strategy: 'full' }, 4);
    const cache = model.base.startCache();
    model.base.decodeStep(randomIds(16, short.vocabSize, 6), cache).dispose();
    assert.throws(() => model.base.decodeStep([1], cache), /exceeds the model's context \(16\)/);
    assert.throws(() => model.base.decodeStep([short.vocabSize], model.base.startCache()), /outside the model's vocabulary/);
    cache.dispose();
    model.dispose();
  });
});

describe('strategies act through the cached decode as through the forward pass', () => {
  /** Every added variable drawn at random, so that each strategy changes the logits (LoRA's B and the adapters' up start at 0). */
  function tuned(config: ModelConfig, strategy: AnyStrategyConfig, weights?: ReturnType<typeof readLlamaWeights>): TunedModel {
    const model = weights ? modelFromWeights(config, weights, strategy, 0) : buildModel(config, strategy, 42);
    model.addedVariables.forEach(({ variable }, i) => {
      tf.tidy(() => variable.assign(tf.randomNormal(variable.shape, 0, 0.3, 'float32', 100 + i)));
    });
    return model;
  }

  const families: { name: string; config: () => ModelConfig; weights?: () => ReturnType<typeof readLlamaWeights>; lora: string[] }[] = [
    { name: 'GPT-2 tiny', config: () => tiny, lora: ['c_attn', 'c_proj'] },
    {
      name: 'llama-gqa',
      config: () => fixture('llama-gqa').config,
      weights: () => fixture('llama-gqa').weights,
      lora: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    },
  ];
  for (const family of families) {
    const strategies: [string, AnyStrategyConfig][] = [
      ['LoRA (replaced linears)', { strategy: 'lora', r: 2, alpha: 4, dropout: 0, targets: family.lora }],
      ['bottleneck adapters (block hooks)', { strategy: 'adapter', adapterDim: 4 }],
      ['prompt tuning (the prefix as the first cached positions)', { strategy: 'prompt', virtualTokens: 3 }],
    ];
    for (const [label, strategy] of strategies) {
      test(`${family.name}, ${label}`, async () => {
        const config = family.config();
        const weights = family.weights?.();
        const model = tuned(config, strategy, weights);
        const prompt = randomIds(5, config.vocabSize, 7);
        const continuation = randomIds(6, config.vocabSize, 8);
        const steps = await assertCachedMatchesForward(model, config, prompt, continuation, label);
        // The strategy must matter, or the equality above would hold for a decode that skipped it.
        const plain = weights ? modelFromWeights(config, weights, { strategy: 'full' }, 0) : buildModel(config, { strategy: 'full' }, 42);
        const base = forwardLastLogits(plain, prompt);
        const moved = steps[0].reduce((m, x, i) => Math.max(m, Math.abs(x - base[i])), 0);
        const scale = base.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        assert.ok(moved > 10 * tolerance(config, prompt.length + 3) * scale, `${label} changes the logits (${moved} of ${scale})`);
        plain.dispose();
        const cached = await generateTokens(model, prompt, greedy(6, true));
        assert.deepEqual(cached.tokens, (await generateTokens(model, prompt, greedy(6, false))).tokens);
        model.dispose();
      });
    }
  }

  test('a prompt-tuned model past the context: the window leaves room for the virtual tokens', async () => {
    const model = tuned(short, { strategy: 'prompt', virtualTokens: 3 });
    const prompt = randomIds(8, short.vocabSize, 9);
    assert.deepEqual((await generateTokens(model, prompt, greedy(12, true))).tokens, (await generateTokens(model, prompt, greedy(12, false))).tokens);
    model.dispose();
  });
});

describe('top-p (nucleus) sampling after temperature and top-k', () => {
  // Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1.
  const logits = Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
  /** How often each token is picked over N evenly spaced draws u = (i + ½)/N: the sampled distribution × N, within one draw per token. */
  function counts(temperature: number, topK: number, topP: number, n = 2000): number[] {
    const out = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) out[pickToken(logits, temperature, topK, () => (i + 0.5) / n, topP)]++;
    return out;
  }
  const assertShares = (got: number[], want: number[], what: string) =>
    got.forEach((c, i) => assert.ok(Math.abs(c - want[i] * 2000) <= 1, `${what}: token ${i} drawn ${c} times of 2000, want ${want[i] * 2000}`));

  test('a small p leaves only the most likely token', () => {
    assert.deepEqual(counts(1, 0, 1e-6), [2000, 0, 0, 0]);
    assert.deepEqual(counts(1, 0, 0), [2000, 0, 0, 0]);
  });

  test('p = 1 samples the whole distribution', () => {
    assertShares(counts(1, 0, 1), [0.5, 0.3, 0.15, 0.05], 'p=1');
  });

  test('exactly the nucleus is sampled, renormalised: the fewest tokens whose probability reaches p', () => {
    // 0.5 < 0.75 ≤ 0.5 + 0.3: tokens 0 and 1, renormalised to 0.625 and 0.375.
    assertShares(counts(1, 0, 0.75), [0.625, 0.375, 0, 0], 'p=0.75');
    // 0.8 < 0.83 ≤ 0.95: three tokens.
    assertShares(counts(1, 0, 0.83), [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0], 'p=0.83');
  });

  test('the nucleus is taken after top-k renormalises and after the temperature', () => {
    // After top-3 the probabilities are 0.5/0.95, 0.3/0.95, 0.15/0.95: the first two already hold 0.842 ≥ 0.83.
    assertShares(counts(1, 3, 0.83), [0.625, 0.375, 0, 0], 'top-k 3, p=0.83');
    // At T = 2 the probabilities flatten to ∝ √p: 0.379, 0.294, 0.208, 0.120; the first two hold 0.673 < 0.7.
    const flat = [0.5, 0.3, 0.15, 0.05].map(Math.sqrt);
    const three = flat.slice(0, 3).reduce((a, b) => a + b, 0);
    assertShares(counts(2, 0, 0.7), [...flat.slice(0, 3).map((w) => w / three), 0], 'T=2, p=0.7');
  });
});

test('the top-k and nucleus cuts keep exactly what sorting the whole vocabulary keeps, ties in token order', () => {
  // Logits in steps of 0.5 over 2000 tokens: many ties, some of them at the cuts.
  const rng = seededRandom(11);
  const logits = Float32Array.from({ length: 2000 }, () => Math.round((rng.next() + rng.next() + rng.next() - 1.5) * 16) / 2);
  /** The definition: sort by logit (then token), cut to k, then walk down until the mass reaches p. */
  const reference = (temperature: number, topK: number, topP: number) => {
    const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
    const top = topK > 0 ? order.slice(0, topK) : order;
    const weights = top.map((i) => Math.exp((logits[i] - logits[top[0]]) / temperature));
    const total = weights.reduce((a, b) => a + b, 0);
    let mass = 0;
    let count = 0;
    while (count < top.length && (count === 0 || mass < topP * total)) mass += weights[count++];
    return top.slice(0, topP < 1 ? count : top.length).sort((a, b) => a - b);
  };
  let cut = 0;
  for (const temperature of [0.7, 1.3])
    for (const topK of [0, 1, 7, 100, 1999])
      for (const topP of [0, 0.3, 0.9, 0.999, 1]) {
        const want = reference(temperature, topK, topP);
        const got = samplingDistribution(logits, temperature, topK, topP);
        assert.deepEqual(Array.from(got.ids), want, `T=${temperature} k=${topK} p=${topP}`);
        if (want.length < logits.length) cut++;
      }
  assert.ok(cut > 40, 'most combinations cut something');
});

test('generate() reports its prefill time and decode speed', async () => {
  const r = await generate({ modelSpec: 'tiny', prompt: 'The weather today', maxNewTokens: 6, stopAtEos: false, topP: 0.9, temperature: 0.8, backend: 'cpu' });
  assert.equal(r.tokens.length, 6);
  assert.ok(r.prefillMs > 0 && r.decodeMs > 0, `${r.prefillMs} ${r.decodeMs}`);
  assert.ok(r.tokensPerSecond !== null && Math.abs(r.tokensPerSecond - 5 / (r.decodeMs / 1000)) <= 1e-9 * r.tokensPerSecond, 'five decode steps over decodeMs');
  assert.match(describeGenerateSpeed(r)!, /^6 tokens; \d+-token prompt prefilled in \d+ ms, decoding at [\d.]+ tokens\/s$/);
  await assert.rejects(generate({ modelSpec: 'tiny', prompt: 'x', topP: 1.5, backend: 'cpu' }), /topP must be from 0 to 1/);
});

test('finetune generate: the text on stdout, the speed on stderr; --top-p is in its help and checked', async () => {
  for (const { flag } of Object.values(GENERATE_FLAGS)) assert.match(HELP, new RegExp(`--${flag}\\b`), `--help names --${flag}`);
  assert.ok('top-p' in GENERATE_OPTIONS);
  await assert.rejects(
    generateCli(['--model', 'tiny', '--prompt', 'x', '--top-p', '1.5']),
    (e: unknown) => e instanceof UsageError && /--top-p must be at most 1/.test((e as Error).message),
  );
  const out: string[] = [];
  const err: string[] = [];
  const stdout = process.stdout.write.bind(process.stdout);
  const stderr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string) => out.push(chunk) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => err.push(chunk) > 0) as typeof process.stderr.write;
  try {
    assert.equal(
      await generateCli([
        '--model',
        'tiny',
        '--prompt',
        'Hello',
        '--max-new-tokens',
        '3',
        '--no-stop',
        '--top-p',
        '0.5',
        '--temperature',
        '1',
        '--backend',
        'cpu',
      ]),
      0,
    );
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
  assert.equal(out.length, 1, 'one line of text');
  assert.match(err.join(''), /^3 tokens; \d+-token prompt prefilled in \d+ ms, decoding at [\d.]+ tokens\/s$/m);
});
