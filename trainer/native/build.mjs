// `npm run build:native`: compiles the optional native addon (matmul.c: BLAS products; kernels.c: the
// native backend's OpenMP loops) with node-gyp against the system's BLAS (Linux: libopenblas-dev and
// gcc's libgomp; macOS: Accelerate, without OpenMP). Never fails the caller: where it cannot be built,
// the trainer keeps tfjs's own wasm/cpu kernels (trainer/native/blas.ts), so this script reports why and
// exits 0. `--strict` exits 1 instead, for CI and releases that expect the addon.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const strict = process.argv.includes('--strict');

function nodeGypScript() {
  // npm ships node-gyp; look there first (npm_execpath points into npm when run by npm), then a local install.
  const candidates = [];
  if (process.env.npm_execpath) candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  return candidates.find((f) => fs.existsSync(f));
}

function giveUp(why) {
  console.log(`native addon not built: ${why}\nTraining still works on tfjs's own wasm/cpu kernels (slower).`);
  process.exit(strict ? 1 : 0);
}

if (process.platform === 'win32') giveUp('Windows has no system BLAS to link against');
const gyp = nodeGypScript();
if (!gyp) giveUp('node-gyp was not found (it comes with npm)');
const args = [gyp, 'rebuild'];
// Distribution Node packages install their headers under /usr/include/node; node-gyp would otherwise
// download them, which fails offline.
const nodeDir = path.join(path.dirname(process.execPath), '..');
if (fs.existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodeDir}`);
const r = spawnSync(process.execPath, args, { cwd: here, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-6).join('\n');
  giveUp(`node-gyp failed (is a C compiler and libopenblas-dev installed?)\n${tail}`);
}
const built = path.join(here, 'build', 'Release', 'finetune_native.node');
console.log(`built ${path.relative(process.cwd(), built)}`);
