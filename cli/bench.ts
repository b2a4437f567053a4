// `finetune bench`: trains a randomly initialised GPT-2 of the given shape on random tokens: 2 untimed
// warm-up steps, then K timed optimizer steps (forward + backward + AdamW), the same work per step as
// the PyTorch reference's `reference/gpt2_ref.py bench`, so the two tokens/s figures compare directly.
import * as fs from 'node:fs';
import { parseTrainFlags, type TrainConfigError } from '../protocol/trainer';
import { initBackend } from '../trainer/backend';
import type { GPT2Config } from '../trainer/config';
import { padBatch, type TrainingExample } from '../trainer/data';
import { GPT2Model } from '../trainer/model';
import { AdamW } from '../trainer/optimizer';
import { explainWasmAbort, checkMemoryFits, type AdviceFlags } from '../trainer/memoryGuard';
import { memoryEstimate, parameterBreakdown } from '../trainer/params';
import { seededRandom } from '../trainer/random';
import { optimizerStepAsync, strategyOf } from '../trainer/train';
import { numberFlag, parseFlags, UsageError } from './usage';

export interface BenchResult {
  tokensPerSec: number;
  stepSec: number;
  backend: string;
  trainable: number;
  total: number;
  peakRssBytes: number;
  /** params.ts's memoryEstimate total for this shape (weights + gradients + optimizer + activations). */
  estimatedBytes: number;
}

const BENCH_FLAGS: AdviceFlags = { batch: '--batch', length: '--seq' };

/** Peak resident set size: the kernel's high-water mark where there is one, else the largest sample. */
function peakRss(sampled: number): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Math.max(sampled, Number(m[1]) * 1024);
  } catch {
    // not Linux
  }
  return sampled;
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    layers: { type: 'string' },
    embd: { type: 'string' },
    heads: { type: 'string' },
    vocab: { type: 'string' },
    seq: { type: 'string' },
    batch: { type: 'string' },
    steps: { type: 'string' },
    seed: { type: 'string' },
    strategy: { type: 'string' },
    'freeze-layers': { type: 'string' },
    'freeze-embeddings': { type: 'boolean' },
    'lora-r': { type: 'string' },
    'lora-alpha': { type: 'string' },
    'lora-targets': { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
  });
  const layers = numberFlag('layers', values.layers, 4, { integer: true, min: 1 });
  const embd = numberFlag('embd', values.embd, 256, { integer: true, min: 1 });
  const heads = numberFlag('heads', values.heads, 4, { integer: true, min: 1 });
  const vocab = numberFlag('vocab', values.vocab, 4096, { integer: true, min: 2 });
  const seq = numberFlag('seq', values.seq, 128, { integer: true, min: 1 });
  const batchSize = numberFlag('batch', values.batch, 8, { integer: true, min: 1 });
  const steps = numberFlag('steps', values.steps, 5, { integer: true, min: 1 });
  const seed = numberFlag('seed', values.seed, 0, { integer: true, min: 0 });
  if (embd % heads !== 0) throw new UsageError(`--embd (${embd}) must be divisible by --heads (${heads})`);
  // Strategy flags are parsed exactly as `train` parses them.
  // `--flag=value`: a value that starts with '-' stays a value (and gets train's own message).
  const trainFlags: string[] = [`--strategy=${values.strategy ?? 'full'}`];
  for (const name of ['freeze-layers', 'lora-r', 'lora-alpha', 'lora-targets', 'backend'] as const) {
    if (values[name] !== undefined) trainFlags.push(`--${name}=${values[name]!}`);
  }
  if (values['freeze-embeddings']) trainFlags.push('--freeze-embeddings');
  let given: ReturnType<typeof parseTrainFlags>;
  try {
    given = parseTrainFlags(trainFlags);
  } catch (err) {
    throw new UsageError((err as TrainConfigError).message);
  }
  const strategy = strategyOf({
    strategy: given.strategy ?? 'full',
    freezeLayers: given.freezeLayers ?? 0,
    freezeEmbeddings: given.freezeEmbeddings ?? false,
    loraR: given.loraR ?? 8,
    // alpha = 2r like the reference bench; it does not change the work done.
    loraAlpha: given.loraAlpha ?? 2 * (given.loraR ?? 8),
    loraDropout: 0,
    loraTargets: given.loraTargets ?? ['c_attn'],
  });
  const { backend } = await initBackend(given.backend ?? 'auto');
  const config: GPT2Config = {
    vocabSize: vocab,
    nPositions: Math.max(seq, 128),
    nEmbd: embd,
    nLayer: layers,
    nHead: heads,
    layerNormEpsilon: 1e-5,
    dropout: 0,
  };
  const estimate = memoryEstimate(config, strategy, batchSize, seq);
  const fits = checkMemoryFits(estimate, backend, BENCH_FLAGS);
  if (!fits.ok) throw new Error(fits.message);
  const model = new GPT2Model(config, strategy, seed);
  const optimizer = new AdamW(model.trainableVariables(), { weightDecay: 0.01 });
  const random = seededRandom(seed);
  const tokens = Array.from({ length: seq + 1 }, () => 0);
  const examples: TrainingExample[] = Array.from({ length: batchSize }, (_, b) => {
    for (let t = 0; t <= seq; t++) tokens[t] = random.int(vocab);
    return { line: b, inputIds: tokens.slice(0, seq), labels: tokens.slice(1), lossTokens: seq };
  });
  const batch = padBatch(examples);
  let rss = process.memoryUsage().rss;
  // The async step reads its results with data(): the webgpu backend cannot read synchronously in Node.
  const oneStep = async () => {
    try {
      await optimizerStepAsync(model, optimizer, [batch], 1e-4, 1.0);
    } catch (err) {
      throw explainWasmAbort(err, estimate, BENCH_FLAGS);
    }
    rss = Math.max(rss, process.memoryUsage().rss);
  };
  for (let i = 0; i < 2; i++) await oneStep();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await oneStep();
  const seconds = (performance.now() - t0) / 1000;
  const p = parameterBreakdown(config, strategy);
  const result: BenchResult = {
    tokensPerSec: (batchSize * seq * steps) / seconds,
    stepSec: seconds / steps,
    backend,
    trainable: p.trainable,
    total: p.total,
    peakRssBytes: peakRss(rss),
    estimatedBytes: estimate.total,
  };
  optimizer.dispose();
  model.dispose();
  if (values.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
  } else {
    process.stdout.write(
      `${result.tokensPerSec.toFixed(1)} tokens/s, ${result.stepSec.toFixed(3)} s/step on ${backend} ` +
        `(${strategy.strategy}; trainable ${p.trainable.toLocaleString('en-US')} of ${p.total.toLocaleString('en-US')}; peak RSS ${(result.peakRssBytes / 2 ** 20).toFixed(0)} MiB)\n`,
    );
  }
  return 0;
}
