// Run folders as the extension sees them: <runsDirectory>/<id>/, each a run folder whose files are
// read through their owner (trainer/runFolder.ts), summarised here for the runs view, the panels and the
// status bar. No vscode, so the tests share one idea of what a run's state is.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainerEvent } from '../../protocol/trainer';
import type { RunStatus } from '../../protocol/panel';
import { EventFileTail, readRunEvents, readRunJson, runPaths } from '../../trainer/runFolder';

/** `2026-11-28T14-55-03-alpaca-lora`: sortable by time, readable in a folder listing. */
export function runIdFor(date: Date, dataset: string, strategy: string): string {
  const stamp = date.toISOString().slice(0, 19).replace(/:/g, '-');
  const name =
    path
      .basename(dataset)
      .replace(/\.[^.]*$/, '')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'dataset';
  return `${stamp}-${name}-${strategy}`;
}

/** A folder name under `runsDir` that does not exist yet (`-2`, `-3`… when two runs start in one second). */
export function uniqueRunDir(runsDir: string, id: string): string {
  let dir = path.join(runsDir, id);
  for (let n = 2; fs.existsSync(dir); n++) dir = path.join(runsDir, `${id}-${n}`);
  return dir;
}

/** What the runs view and the status bar show about a run. */
export interface RunSummary {
  id: string;
  dir: string;
  status: RunStatus;
  /** Dataset file name, model and strategy from run.json (or the start event). */
  dataset?: string;
  model?: string;
  strategy?: string;
  step?: number;
  totalSteps?: number;
  lastLoss?: number;
  bestEvalLoss?: number;
  /** The error or stop message of a run that did not complete. */
  message?: string;
  outputDir?: string;
  startedAt?: number;
}

export interface SummaryOptions {
  /** This window's run manager has the run's trainer running. */
  active?: boolean;
  /** Last change of events.jsonl (ms); a run without `done` that changed recently may be running in another window or a terminal. */
  eventsMtimeMs?: number;
  now?: number;
}

/** A run without `done` whose events have not changed for this long is taken as interrupted. */
export const STALE_RUN_MS = 2 * 60_000;

/** What the events say so far; fed incrementally (the runs view follows a growing events.jsonl with it). */
export class RunEventFold {
  count = 0;
  startedAt?: number;
  totalSteps?: number;
  dataset?: string;
  model?: string;
  strategy?: string;
  step?: number;
  lastLoss?: number;
  bestEvalLoss?: number;
  error?: string;
  done?: Extract<TrainerEvent, { type: 'done' }>;

  add(events: readonly TrainerEvent[]): this {
    for (const e of events) {
      this.count++;
      switch (e.type) {
        case 'start':
          // A resumed run appends a new start after the earlier done.
          this.done = undefined;
          this.error = undefined;
          this.startedAt = e.time;
          this.totalSteps = e.totalSteps;
          this.dataset = path.basename(e.config.data);
          this.model = e.config.model;
          this.strategy = e.config.strategy;
          break;
        case 'step':
          this.step = e.step;
          this.lastLoss = e.loss;
          break;
        case 'eval':
          if (this.bestEvalLoss === undefined || e.loss < this.bestEvalLoss) this.bestEvalLoss = e.loss;
          break;
        case 'error':
          this.error = e.message;
          break;
        case 'done':
          this.done = e;
          break;
      }
    }
    return this;
  }

  summary(id: string, dir: string, runJson: Record<string, unknown> | undefined, opts: SummaryOptions = {}): RunSummary {
    const fromJson = (key: string) => (runJson && typeof runJson[key] === 'string' ? (runJson[key] as string) : undefined);
    const data = fromJson('data');
    const summary: RunSummary = {
      id,
      dir,
      status: 'waiting',
      dataset: data ? path.basename(data) : this.dataset,
      model: fromJson('model') ?? this.model,
      strategy: fromJson('strategy') ?? this.strategy,
      startedAt: this.startedAt,
      totalSteps: this.totalSteps,
      step: this.step,
      lastLoss: this.lastLoss,
      bestEvalLoss: this.bestEvalLoss,
    };
    const { done, error } = this;
    if (done) {
      summary.status = done.status;
      summary.step = done.step;
      summary.outputDir = done.outputDir;
      if (done.bestEvalLoss !== undefined) summary.bestEvalLoss = done.bestEvalLoss;
      summary.message = done.status === 'failed' ? (error ?? done.message) : done.message;
    } else if (opts.active) {
      summary.status = this.count ? 'running' : 'waiting';
    } else if (error !== undefined) {
      summary.status = 'failed';
      summary.message = error;
    } else if (opts.eventsMtimeMs !== undefined && (opts.now ?? Date.now()) - opts.eventsMtimeMs < STALE_RUN_MS && this.count) {
      summary.status = 'running';
    } else {
      summary.status = 'failed';
      summary.message = this.count ? 'the trainer stopped without finishing (interrupted)' : 'the run never started';
    }
    return summary;
  }
}

