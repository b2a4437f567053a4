// `npm run test:numeric`: the tests whose results are float32 arithmetic, run once more under another
// OpenBLAS kernel set than `npm run test:unit` used, and on the native backend (FINETUNE_TEST_BACKEND=native,
// test/unit/testBackend.ts) where `npm run test:unit` ran them on wasm. The native matMul addon (trainer/native/) lets
// OpenBLAS pick its kernels from OPENBLAS_CORETYPE or the CPU, and each kernel set sums in its own order,
// so a tolerance tuned to one machine's rounding (rather than derived, test/unit/tolerance.ts) fails
// here on every machine. The second set is checked through the backend's device string, which names
// the core OpenBLAS itself reports. Without the addon there is no second kernel set: the script says so
// and exits 0 (the wasm-only numerics already ran in test:unit).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every test file that compares float results: model/reference parity, kernels, gradients, backends, optimizer, strategies, resume. */
export const NUMERIC_TESTS = [
  'trainer-model',
  'trainer-model-ops',
  'trainer-model-grad',
  'trainer-kernels-native',
  'trainer-files-eval',
  'trainer-backend-webgpu',
  'trainer-webgpu',
  'trainer-optimizer',
  'trainer-ops-adamw',
  'trainer-strategies',
  'trainer-train',
  'trainer-resume',
  'trainer-llama-parity',
  'trainer-llama-grad',
  'trainer-llama-strategies',
].map((name) => path.join('test', 'unit', `${name}.test.ts`));

/**
 * The device string of the wasm backend under `env`, and whether the native backend starts there, from
 * one fresh process (OpenBLAS reads its core type once, at load).
 */
function probe(env) {
  const code = `const { initBackend } = require('./trainer/compute/backend');
    (async () => {
      const { device } = await initBackend('wasm');
      const native = await initBackend('native').then(() => true, () => false);
      console.log(JSON.stringify({ device, native }));
    })();`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`probing the wasm backend failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function cpuFlags() {
  try {
    const m = /^(?:flags|Features)\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return new Set(m ? m[1].trim().split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

/**
 * Another kernel set this CPU can run, as different from `first` as possible: one generation of vector
 * width down (AVX-512 -> AVX2 -> AVX -> SSE3), or back up where `first` is already the oldest.
 */
export function secondCoreType(first, flags) {
  const x86 = [
    ['SkylakeX', ['avx512f', 'avx512vl', 'avx512bw', 'avx512dq', 'avx512cd']],
    ['Haswell', ['avx2', 'fma']],
    ['Sandybridge', ['avx']],
    ['Prescott', ['pni']],
  ];
  const supported = x86.filter(([, need]) => need.every((f) => flags.has(f))).map(([name]) => name);
  if (!supported.length) return undefined;
  const family = { Cooperlake: 'SkylakeX', SapphireRapids: 'SkylakeX', Zen: 'Haswell' }[first] ?? first;
  const at = supported.indexOf(family);
  if (at === -1) return supported[0];
  return supported[at + 1] ?? (at > 0 ? supported[at - 1] : undefined);
}

const coreOf = (device) => /OpenBLAS ([\w-]+)/.exec(device)?.[1];

function main() {
  const firstDevice = probe(process.env).device;
  const first = coreOf(firstDevice);
  if (!/matMul: native BLAS/.test(firstDevice)) {
    console.log(`test:numeric: skipped, no second kernel set to compare: ${firstDevice}.`);
    console.log("The numeric tests ran on tfjs's own wasm kernels in test:unit; `npm run build:native` (libopenblas-dev) adds the OpenBLAS ones.");
    return 0;
  }
  if (!first) {
    console.log(`test:numeric: skipped, the BLAS behind the addon does not name its kernels (${firstDevice}).`);
    return 0;
  }
  const second = secondCoreType(first, cpuFlags());
  if (!second) {
    console.log(`test:numeric: skipped, this CPU offers OpenBLAS no kernel set besides ${first}.`);
    return 0;
  }
  const env = { ...process.env, OPENBLAS_CORETYPE: second };
  const { device: secondDevice, native } = probe(env);
  // The native backend where the addon has its kernels: the tests that pick TEST_BACKEND run on it.
  if (native) env.FINETUNE_TEST_BACKEND = 'native';
  if (coreOf(secondDevice) !== second) {
    console.error(`test:numeric: OPENBLAS_CORETYPE=${second} was not taken: the backend runs ${secondDevice}.`);
    return 1;
  }
  console.log(
    `test:numeric: test:unit ran OpenBLAS ${first}; running the numeric tests again on OpenBLAS ${second}${env.FINETUNE_TEST_BACKEND ? ', on the native backend' : ''}.`,
  );
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...NUMERIC_TESTS], { cwd: root, env, stdio: 'inherit' });
  console.log(`test:numeric: OpenBLAS ${first} (test:unit) and ${second} (this run); ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  return r.status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main();
