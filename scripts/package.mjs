// `npm run package`: builds the extension and writes one platform-specific finetune-studio.vsix at the
// repository root, for the platform it runs on (`vsce package --target`). A platform .vsix may carry a
// native binary, and this one carries the trainer's BLAS addon (dist/finetune_native.node) built here;
// VS Code installs the .vsix of the user's own platform, so the addon always matches the machine.
// On linux-x64, the platform releases are built for, the addon is required (the build runs --strict
// and dist/ is checked for it), so a release never silently lacks it; elsewhere a missing addon is
// reported and that platform's trainer falls back to tfjs's wasm kernels.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const VSIX_FILE = 'finetune-studio.vsix';
export const ADDON_FILE = 'finetune_native.node';
/** The target whose .vsix must carry the addon. */
export const ADDON_REQUIRED_TARGET = 'linux-x64';

// VS Code's platform targets (https://code.visualstudio.com/api/working-with-extensions/publishing-extension#platformspecific-extensions),
// by Node's process.platform and process.arch; musl Linux is `alpine`.
const TARGETS = {
  win32: { x64: 'win32-x64', arm64: 'win32-arm64' },
  linux: { x64: 'linux-x64', arm64: 'linux-arm64', arm: 'linux-armhf' },
  alpine: { x64: 'alpine-x64', arm64: 'alpine-arm64' },
  darwin: { x64: 'darwin-x64', arm64: 'darwin-arm64' },
};

/**
 * The `vsce package --target` for a platform and architecture, as Node names them.
 * @param {string} platform process.platform
 * @param {string} arch process.arch
 * @param {{ musl?: boolean }} [options] musl: a Linux whose C library is musl (Alpine)
 * @returns {string}
 */
export function vsceTarget(platform, arch, { musl = false } = {}) {
  const os = platform === 'linux' && musl ? 'alpine' : platform;
  const target = Object.hasOwn(TARGETS, os) ? TARGETS[os][arch] : undefined;
  if (!target) throw new Error(`VS Code has no extension target for ${os}-${arch}`);
  return target;
}

/** True on a musl Linux: Node's diagnostic report names the glibc it runs on, and there is none. */
function isMusl() {
  if (process.platform !== 'linux') return false;
  const report = /** @type {{ header?: { glibcVersionRuntime?: string } }} */ (process.report.getReport());
  return !report.header?.glibcVersionRuntime;
}

/** The target of the machine this runs on. */
export function hostTarget() {
  return vsceTarget(process.platform, process.arch, { musl: isMusl() });
}

function run(args, what) {
  console.log(`> ${args.join(' ')}`);
  const r = spawnSync(args[0], args.slice(1), { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`${what} failed (exit ${r.status ?? r.signal}).`);
    process.exit(1);
  }
}

function main() {
  const target = hostTarget();
  const addonRequired = target === ADDON_REQUIRED_TARGET;
  run([process.execPath, 'trainer/native/build.mjs', ...(addonRequired ? ['--strict'] : [])], 'Building the native addon');
  run([process.execPath, 'scripts/build.mjs'], 'Building the extension');
  const addon = path.join(root, 'dist', ADDON_FILE);
  if (!fs.existsSync(addon)) {
    if (addonRequired) {
      console.error(`dist/${ADDON_FILE} is missing after the build: the ${target} .vsix must carry the native addon.`);
      process.exit(1);
    }
    console.log(`note: the ${target} .vsix has no dist/${ADDON_FILE}; its trainer uses tfjs's wasm kernels.`);
  }
  // vsce's own bin script, run by this Node: node_modules/.bin/vsce is a .cmd shim on Windows.
  const vsce = path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
  run([process.execPath, vsce, 'package', '--target', target, '--no-dependencies', '--no-rewrite-relative-links', '--out', VSIX_FILE], 'vsce package');
  console.log(`packed ${VSIX_FILE} for ${target}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
