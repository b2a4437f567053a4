import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedrawThrottle } from '../../webview/common/throttle';

test('many requests between frames draw once, and never twice within the interval', () => {
  let now = 0;
  const frames: ((t: number) => void)[] = [];
  let draws = 0;
  const throttle = new RedrawThrottle(
    () => draws++,
    100,
    (cb) => frames.push(cb),
    () => now,
  );
  const runFrame = () => frames.shift()?.(now);
  for (let i = 0; i < 1000; i++) throttle.request();
  assert.equal(frames.length, 1);
  runFrame();
  assert.equal(draws, 1);
  // 60 fps for one second with a request every frame: at most 10 draws.
  for (let f = 0; f < 60; f++) {
    now += 1000 / 60;
    throttle.request();
    runFrame();
  }
  assert.ok(draws <= 11 && draws >= 9, `${draws} draws`);
  // A request after a quiet period draws on the next frame.
  now += 500;
  throttle.request();
  runFrame();
  assert.equal(frames.length, 0);
});
