// The per-part TypeScript projects (language/tsconfig.json, trainer/tsconfig.json, …) are what keep
// each part to its own world: no `vscode` outside extension/, no DOM in the Node parts, no Node in the
// webviews. These tests compile a small file under a part's real compiler options, once with the
// forbidden thing (it must fail with the expected error) and once without (it must compile, so the
// test can tell a broken boundary from a broken set-up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const root = path.join(__dirname, '../..');
// Under node_modules so that module resolution finds the project's packages; removed after each test.
const scratchParent = path.join(root, 'node_modules', '.cache');

// Lib and @types files parsed once for every program: each part loads the same few large files.
const parsed = new Map<string, ts.SourceFile | undefined>();

function partOptions(part: string): ts.CompilerOptions {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(root, part, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    },
  );
  assert.ok(config, `${part}/tsconfig.json`);
  assert.deepEqual(
    config.errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    [],
  );
  // The part's own options, minus what only matters when building the part itself.
  return { ...config.options, composite: false, emitDeclarationOnly: false, declaration: false, incremental: false, noEmit: true };
}

/** Diagnostics of `source`, compiled as one file under `part`'s compiler options. */
function compileIn(part: string, source: string): string[] {
  fs.mkdirSync(scratchParent, { recursive: true });
  const dir = fs.mkdtempSync(path.join(scratchParent, 'typecheck-boundaries-'));
  try {
    const file = path.join(dir, 'probe.ts');
    fs.writeFileSync(file, source);
    const options = partOptions(part);
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, version, onError) => {
      if (name === file) return getSourceFile(name, version, onError);
      const key = `${name}\0${typeof version === 'object' ? version.languageVersion : version}`;
      if (!parsed.has(key)) parsed.set(key, getSourceFile(name, version, onError));
      return parsed.get(key);
    };
    const program = ts.createProgram({ rootNames: [file], options, host });
    return ts.getPreEmitDiagnostics(program).map((d) => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('language/ cannot import vscode: the import fails to compile, and the same file without it compiles', () => {
  const errors = compileIn('language', "import * as vscode from 'vscode';\nexport const title = vscode.window;\n");
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0], /^TS2306: File '.*vscode-is-only-for-extension\.d\.ts' is not a module\.$/);
  assert.deepEqual(compileIn('language', "import * as fs from 'node:fs';\nexport const exists = fs.existsSync('.');\n"), []);
});

for (const part of ['trainer', 'protocol', 'cli', 'webview']) {
  test(`${part}/ cannot import vscode either`, () => {
    const errors = compileIn(part, "import type * as vscode from 'vscode';\nexport type Window = typeof vscode.window;\n");
    assert.ok(
      errors.some((e) => e.startsWith('TS2306:') && e.includes('vscode-is-only-for-extension.d.ts')),
      errors.join('\n'),
    );
  });
}

test('extension/ is the part that may import vscode', () => {
  assert.deepEqual(compileIn('extension', "import * as vscode from 'vscode';\nexport const show = vscode.window.showInformationMessage;\n"), []);
});

test('trainer/ has no DOM: `document` fails to compile, while Node globals compile', () => {
  const errors = compileIn('trainer', 'export const title = document.title;\n');
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0], /^TS2584: Cannot find name 'document'\./);
  assert.deepEqual(compileIn('trainer', 'export const pid = process.pid;\n'), []);
});

test('protocol/ has no Node (the webviews load it): `node:fs` and `process` fail to compile, while language/ types compile', () => {
  const fsErrors = compileIn('protocol', "import * as fs from 'node:fs';\nexport const exists = fs.existsSync('.');\n");
  assert.equal(fsErrors.length, 1, fsErrors.join('\n'));
  assert.match(fsErrors[0], /^TS2307: Cannot find module 'node:fs'/);
  const processErrors = compileIn('protocol', 'export const pid = process.pid;\n');
  assert.equal(processErrors.length, 1, processErrors.join('\n'));
  assert.match(processErrors[0], /^TS2591: Cannot find name 'process'\./);
  assert.deepEqual(compileIn('protocol', "import type { DatasetFormat } from '../../../language/types';\nexport const format: DatasetFormat = 'text';\n"), []);
});

test('webview/ has the DOM and no Node: `process` fails to compile, while `document` compiles', () => {
  const errors = compileIn('webview', 'export const pid = process.pid;\n');
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0], /^TS2591: Cannot find name 'process'\./);
  assert.deepEqual(compileIn('webview', 'export const title = document.title;\n'), []);
});
