// `finetune bench`: trains a randomly initialised model of the given family and shape (GPT-2, or a Llama,
// Qwen2 or Qwen3 shape such as a preset's) on random tokens: 2 untimed warm-up steps, then K timed
// optimizer steps (forward + backward + AdamW), the same work per step as the PyTorch references'
// `bench` (reference/gpt2_ref.py, reference/llama_ref.py), so the tokens/s figures compare directly.
// It also reports the FLOPs per token and the MFU against the machine's float32 peak (trainer/flops.ts,
// trainer/peakGflops.ts).
import * as fs from 'node:fs';
import { type OptionSpec, optionsHelp, TrainConfigError } from '../protocol/options';
import type { TrainConfig } from '../protocol/trainer';
import { initBackend } from '../trainer/compute/backend';
import { padBatch, type TrainingExample } from '../trainer/data';
import { flopsPerToken, modelFlopsUtilisation } from '../trainer/flops';
import { buildModel } from '../trainer/loadModel';
import { AdamW } from '../trainer/optimizer';
import { explainWasmAbort, checkMemoryFits, type AdviceFlags } from '../trainer/memoryGuard';
import { familyOf } from '../trainer/models/registry';
import { loadNativeBlas, nativeBlasUnavailableReason } from '../trainer/native/blas';
import { memoryEstimate, parameterBreakdown } from '../trainer/params';
import { peakGflops, type PeakSource } from '../trainer/peakGflops';
import { seededRandom } from '../trainer/random';
import { parseCommandSettings } from '../trainer/runConfig';
import { strategyOf, validateStrategy } from '../trainer/strategies';
import { optimizerStep } from '../trainer/step';
import { BENCH_SHAPE_OPTIONS, benchModelConfig } from './benchShape';
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
  /** config.json's model_type of the model timed. */
  family: string;
  /** 6·N + 12·L·(H·Q)·T (trainer/flops.ts). */
  flopsPerToken: number;
  /** The float32 peak MFU divides by; null when it is not known (then `peakNote` says why). */
  peakGflops: number | null;
  peakSource: PeakSource | null;
  peakNote?: string;
  /** flopsPerToken · tokensPerSec / peak, a fraction; null without a peak. */
  mfu: number | null;
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

const timing = (name: string, help: string, def: number): OptionSpec => ({
  name,
  kind: 'int',
  value: 'N',
  min: 1,
  default: def,
  group: 'run',
  commands: [],
  runJson: false,
  help,
});

/** The model, timing and peak flags, bench's own; the strategy, seed and backend flags are the table's. */
export const BENCH_OPTIONS: readonly OptionSpec[] = [
  ...BENCH_SHAPE_OPTIONS,
  timing('seq', 'tokens per example', 128),
  timing('batch', 'examples per step', 8),
  timing('steps', 'timed optimizer steps (after 2 untimed warm-up steps)', 5),
  {
    name: 'peakGflops',
    kind: 'number',
    value: 'G',
    positive: true,
    defaultHelp: 'measured once per machine with the native BLAS (2048³ sgemm, best of 5) and cached',
    group: 'output',
    commands: [],
    runJson: false,
    help: 'the float32 peak in GFLOP/s that MFU divides by',
  },
  {
    name: 'measurePeak',
    kind: 'boolean',
    group: 'output',
    commands: [],
    runJson: false,
    help: 'measure the peak again even when it is cached; the cache keeps the higher figure (load only ever lowers it)',
  },
  {
    name: 'json',
    kind: 'boolean',
    group: 'output',
    commands: [],
    runJson: false,
    help: 'one JSON object: {tokensPerSec, stepSec, backend, trainable, total, peakRssBytes, estimatedBytes, family, flopsPerToken, peakGflops, peakSource, mfu}',
  },
];

