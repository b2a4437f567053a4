// The native TensorFlow backends (@tensorflow/tfjs-node, -gpu) cannot ship inside the bundle or the .vsix:
// their install script downloads libtensorflow. They are loaded at run time from wherever they are
// installed (an explicit path, the extension's global storage, or node's normal resolution) and installed
// on request into a folder the extension owns.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

export const TFJS_NODE_VERSION = '4.22.0';

export type NativeTfjsName = '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';

export interface NativeTfjs {
  /** The package's exports (it registers the `tensorflow` backend with tfjs-core's global engine). */
  module: unknown;
  name: NativeTfjsName;
  /** The package folder it was loaded from. */
  path: string;
}

export interface LoadNativeTfjsOptions {
  gpu: boolean;
  /** Folders to look in: a `node_modules` folder, an npm `--prefix` folder, or the package folder itself. */
  searchPaths?: string[];
  /** Default process.env; `FINETUNE_TFJS_NODE_PATH` names an existing installation (same forms as searchPaths). */
  env?: Record<string, string | undefined>;
}

export type NativeTfjsProbe = ({ ok: true } & NativeTfjs) | { ok: false; name: NativeTfjsName; installed: boolean; reason: string };

export function nativeTfjsPackageName(gpu: boolean): NativeTfjsName {
  return gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
}

let lastReason: string | undefined;

/** Why the last `loadNativeTfjs` call returned null (for the `start` event and the log). */
export function nativeTfjsUnavailableReason(): string | undefined {
  return lastReason;
}

/**
 * Loads tfjs-node (or -gpu) if it is installed anywhere we look. Returns null when it is not installed or
 * does not load; never throws. `nativeTfjsUnavailableReason()` then says which.
 */
export function loadNativeTfjs(opts: LoadNativeTfjsOptions): NativeTfjs | null {
  const probe = probeNativeTfjs(opts);
  if (probe.ok) {
    lastReason = undefined;
    return { module: probe.module, name: probe.name, path: probe.path };
  }
  lastReason = probe.reason;
  return null;
}

/** Like `loadNativeTfjs`, with the reason in the result. */
export function probeNativeTfjs(opts: LoadNativeTfjsOptions): NativeTfjsProbe {
  const name = nativeTfjsPackageName(opts.gpu);
  const env = opts.env ?? process.env;
  const failures: string[] = [];
  const looked: string[] = [];

  const explicit = env.FINETUNE_TFJS_NODE_PATH?.trim();
  const locations = [...(explicit ? [explicit] : []), ...(opts.searchPaths ?? [])];
  for (const location of locations) {
    looked.push(location);
    const dir = findPackageDir(name, path.resolve(location));
    if (!dir) continue;
    const loaded = tryRequire(name, dir);
    if (loaded.ok) return { ok: true, module: loaded.module, name, path: dir };
    failures.push(loaded.reason);
  }

  // Node's own resolution: optional dependencies of the CLI, or a global NODE_PATH.
  looked.push('node module resolution');
  const resolved = resolvePackageDir(name);
  if (resolved) {
    const loaded = tryRequire(name, resolved);
    if (loaded.ok) return { ok: true, module: loaded.module, name, path: resolved };
    failures.push(loaded.reason);
  }

  if (failures.length > 0) return { ok: false, name, installed: true, reason: failures.join(' ') };
  return {
    ok: false,
    name,
    installed: false,
    reason: `${name} is not installed (looked in: ${looked.join(', ')}).`,
  };
}

function findPackageDir(name: string, location: string): string | undefined {
  const candidates = [
    location, // the package folder itself
    path.join(location, ...name.split('/')), // a node_modules folder
    path.join(location, 'node_modules', ...name.split('/')), // an npm prefix
  ];
  for (const dir of candidates) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === name) return dir;
    } catch {
      // not this one
    }
  }
  return undefined;
}

