// The wasm backend's heap stops at 4 GiB and then aborts with a bare "Aborted()": runs that cannot fit must
// be refused up front with advice, runs that fit must not be, and a run-time abort gets the same advice.
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { presetConfig, type GPT2Config } from '../../trainer/models/gpt2/config';
import {
  checkMemoryFits,
  explainWasmAbort,
  heapLimitBytes,
  isWasmAbort,
  projectedHeapBytes,
  projectedNativeRssBytes,
  WASM_HEAP_LIMIT_BYTES,
  WasmOutOfMemoryError,
} from '../../trainer/memoryGuard';
import { formatBytes, memoryEstimate } from '../../trainer/params';
import type { StrategyConfig } from '../../trainer/strategies/strategy';

const gpt2 = presetConfig('gpt2');
const full: StrategyConfig = { strategy: 'full' };
const lora: StrategyConfig = { strategy: 'lora', r: 8, alpha: 16, dropout: 0, targets: ['c_attn'] };
// As bench builds them: positions = max(seq, 128).
const shape = (nLayer: number, nEmbd: number, nHead: number, vocabSize: number): GPT2Config => ({
  vocabSize,
  nPositions: 128,
  nEmbd,
  nLayer,
  nHead,
  layerNormEpsilon: 1e-5,
  dropout: 0,
});

