// scripts/systemPackages.mjs, the one list of Debian packages that npm start, npm test and CI install:
// as root it installs what is missing (apt-get update once, then install, saying why), without root
// it prints the one command to run and exits 2, and with nothing missing it does nothing. The system
// (dpkg, apt-get, sudo) is a fake here, so nothing on the real machine is touched.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { ensureSystemPackages, packagesFor, PURPOSES, resetAptUpdateForTests, SYSTEM_PACKAGES } from '../../scripts/systemPackages.mjs';

interface FakeOptions {
  installed?: string[];
  root?: boolean;
  sudo?: boolean;
  debian?: boolean;
  failing?: string;
}

function fakeSystem({ installed = [], root = true, sudo = false, debian = true, failing }: FakeOptions = {}) {
  const have = new Set(installed);
  const aptCalls: { args: string[]; useSudo: boolean }[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const system = {
    isDebian: () => debian,
    isInstalled: (name: string) => have.has(name),
    isRoot: () => root,
    hasPasswordlessSudo: () => sudo,
    aptGet: (args: string[], { useSudo }: { useSudo: boolean }) => {
      aptCalls.push({ args, useSudo });
      if (failing && args[0] === failing) return 100;
      if (args[0] === 'install') for (const name of args.slice(1)) if (!name.startsWith('-')) have.add(name);
      return 0;
    },
  };
  return { system, aptCalls, out, err, deps: { system, log: (m: string) => out.push(m), error: (m: string) => err.push(m) } };
}

const allNames = SYSTEM_PACKAGES.map((p: { name: string }) => p.name);

beforeEach(() => resetAptUpdateForTests());

test('npm test needs every package of the list, npm start only the native addon’s (and code-server’s without desktop VS Code)', () => {
  assert.deepEqual(
    packagesFor(PURPOSES.test).map((p: { name: string }) => p.name),
    allNames,
  );
  assert.deepEqual(
    packagesFor(PURPOSES.start).map((p: { name: string }) => p.name),
    ['build-essential', 'libopenblas-dev'],
  );
  assert.deepEqual(
    packagesFor(PURPOSES['start-browser']).map((p: { name: string }) => p.name),
    ['ripgrep', 'libkrb5-dev', 'build-essential', 'python3', 'libopenblas-dev'],
  );
  for (const p of SYSTEM_PACKAGES) assert.ok(p.why.length > 10, `${p.name} says why it is needed`);
});

test('as root, the missing packages are installed with apt-get: update once, then install only those, saying why', () => {
  const fake = fakeSystem({ installed: allNames.filter((n: string) => n !== 'chromium' && n !== 'ripgrep') });
  assert.equal(ensureSystemPackages(PURPOSES.test, fake.deps), 0);
  assert.deepEqual(fake.aptCalls, [
    { args: ['update', '-qq'], useSudo: false },
    { args: ['install', '-y', '-qq', 'ripgrep', 'chromium'], useSudo: false },
  ]);
  assert.match(fake.out.join('\n'), /ripgrep: .*rg/);
  assert.match(fake.out.join('\n'), /chromium: .*end-to-end/);
  assert.deepEqual(fake.err, []);
  // A second call in the same process finds them installed and runs nothing.
  assert.equal(ensureSystemPackages(PURPOSES.test, fake.deps), 0);
  assert.equal(fake.aptCalls.length, 2);
});

test('apt-get update runs once per process even when a later call installs more', () => {
  const fake = fakeSystem({ installed: [] });
  assert.equal(ensureSystemPackages(['native'], fake.deps), 0);
  assert.equal(ensureSystemPackages(['webgpu'], fake.deps), 0);
  assert.deepEqual(
    fake.aptCalls.map((c) => c.args[0]),
    ['update', 'install', 'install'],
  );
});

test('without root but with passwordless sudo, apt-get runs through sudo', () => {
  const fake = fakeSystem({ installed: [], root: false, sudo: true });
  assert.equal(ensureSystemPackages(['native'], fake.deps), 0);
  assert.deepEqual(fake.aptCalls, [
    { args: ['update', '-qq'], useSudo: true },
    { args: ['install', '-y', '-qq', 'build-essential', 'libopenblas-dev'], useSudo: true },
  ]);
});

test('without root or passwordless sudo, nothing runs: it prints the one command to run, says why, and exits 2', () => {
  const fake = fakeSystem({ installed: ['build-essential'], root: false, sudo: false });
  assert.equal(ensureSystemPackages(['native', 'e2e'], fake.deps), 2);
  assert.deepEqual(fake.aptCalls, []);
  const message = fake.err.join('\n');
  assert.match(message, /^ {4}sudo apt-get update && sudo apt-get install -y chromium libopenblas-dev$/m);
  assert.match(message, /libopenblas-dev: .*BLAS/);
  assert.doesNotMatch(message, /build-essential/, 'only the missing packages are named');
});

test('with everything installed it does nothing and says nothing', () => {
  const fake = fakeSystem({ installed: allNames, root: false });
  assert.equal(ensureSystemPackages(PURPOSES.test, fake.deps), 0);
  assert.deepEqual([fake.aptCalls, fake.out, fake.err], [[], [], []]);
});

test('a failing apt-get is exit 1 with the command that failed, not a silent success', () => {
  const fake = fakeSystem({ installed: [], failing: 'install' });
  assert.equal(ensureSystemPackages(['e2e'], fake.deps), 1);
  assert.match(fake.err.join('\n'), /apt-get install -y chromium` failed/);
});

test('off Debian (no dpkg/apt-get) it names the packages and carries on', () => {
  const fake = fakeSystem({ debian: false });
  assert.equal(ensureSystemPackages(['e2e'], fake.deps), 0);
  assert.deepEqual(fake.aptCalls, []);
  assert.match(fake.out.join('\n'), /Not a Debian system.*chromium/);
});
