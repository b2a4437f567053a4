// `npm run bench`: training throughput of `bin/finetune bench` (the built dist/) for full, LoRA and
// partial on every backend that starts here, next to the PyTorch reference
// (reference/gpt2_ref.py bench, same shape and work per step) run back to back in the same
// process tree, plus full fine-tuning at GPT-2's vocabulary. Not a test: it prints a table.
//   node scripts/bench.mjs [--steps 5] [--backends wasm,wasm-stock,webgpu] [--no-ref] [--no-big-vocab] [--ref-as-installed] [--json FILE]
// The reference runs with the same OPENBLAS_CORETYPE the trainer's native matMul picks (from the CPU
// flags; trainer/native/blas.ts): PyTorch here uses the system OpenBLAS too, and under a hypervisor
// that hides the CPU model both would otherwise run OpenBLAS's slowest kernels. --ref-as-installed
// leaves the reference's environment alone.
// Backends: wasm (with the native BLAS matMul when it is built), wasm-stock (FINETUNE_NATIVE_BLAS=0:
// tfjs's own kernels only), cpu (pure JS, very slow), webgpu (only on a real GPU unless
// FINETUNE_WEBGPU_SOFTWARE=1), tensorflow (when tfjs-node is installed).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const steps = Number(flag('--steps', '5'));
const backends = flag('--backends', 'wasm,wasm-stock,webgpu').split(',').filter(Boolean);
const withRef = !args.includes('--no-ref');
const bigVocab = !args.includes('--no-big-vocab');
const jsonOut = flag('--json', undefined);
const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const refScript = process.env.BENCH_REF ?? path.join(root, 'reference', 'gpt2_ref.py');
const cli = path.join(root, 'bin', 'finetune');
if (!fs.existsSync(path.join(root, 'dist', 'cli.js'))) {
  console.error('dist/ is not built: run `npm run build` first');
  process.exit(2);
}

const SHAPE = ['--layers', '4', '--embd', '256', '--heads', '4', '--seq', '128', '--batch', '8'];
const STRATEGIES = {
  full: { ours: ['--strategy', 'full'], ref: ['--mode', 'full'] },
  lora: { ours: ['--strategy', 'lora', '--lora-r', '8', '--lora-targets', 'c_attn'], ref: ['--mode', 'lora', '--r', '8'] },
  partial: { ours: ['--strategy', 'partial', '--freeze-layers', '2'], ref: ['--mode', 'partial', '--freeze-layers', '2'] },
};
const BACKENDS = {
  wasm: { flag: 'wasm', env: {} },
  'wasm-stock': { flag: 'wasm', env: { FINETUNE_NATIVE_BLAS: '0' } },
  cpu: { flag: 'cpu', env: {} },
  webgpu: { flag: 'webgpu', env: {} },
  tensorflow: { flag: 'tensorflow', env: {} },
};

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
        .filter((l) => /error|not available|Error/.test(l))
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

function torchAvailable() {
  if (!withRef || !fs.existsSync(refScript)) return false;
  return spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

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

const haveTorch = torchAvailable();
const rows = [];
const cases = Object.keys(STRATEGIES).map((s) => ({ strategy: s, vocab: 4096 }));
if (bigVocab) cases.push({ strategy: 'full', vocab: 50257 });
for (const { strategy, vocab } of cases) {
  const shape = [...SHAPE, '--vocab', String(vocab), '--steps', String(steps)];
  // The reference first, then each backend right after it, so that the machine's load is alike.
  const ref = haveTorch ? runTimed(python, [refScript, 'bench', ...shape, ...STRATEGIES[strategy].ref], refEnv) : undefined;
  for (const b of backends) {
    const spec = BACKENDS[b];
    if (!spec) throw new Error(`unknown backend ${b} (choose ${Object.keys(BACKENDS).join(', ')})`);
    const ours = runTimed(cli, ['bench', ...shape, ...STRATEGIES[strategy].ours, '--backend', spec.flag, '--json'], spec.env);
    rows.push({ strategy, vocab, backend: b, ours, ref });
    const tps = ours.error ? `n/a (${ours.error})` : `${ours.tokensPerSec.toFixed(0)} tok/s`;
    process.stderr.write(`${strategy} vocab ${vocab} ${b}: ${tps}${ref && !ref.error ? `; reference ${ref.tokens_per_s.toFixed(0)} tok/s` : ''}\n`);
  }
}

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const header = ['strategy', 'vocab', 'backend', 'device', 'tokens/s', 'PyTorch tokens/s', 'ratio', 'CPU s (run)', 'ref CPU s (run)', 'peak RSS'];
const table = [header, header.map(() => '---')];
for (const { strategy, vocab, backend, ours, ref } of rows) {
  const refOk = ref && !ref.error;
  table.push([
    strategy,
    String(vocab),
    backend,
    ours.error ? '-' : (ours.device ?? ours.backend),
    ours.error ? `n/a: ${ours.error}` : ours.tokensPerSec.toFixed(0),
    !haveTorch ? 'no torch' : refOk ? ref.tokens_per_s.toFixed(0) : `n/a: ${ref.error}`,
    !ours.error && refOk ? (ours.tokensPerSec / ref.tokens_per_s).toFixed(2) : '-',
    Number.isFinite(ours.cpu) ? ours.cpu.toFixed(1) : '-',
    refOk && Number.isFinite(ref.cpu) ? ref.cpu.toFixed(1) : '-',
    ours.error ? '-' : mib(ours.peakRssBytes),
  ]);
}
console.log(
  `steps ${steps} (+2 warm-up), shape ${SHAPE.join(' ')}; reference ${coreType ? `with OPENBLAS_CORETYPE=${coreType}` : 'as installed'}; CPU s = user+system of the whole process run, start-up and warm-up included`,
);
console.log(table.map((r) => `| ${r.join(' | ')} |`).join('\n'));
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(rows, null, 2));
