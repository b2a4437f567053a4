// `finetune bench`: trains a randomly initialised GPT-2 of the given shape on random tokens: 2 untimed
// warm-up steps, then K timed optimizer steps (forward + backward + AdamW), the same work per step as
// the PyTorch reference's `reference/gpt2_ref.py bench`, so the two tokens/s figures compare directly.
import * as fs from 'node:fs';
import { type OptionSpec, optionsHelp, TrainConfigError } from '../protocol/options';
import type { TrainConfig } from '../protocol/trainer';
import { initBackend } from '../trainer/compute/backend';
import type { GPT2Config } from '../trainer/models/gpt2/config';
import { padBatch, type TrainingExample } from '../trainer/data';
import { buildModel } from '../trainer/loadModel';
import { AdamW } from '../trainer/optimizer';
import { explainWasmAbort, checkMemoryFits, type AdviceFlags } from '../trainer/memoryGuard';
import { memoryEstimate, parameterBreakdown } from '../trainer/params';
import { seededRandom } from '../trainer/random';
import { parseCommandSettings } from '../trainer/runConfig';
import { strategyOf } from '../trainer/strategies';
import { optimizerStep } from '../trainer/step';
import { UsageError } from './usage';

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

const shape = (name: string, help: string, def: number, min = 1): OptionSpec => ({
  name,
  kind: 'int',
  value: 'N',
  min,
  default: def,
  group: 'run',
  commands: [],
  runJson: false,
  help,
});

/** The model shape and timing flags, bench's own; the strategy, seed and backend flags are the table's. */
const BENCH_OPTIONS: readonly OptionSpec[] = [
  shape('layers', 'transformer blocks', 4),
  shape('embd', 'embedding width (a multiple of --heads)', 256),
  shape('heads', 'attention heads', 4),
  shape('vocab', 'vocabulary size', 4096, 2),
  shape('seq', 'tokens per example', 128),
  shape('batch', 'examples per step', 8),
  shape('steps', 'timed optimizer steps (after 2 untimed warm-up steps)', 5),
  {
    name: 'json',
    kind: 'boolean',
    group: 'output',
    commands: [],
    runJson: false,
    help: 'one JSON object: {tokensPerSec, stepSec, backend, trainable, total, peakRssBytes, estimatedBytes}',
  },
];

/** `finetune bench --help`. */
export function benchHelp(): string {
  return (
    'usage: finetune bench --layers L --embd E --heads H --vocab V --seq T --batch B --steps K --strategy S [--json]\n' +
    '  Trains a random GPT-2 of that shape on random tokens and prints tokens/s; compare it with\n' +
    '  `python3 reference/gpt2_ref.py bench` with the same shape.\n' +
    optionsHelp('bench', BENCH_OPTIONS)
  );
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(benchHelp());
    return 0;
  }
  let parsed: ReturnType<typeof parseCommandSettings>;
  try {
    parsed = parseCommandSettings('bench', args, BENCH_OPTIONS);
  } catch (err) {
    throw err instanceof TrainConfigError ? new UsageError(err.message) : err;
  }
  const { settings, own } = parsed;
  const [layers, embd, heads, vocab, seq, batchSize, steps] = (['layers', 'embd', 'heads', 'vocab', 'seq', 'batch', 'steps'] as const).map(
    (k) => own[k] as number,
  );
  const seed = settings.seed as number;
  if (embd % heads !== 0) throw new UsageError(`--embd (${embd}) must be divisible by --heads (${heads})`);
  // The same settings -> strategy mapping as train's (dropout stays off: bench times the plain step).
  const strategy = strategyOf({ ...settings, loraDropout: 0 } as TrainConfig);
  const { backend } = await initBackend(settings.backend as TrainConfig['backend']);
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
  const model = buildModel(config, strategy, seed);
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
      await optimizerStep({ model, optimizer, microBatches: [batch], lr: 1e-4, gradClip: 1.0 });
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
  if (own.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
  } else {
    process.stdout.write(
      `${result.tokensPerSec.toFixed(1)} tokens/s, ${result.stepSec.toFixed(3)} s/step on ${backend} ` +
        `(${strategy.strategy}; trainable ${p.trainable.toLocaleString('en-US')} of ${p.total.toLocaleString('en-US')}; peak RSS ${(result.peakRssBytes / 2 ** 20).toFixed(0)} MiB)\n`,
    );
  }
  return 0;
}
