// `npm start`: run Fine-Tune Studio on the sample workspace (samples/).
//
// Installs what is missing first: the Debian packages of scripts/systemPackages.mjs (as root or with
// passwordless sudo; otherwise it prints the apt-get command and exits 2) and, on a fresh clone, the
// root dependencies. Then builds and packs the extension when the .vsix is missing or older than the
// sources. Where the desktop VS Code command `code` is on PATH,
// installs the .vsix there and opens samples/. Otherwise starts code-server (installed into
// test/e2e, the same one the end-to-end tests use) with the .vsix installed, on 127.0.0.1:$PORT
// (default 8080; $HOST changes the address), and prints the URL. Ctrl+C stops it.
// FINETUNE_START_BROWSER=1 picks code-server even where `code` exists.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT,
  SetupError,
  ensureCodeServer,
  installExtension,
  startCodeServer,
  stopProcessGroup,
  writeUserSettings,
  QUIET_SETTINGS,
} from '../test/e2e/codeServer.mjs';
import { buildIsStale, ensureBuilt, packageVsix } from '../test/e2e/vsix.mjs';
import { ensureSystemPackages, PURPOSES } from './systemPackages.mjs';

const SAMPLES = join(ROOT, 'samples');
const VSIX = join(ROOT, 'finetune-studio.vsix');

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** A fresh clone has no node_modules yet: install the root dependencies the build needs. */
function ensureRootDependencies() {
  if (existsSync(join(ROOT, 'node_modules', '.bin', 'vsce')) && existsSync(join(ROOT, 'node_modules', '.bin', 'esbuild'))) return;
  console.log('> npm ci');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new SetupError('`npm ci` failed (see above).');
}

function ensureVsix() {
  ensureRootDependencies();
  const stale = buildIsStale();
  ensureBuilt();
  if (stale || !existsSync(VSIX) || statSync(VSIX).mtimeMs < statSync(join(ROOT, 'dist', 'extension.js')).mtimeMs) {
    packageVsix(VSIX);
  }
  return VSIX;
}

function openInDesktopVsCode(code, vsix) {
  console.log(`> ${code} --install-extension ${vsix} --force`);
  let r = spawnSync(code, ['--install-extension', vsix, '--force'], { stdio: 'inherit' });
  if (r.status !== 0) throw new SetupError(`\`code --install-extension\` failed (exit ${r.status}).`);
  console.log(`> ${code} ${SAMPLES}`);
  r = spawnSync(code, [SAMPLES], { stdio: 'inherit' });
  if (r.status !== 0) throw new SetupError(`\`code ${SAMPLES}\` failed (exit ${r.status}).`);
}

async function serveInBrowser(vsix) {
  ensureCodeServer();
  // One profile per user, kept between starts so that settings and opened editors persist.
  const base = join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'finetune-studio', 'code-server');
  const dirs = { home: join(base, 'home'), userDataDir: join(base, 'user-data'), extensionsDir: join(base, 'extensions') };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dirs.userDataDir, 'User', 'settings.json'))) {
    writeUserSettings(dirs.userDataDir, { ...QUIET_SETTINGS, 'workbench.startupEditor': 'readme' });
  }
  console.log(installExtension({ vsix, ...dirs }));
  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 8080);
  const server = await startCodeServer({ ...dirs, host, port, folder: SAMPLES, stdio: ['ignore', 'inherit', 'inherit'] }).catch((err) => {
    throw new SetupError(`${err.message} Is port ${port} taken? Set PORT to use another one.`);
  });
  console.log(`\nFine-Tune Studio is running in code-server on the sample workspace:\n\n    ${server.url}\n\nOpen it in a browser; Ctrl+C stops it.`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping code-server');
    await stopProcessGroup(server.child);
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
  const code = await new Promise((r) => server.child.on('exit', (c) => r(c ?? 0)));
  if (!stopping) {
    console.error(`code-server exited (code ${code}).`);
    process.exit(code || 1);
  }
}

try {
  const code = process.env.FINETUNE_START_BROWSER === '1' ? null : which('code');
  const status = ensureSystemPackages(code ? PURPOSES.start : PURPOSES['start-browser']);
  if (status !== 0) process.exit(status);
  const vsix = ensureVsix();
  if (code) openInDesktopVsCode(code, vsix);
  else await serveInBrowser(vsix);
} catch (err) {
  console.error(err instanceof SetupError ? `npm start: ${err.message}` : err);
  process.exit(1);
}
