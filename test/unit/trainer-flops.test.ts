import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { flopShape, flopsPerToken, modelFlopsUtilisation } from '../../trainer/flops';
import { presetConfig } from '../../trainer/models/gpt2/config';
import { llamaPresetConfig } from '../../trainer/models/llama/config';
import { machineKey, measureSgemmGflops, peakCacheFile, peakGflops } from '../../trainer/peakGflops';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-flops-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('GPT-2 small: N is its 124,439,808 parameters less the 1024·768 position table, and 6N + 12·L·d·T at T = 1024', () => {
  const gpt2 = presetConfig('gpt2');
  assert.deepEqual(flopShape(gpt2), { parameters: 124_439_808 - 1024 * 768, layers: 12, attentionWidth: 768 });
  // 6 · 123,653,376 + 12 · 12 · 768 · 1024 = 741,920,256 + 113,246,208
  assert.equal(flopsPerToken(gpt2, 1024), 855_166_464);
});

test('SmolLM2-135M: tied head counted once (134,515,008 parameters, no position table), at T = 128', () => {
  const smol = llamaPresetConfig('smollm2-135m');
  assert.deepEqual(flopShape(smol), { parameters: 134_515_008, layers: 30, attentionWidth: 576 });
  // 6 · 134,515,008 + 12 · 30 · 576 · 128 = 807,090,048 + 26,542,080
  assert.equal(flopsPerToken(smol, 128), 833_632_128);
});

test('TinyLlama-1.1B: an untied lm_head counts in full (1,100,048,384 parameters), at T = 2048', () => {
  const tiny = llamaPresetConfig('tinyllama-1.1b');
  assert.equal(flopShape(tiny).parameters, 1_100_048_384);
  // 6 · 1,100,048,384 + 12 · 22 · 2048 · 2048 = 6,600,290,304 + 1,107,296,256
  assert.equal(flopsPerToken(tiny, 2048), 7_707_586_560);
  // The same shape tied: one V×d matrix fewer, 6·V·d FLOPs per token less.
  const tied = { ...tiny, tieWordEmbeddings: true };
  assert.equal(flopsPerToken(tiny, 2048) - flopsPerToken(tied, 2048), 6 * 32000 * 2048);
});

test('Qwen3-0.6B: the attention term uses heads·head_dim (16·128 = 2048), wider than its hidden size 1024', () => {
  const qwen3 = llamaPresetConfig('qwen3-0.6b');
  assert.equal(flopShape(qwen3).attentionWidth, 2048);
  // One more position adds 12·L·(H·Q) = 12 · 28 · 2048.
  assert.equal(flopsPerToken(qwen3, 2) - flopsPerToken(qwen3, 1), 688_128);
  assert.throws(() => flopsPerToken(qwen3, 0), /positive integer/);
});

test('MFU is achieved FLOP/s over the peak, and null when the peak is unknown', () => {
  // 1e9 FLOPs a token at 10 tokens/s is 10 GFLOP/s, a tenth of 100.
  assert.equal(modelFlopsUtilisation(1e9, 10, 100), 0.1);
  assert.equal(modelFlopsUtilisation(1e9, 10, null), null);
});

function counter(gflops: number) {
  const calls = { load: 0, measure: 0 };
  const blas = { sgemm: () => {} };
  return {
    calls,
    loadBlas: () => {
      calls.load++;
      return { blas };
    },
    measure: () => {
      calls.measure++;
      return gflops;
    },
  };
}

test('the peak: --peak-gflops wins without measuring or writing; else measured once per machine key and then read from the cache', () => {
  const cacheFile = path.join(scratch, 'a', 'peak-gflops.json');
  const given = counter(1);
  assert.deepEqual(peakGflops({ given: 250, cacheFile, key: 'cpu A', ...given }), { gflops: 250, source: 'given', key: 'cpu A' });
  assert.deepEqual(given.calls, { load: 0, measure: 0 });
  assert.equal(fs.existsSync(cacheFile), false);

  const first = counter(123.5);
  assert.deepEqual(peakGflops({ cacheFile, key: 'cpu A', ...first }), { gflops: 123.5, source: 'measured', key: 'cpu A' });
  const again = counter(999);
  assert.deepEqual(peakGflops({ cacheFile, key: 'cpu A', ...again }), { gflops: 123.5, source: 'cached', key: 'cpu A' });
  assert.deepEqual(again.calls, { load: 0, measure: 0 });
  // Another machine (or BLAS) sharing the home folder gets its own figure; the first one stays.
  const other = counter(40);
  assert.equal(peakGflops({ cacheFile, key: 'cpu B', ...other }).gflops, 40);
  const stored = JSON.parse(fs.readFileSync(cacheFile, 'utf8'));
  assert.deepEqual(Object.keys(stored).sort(), ['cpu A', 'cpu B']);
  assert.equal(stored['cpu A'].gflops, 123.5);
  assert.equal(stored['cpu A'].matrix, 2048);
  assert.throws(() => peakGflops({ given: 0, cacheFile, key: 'cpu A', ...given }), /positive/);
});

