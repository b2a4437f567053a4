// The bundles' entry points and the Node bundles' externals, in one place: scripts/build.mjs builds them
// and test/unit/import-cycles.test.ts checks the import graph of exactly these. Node entries are the three
// processes' mains and every `*.worker.ts` (a worker may sit in a feature folder, e.g.
// extension/dataset/statistics.worker.ts; its bundle is named by the file alone, dist/statistics.worker.js,
// next to the bundle that starts it). Webviews are webview/<name>/main.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What the Node bundles leave to run time: VS Code's API, and the native backends the trainer installs or finds. */
export const NODE_EXTERNALS = ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'webgpu'];

/** Bundle name -> entry file (relative to `root`, with `/`), for the Node bundles that exist. */
export function nodeEntryPoints(root) {
  const exists = (p) => fs.existsSync(path.join(root, p));
  const entries = {
    extension: 'extension/extension.ts',
    cli: 'cli/main.ts',
    trainer: 'trainer/child.ts',
  };
  for (const dir of ['language', 'trainer', 'extension']) {
    if (!exists(dir)) continue;
    for (const f of fs.readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })) {
      if (f.endsWith('.worker.ts')) entries[path.basename(f, '.ts')] = `${dir}/${f.split(path.sep).join('/')}`;
    }
  }
  return Object.fromEntries(Object.entries(entries).filter(([, p]) => exists(p)));
}

/** Webview name -> entry file, for each webview/<name>/main.ts. */
export function webviewEntryPoints(root) {
  const dir = path.join(root, 'webview');
  if (!fs.existsSync(dir)) return {};
  const names = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'main.ts')));
  return Object.fromEntries(names.map((d) => [d, `webview/${d}/main.ts`]));
}