export function summarizeEvents(
  id: string,
  dir: string,
  events: readonly TrainerEvent[],
  runJson: Record<string, unknown> | undefined,
  opts: SummaryOptions = {},
): RunSummary {
  return new RunEventFold().add(events).summary(id, dir, runJson, opts);
}

/** Summaries of run folders that read each events.jsonl once and then only what is appended to it. */
export class RunSummaryCache {
  private readonly entries = new Map<string, { tail: EventFileTail; fold: RunEventFold; size: number }>();

  summary(runDir: string, opts: Omit<SummaryOptions, 'eventsMtimeMs'> = {}): RunSummary {
    const file = runPaths(runDir).events;
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(file);
    } catch {
      // no events yet
    }
    let entry = this.entries.get(runDir);
    if (!entry || (stat && stat.size < entry.size)) {
      entry = { tail: new EventFileTail(file), fold: new RunEventFold(), size: 0 };
      this.entries.set(runDir, entry);
    }
    if (stat && stat.size !== entry.size) {
      entry.fold.add(entry.tail.read());
      entry.size = stat.size;
    }
    return entry.fold.summary(path.basename(runDir), runDir, readRunJson(runDir), { ...opts, eventsMtimeMs: stat?.mtimeMs });
  }

  /** Forgets folders that are gone. */
  retain(runDirs: readonly string[]): void {
    const keep = new Set(runDirs);
    for (const dir of [...this.entries.keys()]) if (!keep.has(dir)) this.entries.delete(dir);
  }
}

export function summarizeRunFolder(runDir: string, opts: Omit<SummaryOptions, 'eventsMtimeMs'> = {}): RunSummary {
  let eventsMtimeMs: number | undefined;
  try {
    eventsMtimeMs = fs.statSync(runPaths(runDir).events).mtimeMs;
  } catch {
    // no events yet
  }
  return summarizeEvents(path.basename(runDir), runDir, readRunEvents(runDir), readRunJson(runDir), { ...opts, eventsMtimeMs });
}

/** Folders under `runsDir` that hold a run.json or events.jsonl, newest first (ids start with the time). */
export function listRunFolders(runsDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(runsDir);
  } catch {
    return [];
  }
  return names
    .map((n) => path.join(runsDir, n))
    .filter((dir) => {
      try {
        const paths = runPaths(dir);
        return fs.statSync(dir).isDirectory() && (fs.existsSync(paths.runJson) || fs.existsSync(paths.events));
      } catch {
        return false;
      }
    })
    .sort((a, b) => (path.basename(a) < path.basename(b) ? 1 : path.basename(a) > path.basename(b) ? -1 : 0));
}

function formatLoss(loss: number): string {
  return loss.toFixed(loss >= 100 ? 1 : 4);
}

/** The runs view's description: `alpaca.jsonl · lora · best eval 2.3412`. */
export function runDescription(s: RunSummary): string {
  const parts: string[] = [];
  if (s.dataset) parts.push(s.dataset);
  if (s.strategy) parts.push(s.strategy);
  if (s.bestEvalLoss !== undefined) parts.push(`best eval ${formatLoss(s.bestEvalLoss)}`);
  else if (s.status === 'running' && s.step !== undefined) parts.push(`step ${s.step}${s.totalSteps ? `/${s.totalSteps}` : ''}`);
  return parts.join(' · ');
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Status-bar text of an active run: `$(loading~spin) alpaca 12/45 · loss 2.3411 · ETA 1m 05s`. */
export function statusBarText(label: string, last: { step?: number; totalSteps?: number; loss?: number; etaSec?: number }): string {
  const parts = [`$(loading~spin) ${label}`];
  if (last.step !== undefined) parts[0] += ` ${last.step}${last.totalSteps ? `/${last.totalSteps}` : ''}`;
  else parts.push('starting…');
  if (last.loss !== undefined) parts.push(`loss ${formatLoss(last.loss)}`);
  if (last.etaSec !== undefined) parts.push(`ETA ${formatDuration(last.etaSec)}`);
  return parts.join(' · ');
}
