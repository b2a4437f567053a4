// `npm run bench`: training throughput and MFU of `bin/finetune bench` (the built dist/) per model,
// strategy and backend, next to the PyTorch reference of the same family (reference/gpt2_ref.py bench
// for GPT-2, reference/llama_ref.py bench for the Llama family; same shape and work per step) run back
// to back in the same process tree. Not a test: it prints a table.
//   node scripts/bench.mjs [--models gpt2,smollm2-135m] [--strategies full,lora,partial] [--steps 5]
//     [--layers N] [--seq T] [--batch B] [--backends wasm,wasm-stock,webgpu] [--no-ref] [--no-big-vocab]
//     [--ref-as-installed] [--ref-threads N] [--peak-gflops G | --measure-peak] [--from-source] [--json FILE]
// Models: gpt2 (a 4×256 GPT-2, plus full fine-tuning at GPT-2's vocabulary), gpt2-small (GPT-2 small
// itself, full and LoRA), llama (a 4×256 Llama with grouped-query attention), smollm2-135m (SmolLM2-135M's
// published shape, random weights; full and LoRA), qwen2.5-0.5b (its shape; LoRA). --layers, --seq and --batch replace every model's own, for a reduced run on a small machine.
// MFU is flops per token (6·N + 12·L·(H·Q)·T, trainer/flops.ts) times tokens/s over the machine's
// float32 peak (a cached 2048³ sgemm measurement through the native BLAS, or --peak-gflops); the
// reference's MFU uses the same flops and peak, so the two columns compare as the tokens/s do.
// The reference runs with the same OPENBLAS_CORETYPE the trainer's native matMul picks (from the CPU
// flags; trainer/native/blas.ts): PyTorch here uses the system OpenBLAS too, and under a hypervisor
// that hides the CPU model both would otherwise run OpenBLAS's slowest kernels. --ref-as-installed
// leaves the reference's environment alone.
// Backends: native (the addon's threaded kernels on every core, where it is built), wasm (with the
// native BLAS matMul when it is built), wasm-stock (FINETUNE_NATIVE_BLAS=0:
// tfjs's own kernels only), cpu (pure JS, very slow), webgpu (only on a real GPU unless
// FINETUNE_WEBGPU_SOFTWARE=1), tensorflow (when tfjs-node is installed).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const list = (name, fallback) => flag(name, fallback).split(',').filter(Boolean);
const steps = Number(flag('--steps', '5'));
const backends = list('--backends', 'native,wasm,webgpu');
const models = list('--models', 'gpt2,gpt2-small,smollm2-135m,qwen2.5-0.5b');
const strategies = list('--strategies', 'full,lora,partial');
const override = { layers: flag('--layers'), seq: flag('--seq'), batch: flag('--batch') };
const peakGflops = flag('--peak-gflops');
// PyTorch's OpenMP threads spin while they wait, and on cores other processes also use that costs far
// more than it gains: --ref-threads 1 pins the reference to one thread (its default: every core).
const refThreads = flag('--ref-threads');
// --measure-peak: the first run measures the peak again (the cache keeps the higher figure).
let measurePeak = args.includes('--measure-peak');
const withRef = !args.includes('--no-ref');
const bigVocab = !args.includes('--no-big-vocab');
const jsonOut = flag('--json', undefined);
const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
// --from-source runs cli/main.ts through tsx (the same code, unbundled) where dist/ is not built.
const fromSource = args.includes('--from-source');
const cli = fromSource ? process.execPath : path.join(root, 'bin', 'finetune');
const cliArgs = fromSource ? ['--import', 'tsx', path.join(root, 'cli', 'main.ts')] : [];
if (!fromSource && !fs.existsSync(path.join(root, 'dist', 'cli.js'))) {
  console.error('dist/ is not built: run `npm run build` first (or pass --from-source)');
  process.exit(2);
}

