// Installing and starting code-server (a full VS Code in the browser) for the end-to-end tests and
// for `npm start`. code-server lives in test/e2e's own package so it never becomes a dependency of
// the extension. test/e2e/README.md explains why each flag and variable is here.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, copyFileSync, rmSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packagesFor } from '../../scripts/systemPackages.mjs';

export const E2E_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(E2E_DIR, '../..');
const CODE_SERVER_DIR = join(E2E_DIR, 'node_modules', 'code-server');
export const CODE_SERVER_ENTRY = join(CODE_SERVER_DIR, 'out', 'node', 'entry.js');
// code-server 4.100.x is the newest release whose native modules build and run on Node 20.
const REQUIRED_NODE_MAJOR = 20;
export const CODE_SERVER_VERSION = JSON.parse(readFileSync(join(E2E_DIR, 'package.json'), 'utf8')).dependencies['code-server'];
// The @vscode/ripgrep version code-server 4.100.3 pins; its postinstall looks for this cache first.
const RIPGREP_CACHE = 'vscode-ripgrep-cache-1.15.11';
const RIPGREP_TARBALL = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';

export class SetupError extends Error {}

/** The Debian packages of these groups (scripts/systemPackages.mjs owns the list), for messages. */
const aptNames = (groups) =>
  packagesFor(groups)
    .map((p) => p.name)
    .join(' ');

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function findChromium() {
  const fromEnv = process.env.FINETUNE_E2E_CHROMIUM;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new SetupError(`FINETUNE_E2E_CHROMIUM=${fromEnv} does not exist.`);
    return fromEnv;
  }
  for (const candidate of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (existsSync(candidate)) return candidate;
  }
  throw new SetupError(
    "Debian's chromium is not installed; the end-to-end tests drive code-server with it.\n" +
      `  Install it with:  apt-get update && apt-get install -y ${aptNames(['e2e'])}\n` +
      '  (`npm test` installs it, and every other system package the tests need, where it may: scripts/systemPackages.mjs).',
  );
}

export function checkNodeVersion() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== REQUIRED_NODE_MAJOR) {
    throw new SetupError(`code-server ${CODE_SERVER_VERSION} in test/e2e needs Node ${REQUIRED_NODE_MAJOR}, but this is Node ${process.versions.node}.`);
  }
}

/** True when code-server and the postinstall that builds VS Code's own dependencies both finished. */
export function codeServerInstalled() {
  const vscodeDir = join(CODE_SERVER_DIR, 'lib', 'vscode');
  if (!existsSync(CODE_SERVER_ENTRY)) return false;
  try {
    // The postinstall creates node_modules.asar last-but-one and installs the built-in
    // extensions' dependencies last; both must be there or VS Code starts half-broken.
    lstatSync(join(vscodeDir, 'node_modules.asar'));
  } catch {
    return false;
  }
  return existsSync(join(vscodeDir, 'extensions', 'node_modules')) && existsSync(join(vscodeDir, 'node_modules', 'node-pty', 'build', 'Release', 'pty.node'));
}

/**
 * Installs test/e2e's dependencies (code-server) with `npm ci`. @vscode/ripgrep's postinstall would
 * download `rg` from GitHub, which this network cannot reach, so it is fed Debian's `rg` through the
 * cache folder it checks first.
 */
