// `npm test`'s first step (and .ci/run's): everything the tests need beyond `npm install`. The Debian
// packages of scripts/systemPackages.mjs (installed where this process may, else the command to run
// is printed and it exits 2), then code-server in test/e2e for the end-to-end tests. Each part is
// skipped when it is already there, so running it again costs a fraction of a second.
import { ensureSystemPackages, PURPOSES } from './systemPackages.mjs';
import { SetupError, codeServerInstalled, ensureCodeServer, CODE_SERVER_VERSION } from '../test/e2e/codeServer.mjs';

const code = ensureSystemPackages(PURPOSES.test);
if (code !== 0) process.exit(code);
try {
  if (codeServerInstalled()) console.log(`set-up: system packages present, code-server ${CODE_SERVER_VERSION} installed in test/e2e.`);
  else ensureCodeServer();
} catch (err) {
  console.error(err instanceof SetupError ? `set-up: ${err.message}` : err);
  process.exit(1);
}