/** The shape flags both sides take; `--embd` is GPT-2's width, the rest the Llama family's. */
const FLAG = {
  layers: '--layers',
  embd: '--embd',
  hidden: '--hidden',
  heads: '--heads',
  kvHeads: '--kv-heads',
  headDim: '--head-dim',
  intermediate: '--intermediate',
  vocab: '--vocab',
};
const shapeArgs = (shape) => Object.entries(shape).flatMap(([k, v]) => [FLAG[k], String(v)]);
const GPT2_STRATEGIES = {
  full: { ours: ['--strategy', 'full'], ref: ['--mode', 'full'] },
  lora: { ours: ['--strategy', 'lora', '--lora-r', '8', '--lora-targets', 'c_attn'], ref: ['--mode', 'lora', '--r', '8'] },
  partial: { ours: ['--strategy', 'partial', '--freeze-layers', '2'], ref: ['--mode', 'partial', '--freeze-layers', '2'] },
};
// LoRA on the family's default targets on both sides (PEFT's q_proj, v_proj), r 8, alpha 8.
const LLAMA_STRATEGIES = {
  full: { ours: ['--strategy', 'full'], ref: ['--mode', 'full'] },
  lora: { ours: ['--strategy', 'lora', '--lora-r', '8'], ref: ['--mode', 'lora', '--r', '8', '--alpha', '8'] },
  partial: { ours: ['--strategy', 'partial', '--freeze-layers', '2'], ref: ['--mode', 'partial', '--freeze-layers', '2'] },
};
const MODELS = {
  gpt2: {
    ref: 'gpt2_ref.py',
    shape: { layers: 4, embd: 256, heads: 4, vocab: 4096 },
    seq: 128,
    batch: 8,
    strategies: GPT2_STRATEGIES,
    // Full fine-tuning again at GPT-2's 50,257-token vocabulary, where the logits dominate.
    extra: bigVocab ? [{ strategy: 'full', shape: { vocab: 50257 } }] : [],
  },
  llama: {
    ref: 'llama_ref.py',
    family: 'llama',
    shape: { layers: 4, hidden: 256, heads: 4, kvHeads: 2, intermediate: 768, vocab: 4096 },
    seq: 128,
    batch: 8,
    strategies: LLAMA_STRATEGIES,
  },
  // The chapter's first example: GPT-2 small itself (124M parameters), full and LoRA r 8 on c_attn.
  'gpt2-small': {
    ref: 'gpt2_ref.py',
    preset: 'gpt2',
    shape: { layers: 12, embd: 768, heads: 12, vocab: 50257 },
    // The preset's 1,024-position table (unused by the work per step, but counted in the parameters).
    refExtra: ['--positions', '1024'],
    seq: 128,
    batch: 4,
    strategies: { full: GPT2_STRATEGIES.full, lora: GPT2_STRATEGIES.lora },
  },
  'smollm2-135m': {
    ref: 'llama_ref.py',
    family: 'llama',
    // Ours reads the preset's config.json; the reference gets the same sizes as flags, and the parameter
    // counts both report are compared below, so the two cannot drift apart unnoticed.
    preset: 'smollm2-135m',
    shape: { layers: 30, hidden: 576, heads: 9, kvHeads: 3, headDim: 64, intermediate: 1536, vocab: 49152 },
    seq: 128,
    batch: 2,
    strategies: { full: LLAMA_STRATEGIES.full, lora: LLAMA_STRATEGIES.lora },
  },
  // Qwen2.5-0.5B's shape (494M parameters, a tied 151,936-token embedding): LoRA only, as on a laptop.
  'qwen2.5-0.5b': {
    ref: 'llama_ref.py',
    family: 'qwen2',
    preset: 'qwen2.5-0.5b',
    shape: { layers: 24, hidden: 896, heads: 14, kvHeads: 2, headDim: 64, intermediate: 4864, vocab: 151936 },
    seq: 128,
    batch: 1,
    strategies: { lora: LLAMA_STRATEGIES.lora },
  },
};
const BACKENDS = {
  native: { flag: 'native', env: {} },
  wasm: { flag: 'wasm', env: {} },
  'wasm-stock': { flag: 'wasm', env: { FINETUNE_NATIVE_BLAS: '0' } },
  cpu: { flag: 'cpu', env: {} },
  webgpu: { flag: 'webgpu', env: {} },
  tensorflow: { flag: 'tensorflow', env: {} },
};
for (const m of models) if (!MODELS[m]) throw new Error(`unknown model ${m} (choose ${Object.keys(MODELS).join(', ')})`);
for (const b of backends) if (!BACKENDS[b]) throw new Error(`unknown backend ${b} (choose ${Object.keys(BACKENDS).join(', ')})`);

