// The end-to-end suite, started by run.mjs (which owns code-server) under node's test runner.
// Spec files run in name order in this one process and share one browser page, so the numeric
// prefixes of test/e2e/specs/*.spec.mjs decide the order. Arguments filter spec files by name.
import { after } from 'node:test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { E2E_DIR } from './codeServer.mjs';
import { closeWorkbench } from './harness.mjs';

if (!process.env.FINETUNE_E2E_URL) {
  console.error('suite.mjs is started by test/e2e/run.mjs (npm run test:e2e), which starts code-server first.');
  process.exit(2);
}

const filters = process.argv.slice(2);
const specsDir = join(E2E_DIR, 'specs');
const specs = readdirSync(specsDir)
  .filter((f) => f.endsWith('.spec.mjs'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (specs.length === 0) {
  console.error(`No spec in ${specsDir} matches ${filters.join(' ')}`);
  process.exit(1);
}

after(closeWorkbench);
for (const spec of specs) await import(pathToFileURL(join(specsDir, spec)).href);