test('the peak: --measure-peak measures again and the cache keeps the higher figure, since load only lowers it', () => {
  const cacheFile = path.join(scratch, 'c', 'peak-gflops.json');
  peakGflops({ cacheFile, key: 'k', ...counter(60) });
  const lower = counter(45);
  assert.deepEqual(peakGflops({ cacheFile, key: 'k', remeasure: true, ...lower }), { gflops: 60, source: 'cached', key: 'k' });
  assert.equal(lower.calls.measure, 1);
  assert.deepEqual(peakGflops({ cacheFile, key: 'k', remeasure: true, ...counter(90) }), { gflops: 90, source: 'measured', key: 'k' });
  assert.equal(JSON.parse(fs.readFileSync(cacheFile, 'utf8')).k.gflops, 90);
  // Without the addon a cached figure still serves.
  assert.deepEqual(peakGflops({ cacheFile, key: 'k', remeasure: true, loadBlas: () => ({ blas: null }) }), { gflops: 90, source: 'cached', key: 'k' });
});

test('the peak: without the native addon it is unknown (with why), and a damaged cache file is measured again and rewritten', () => {
  const cacheFile = path.join(scratch, 'b', 'peak-gflops.json');
  const none = peakGflops({ cacheFile, key: 'k', loadBlas: () => ({ blas: null, reason: 'not built (run `npm run build:native`)' }) });
  assert.equal(none.gflops, null);
  assert.ok(none.gflops === null && /not built/.test(none.reason) && /--peak-gflops/.test(none.reason));
  assert.equal(fs.existsSync(cacheFile), false);
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  for (const damaged of ['{"k": {"gflops', '{"k": {"gflops": -3}}', '[1, 2]']) {
    fs.writeFileSync(cacheFile, damaged);
    const c = counter(77);
    assert.deepEqual(peakGflops({ cacheFile, key: 'k', ...c }), { gflops: 77, source: 'measured', key: 'k' }, damaged);
    assert.equal(JSON.parse(fs.readFileSync(cacheFile, 'utf8')).k.gflops, 77);
  }
});

test('the cache lives under $XDG_CACHE_HOME when it is absolute, else ~/.cache; the key names the CPU, cores and BLAS kernels', () => {
  assert.equal(peakCacheFile({ XDG_CACHE_HOME: '/x/cache' }), path.join('/x/cache', 'finetune-studio', 'peak-gflops.json'));
  assert.equal(peakCacheFile({ XDG_CACHE_HOME: 'relative' }), path.join(os.homedir(), '.cache', 'finetune-studio', 'peak-gflops.json'));
  const key = machineKey({ OPENBLAS_CORETYPE: 'Haswell' });
  assert.ok(key.startsWith(os.cpus()[0].model.trim()), key);
  assert.match(key, new RegExp(`\\| ${os.availableParallelism()} cores \\|`));
  assert.notEqual(key, machineKey({ OPENBLAS_CORETYPE: 'Haswell', OPENBLAS_NUM_THREADS: '1' }));
  if (process.platform === 'linux') assert.match(key, /OpenBLAS Haswell$/);
});

test('the measurement runs n×n×n products, one untimed and then `runs` timed ones', () => {
  const shapes: number[][] = [];
  const gflops = measureSgemmGflops({ sgemm: (_a, _b, _c, batch, m, n, k) => void shapes.push([batch, m, n, k]) }, 64, 3);
  assert.deepEqual(shapes, Array(4).fill([1, 64, 64, 64]));
  assert.ok(gflops > 0);
});
