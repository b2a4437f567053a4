import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  installNativeBackend,
  loadNativeTfjs,
  nativeTfjsUnavailableReason,
  npmInvocation,
  probeNativeTfjs,
  quoteForCmdScript,
} from '../../trainer/nativeBackends';

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** A package folder laid out like an installed tfjs-node whose main file does `body`. */
function fakePackage(nodeModules: string, name: string, body: string): string {
  const dir = path.join(nodeModules, ...name.split('/'));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '4.22.0', main: 'index.js' }));
  fs.writeFileSync(path.join(dir, 'index.js'), body);
  return dir;
}

test('loadNativeTfjs returns null with a "not installed" reason naming where it looked', () => {
  const empty = tempDir('ft-native-empty-');
  for (const gpu of [false, true]) {
    const name = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    assert.equal(loadNativeTfjs({ gpu, searchPaths: [empty], env: {} }), null);
    const reason = nativeTfjsUnavailableReason();
    assert.ok(reason?.startsWith(`${name} is not installed (looked in: ${empty}, node module resolution)`), reason);
    const probe = probeNativeTfjs({ gpu, searchPaths: [empty], env: {} });
    assert.equal(probe.ok, false);
    assert.equal(!probe.ok && probe.installed, false);
  }
});

test('a package that exists but throws on require gives an "installed at ... but failed to load" reason with a hint', () => {
  const storage = tempDir('ft-native-broken-');
  const dir = fakePackage(
    path.join(storage, 'node_modules'),
    '@tensorflow/tfjs-node',
    "throw new Error('libtensorflow.so.2: cannot open shared object file: No such file or directory');",
  );
  assert.equal(loadNativeTfjs({ gpu: false, searchPaths: [storage], env: {} }), null);
  const reason = nativeTfjsUnavailableReason() ?? '';
  assert.ok(reason.startsWith(`@tensorflow/tfjs-node is installed at ${dir} but failed to load: libtensorflow.so.2: cannot open shared object file`), reason);
  assert.match(reason, /reinstall @tensorflow\/tfjs-node with internet access/);
  const probe = probeNativeTfjs({ gpu: false, searchPaths: [storage], env: {} });
  assert.ok(!probe.ok && probe.installed);

  // The message the real package throws when its install script could not download libtensorflow.
  fakePackage(
    path.join(storage, 'node_modules'),
    '@tensorflow/tfjs-node',
    "throw new Error('The Node.js native addon module (tfjs_binding.node) can not be found at path: ' + __dirname + '/lib/napi-v8/tfjs_binding.node. \\nPlease run command ...');",
  );
  assert.equal(loadNativeTfjs({ gpu: false, searchPaths: [storage], env: {} }), null);
  assert.equal(
    nativeTfjsUnavailableReason(),
    `@tensorflow/tfjs-node is installed at ${dir} but failed to load: The Node.js native addon module (tfjs_binding.node) can not be found at path: ${dir}/lib/napi-v8/tfjs_binding.node. ` +
      'Its native part (libtensorflow, downloaded while the package installs) is missing: reinstall @tensorflow/tfjs-node with internet access ' +
      '(libtensorflow builds exist for Linux and Windows x64, macOS and Linux arm64).',
  );

  const gpuDir = fakePackage(
    path.join(storage, 'node_modules'),
    '@tensorflow/tfjs-node-gpu',
    "throw new Error('libcudnn.so.8: cannot open shared object file');",
  );
  assert.equal(loadNativeTfjs({ gpu: true, searchPaths: [path.join(storage, 'node_modules')], env: {} }), null);
  const gpuReason = nativeTfjsUnavailableReason() ?? '';
  assert.ok(gpuReason.startsWith(`@tensorflow/tfjs-node-gpu is installed at ${gpuDir} but failed to load`), gpuReason);
  assert.match(gpuReason, /CUDA 11\.2 and cuDNN 8\.1/);
});

