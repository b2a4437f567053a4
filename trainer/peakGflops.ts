// The machine's float32 peak for MFU: the best of several 2048³ sgemm runs through the native BLAS addon
// (trainer/native/), the library the wasm backend's matrix products go through, on all the cores OpenBLAS
// starts threads for. Measured once per machine and cached (a run takes a second or two); other
// processes on the cores only ever lower the figure, so `--measure-peak` measures again and the cache
// keeps the higher of the two. `--peak-gflops` wins over both. Without the addon
// there is no honest peak to divide by, so the answer is "unknown", never an invented figure.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type NativeBlas, openBlasCoreType } from './native/blas';

/** The matrix size of the peak measurement: large enough that BLAS runs at its steady rate. */
export const PEAK_MATRIX_SIZE = 2048;
/** Timed runs (after one untimed) whose best counts; other processes on the cores only ever slow a run down. */
export const PEAK_RUNS = 5;

export type PeakSource = 'given' | 'cached' | 'measured';

export type PeakResult = { gflops: number; source: PeakSource; key: string } | { gflops: null; reason: string; key: string };

/** `$XDG_CACHE_HOME/finetune-studio/peak-gflops.json`, else the same under `~/.cache`. */
export function peakCacheFile(env: NodeJS.ProcessEnv = process.env): string {
  const root = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(root, 'finetune-studio', 'peak-gflops.json');
}

function cpuFlags(): Set<string> {
  try {
    const m = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return new Set(m ? m[1].trim().split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

/**
 * What the peak depends on, as the cache's key: the CPU model, the cores BLAS may use and the BLAS
 * kernels. The kernel set is the one loadNativeBlas makes OpenBLAS take (OPENBLAS_CORETYPE, else chosen
 * from the CPU flags), known without loading the addon, so a run with the addon turned off still finds
 * the figure an earlier run measured.
 */
export function machineKey(env: NodeJS.ProcessEnv = process.env): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() || 'unknown CPU';
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length;
  const threads = env.OPENBLAS_NUM_THREADS ?? env.OMP_NUM_THREADS;
  const blas =
    process.platform === 'darwin'
      ? 'Accelerate'
      : `OpenBLAS ${env.OPENBLAS_CORETYPE ?? (process.platform === 'linux' ? openBlasCoreType(cpuFlags()) : undefined) ?? 'auto'}`;
  return `${model} | ${cores} cores${threads ? ` (${threads} BLAS threads)` : ''} | ${blas}`;
}

/** GFLOP/s of the best of `runs` n×n×n products (2·n³ FLOPs each) after one untimed run. */
export function measureSgemmGflops(blas: Pick<NativeBlas, 'sgemm'>, n: number = PEAK_MATRIX_SIZE, runs: number = PEAK_RUNS): number {
  const a = new Float32Array(n * n);
  const b = new Float32Array(n * n);
  const c = new Float32Array(n * n);
  // Values away from zero and denormals, which some kernels take slow paths on.
  for (let i = 0; i < a.length; i++) {
    a[i] = 1 + (i % 7) / 8;
    b[i] = 1 - (i % 5) / 8;
  }
  blas.sgemm(a, b, c, 1, n, n, n, false, false, 0, 0);
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    blas.sgemm(a, b, c, 1, n, n, n, false, false, 0, 0);
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return (2 * n ** 3) / best / 1e9;
}

type CacheFile = Record<string, { gflops: number; measuredAt: string; matrix: number; runs: number }>;

function readCache(file: string): CacheFile {
  try {
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return json && typeof json === 'object' && !Array.isArray(json) ? (json as CacheFile) : {};
  } catch {
    // Absent or unreadable: measure again and write a fresh one.
    return {};
  }
}

export interface PeakOptions {
  /** `--peak-gflops`: wins over the cache and the measurement. */
  given?: number;
  /** `--measure-peak`: measure even with a cached figure, and keep the higher. */
  remeasure?: boolean;
  cacheFile?: string;
  key?: string;
  /** The addon, or null with why not (it is only loaded when the cache has no figure). */
  loadBlas: () => { blas: Pick<NativeBlas, 'sgemm'> | null; reason?: string };
  measure?: (blas: Pick<NativeBlas, 'sgemm'>) => number;
  now?: () => Date;
}

/** The peak: given, else this machine's cached figure, else measured now (and cached), else unknown with why. */
export function peakGflops(opts: PeakOptions): PeakResult {
  const key = opts.key ?? machineKey();
  if (opts.given !== undefined) {
    if (!(opts.given > 0 && Number.isFinite(opts.given))) throw new RangeError(`the peak must be a positive number of GFLOP/s, got ${opts.given}`);
    return { gflops: opts.given, source: 'given', key };
  }
  const file = opts.cacheFile ?? peakCacheFile();
  const cache = readCache(file);
  const hit = Object.hasOwn(cache, key) ? cache[key] : undefined;
  const cached = hit && typeof hit.gflops === 'number' && hit.gflops > 0 && Number.isFinite(hit.gflops) ? hit.gflops : undefined;
  if (cached !== undefined && !opts.remeasure) return { gflops: cached, source: 'cached', key };
  const { blas, reason } = opts.loadBlas();
  if (!blas) {
    if (cached !== undefined) return { gflops: cached, source: 'cached', key };
    return { gflops: null, reason: `no native BLAS to measure it with (${reason ?? 'not loaded'}); give --peak-gflops`, key };
  }
  const measured = (opts.measure ?? measureSgemmGflops)(blas);
  if (cached !== undefined && cached >= measured) return { gflops: cached, source: 'cached', key };
  const gflops = measured;
  cache[key] = { gflops, measuredAt: (opts.now?.() ?? new Date()).toISOString(), matrix: PEAK_MATRIX_SIZE, runs: PEAK_RUNS };
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Written aside and renamed, so that a bench started at the same moment never reads half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(cache, null, 2) + '\n');
    fs.renameSync(tmp, file);
  } catch {
    // A read-only home still gets its figure, measured again next time.
  }
  return { gflops, source: 'measured', key };
}
