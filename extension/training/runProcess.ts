// One trainer child process (dist/trainer.js) and its lifecycle; no vscode here, so the tests drive it
// with real processes. The trainer writes events.jsonl itself; this side only reads its stdout, keeps its
// stderr in trainer.log, and records in events.jsonl what the trainer could not: that it died without
// `done` (typed events, appended through the run folder's event writer like the trainer's own).
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { ControlMessage, DoneEvent, ErrorEvent, TrainerEvent, TrainerEventInit } from '../../protocol/trainer';
import { parseTrainerEvent } from '../../protocol/trainer';
import { appendRunEvents, readRunEvents, runPaths } from '../../trainer/runFolder';

export interface RunProcessOptions {
  /** dist/trainer.js (or any script speaking the same protocol). */
  trainerPath: string;
  args: string[];
  runDir: string;
  env?: NodeJS.ProcessEnv;
  /** The Node that runs the extension host (Electron in desktop VS Code: hence ELECTRON_RUN_AS_NODE). */
  execPath?: string;
  /** Node flags for the child (tests run the TypeScript entry with `--import tsx`). */
  execArgv?: string[];
  /** After `stop`: how long the trainer may take to finish its step and save before SIGTERM. */
  stopGraceMs?: number;
  /** After SIGTERM: how long before SIGKILL. */
  termGraceMs?: number;
  onEvent?(event: TrainerEvent): void;
  /** stderr and stdout lines that are not events, as they arrive. */
  onLog?(text: string): void;
}

export interface RunExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The trainer's `done` event, when it sent one. */
  done?: DoneEvent;
  /** Why the run failed (the trainer's last error, or how the process ended), when it did. */
  failure?: string;
  /** A stop was requested (by `stop()`) before the process ended. */
  stopRequested: boolean;
}

export const DEFAULT_STOP_GRACE_MS = 10_000;
export const DEFAULT_TERM_GRACE_MS = 5_000;

const isPosix = process.platform !== 'win32';