function resolvePackageDir(name: string): string | undefined {
  try {
    // Resolved from this file (the bundle in dist/, or trainer/ under tsx), which also honours NODE_PATH;
    // a computed name keeps bundlers from trying to resolve the package at build time.
    const req = createRequire(__filename);
    try {
      return path.dirname(req.resolve(`${name}/package.json`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') return undefined;
      // An `exports` map may hide package.json: walk up from the entry point instead.
      for (let dir = path.dirname(req.resolve(name)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
        if (findPackageDir(name, dir) === dir) return dir;
      }
      return undefined;
    }
  } catch {
    return undefined;
  }
}

function tryRequire(name: NativeTfjsName, dir: string): { ok: true; module: unknown } | { ok: false; reason: string } {
  try {
    const req = createRequire(path.join(dir, 'package.json'));
    return { ok: true, module: req(dir) };
  } catch (err) {
    const message = (err instanceof Error ? err.message.split('\n')[0] : String(err)).replace(/[\s.]+$/, '');
    return { ok: false, reason: `${name} is installed at ${dir} but failed to load: ${message}. ${loadFailureHint(name, message)}` };
  }
}

function loadFailureHint(name: NativeTfjsName, message: string): string {
  if (/cuda|cudnn|cublas|cufft|curand|cusolver|cusparse|libcu/i.test(message)) {
    return `${name} needs the NVIDIA driver, CUDA 11.2 and cuDNN 8.1 libraries on the library path.`;
  }
  if (/tfjs_binding\.node|libtensorflow/i.test(message)) {
    return `Its native part (libtensorflow, downloaded while the package installs) is missing: reinstall ${name} with internet access (${platformNote(name)}).`;
  }
  if (/GLIBC|GLIBCXX|wrong ELF class|invalid ELF|not a valid Win32|NODE_MODULE_VERSION/i.test(message)) {
    return `The installed binary does not match this platform or Node version (${process.platform}-${process.arch}, Node ${process.versions.node}); reinstall ${name} here.`;
  }
  return `Reinstall ${name}, or remove it to use the wasm backend.`;
}

/** How to start npm: a program and its arguments, never through a shell that would re-parse them. */
export interface NpmInvocation {
  command: string;
  args: string[];
  /** Windows' cmd.exe route: the arguments are already quoted for cmd (Node must not quote them again). */
  windowsVerbatimArguments?: boolean;
}

/** cmd.exe's metacharacters (cross-spawn's set); each is escaped with ^. */
const CMD_META = /[()\][%!^"`<>&|;, *?]/g;

/**
 * One argument for `cmd.exe /d /s /c "…"` running a .cmd script: quoted the way the C runtime splits
 * arguments (backslashes before a quote doubled), then every cmd metacharacter escaped twice, once for
 * cmd's own parse and once for the script's `%*` (what cross-spawn does, for the same reason).
 */
export function quoteForCmdScript(arg: string): string {
  let quoted = arg.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\*)$/, '$1$1');
  quoted = `"${quoted}"`;
  return quoted.replace(CMD_META, '^$&').replace(CMD_META, '^$&');
}

/**
 * npm with these arguments on this platform, without a shell. Elsewhere npm is an executable on the PATH.
 * On Windows it is `npm.cmd`, which Node (since 20.12) refuses to spawn without a shell, so npm's own
 * entry point, `node_modules/npm/bin/npm-cli.js` beside a `node.exe` (the running one, else one on the
 * PATH), runs under that node; only when none is found does npm.cmd run through `cmd.exe /d /s /c`, with
 * every argument quoted for cmd so that a space or `&` in a path is a character, not syntax.
 */
export function npmInvocation(
  npmArgs: readonly string[],
  opts: {
    platform?: NodeJS.Platform;
    execPath?: string;
    env?: Record<string, string | undefined>;
    exists?: (file: string) => boolean;
    npmCommand?: string;
  } = {},
): NpmInvocation {
  const platform = opts.platform ?? process.platform;
  const env = opts.env ?? process.env;
  if (platform !== 'win32') return { command: opts.npmCommand ?? 'npm', args: [...npmArgs] };
  const win = path.win32;
  const exists = opts.exists ?? ((f: string) => fs.existsSync(f));
  const viaCmd = (script: string): NpmInvocation => ({
    command: env.ComSpec ?? env.COMSPEC ?? 'cmd.exe',
    args: ['/d', '/s', '/c', `"${[script.replace(CMD_META, '^$&'), ...npmArgs.map(quoteForCmdScript)].join(' ')}"`],
    windowsVerbatimArguments: true,
  });
  if (opts.npmCommand !== undefined) return /\.(cmd|bat)$/i.test(opts.npmCommand) ? viaCmd(opts.npmCommand) : { command: opts.npmCommand, args: [...npmArgs] };
  const execPath = opts.execPath ?? process.execPath;
  const dirs: string[] = [];
  if (win.basename(execPath).toLowerCase() === 'node.exe') dirs.push(win.dirname(execPath));
  const pathVar = env.Path ?? env.PATH ?? '';
  for (const d of pathVar.split(';')) if (d.trim()) dirs.push(d.trim().replace(/^"(.*)"$/, '$1'));
  for (const dir of dirs) {
    const node = win.join(dir, 'node.exe');
    const cli = win.join(dir, 'node_modules', 'npm', 'bin', 'npm-cli.js');
    if (exists(node) && exists(cli)) return { command: node, args: [cli, ...npmArgs] };
  }
  return viaCmd('npm.cmd');
}

export interface InstallNativeBackendOptions {
  gpu: boolean;
  /** npm `--prefix`: the package lands in `targetDir/node_modules`. */
  targetDir: string;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
  /** Default `npm` (`npm.cmd` on Windows). */
  npmCommand?: string;
  env?: Record<string, string | undefined>;
}

/**
 * `npm install --prefix targetDir --no-save @tensorflow/tfjs-node[-gpu]@4.22.0`, streaming npm's output
 * line by line, then checks that the package loads. Throws an Error that explains the usual causes.
 */
export async function installNativeBackend(opts: InstallNativeBackendOptions): Promise<void> {
  const name = nativeTfjsPackageName(opts.gpu);
  const spec = `${name}@${TFJS_NODE_VERSION}`;
  const targetDir = path.resolve(opts.targetDir);
  fs.mkdirSync(targetDir, { recursive: true });
  // --foreground-scripts shows the install script's download lines, which are the progress here.
  // `--prefix=DIR` in one argument: a storage path can never be read as another option.
  const args = ['install', `--prefix=${targetDir}`, '--no-save', '--no-audit', '--no-fund', '--foreground-scripts', spec];
  const invocation = npmInvocation(args, { env: opts.env, npmCommand: opts.npmCommand });
  const npm = opts.npmCommand ?? 'npm';
  const log = opts.onLog ?? (() => undefined);
  log(`$ ${npm} ${args.join(' ')}`);

  const seen = { tail: [] as string[], firstError: undefined as string | undefined, libtensorflow: false, registry: false };
  const onLine = (line: string) => {
    if (!line.trim()) return;
    log(line);
    if (/storage\.googleapis\.com|libtensorflow/i.test(line)) seen.libtensorflow = true;
    if (/registry\.npmjs|E404|ENOTFOUND registry|EAI_AGAIN registry|ETIMEDOUT/i.test(line)) seen.registry = true;
    // The script's own exception says most ("Error: getaddrinfo ENOTFOUND storage.googleapis.com").
    if (!seen.firstError && /^\w*Error: /.test(line.trim())) seen.firstError = line.trim();
    // Stack frames say nothing to a user.
    if (/^\s+at /.test(line)) return;
    seen.tail.push(line);
    if (seen.tail.length > 12) seen.tail.shift();
  };
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>((resolve) => {
    let child: ChildProcess;
    try {
      // No shell: the arguments reach npm as they are (see npmInvocation for Windows).
      child = spawn(invocation.command, invocation.args, {
        cwd: targetDir,
        env: { ...(opts.env ?? process.env), npm_config_update_notifier: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
        shell: false,
        windowsVerbatimArguments: invocation.windowsVerbatimArguments,
        signal: opts.signal,
      });
    } catch (err) {
      resolve({ code: null, signal: null, spawnError: err as Error });
      return;
    }
    splitLines(child.stdout, onLine);
    splitLines(child.stderr, onLine);
    child.on('error', (err) => resolve({ code: null, signal: null, spawnError: err }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });

  if (exit.spawnError) {
    if (opts.signal?.aborted) throw new Error(`Installing ${spec} was cancelled.`);
    throw new Error(
      `Could not run ${npm} to install ${spec}: ${exit.spawnError.message}. ` +
        'Install Node.js (with npm) and make sure npm is on the PATH, or install the package yourself and point ' +
        'Fine-Tune Studio at it (FINETUNE_TFJS_NODE_PATH / the tfjs-node path setting).',
    );
  }
  if (exit.code !== 0) {
    throw new Error(installFailureMessage(spec, name, targetDir, exit.code, exit.signal, seen));
  }

  const probe = probeNativeTfjs({ gpu: opts.gpu, searchPaths: [targetDir], env: {} });
  if (!probe.ok) throw new Error(`npm installed ${spec} into ${targetDir}, but it does not load: ${probe.reason}`);
  log(`${name} is installed at ${probe.path}.`);
}

function installFailureMessage(
  spec: string,
  name: NativeTfjsName,
  targetDir: string,
  code: number | null,
  signal: NodeJS.Signals | null,
  seen: { tail: string[]; firstError?: string; libtensorflow: boolean; registry: boolean },
): string {
  const how = code !== null ? `npm exited with code ${code}` : `npm was stopped by ${signal ?? 'a signal'}`;
  let cause = '';
  if (seen.libtensorflow) {
    cause =
      ' The step that failed is the download of libtensorflow (the TensorFlow C library), which the package fetches from storage.googleapis.com while it installs' +
      `${seen.firstError ? ` (${seen.firstError})` : ''}.`;
  } else if (seen.registry) {
    cause = ` npm could not fetch the package from its registry${seen.firstError ? ` (${seen.firstError})` : ''}.`;
  } else if (seen.firstError) {
    cause = ` ${seen.firstError}.`;
  }
  return (
    `Installing ${spec} into ${targetDir} failed: ${how}.${cause} ` +
    `${name} downloads libtensorflow at install time, so it needs internet access beyond the npm registry; ` +
    `${platformNote(name)}. Training still works without it on the wasm backend. Last npm output:\n${seen.tail.join('\n')}`
  );
}

function platformNote(name: NativeTfjsName): string {
  return name.endsWith('-gpu')
    ? 'the GPU package works only on Linux and Windows x64 with an NVIDIA GPU, CUDA 11.2 and cuDNN 8.1'
    : 'libtensorflow builds exist for Linux and Windows x64, macOS and Linux arm64';
}

function splitLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split(/\r?\n|\r/);
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => {
    if (pending) onLine(pending);
    pending = '';
  });
}