export function installCodeServer({ log = console.log } = {}) {
  checkNodeVersion();
  const rg = which('rg');
  if (!rg) {
    throw new SetupError(
      "Installing code-server needs Debian's ripgrep (its own postinstall would download rg).\n" +
        `  Install it with:  apt-get update && apt-get install -y ${aptNames(['code-server'])}\n` +
        '  (`npm start` and `npm test` install these where they may: scripts/systemPackages.mjs).',
    );
  }
  const tmp = mkdtempSync(join(tmpdir(), 'finetune-rg-'));
  try {
    const cacheDir = join(tmp, RIPGREP_CACHE);
    mkdirSync(cacheDir, { recursive: true });
    copyFileSync(rg, join(tmp, 'rg'));
    const tar = spawnSync('tar', ['czf', join(cacheDir, RIPGREP_TARBALL), '-C', tmp, 'rg'], { stdio: 'inherit' });
    if (tar.status !== 0) throw new SetupError("Could not pack Debian's rg for the ripgrep cache.");
    const nodeDir = resolve(dirname(process.execPath), '..');
    const env = {
      ...process.env,
      TMPDIR: tmp,
      // code-server's postinstall refuses to run as root without it (npm 11 no longer knows the
      // option and warns "Unknown env config", but the script reads the variable itself).
      npm_config_unsafe_perm: 'true',
      // node-pty's postinstall runs npx; without this npx waits for a "y" on stdin.
      npm_config_yes: 'true',
      // Headers of the running Node, so node-gyp never tries to download them.
      ...(existsSync(join(nodeDir, 'include', 'node', 'node.h')) ? { npm_config_nodedir: nodeDir } : {}),
    };
    const args = existsSync(join(E2E_DIR, 'package-lock.json')) ? ['ci'] : ['install'];
    args.push('--no-audit', '--no-fund');
    log(`> (cd test/e2e && npm ${args.join(' ')})   # installs code-server, takes a minute or two`);
    const started = Date.now();
    const r = spawnSync('npm', args, { cwd: E2E_DIR, env, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0 || !codeServerInstalled()) {
      throw new SetupError(
        'Installing code-server into test/e2e failed (see the npm output above).\n' +
          `  It needs: apt-get install -y ${aptNames(['code-server'])}, and Node 20 with its headers.`,
      );
    }
    log(`code-server installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function ensureCodeServer(opts) {
  checkNodeVersion();
  if (!codeServerInstalled()) installCodeServer(opts);
}

/** Environment that keeps code-server's config and data inside `home` instead of the real home folder. */
export function codeServerEnv(home) {
  return {
    ...process.env,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CACHE_HOME: join(home, 'cache'),
  };
}

/** Settings for a quiet, predictable workbench: no welcome pages, tips or update checks. */
export const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'update.mode': 'none',
};

export function writeUserSettings(userDataDir, settings = QUIET_SETTINGS) {
  const dir = join(userDataDir, 'User');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
}

export function installExtension({ vsix, userDataDir, extensionsDir, home }) {
  const r = spawnSync(
    process.execPath,
    [CODE_SERVER_ENTRY, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--install-extension', vsix, '--force'],
    { env: codeServerEnv(home), encoding: 'utf8', timeout: 120_000 },
  );
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0 || !/successfully installed/i.test(out)) {
    throw new SetupError(`Installing ${vsix} into code-server failed (exit ${r.status}):\n${out}`);
  }
  return out.trim();
}

export function freePort(host = '127.0.0.1') {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts code-server in its own process group (so that stop() also ends the extension host and
 * everything it forked) and resolves once /healthz answers.
 */
export async function startCodeServer({ port, host = '127.0.0.1', userDataDir, extensionsDir, home, folder, stdio, timeoutMs = 60_000 }) {
  const args = [
    CODE_SERVER_ENTRY,
    '--bind-addr',
    `${host}:${port}`,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
    folder,
  ];
  const child = spawn(process.execPath, args, { env: codeServerEnv(home), detached: true, stdio: stdio ?? 'ignore' });
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const url = `http://${host}:${port}/`;
  const stop = () => stopProcessGroup(child);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new SetupError(`code-server exited before it was ready (code ${exited.code}, signal ${exited.signal}).`);
    try {
      const res = await fetch(`${url}healthz`);
      if (res.ok) return { child, url, stop };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new SetupError(`code-server did not answer ${url}healthz within ${timeoutMs / 1000} s.`);
}

/** SIGTERM the child's whole process group, then SIGKILL whatever is left after a grace period. */
export async function stopProcessGroup(child, graceMs = 3000) {
  if (!child.pid) return;
  const alive = () => {
    try {
      process.kill(-child.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
