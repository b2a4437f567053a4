// `npm run package` (scripts/package.mjs): one platform .vsix for the machine it runs on, named for VS
// Code's target, that carries the trainer's native addon (required on linux-x64, the release platform).
// The last two tests really run it (native addon, bundles, vsce: about 4 s on the 2-core build VM) in a
// copy of the repository, so the working tree's dist/, trainer/native/build/ and .vsix, which other tests and
// benchmarks read meanwhile, are left alone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { ADDON_FILE, ADDON_REQUIRED_TARGET, hostTarget, VSIX_FILE, vsceTarget } from '../../scripts/package.mjs';

const root = path.join(__dirname, '../..');

test('every platform Node runs the extension on maps to its VS Code target; musl Linux is alpine', () => {
  const cases: [string, string, boolean, string][] = [
    ['linux', 'x64', false, 'linux-x64'],
    ['linux', 'arm64', false, 'linux-arm64'],
    ['linux', 'arm', false, 'linux-armhf'],
    ['linux', 'x64', true, 'alpine-x64'],
    ['linux', 'arm64', true, 'alpine-arm64'],
    ['darwin', 'x64', false, 'darwin-x64'],
    ['darwin', 'arm64', false, 'darwin-arm64'],
    ['win32', 'x64', false, 'win32-x64'],
    ['win32', 'arm64', false, 'win32-arm64'],
  ];
  for (const [platform, arch, musl, target] of cases) assert.equal(vsceTarget(platform, arch, { musl }), target, `${platform} ${arch} musl=${musl}`);
  // musl is a Linux property: elsewhere it changes nothing.
  assert.equal(vsceTarget('darwin', 'arm64', { musl: true }), 'darwin-arm64');
});

test('a platform VS Code publishes no extensions for is refused by name, not packaged as another', () => {
  assert.throws(() => vsceTarget('linux', 'ia32'), /no extension target for linux-ia32/);
  assert.throws(() => vsceTarget('linux', 'arm', { musl: true }), /alpine-arm/);
  assert.throws(() => vsceTarget('freebsd', 'x64'), /freebsd-x64/);
  assert.throws(() => vsceTarget('toString', 'x64'), /toString-x64/);
});

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeader: number;
}

/** The entries of a zip's central directory (a .vsix is a zip; no zip64 needed at this size). */
function zipEntries(zip: Buffer): ZipEntry[] {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  assert.ok(eocd >= 0, 'no end-of-central-directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50, 'central directory header');
    const nameLength = zip.readUInt16LE(at + 28);
    entries.push({
      method: zip.readUInt16LE(at + 10),
      compressedSize: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
      localHeader: zip.readUInt32LE(at + 42),
      name: zip.toString('utf8', at + 46, at + 46 + nameLength),
    });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

function zipRead(zip: Buffer, entry: ZipEntry): Buffer {
  const start = entry.localHeader + 30 + zip.readUInt16LE(entry.localHeader + 26) + zip.readUInt16LE(entry.localHeader + 28);
  const data = zip.subarray(start, start + entry.compressedSize);
  return entry.method === 8 ? zlib.inflateRawSync(data) : data;
}

/** The repository without what `npm run package` writes or never reads; node_modules is linked, not copied. */
function copyOfRepository(): string {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'finetune-package-'));
  const skip = new Set(['.git', 'node_modules', 'dist', 'test', '.scratch', '.finetune', 'bench-results', path.join('trainer', 'native', 'build')]);
  fs.cpSync(root, copy, {
    recursive: true,
    filter: (src) => {
      const rel = path.relative(root, src);
      return !skip.has(rel) && !rel.endsWith('.vsix');
    },
  });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'), 'junction');
  return copy;
}

const copies: string[] = [];
after(() => {
  for (const dir of copies) fs.rmSync(dir, { recursive: true, force: true });
});

test('SLOW (really packages, ~4 s): npm run package writes one .vsix for this platform that carries the native addon', { timeout: 600_000 }, () => {
  const copy = copyOfRepository();
  copies.push(copy);
  const target = hostTarget();

  const r = spawnSync('npm', ['run', 'package'], { cwd: copy, encoding: 'utf8', shell: process.platform === 'win32' });
  assert.equal(r.status, 0, `npm run package failed:\n${r.stdout}\n${r.stderr}`);

  assert.deepEqual(
    fs.readdirSync(copy).filter((f) => f.endsWith('.vsix')),
    [VSIX_FILE],
  );
  const zip = fs.readFileSync(path.join(copy, VSIX_FILE));
  const entries = zipEntries(zip);
  const names = entries.map((e) => e.name);

  const manifest = entries.find((e) => e.name === 'extension.vsixmanifest');
  assert.ok(manifest, 'extension.vsixmanifest');
  assert.match(zipRead(zip, manifest).toString('utf8'), new RegExp(`<Identity [^>]*TargetPlatform="${target}"`));

  const addon = entries.find((e) => e.name === `extension/dist/${ADDON_FILE}`);
  if (target === ADDON_REQUIRED_TARGET) assert.ok(addon, `the ${target} .vsix carries extension/dist/${ADDON_FILE}`);
  if (addon) {
    // Byte for byte the addon built at package time.
    const built = fs.readFileSync(path.join(copy, 'trainer', 'native', 'build', 'Release', ADDON_FILE));
    assert.ok(zipRead(zip, addon).equals(built), 'the packed addon is the one just built');
  }
  // node-gyp's build folder and the addon's old name stay out.
  assert.deepEqual(
    names.filter((n) => n.includes('native/build/') || n.includes('finetune_matmul')),
    [],
  );
  assert.ok(names.includes('extension/dist/extension.js') && names.includes('extension/dist/trainer.js'));
});

test('SLOW (really packages): on linux-x64 a package whose native addon cannot be built fails instead of shipping without it', {
  skip: hostTarget() !== ADDON_REQUIRED_TARGET && `the addon is optional on ${hostTarget()}`,
  timeout: 600_000,
}, () => {
  const copy = copyOfRepository();
  copies.push(copy);
  // Without its sources node-gyp fails, as it does on a machine without a compiler or OpenBLAS.
  fs.rmSync(path.join(copy, 'trainer', 'native', 'binding.gyp'));

  const r = spawnSync('npm', ['run', 'package'], { cwd: copy, encoding: 'utf8', shell: process.platform === 'win32' });
  assert.notEqual(r.status, 0, 'npm run package succeeded without the addon');
  assert.match(r.stdout + r.stderr, /Building the native addon failed/);
  assert.deepEqual(
    fs.readdirSync(copy).filter((f) => f.endsWith('.vsix')),
    [],
  );
});