describe('checkMemoryFits', () => {
  test('GPT-2 small full fine-tuning on wasm is refused with the estimate, the limit and what to do instead', () => {
    const estimate = memoryEstimate(gpt2, full, 1, 128);
    const check = checkMemoryFits(estimate, 'wasm');
    assert.equal(check.ok, false);
    if (check.ok) return;
    assert.equal(check.limitBytes, WASM_HEAP_LIMIT_BYTES);
    assert.ok(check.projectedBytes > WASM_HEAP_LIMIT_BYTES);
    assert.ok(check.message.includes(formatBytes(estimate.total)), check.message);
    assert.match(check.message, /limited to 4\.0 GiB/);
    for (const advice of ['--strategy lora', '--batch-size', '--max-length', '--backend native', '--gradient-checkpointing']) {
      assert.ok(check.message.includes(advice), `advice '${advice}' missing from: ${check.message}`);
    }
  });

  test('GPT-2 small LoRA on wasm passes at the bench shape', () => {
    const check = checkMemoryFits(memoryEstimate(gpt2, lora, 1, 128), 'wasm');
    assert.equal(check.ok, true);
    assert.ok(check.projectedBytes < WASM_HEAP_LIMIT_BYTES / 2);
  });

  test('on the native backend GPT-2 small full fine-tuning fits a 24 GB machine, and a run past the machine is refused without advising native again', () => {
    const estimate = memoryEstimate(gpt2, full, 4, 128);
    const fits = checkMemoryFits(estimate, 'native', undefined, 24e9);
    assert.equal(fits.ok, true);
    assert.equal(fits.limitBytes, 24e9);
    const tooBig = checkMemoryFits(estimate, 'native', undefined, 2 * 2 ** 30);
    assert.equal(tooBig.ok, false);
    if (tooBig.ok) return;
    assert.match(tooBig.message, /does not fit in this machine's memory: .* but the machine has 2\.0 GiB/);
    assert.ok(tooBig.message.includes('--gradient-checkpointing'));
    assert.ok(!tooBig.message.includes('--backend native'), tooBig.message);
  });

  test('the native projection lands within 10% of the peak RSS measured for the calibration runs', () => {
    // [config, strategy, batch, seq, measured peak RSS of `finetune bench` in MiB] (NATIVE_RSS_FACTORS' table;
    // the fit leaves residuals within ±8%).
    const cases: [GPT2Config, StrategyConfig, number, number, number][] = [
      [gpt2, full, 4, 128, 3310],
      [gpt2, full, 2, 256, 3422],
      [gpt2, lora, 4, 128, 1421],
      [gpt2, lora, 4, 256, 2307],
      [shape(4, 256, 4, 4096), full, 8, 128, 402],
    ];
    for (const [config, strategy, batch, seq, measured] of cases) {
      const projected = projectedNativeRssBytes(memoryEstimate(config, strategy, batch, seq)) / 2 ** 20;
      assert.ok(
        Math.abs(projected / measured - 1) < 0.1,
        `${config.nLayer} layers ${strategy.strategy} ${seq}x${batch}: projected ${projected.toFixed(0)} MiB, measured ${measured}`,
      );
    }
  });

  test('the cpu and tensorflow backends have no heap limit, so even GPT-2 small full passes', () => {
    const estimate = memoryEstimate(gpt2, full, 8, 1024);
    for (const backend of ['cpu', 'tensorflow', 'webgpu']) {
      assert.equal(heapLimitBytes(backend), null);
      assert.deepEqual(checkMemoryFits(estimate, backend), { ok: true, projectedBytes: projectedHeapBytes(estimate), limitBytes: null });
    }
  });

  test('the calibration runs are classified as they behaved on wasm (fit or Aborted())', () => {
    const cases: [GPT2Config, StrategyConfig, number, number, boolean][] = [
      [shape(4, 768, 12, 50257), full, 1, 128, true],
      [shape(6, 768, 12, 4096), full, 1, 128, true],
      [shape(4, 256, 4, 50257), full, 1, 128, true],
      [shape(8, 768, 12, 50257), full, 1, 128, false],
      [shape(12, 768, 12, 4096), full, 1, 128, false],
      [gpt2, lora, 3, 256, true],
      [gpt2, lora, 4, 256, false],
    ];
    for (const [config, strategy, batch, seq, fits] of cases) {
      const check = checkMemoryFits(memoryEstimate(config, strategy, batch, seq), 'wasm');
      assert.equal(check.ok, fits, `${config.nLayer}/${config.nEmbd}/${config.vocabSize} ${strategy.strategy} ${seq}x${batch}`);
    }
  });

  test('a larger batch or length only ever makes the projection larger', () => {
    const a = projectedHeapBytes(memoryEstimate(gpt2, lora, 1, 128));
    assert.ok(projectedHeapBytes(memoryEstimate(gpt2, lora, 2, 128)) > a);
    assert.ok(projectedHeapBytes(memoryEstimate(gpt2, lora, 1, 256)) > a);
  });

  test('bench names its own flags in the advice', () => {
    const check = checkMemoryFits(memoryEstimate(gpt2, full, 1, 128), 'wasm', { batch: '--batch', length: '--seq' });
    assert.equal(check.ok, false);
    if (!check.ok) assert.match(check.message, /lower --batch or --seq/);
  });
});

describe('explainWasmAbort', () => {
  // What tfjs-backend-wasm throws when its heap cannot grow (seen in `bench --strategy full` on GPT-2 small).
  const abort = () => new WebAssembly.RuntimeError('Aborted(). Build with -sASSERTIONS for more info.');

  test('turns the wasm module abort into an out-of-memory error with the estimate and the advice', () => {
    const estimate = memoryEstimate(gpt2, full, 1, 128);
    const cause = abort();
    assert.equal(isWasmAbort(cause), true);
    const err = explainWasmAbort(cause, estimate);
    assert.ok(err instanceof WasmOutOfMemoryError);
    assert.equal(err.cause, cause);
    assert.match(err.message, /the wasm backend ran out of memory \(Aborted\(\)\)/);
    assert.ok(err.message.includes(formatBytes(estimate.total)));
    assert.match(err.message, /--strategy lora.*--backend native/);
  });

  test('recognises an out-of-bounds access as the same failure', () => {
    assert.equal(isWasmAbort(new WebAssembly.RuntimeError('memory access out of bounds')), true);
  });

  test('leaves every other error as it was', () => {
    const plain = new Error('Aborted() by the user');
    assert.equal(explainWasmAbort(plain), plain);
    const divide = new WebAssembly.RuntimeError('divide by zero');
    assert.equal(explainWasmAbort(divide), divide);
    assert.equal(explainWasmAbort('text'), 'text');
  });
});
