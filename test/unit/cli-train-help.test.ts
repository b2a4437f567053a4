// `finetune train --help` is the reference for train's options (the README points to it), so it must
// name every setting the parser accepts: a new option without help fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRAIN_SETTING_NAMES } from '../../protocol/options';
import { TRAIN_HELP } from '../../cli/train';

test('train --help names every option that train and run.json accept', () => {
  const flags = new Set(TRAIN_HELP.match(/--[a-z][a-z-]*/g));
  const missing = TRAIN_SETTING_NAMES.map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).filter((f) => !flags.has(f));
  assert.deepEqual(missing, []);
  assert.ok(flags.has('--config'));
});
