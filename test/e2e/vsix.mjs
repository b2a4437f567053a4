// Building the extension and packing it as a .vsix, the way a user installs it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, SetupError } from './codeServer.mjs';

const SOURCE_DIRS = ['extension', 'language', 'webview', 'protocol', 'trainer', 'cli', 'scripts'];
const SOURCE_FILES = ['package.json'];

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** True when dist/extension.js is missing or older than any source the build reads. */
export function buildIsStale() {
  const bundle = join(ROOT, 'dist', 'extension.js');
  if (!existsSync(bundle)) return true;
  const built = statSync(bundle).mtimeMs;
  return [...SOURCE_DIRS, ...SOURCE_FILES].some((p) => newestMtime(join(ROOT, p)) > built);
}

function run(cmd, args, what) {
  console.log(`> ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new SetupError(`${what} failed (exit ${r.status ?? r.signal}).`);
}

export function ensureBuilt({ force = false } = {}) {
  if (force || buildIsStale()) run(process.execPath, ['scripts/build.mjs'], 'Building the extension');
}

/** Packs dist/ and the manifest into `out` with @vscode/vsce (offline; dependencies are bundled). */
export function packageVsix(out) {
  const vsce = join(ROOT, 'node_modules', '.bin', 'vsce');
  if (!existsSync(vsce)) throw new SetupError('node_modules/.bin/vsce is missing: run `npm ci` at the repository root first.');
  run(vsce, ['package', '--no-dependencies', '--no-rewrite-relative-links', '--out', out], 'Packaging the .vsix');
  if (!existsSync(out)) throw new SetupError(`vsce did not write ${out}.`);
  return out;
}
