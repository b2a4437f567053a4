import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatConfigValue, formatDuration, formatMetric, formatRate, formatShortCount, withCommas } from '../../webview/common/format';

test('counts print with commas like the trainer and PEFT', () => {
  assert.equal(withCommas(124734720), '124,734,720');
  assert.equal(withCommas(294912), '294,912');
  assert.equal(withCommas(-1234.5), '-1,234.5');
  assert.equal(withCommas(NaN), '—');
});

test('bytes print in binary units with three significant digits', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(498_938_880), '476 MiB');
  assert.equal(formatBytes(1.15 * 1024 ** 3), '1.15 GiB');
  assert.equal(formatBytes(-1), '—');
});

test('durations, metrics, rates and short counts', () => {
  assert.equal(formatDuration(42.4), '42s');
  assert.equal(formatDuration(185), '3m 05s');
  assert.equal(formatDuration(7380), '2h 03m');
  assert.equal(formatDuration(100000), '1d 3h');
  assert.equal(formatDuration(undefined), '—');
  assert.equal(formatMetric(2.123456), '2.123');
  assert.equal(formatMetric(0.00001234), '1.234e-5');
  assert.equal(formatRate(880.4), '880 tok/s');
  assert.equal(formatRate(12345), '12.3k tok/s');
  assert.equal(formatShortCount(124734720), '124.7M');
  assert.equal(formatShortCount(5000), '5k');
  assert.equal(formatShortCount(250), '250');
  assert.equal(formatConfigValue(['c_attn']), '["c_attn"]');
  assert.equal(formatConfigValue('<b>x</b>'), '<b>x</b>');
});
