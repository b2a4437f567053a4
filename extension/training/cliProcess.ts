// One `finetune` command in a child process (dist/cli.js under the extension host's Node), for every
// host feature that asks the trainer's code a question: the quick pick's survey and bench, Try It's
// generation, cluster export and import. Its stdout is collected (up to a bound), the last lines of its
// stderr make the error message, and it can be cancelled or timed out.
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

export interface CliProcessOptions {
  /** dist/cli.js (or any script answering like `finetune`). */
  cliPath: string;
  /** The Node that runs the extension host (Electron in desktop VS Code: hence ELECTRON_RUN_AS_NODE). */
  execPath?: string;
  execArgv?: string[];
  /** A function is asked at each start, so a changed setting (the native backend's path) applies at once. */
  env?: NodeJS.ProcessEnv | (() => NodeJS.ProcessEnv);
  cwd?: string;
  timeoutMs?: number;
}

/** How a caller words what went wrong; the defaults name the command. */
export interface CliMessages {
  /** The rejection when the time limit kills it; without one, the kill is reported like any other exit. */
  timeout?: string;
  cancelled?: string;
  /** Prefix of "… exited with code N" when the process fails without a word on stderr. */
  exited?: string;
}

/** Runs `finetune ARGS`; `result` is its stdout, `cancel()` kills it (the promise then rejects). */
export function startCli(
  opts: CliProcessOptions,
  args: string[],
  messages: CliMessages = {},
  maxOutputChars = 4_000_000,
): { result: Promise<string>; cancel(): void } {
  let child: ChildProcess | undefined;
  let cancelled = false;
  const result = new Promise<string>((resolve, reject) => {
    if (!fs.existsSync(opts.cliPath)) {
      reject(new Error(`${opts.cliPath} is missing (the extension is not built)`));
      return;
    }
    child = fork(opts.cliPath, args, {
      execPath: opts.execPath ?? process.execPath,
      execArgv: opts.execArgv ?? [],
      env: { ...((typeof opts.env === 'function' ? opts.env() : opts.env) ?? process.env), ELECTRON_RUN_AS_NODE: '1' },
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => {
      if (stdout.length < maxOutputChars) stdout += c;
    });
    child.stderr!.on('data', (c: string) => {
      stderr = (stderr + c).slice(-8000);
    });
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          child?.kill('SIGKILL');
          if (messages.timeout) reject(new Error(messages.timeout));
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (cancelled) return reject(new Error(messages.cancelled ?? 'cancelled'));
      if (code === 0) return resolve(stdout);
      const why = stderr
        .trim()
        .split('\n')
        .filter((l) => l.trim())
        .slice(-3)
        .join('\n');
      reject(new Error(why || `${messages.exited ?? `finetune ${args[0]}`} exited with ${signal ?? `code ${code}`}`));
    });
  });
  return {
    result,
    cancel() {
      cancelled = true;
      child?.kill('SIGKILL');
    },
  };
}