export class RunProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<RunExit>;
  private lastError: ErrorEvent | undefined;
  private done: DoneEvent | undefined;
  private lastStep = 0;
  private started = Date.now();
  private stopRequested = false;
  private timers: NodeJS.Timeout[] = [];
  private isExited = false;
  private readonly log: fs.WriteStream;

  constructor(private readonly opts: RunProcessOptions) {
    fs.mkdirSync(opts.runDir, { recursive: true });
    this.log = fs.createWriteStream(runPaths(opts.runDir).trainerLog, { flags: 'a' });
    this.child = fork(opts.trainerPath, opts.args, {
      execPath: opts.execPath ?? process.execPath,
      execArgv: opts.execArgv ?? [],
      env: { ...(opts.env ?? process.env), ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      cwd: opts.runDir,
      // Its own process group, so that stopping it reaches whatever it starts as well.
      detached: isPosix,
    });
    let carry = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const text = carry + chunk;
      const lines = text.split('\n');
      carry = lines.pop() ?? '';
      for (const line of lines) this.onStdoutLine(line);
    });
    this.child.stdout!.on('end', () => {
      if (carry) this.onStdoutLine(carry);
      carry = '';
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      this.log.write(chunk);
      opts.onLog?.(chunk);
    });
    this.exited = new Promise<RunExit>((resolve) => {
      let spawnError: Error | undefined;
      this.child.on('error', (err) => {
        spawnError = err;
        // 'close' may never come when the process could not start.
        if (this.child.pid === undefined) this.finish(null, null, spawnError).then(resolve, () => resolve(this.exitOf(null, null, spawnError)));
      });
      this.child.on('close', (code, signal) => {
        this.finish(code, signal, spawnError).then(resolve, () => resolve(this.exitOf(code, signal, spawnError)));
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.isExited;
  }

  /**
   * The trainer finishes its step, saves and exits; SIGTERM (which it treats as the same request) after
   * `stopGraceMs`, SIGKILL after `termGraceMs` more, to its whole process group.
   */
  stop(stopGraceMs = this.opts.stopGraceMs ?? DEFAULT_STOP_GRACE_MS, termGraceMs = this.opts.termGraceMs ?? DEFAULT_TERM_GRACE_MS): void {
    if (this.isExited) return;
    const first = !this.stopRequested;
    this.stopRequested = true;
    if (first && this.child.connected) {
      const message: ControlMessage = { type: 'stop' };
      try {
        this.child.send(message);
      } catch {
        // The channel closed in between: the signals below still reach it.
      }
    }
    this.clearTimers();
    this.timers.push(
      setTimeout(() => {
        this.signal('SIGTERM');
        this.timers.push(setTimeout(() => this.signal('SIGKILL'), termGraceMs));
      }, stopGraceMs),
    );
  }

  /** SIGKILL now, to the whole group. */
  kill(): void {
    this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.isExited || this.child.pid === undefined) return;
    try {
      if (isPosix) process.kill(-this.child.pid, sig);
      else this.child.kill(sig);
    } catch {
      try {
        this.child.kill(sig);
      } catch {
        // already gone
      }
    }
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  private onStdoutLine(line: string): void {
    if (!line.trim()) return;
    const event = parseTrainerEvent(line);
    if (!event) {
      // Something printed to stdout by a dependency: keep it with the log rather than lose it.
      this.log.write(line + '\n');
      this.opts.onLog?.(line + '\n');
      return;
    }
    if (event.type === 'error') this.lastError = event;
    else if (event.type === 'done') this.done = event;
    else if (event.type === 'step') this.lastStep = event.step;
    else if (event.type === 'start') this.started = event.time;
    this.deliver(event);
  }

  /** A listener's mistake (or an event that is malformed beyond its type) must not end the run's bookkeeping. */
  private deliver(event: TrainerEvent): void {
    try {
      this.opts.onEvent?.(event);
    } catch (err) {
      this.log.write(`cannot handle a ${event.type} event: ${(err as Error).message}\n`);
    }
  }

  private exitOf(code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): RunExit {
    const exit: RunExit = { code, signal, stopRequested: this.stopRequested };
    if (this.done) {
      exit.done = this.done;
      if (this.done.status === 'failed') exit.failure = this.lastError?.message ?? this.done.message ?? `the trainer exited with code ${code}`;
      return exit;
    }
    exit.failure = spawnError
      ? `could not start the trainer: ${spawnError.message}`
      : (this.lastError?.message ?? (signal ? `the trainer was killed by ${signal}` : `the trainer exited with code ${code} without finishing`));
    return exit;
  }

  private async finish(code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): Promise<RunExit> {
    if (this.isExited) return this.exitOf(code, signal, spawnError);
    this.isExited = true;
    this.clearTimers();
    // Whatever the trainer started and left behind goes with it.
    if (isPosix && this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        // the group is empty: the usual case
      }
    }
    const exit = this.exitOf(code, signal, spawnError);
    if (!exit.done) this.recordFailure(exit.failure!);
    await new Promise<void>((resolve) => this.log.end(resolve));
    return exit;
  }

  /** Appends `error` (unless the trainer wrote it) and `done: failed`, so the folder says how the run ended. */
  private recordFailure(message: string): void {
    const inFile = readRunEvents(this.opts.runDir).some((e) => e.type === 'error' && e.message === message);
    const events: TrainerEventInit[] = [];
    if (!inFile) events.push({ type: 'error', message });
    events.push({
      type: 'done',
      status: 'failed',
      step: this.lastStep,
      elapsedSec: (Date.now() - this.started) / 1000,
      outputFiles: [],
      message,
    });
    let written: TrainerEvent[];
    try {
      // The event writer also ends a line the killed trainer tore, so that it cannot swallow ours.
      written = appendRunEvents(this.opts.runDir, events);
    } catch (err) {
      this.log.write(`could not record the failure in ${runPaths(this.opts.runDir).events}: ${(err as Error).message}\n`);
      return;
    }
    for (const e of written) this.deliver(e);
  }
}