/** CPU seconds (user + system) of this process's waited-for children, from /proc (Linux only). */
function childCpuSeconds() {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 of stat (cutime, cstime) are at 13 and 14 after the command name; ticks are 100 Hz on Linux.
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return NaN;
  }
}

function runTimed(command, argv, env) {
  const cpu0 = childCpuSeconds();
  const t0 = performance.now();
  const r = spawnSync(command, argv, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = (performance.now() - t0) / 1000;
  const cpu = childCpuSeconds() - cpu0;
  const line = (r.stdout ?? '')
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (r.status !== 0 || !line) {
    const why =
      `${r.stderr ?? ''}${r.stdout ?? ''}`
        .trim()
        .split('\n')
        .filter((l) => /error|not available|Error|^finetune bench:/.test(l))
        .pop() ?? `exit ${r.status}`;
    return {
      error: why
        .replace(/^finetune bench:\s*/, '')
        .replace(/; use --backend.*$/, '')
        .slice(0, 160),
      wall,
      cpu,
    };
  }
  return { ...JSON.parse(line), wall, cpu };
}

const haveTorch = withRef && spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

/** The OpenBLAS core type for this CPU, as trainer/native/blas.ts openBlasCoreType chooses it. */
function openBlasCoreType() {
  if (process.env.OPENBLAS_CORETYPE || process.platform !== 'linux') return process.env.OPENBLAS_CORETYPE;
  try {
    const flags = new Set((/^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/));
    if (['avx512f', 'avx512vl', 'avx512bw', 'avx512dq', 'avx512cd'].every((f) => flags.has(f))) return 'SkylakeX';
    if (flags.has('avx2') && flags.has('fma')) return 'Haswell';
  } catch {
    // no /proc
  }
  return undefined;
}
const refEnv = {};
const coreType = args.includes('--ref-as-installed') ? undefined : openBlasCoreType();
if (coreType) refEnv.OPENBLAS_CORETYPE = coreType;

const cases = [];
for (const name of models) {
  const m = MODELS[name];
  for (const strategy of strategies) if (m.strategies[strategy]) cases.push({ name, m, strategy, shape: m.shape });
  for (const e of m.extra ?? []) if (strategies.includes(e.strategy)) cases.push({ name, m, strategy: e.strategy, shape: { ...m.shape, ...e.shape } });
}

const rows = [];
for (const { name, m, strategy, shape: own } of cases) {
  const shape = { ...own, ...(override.layers ? { layers: Number(override.layers) } : {}) };
  const timing = ['--seq', override.seq ?? String(m.seq), '--batch', override.batch ?? String(m.batch), '--steps', String(steps)];
  // A preset names its shape itself; only what was overridden (or differs from it) goes with it.
  const oursShape = m.preset
    ? ['--preset', m.preset, ...shapeArgs(Object.fromEntries(Object.entries(shape).filter(([k, v]) => m.shape[k] !== v)))]
    : [...(m.family ? ['--family', m.family] : []), ...shapeArgs(shape)];
  const refShape = [...(m.family ? ['--family', m.family] : []), ...shapeArgs(shape)];
  const s = m.strategies[strategy];
  // The reference first, then each backend right after it, so that the machine's load is alike.
  const ref = haveTorch
    ? runTimed(
        python,
        [
          path.join(root, 'reference', m.ref),
          'bench',
          ...refShape,
          ...timing,
          ...s.ref,
          ...(m.refExtra ?? []),
          ...(refThreads ? ['--threads', refThreads] : []),
        ],
        refEnv,
      )
    : undefined;
  for (const b of backends) {
    const spec = BACKENDS[b];
    const peak = peakGflops ? ['--peak-gflops', peakGflops] : measurePeak ? ['--measure-peak'] : [];
    measurePeak = false;
    const ours = runTimed(cli, [...cliArgs, 'bench', ...oursShape, ...timing, ...s.ours, ...peak, '--backend', spec.flag, '--json'], spec.env);
    const row = { model: name, strategy, shape, seq: Number(timing[1]), batch: Number(timing[3]), backend: b, ours, ref };
    rows.push(row);
    const tps = ours.error ? `n/a (${ours.error})` : `${ours.tokensPerSec.toFixed(0)} tok/s`;
    process.stderr.write(
      `${name} ${strategy} vocab ${shape.vocab} ${b}: ${tps}${ref && !ref.error ? `; reference ${ref.tokens_per_s.toFixed(0)} tok/s` : ''}\n`,
    );
    if (!ours.error && ref && !ref.error && (ours.total !== ref.total || ours.trainable !== ref.trainable)) {
      process.stderr.write(`  the shapes differ: ours ${ours.trainable} of ${ours.total} parameters train, the reference's ${ref.trainable} of ${ref.total}\n`);
      row.mismatch = true;
    }
  }
}

const mib = (bytes) => (Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : '-');
const pct = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(1)}%`);
const header = [
  'model',
  'strategy',
  'layers',
  'vocab',
  'backend',
  'device',
  'tokens/s',
  'PyTorch tokens/s',
  'ratio',
  'MFU',
  'PyTorch MFU',
  'CPU s (run)',
  'ref CPU s (run)',
  'peak RSS',
  'ref peak RSS',
];
const table = [header, header.map(() => '---')];
for (const { model, strategy, shape, backend, ours, ref, mismatch } of rows) {
  const refOk = ref && !ref.error;
  const ok = !ours.error;
  table.push([
    model,
    strategy,
    String(shape.layers),
    String(shape.vocab),
    backend,
    ok ? (ours.device ?? ours.backend) : '-',
    ok ? ours.tokensPerSec.toFixed(0) : `n/a: ${ours.error}`,
    !haveTorch ? 'no torch' : refOk ? ref.tokens_per_s.toFixed(0) : `n/a: ${ref.error}`,
    ok && refOk ? `${(ours.tokensPerSec / ref.tokens_per_s).toFixed(2)}${mismatch ? ' (shapes differ)' : ''}` : '-',
    ok ? pct(ours.mfu) : '-',
    // The same flops per token and peak as ours: the shapes are the same (checked above).
    ok && refOk && ours.peakGflops ? pct((ours.flopsPerToken * ref.tokens_per_s) / (ours.peakGflops * 1e9)) : '-',
    ok && Number.isFinite(ours.cpu) ? ours.cpu.toFixed(1) : '-',
    refOk && Number.isFinite(ref.cpu) ? ref.cpu.toFixed(1) : '-',
    ok ? mib(ours.peakRssBytes) : '-',
    refOk ? mib(ref.peak_rss_bytes) : '-',
  ]);
}
const peakRow = rows.find((r) => !r.ours.error);
const peakLine = !peakRow
  ? 'peak unknown'
  : peakRow.ours.peakGflops === null
    ? `peak unknown (${peakRow.ours.peakNote}), so no MFU`
    : `MFU against a float32 peak of ${peakRow.ours.peakGflops.toFixed(1)} GFLOP/s (${peakRow.ours.peakSource})`;
console.log(
  `steps ${steps} (+2 warm-up); seq × batch: ${[...new Set(rows.map((r) => `${r.model} ${r.seq}×${r.batch}`))].join(', ')}; ${peakLine}; ` +
    `reference ${coreType ? `with OPENBLAS_CORETYPE=${coreType}` : 'as installed'}; CPU s = user+system of the whole process run, start-up and warm-up included`,
);
console.log(table.map((r) => `| ${r.join(' | ')} |`).join('\n'));
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(rows, null, 2));
