// TensorFlow.js runs only in the trainer's process: the extension host's bundle must not contain it,
// however the quick pick reaches into trainer/ (model listing, run folders). esbuild's metafile of the
// extension bundle, built as scripts/build.mjs builds it, lists every module it holds.
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as esbuild from 'esbuild';
import { NODE_EXTERNALS, nodeEntryPoints } from '../../scripts/entryPoints.mjs';

const root = path.join(__dirname, '../..');

test('the extension bundle holds no TensorFlow.js module, and the trainer bundle does', async () => {
  const entries = nodeEntryPoints(root);
  const inputs = async (entry: string) => {
    const result = await esbuild.build({
      entryPoints: [path.join(root, entry)],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: NODE_EXTERNALS,
      outdir: path.join(os.tmpdir(), 'ft-no-tfjs'),
      logLevel: 'silent',
    });
    return Object.keys(result.metafile.inputs);
  };
  const extension = await inputs(entries.extension);
  assert.ok(
    extension.some((i) => i.endsWith('trainer/models/architectures.ts')),
    'the quick pick reads architectures through trainer/',
  );
  assert.deepEqual(
    extension.filter((i) => i.includes('@tensorflow')),
    [],
  );
  assert.ok(
    (await inputs(entries.trainer)).some((i) => i.includes('@tensorflow/tfjs-core')),
    'the check can see tfjs where it is',
  );
});