test('a package that loads is found through searchPaths or FINETUNE_TFJS_NODE_PATH and its module returned', () => {
  const prefix = tempDir('ft-native-ok-');
  const dir = fakePackage(path.join(prefix, 'node_modules'), '@tensorflow/tfjs-node', "module.exports = { fake: 'tfjs-node' };");
  for (const searchPath of [prefix, path.join(prefix, 'node_modules'), dir]) {
    const loaded = loadNativeTfjs({ gpu: false, searchPaths: [searchPath], env: {} });
    assert.deepEqual(loaded, { module: { fake: 'tfjs-node' }, name: '@tensorflow/tfjs-node', path: dir });
    assert.equal(nativeTfjsUnavailableReason(), undefined);
  }
  const viaEnv = loadNativeTfjs({ gpu: false, env: { FINETUNE_TFJS_NODE_PATH: prefix } });
  assert.equal(viaEnv?.path, dir);
  // The GPU package is a different package: the CPU one does not stand in for it.
  assert.equal(loadNativeTfjs({ gpu: true, searchPaths: [prefix], env: {} }), null);
});

test('installNativeBackend runs npm for real: without access to the libtensorflow download it fails with a clear explanation', {
  timeout: 120_000,
}, async () => {
  const target = tempDir('ft-native-install-');
  const lines: string[] = [];
  let error: unknown;
  try {
    await installNativeBackend({ gpu: false, targetDir: target, onLog: (l) => lines.push(l) });
  } catch (err) {
    error = err;
  }
  assert.equal(lines[0], `$ npm install --prefix=${target} --no-save --no-audit --no-fund --foreground-scripts @tensorflow/tfjs-node@4.22.0`);
  assert.ok(lines.length > 1, 'npm output is streamed line by line');
  if (error === undefined) {
    // A machine with internet access: the install worked, so the backend must now load from there.
    assert.equal(loadNativeTfjs({ gpu: false, searchPaths: [target], env: {} })?.path, path.join(target, 'node_modules', '@tensorflow', 'tfjs-node'));
    return;
  }
  assert.ok(error instanceof Error);
  const message = error.message;
  assert.ok(message.startsWith(`Installing @tensorflow/tfjs-node@4.22.0 into ${target} failed: npm exited with code`), message);
  if (lines.some((l) => l.includes('storage.googleapis.com'))) {
    // This build machine: npm reaches its registry, the install script cannot reach Google's storage.
    assert.match(
      message,
      /The step that failed is the download of libtensorflow .* from storage\.googleapis\.com while it installs \(Error: getaddrinfo \w+ storage\.googleapis\.com\)\./,
    );
  }
  assert.match(message, /downloads libtensorflow at install time, so it needs internet access beyond the npm registry/);
  assert.match(message, /Linux and Windows x64/);
  assert.match(message, /Last npm output:\n(?!\s+at )/);
  assert.ok(!/\n\s+at /.test(message), 'no stack frames in the message');
  // A failed install leaves nothing that would be mistaken for a working backend.
  assert.equal(loadNativeTfjs({ gpu: false, searchPaths: [target], env: {} }), null);
});

test('installNativeBackend explains a missing npm instead of failing obscurely', async () => {
  const target = tempDir('ft-native-nonpm-');
  await assert.rejects(
    installNativeBackend({ gpu: true, targetDir: target, npmCommand: path.join(target, 'no-such-npm') }),
    /Could not run .*no-such-npm to install @tensorflow\/tfjs-node-gpu@4\.22\.0: .*ENOENT.*make sure npm is on the PATH/,
  );
});

// A storage folder under a Windows user name with a space and an ampersand: through a shell, the space
// split the path and `&` started a second command.
const HOSTILE_STORAGE = 'C:\\Users\\Ann & Bob\\AppData\\Roaming\\Code\\User\\globalStorage\\ft';
const INSTALL_ARGS = ['install', `--prefix=${HOSTILE_STORAGE}`, '--no-save', '@tensorflow/tfjs-node@4.22.0'];

