// The questions the quick pick asks the trainer's code in a child process (dist/cli.js), since the
// extension host loads no TensorFlow.js: the survey of models (`finetune params --survey`: parameter
// counts, memory estimates and fits, trained tokens) and a throughput measurement (`finetune bench`).
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import type { SurveyRequest, SurveyResult } from '../../protocol/params';
import { parseBenchOutput } from './timeEstimate';

export interface TrainerQueries {
  survey(request: SurveyRequest): Promise<SurveyResult>;
  /** `finetune bench` with these arguments: its tokens per second. */
  bench(args: string[], signal?: AbortSignal): Promise<number>;
}

export interface CliProcessOptions {
  /** dist/cli.js (or any script answering like `finetune`). */
  cliPath: string;
  /** The Node that runs the extension host (Electron in desktop VS Code: hence ELECTRON_RUN_AS_NODE). */
  execPath?: string;
  /** A function is asked at each start, so a changed setting (the native backend's path) applies at once. */
  env?: NodeJS.ProcessEnv | (() => NodeJS.ProcessEnv);
  cwd?: string;
  timeoutMs?: number;
}

const MAX_OUTPUT_CHARS = 4_000_000;

/** Runs `finetune ARGS` in a child process: its stdout, or an error with the last lines of its stderr. */
export function runCli(opts: CliProcessOptions, args: string[], signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!fs.existsSync(opts.cliPath)) {
      reject(new Error(`${opts.cliPath} is missing (the extension is not built)`));
      return;
    }
    const child = fork(opts.cliPath, args, {
      execPath: opts.execPath ?? process.execPath,
      execArgv: [],
      env: { ...((typeof opts.env === 'function' ? opts.env() : opts.env) ?? process.env), ELECTRON_RUN_AS_NODE: '1' },
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => {
      if (stdout.length < MAX_OUTPUT_CHARS) stdout += c;
    });
    child.stderr!.on('data', (c: string) => {
      stderr = (stderr + c).slice(-8000);
    });
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort);
    const timer = opts.timeoutMs ? setTimeout(onAbort, opts.timeoutMs) : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) return reject(new Error('cancelled'));
      if (code === 0) return resolve(stdout);
      const why = stderr
        .trim()
        .split('\n')
        .filter((l) => l.trim())
        .slice(-3)
        .join('\n');
      reject(new Error(why || `finetune ${args[0]} exited with ${sig ?? `code ${code}`}`));
    });
  });
}

/** The queries answered by `finetune` in a child process. */
export function cliTrainerQueries(opts: CliProcessOptions): TrainerQueries {
  return {
    async survey(request) {
      const out = await runCli({ timeoutMs: 120_000, ...opts }, ['params', `--survey=${JSON.stringify(request)}`]);
      return JSON.parse(out.trim().split('\n').pop() ?? '') as SurveyResult;
    },
    async bench(args, signal) {
      return parseBenchOutput(await runCli(opts, args, signal));
    },
  };
}
