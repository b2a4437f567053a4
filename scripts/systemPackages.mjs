// The Debian packages the project needs, and why, in one place: `npm start` (scripts/start.mjs),
// `npm test` (scripts/setup.mjs) and CI (.ci/run, through npm test) all install from this list, so
// they cannot drift apart. Where a package is missing and this process may install it (root, or
// passwordless sudo), it runs apt-get (update once, then install) and says which packages and why;
// where it may not, it prints the one command to run and returns exit code 2. The system (dpkg,
// apt-get, sudo) is injected so that tests cover every path without touching the real machine.
import { spawnSync } from 'node:child_process';

/**
 * Every package, the groups that need it and why. Groups: `code-server` (installing code-server,
 * which npm start uses without desktop VS Code and the end-to-end tests always use), `e2e` (the
 * browser that drives it), `native` (the trainer's BLAS matMul addon), `webgpu` (a software GPU so
 * the webgpu backend's tests run anywhere).
 */
export const SYSTEM_PACKAGES = [
  { name: 'ripgrep', groups: ['code-server'], why: "code-server's search; its own postinstall would download rg" },
  { name: 'libkrb5-dev', groups: ['code-server'], why: "headers for code-server's kerberos native module" },
  { name: 'build-essential', groups: ['code-server', 'native'], why: "a C/C++ compiler for code-server's native modules and the BLAS addon" },
  { name: 'python3', groups: ['code-server'], why: 'node-gyp, which builds native modules' },
  { name: 'chromium', groups: ['e2e'], why: 'the browser the end-to-end tests drive code-server with' },
  { name: 'libopenblas-dev', groups: ['native'], why: "the BLAS the trainer's native matMul addon links (4-8x faster training on CPU)" },
  { name: 'libegl1', groups: ['webgpu'], why: 'Mesa llvmpipe (EGL), so the webgpu tests run without a GPU' },
  { name: 'libegl-mesa0', groups: ['webgpu'], why: 'Mesa llvmpipe (EGL), so the webgpu tests run without a GPU' },
  { name: 'libgles2', groups: ['webgpu'], why: 'Mesa llvmpipe (GLES), so the webgpu tests run without a GPU' },
  { name: 'libgl1-mesa-dri', groups: ['webgpu'], why: 'Mesa llvmpipe (the software driver itself)' },
];

/** What each entry point needs. `npm start` adds `code-server` only when it serves VS Code in the browser. */
export const PURPOSES = {
  test: ['code-server', 'e2e', 'native', 'webgpu'],
  start: ['native'],
  'start-browser': ['native', 'code-server'],
};

/** The packages of these groups, in list order, each once. */
export function packagesFor(groups) {
  return SYSTEM_PACKAGES.filter((p) => p.groups.some((g) => groups.includes(g)));
}

/** The real machine: dpkg for what is installed, apt-get (directly as root, else through sudo -n). */
export function debianSystem() {
  const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  let sudo;
  return {
    isDebian: () => run('sh', ['-c', 'command -v dpkg-query && command -v apt-get']).status === 0,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${Status} is dpkg-query's format syntax, not a template.
    isInstalled: (name) => /install ok installed/.test(run('dpkg-query', ['-W', '-f=${Status}', name]).stdout ?? ''),
    isRoot: () => process.getuid?.() === 0,
    // `sudo -n true` succeeds only where sudo needs no password: never prompt in the middle of npm test.
    hasPasswordlessSudo: () => (sudo ??= run('sh', ['-c', 'command -v sudo >/dev/null && sudo -n true'], { stdio: 'ignore' }).status === 0),
    aptGet: (args, { useSudo }) => {
      const [cmd, argv] = useSudo ? ['sudo', ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args]] : ['apt-get', args];
      return run(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status;
    },
  };
}

// apt-get update runs at most once per process, however many times packages are ensured.
let updated = false;

/**
 * Makes sure the packages of `groups` are installed. Returns 0 when they are (installing what was
 * missing where allowed), 2 when some are missing and this process may not install them (the
 * command to run has been printed), 1 when apt-get failed.
 */
export function ensureSystemPackages(groups, { system = debianSystem(), log = console.log, error = console.error } = {}) {
  const wanted = packagesFor(groups);
  if (!wanted.length) return 0;
  if (!system.isDebian()) {
    log(`Not a Debian system (no dpkg/apt-get): make sure these are installed: ${wanted.map((p) => p.name).join(' ')}.`);
    return 0;
  }
  const missing = wanted.filter((p) => !system.isInstalled(p.name));
  if (!missing.length) return 0;
  const names = missing.map((p) => p.name);
  const reasons = missing.map((p) => `  ${p.name}: ${p.why}`).join('\n');
  const root = system.isRoot();
  if (!root && !system.hasPasswordlessSudo()) {
    error(
      `Missing system packages:\n${reasons}\n` +
        'Install them (this needs root), then run the same npm command again:\n\n' +
        `    sudo apt-get update && sudo apt-get install -y ${names.join(' ')}\n`,
    );
    return 2;
  }
  log(`Installing system packages with apt-get${root ? '' : ' (through sudo)'}:\n${reasons}`);
  const useSudo = !root;
  if (!updated) {
    if (system.aptGet(['update', '-qq'], { useSudo }) !== 0) {
      error('`apt-get update` failed (see above).');
      return 1;
    }
    updated = true;
  }
  if (system.aptGet(['install', '-y', '-qq', ...names], { useSudo }) !== 0) {
    error(`\`apt-get install -y ${names.join(' ')}\` failed (see above).`);
    return 1;
  }
  return 0;
}

/** For tests: forget that apt-get update ran. */
export function resetAptUpdateForTests() {
  updated = false;
}
