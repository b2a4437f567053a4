// End-to-end tests in a real VS Code: code-server driven by Debian's chromium through playwright-core.
//
//   node test/e2e/run.mjs [name-filter...]     (npm run test:e2e)
//
// This process only sets up and cleans up: it installs code-server into test/e2e if it is missing,
// packs the extension, installs the .vsix into a fresh code-server profile, copies samples/ into a
// temporary workspace, starts code-server on a free 127.0.0.1 port, then runs test/e2e/suite.mjs
// (node's test runner, one browser for every spec). Whatever happens, code-server and chromium are
// stopped at the end. Missing prerequisites fail the run with a message; nothing is skipped.
//
// Environment: FINETUNE_E2E_VSIX (use this .vsix instead of packing one), FINETUNE_E2E_SAMPLES
// (workspace to copy instead of samples/), FINETUNE_E2E_TIMEOUT_S (whole suite, default 600),
// FINETUNE_E2E_KEEP=1 (keep the temporary folder), FINETUNE_E2E_CHROMIUM (browser binary),
// FINETUNE_E2E_RESULTS (screenshot folder, default test-results/e2e; it is emptied first),
// FINETUNE_E2E_HEADED=1 (a visible browser window instead of headless chromium; needs a display).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  E2E_DIR,
  ROOT,
  SetupError,
  ensureCodeServer,
  writeUserSettings,
  findChromium,
  freePort,
  installExtension,
  startCodeServer,
  stopProcessGroup,
} from './codeServer.mjs';
import { ensureBuilt, packageVsix } from './vsix.mjs';

const RESULTS_DIR = process.env.FINETUNE_E2E_RESULTS ?? join(ROOT, 'test-results', 'e2e');
const SUITE_TIMEOUT_MS = Number(process.env.FINETUNE_E2E_TIMEOUT_S ?? 600) * 1000;
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

let runDir = null;
let codeServer = null;
let suite = null;
let cleaning = null;

/** Ends every process still running with the temporary folder on its command line (chromium's profile, code-server's user-data-dir). */
function killLeftovers(dir) {
  if (!dir) return;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(dir)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* exited meanwhile, or not ours to read */
    }
  }
}

async function cleanup() {
  cleaning ??= (async () => {
    if (suite && suite.exitCode === null) {
      suite.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 2000));
      if (suite.exitCode === null) suite.kill('SIGKILL');
    }
    if (codeServer) await codeServer.stop();
    killLeftovers(runDir);
    if (runDir) {
      const log = join(runDir, 'code-server.log');
      if (existsSync(log)) {
        mkdirSync(RESULTS_DIR, { recursive: true });
        copyFileSync(log, join(RESULTS_DIR, 'code-server.log'));
      }
      if (process.env.FINETUNE_E2E_KEEP === '1') console.log(`kept ${runDir}`);
      else rmSync(runDir, { recursive: true, force: true });
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping code-server and chromium`);
    cleanup().finally(() => process.exit(130));
  });
}

async function main() {
  const chromium = findChromium();
  ensureCodeServer();

  rmSync(RESULTS_DIR, { recursive: true, force: true });
  mkdirSync(RESULTS_DIR, { recursive: true });
  runDir = mkdtempSync(join(tmpdir(), 'finetune-e2e-'));
  const home = join(runDir, 'home');
  const userDataDir = join(runDir, 'user-data');
  const extensionsDir = join(runDir, 'extensions');
  const workspace = join(runDir, 'workspace');

  let vsix = process.env.FINETUNE_E2E_VSIX;
  if (!vsix) {
    ensureBuilt();
    vsix = packageVsix(join(runDir, 'finetune-studio.vsix'));
    console.log(`packed ${vsix} after ${elapsed()}`);
  }
  const samples = process.env.FINETUNE_E2E_SAMPLES ?? join(ROOT, 'samples');
  if (!existsSync(samples)) throw new SetupError(`${samples} does not exist; the tests open its files.`);
  cpSync(samples, workspace, { recursive: true });

  writeUserSettings(userDataDir);
  console.log(installExtension({ vsix, userDataDir, extensionsDir, home }));
  console.log(`installed the extension into code-server after ${elapsed()}`);
  const port = await freePort();
  const logFd = openSync(join(runDir, 'code-server.log'), 'w');
  codeServer = await startCodeServer({ port, userDataDir, extensionsDir, home, folder: workspace, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  console.log(`code-server ready at ${codeServer.url} after ${elapsed()}`);

  suite = spawn(process.execPath, ['--test-reporter=spec', join(E2E_DIR, 'suite.mjs'), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: {
      ...process.env,
      FINETUNE_E2E_URL: codeServer.url,
      FINETUNE_E2E_RUN_DIR: runDir,
      FINETUNE_E2E_WORKSPACE: workspace,
      FINETUNE_E2E_RESULTS: RESULTS_DIR,
      FINETUNE_E2E_CHROMIUM: chromium,
    },
  });
  const timer = setTimeout(() => {
    console.error(`\nThe end-to-end suite ran past ${SUITE_TIMEOUT_MS / 1000} s; stopping it.`);
    suite.kill('SIGTERM');
    setTimeout(() => suite.exitCode === null && suite.kill('SIGKILL'), 5000).unref();
  }, SUITE_TIMEOUT_MS);
  const code = await new Promise((r) => suite.on('exit', (c, s) => r(c ?? (s ? 1 : 0))));
  clearTimeout(timer);
  console.log(`suite finished after ${elapsed()}`);
  return code;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  console.error(err instanceof SetupError ? `\nend-to-end tests cannot run: ${err.message}` : err);
  exitCode = 1;
} finally {
  await cleanup();
}
console.log(`end-to-end run took ${elapsed()}; screenshots and code-server.log in ${RESULTS_DIR}`);
process.exit(exitCode);