/** `finetune bench --help`. */
export function benchHelp(): string {
  return (
    'usage: finetune bench [--family F] [--preset P] [size flags] --seq T --batch B --steps K --strategy S [--json]\n' +
    '  Trains a random model of that family and shape on random tokens and prints tokens/s and MFU; compare\n' +
    '  it with `python3 reference/gpt2_ref.py bench` (GPT-2) or `reference/llama_ref.py bench` (Llama family)\n' +
    '  with the same shape (`npm run bench` runs both).\n' +
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
  const [seq, batchSize, steps] = (['seq', 'batch', 'steps'] as const).map((k) => own[k] as number);
  const seed = settings.seed as number;
  const config = benchModelConfig(own, seq);
  // The same settings -> strategy mapping as train's (dropout stays off: bench times the plain step);
  // LoRA's targets left at the table's default become the family's own (q_proj, v_proj for Llama).
  let strategy: ReturnType<typeof strategyOf>;
  try {
    strategy = validateStrategy(config, strategyOf({ ...settings, loraDropout: 0 } as TrainConfig));
  } catch (err) {
    throw err instanceof TrainConfigError ? new UsageError(err.message) : err;
  }
  const { backend } = await initBackend(settings.backend as TrainConfig['backend']);
  const gradientCheckpointing = settings.gradientCheckpointing === true;
  const estimate = memoryEstimate(config, strategy, batchSize, seq, 'lm', gradientCheckpointing);
  const fits = checkMemoryFits(estimate, backend, BENCH_FLAGS);
  if (!fits.ok) throw new Error(fits.message);
  // Before the model exists: the measurement (first run on a machine only) has the memory and cores to itself.
  const peak = peakGflops({
    given: own.peakGflops as number | undefined,
    remeasure: own.measurePeak === true,
    loadBlas: () => ({ blas: loadNativeBlas(), reason: nativeBlasUnavailableReason() }),
  });
  const model = buildModel(config, strategy, seed);
  model.base.gradientCheckpointing = gradientCheckpointing;
  const optimizer = new AdamW(model.trainableVariables(), { weightDecay: 0.01 });
  const random = seededRandom(seed);
  const tokens = Array.from({ length: seq + 1 }, () => 0);
  const examples: TrainingExample[] = Array.from({ length: batchSize }, (_, b) => {
    for (let t = 0; t <= seq; t++) tokens[t] = random.int(config.vocabSize);
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
  const tokensPerSec = (batchSize * seq * steps) / seconds;
  const flops = flopsPerToken(config, seq);
  const result: BenchResult = {
    tokensPerSec,
    stepSec: seconds / steps,
    backend,
    trainable: p.trainable,
    total: p.total,
    peakRssBytes: peakRss(rss),
    estimatedBytes: estimate.total,
    family: familyOf(config).modelType,
    flopsPerToken: flops,
    peakGflops: peak.gflops,
    peakSource: peak.gflops === null ? null : peak.source,
    ...(peak.gflops === null ? { peakNote: peak.reason } : {}),
    mfu: modelFlopsUtilisation(flops, tokensPerSec, peak.gflops),
  };
  optimizer.dispose();
  model.dispose();
  if (own.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
  } else {
    const mfu =
      peak.gflops === null || result.mfu === null
        ? `MFU unknown, peak unknown: ${result.peakNote}`
        : `MFU ${(100 * result.mfu).toFixed(1)}% of ${peak.gflops.toFixed(0)} GFLOP/s (${peak.source})`;
    process.stdout.write(
      `${result.tokensPerSec.toFixed(1)} tokens/s, ${result.stepSec.toFixed(3)} s/step on ${backend} ` +
        `(${result.family} ${strategy.strategy}; trainable ${p.trainable.toLocaleString('en-US')} of ${p.total.toLocaleString('en-US')}; ` +
        `peak RSS ${(result.peakRssBytes / 2 ** 20).toFixed(0)} MiB; ${(flops / 1e6).toFixed(1)} MFLOP/token; ${mfu})\n`,
    );
  }
  return 0;
}