test('npm on Linux and macOS: the npm executable with the arguments as an array, no shell', () => {
  for (const platform of ['linux', 'darwin'] as const) {
    assert.deepEqual(npmInvocation(INSTALL_ARGS, { platform, env: {} }), { command: 'npm', args: INSTALL_ARGS });
  }
});

test('npm on Windows runs npm-cli.js under node.exe (the running one, else one on the PATH) with the arguments untouched', () => {
  const nodeDir = 'C:\\Program Files\\nodejs';
  const files = new Set([`${nodeDir}\\node.exe`, `${nodeDir}\\node_modules\\npm\\bin\\npm-cli.js`]);
  const exists = (f: string) => files.has(f);
  const expected = { command: `${nodeDir}\\node.exe`, args: [`${nodeDir}\\node_modules\\npm\\bin\\npm-cli.js`, ...INSTALL_ARGS] };
  // The CLI: process.execPath is that node.exe.
  assert.deepEqual(npmInvocation(INSTALL_ARGS, { platform: 'win32', execPath: `${nodeDir}\\node.exe`, env: {}, exists }), expected);
  // The extension host: process.execPath is Code.exe, node is found on the PATH (quoted entries too).
  const env = { Path: `C:\\Windows\\system32;"${nodeDir}";C:\\tools` };
  assert.deepEqual(npmInvocation(INSTALL_ARGS, { platform: 'win32', execPath: 'C:\\VS Code\\Code.exe', env, exists }), expected);
});

test('npm on Windows without npm-cli.js: npm.cmd through cmd.exe /d /s /c with every argument quoted and escaped for cmd', () => {
  const inv = npmInvocation(INSTALL_ARGS, {
    platform: 'win32',
    execPath: 'C:\\VS Code\\Code.exe',
    env: { ComSpec: 'C:\\Windows\\system32\\cmd.exe', Path: 'C:\\nowhere' },
    exists: () => false,
  });
  assert.equal(inv.command, 'C:\\Windows\\system32\\cmd.exe');
  assert.equal(inv.windowsVerbatimArguments, true);
  assert.deepEqual(inv.args.slice(0, 3), ['/d', '/s', '/c']);
  assert.equal(inv.args.length, 4, 'the command line is one argument that cmd /s unwraps');
  const line = inv.args[3];
  assert.ok(line.startsWith('"npm.cmd ') && line.endsWith('"'), line);
  // What npm's node finally receives: cmd /s drops the outer quotes, cmd's parse and the script's %* line
  // each remove one level of carets (no quote is left unescaped, so cmd never enters a quoted state),
  // then the C runtime splits the line.
  const uncaret = (t: string) => t.replace(/\^(.)/g, '$1');
  assert.deepEqual(crtSplit(uncaret(uncaret(line.slice(1, -1)))), ['npm.cmd', ...INSTALL_ARGS]);
  const tricky = ['a"b', 'c\\', 'd\\"e', '%PATH%', '!x!', 'f g', '(h)|i<j>'];
  const line2 = npmInvocation(tricky, { platform: 'win32', execPath: 'x', env: {}, exists: () => false }).args[3];
  assert.deepEqual(crtSplit(uncaret(uncaret(line2.slice(1, -1)))), ['npm.cmd', ...tricky]);
  assert.doesNotMatch(uncaret(line2.slice(1, -1)).replace(/\^./g, ''), /%PATH%|!x!/, 'cmd expands no variable');
});

/** CommandLineToArgvW's rules: how a Windows program splits its command line. */
function crtSplit(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') {
      let n = 0;
      while (line[i] === '\\') {
        n++;
        i++;
      }
      if (line[i] === '"') {
        cur += '\\'.repeat(n >> 1);
        if (n % 2) cur += '"';
        else quoted = !quoted;
      } else {
        cur += '\\'.repeat(n);
        i--;
      }
      has = true;
    } else if (c === '"') {
      quoted = !quoted;
      has = true;
    } else if (c === ' ' && !quoted) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}
