// Installs code-server into test/e2e (its own package) unless it is already there: `node test/e2e/install.mjs`.
import { SetupError, codeServerInstalled, ensureCodeServer, CODE_SERVER_VERSION } from './codeServer.mjs';

try {
  if (codeServerInstalled()) console.log(`code-server ${CODE_SERVER_VERSION} is already installed in test/e2e.`);
  else ensureCodeServer();
} catch (err) {
  console.error(err instanceof SetupError ? err.message : err);
  process.exit(1);
}
