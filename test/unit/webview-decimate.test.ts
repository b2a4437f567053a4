import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decimateAligned } from '../../webview/common/decimate';

test('small data passes through untouched', () => {
  const data = [new Float64Array([1, 2, 3]), new Float64Array([4, 5, 6])];
  assert.equal(decimateAligned(data, 10)[0], data[0]);
});

test('each bucket keeps its first and last x and each series min and max in order of occurrence', () => {
  const n = 1000;
  const x = Float64Array.from({ length: n }, (_, i) => i);
  const y = Float64Array.from({ length: n }, (_, i) => (i === 10 ? 100 : i === 20 ? -100 : 0));
  const sparse = Array.from({ length: n }, (_, i) => (i === 150 ? 7 : null));
  const [dx, dy, ds] = decimateAligned([x, y, sparse], 10);
  assert.equal(dx.length, 20);
  assert.deepEqual([dx[0], dx[1], dx[2]], [0, 99, 100]);
  assert.deepEqual([dy[0], dy[1]], [100, -100], 'max came first in the first bucket');
  assert.deepEqual([dy[2], dy[3]], [0, null], 'a flat bucket has one value');
  assert.deepEqual([ds[2], ds[3]], [7, null], 'a sparse point survives');
  assert.equal(ds[0], null);
  // The overall extremes survive, so the y scale is the same.
  assert.equal(Math.max(...(dy as number[]).filter((v) => v !== null)), 100);
  assert.equal(dx[dx.length - 1], n - 1);
});
