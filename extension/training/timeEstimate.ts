// The time estimate the quick pick shows before a run starts: the dataset's trained tokens × epochs ÷ a
// throughput measured on this machine for the same model shape, strategy, backend and batch size,
// taken from the last comparable finished run in the runs folder or from a cached measurement (a few
// timed `finetune bench` steps in a child process; the extension host loads no TensorFlow.js). Without
// either the estimate is unknown: never a made-up number. No vscode here, so the tests drive it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DoneEvent, StartEvent, TrainerEvent } from '../../protocol/trainer';
import { readRunEvents } from '../../trainer/runFolder';

/** What a throughput is comparable on. */
export interface ThroughputKey {
  /** trainer/params.ts shapeKey: the family and every size. */
  shapeKey: string;
  strategy: string;
  /** The backend a run uses (`auto` resolved), as the start event names it. */
  backend: string;
  batchSize: number;
}

/** How a comparable finished run is recognised from its events alone (they carry no shape key). */
export interface RunMatch extends ThroughputKey {
  /** The start event's model sizes. */
  model: { vocabSize: number; nEmbd: number; nLayer: number; nHead: number };
  /** The params event's total (base and added parameters): it tells apart shapes the start event does not. */
  totalParameters: number;
}

export interface Throughput {
  tokensPerSec: number;
  /** `run`: the last comparable finished run; `measured`: timed bench steps on this machine. */
  source: 'run' | 'measured';
  /** When the run finished or the measurement was taken (ms since the epoch). */
  time: number;
  /** The run's folder name, for `run`. */
  runId?: string;
}

/** Runs that trained to a stop of their own or the user's: their steps timed real training. */
const FINISHED = new Set(['completed', 'early-stopped', 'stopped']);

/**
 * A finished run's training throughput: its steps' non-padding tokens over the time to its last step
 * (the step events' `elapsedSec`, which include its evaluations), as the estimate multiplies back.
 * Undefined for a run that did not finish or took no step.
 */
export function runThroughput(events: readonly TrainerEvent[]): { start: StartEvent; total?: number; tokensPerSec: number; time: number } | undefined {
  let lastStart = -1;
  let done: DoneEvent | undefined;
  let total: number | undefined;
  events.forEach((e, i) => {
    if (e.type === 'start') lastStart = i;
    else if (e.type === 'done') done = e;
    else if (e.type === 'params') total = e.total;
  });
  if (lastStart < 0 || !done || !FINISHED.has(done.status)) return undefined;
  // A resumed run appends a new start; the last one's segment is the one its step times count from.
  let tokens = 0;
  let elapsed = 0;
  for (const e of events.slice(lastStart)) {
    if (e.type !== 'step') continue;
    tokens += e.tokens;
    elapsed = e.elapsedSec;
  }
  if (!(tokens > 0 && elapsed > 0)) return undefined;
  return { start: events[lastStart] as StartEvent, total, tokensPerSec: tokens / elapsed, time: done.time };
}

/** Whether a run's start and params events describe the same work per step as `want`. */
function runMatches(r: NonNullable<ReturnType<typeof runThroughput>>, want: RunMatch): boolean {
  const m = r.start.model;
  return (
    r.start.config.strategy === want.strategy &&
    r.start.backend === want.backend &&
    r.start.config.batchSize === want.batchSize &&
    m.vocabSize === want.model.vocabSize &&
    m.nEmbd === want.model.nEmbd &&
    m.nLayer === want.model.nLayer &&
    m.nHead === want.model.nHead &&
    r.total === want.totalParameters
  );
}

/** The newest finished run under `runsDir` comparable with `want`, as a throughput. */
export function lastComparableRun(runsDir: string, want: RunMatch): Throughput | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(runsDir);
  } catch {
    return undefined;
  }
  let best: Throughput | undefined;
  for (const name of names) {
    let events: TrainerEvent[];
    try {
      events = readRunEvents(path.join(runsDir, name));
    } catch {
      continue;
    }
    const r = runThroughput(events);
    if (!r || !runMatches(r, want)) continue;
    if (!best || r.time > best.time) best = { tokensPerSec: r.tokensPerSec, source: 'run', time: r.time, runId: name };
  }
  return best;
}

/** The cache file's key of a measurement. */
export function throughputCacheKey(k: ThroughputKey): string {
  return `${k.shapeKey} | ${k.strategy} | ${k.backend} | batch ${k.batchSize}`;
}

interface CacheFile {
  version: 1;
  measurements: Record<string, { tokensPerSec: number; time: number; seq: number }>;
}

/** The per-machine measurements, kept in the extension's global storage (one file, JSON). */
export class ThroughputCache {
  constructor(readonly file: string) {}

  private read(): CacheFile {
    try {
      const v = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Partial<CacheFile>;
      if (v && v.version === 1 && v.measurements && typeof v.measurements === 'object') return v as CacheFile;
    } catch {
      /* absent or unreadable: no measurement yet */
    }
    return { version: 1, measurements: {} };
  }

  get(key: ThroughputKey): Throughput | undefined {
    const m = Object.hasOwn(this.read().measurements, throughputCacheKey(key)) ? this.read().measurements[throughputCacheKey(key)] : undefined;
    if (!m || !(m.tokensPerSec > 0)) return undefined;
    return { tokensPerSec: m.tokensPerSec, source: 'measured', time: m.time };
  }

  put(key: ThroughputKey, tokensPerSec: number, seq: number, time: number = Date.now()): void {
    const data = this.read();
    data.measurements[throughputCacheKey(key)] = { tokensPerSec, time, seq };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    // Write-then-rename: two windows measuring at once leave one whole file.
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(data, null, 2));
    fs.renameSync(tmp, this.file);
  }
}

/**
 * The throughput to estimate with: the last comparable run's (what this machine really did on a run
 * like this one, evaluations included), else the cached measurement, else none.
 */
export function chooseThroughput(run: Throughput | undefined, measured: Throughput | undefined): Throughput | undefined {
  return run ?? measured;
}

/** Seconds of training: trained tokens per epoch × epochs ÷ tokens per second. */
export function estimateSeconds(trainTokens: number, epochs: number, tokensPerSec: number): number {
  if (!(trainTokens >= 0 && epochs > 0 && tokensPerSec > 0))
    throw new Error(`cannot estimate from ${trainTokens} tokens × ${epochs} epochs at ${tokensPerSec} tokens/s`);
  return (trainTokens * epochs) / tokensPerSec;
}

/** 42 -> "under a minute", 600 -> "about 10 min", 7800 -> "about 2 h 10 min". */
export function durationText(seconds: number): string {
  if (seconds < 60) return 'under a minute';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `about ${h} h${m ? ` ${m} min` : ''}`;
}

/** Where the throughput came from, in the estimate's words: "from your run of 2026-12-01" or "measured here". */
export function sourceText(t: Throughput): string {
  if (t.source === 'measured') return `measured here on ${new Date(t.time).toISOString().slice(0, 10)}`;
  return `from your run of ${new Date(t.time).toISOString().slice(0, 10)}${t.runId ? ` (${t.runId})` : ''}`;
}

/** The estimate's line: "about 12 min (from your run of 2026-12-01 …; 830 tokens × 3 epochs at 41.5 tokens/s)". */
export function estimateText(trainTokens: number, epochs: number, t: Throughput): string {
  const seconds = estimateSeconds(trainTokens, epochs, t.tokensPerSec);
  const rate = t.tokensPerSec >= 100 ? t.tokensPerSec.toFixed(0) : t.tokensPerSec.toPrecision(3);
  return `${durationText(seconds)} (${sourceText(t)}; ${trainTokens.toLocaleString('en-US')} tokens × ${epochs} epoch${epochs === 1 ? '' : 's'} at ${rate} tokens/s)`;
}

/** `finetune bench --json`'s tokensPerSec, or an error naming what it printed instead. */
export function parseBenchOutput(stdout: string): number {
  const line = stdout.trim().split('\n').pop() ?? '';
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error(`bench printed no JSON result: ${line.slice(0, 200)}`);
  }
  const t = (v as { tokensPerSec?: unknown } | null)?.tokensPerSec;
  if (typeof t !== 'number' || !(t > 0)) throw new Error(`bench's result has no tokens/s: ${line.slice(0, 200)}`);
  return t;
}

/** The bench arguments of a measurement: the model's shape flags, then the run's strategy, backend and batch at `seq`. */
export function benchArgs(shapeArgs: readonly string[], key: ThroughputKey, seq: number, steps = 3): string[] {
  return [
    'bench',
    ...shapeArgs,
    '--strategy',
    key.strategy,
    '--backend',
    key.backend,
    '--batch',
    String(key.batchSize),
    '--seq',
    String(seq),
    '--steps',
    String(steps),
    '--json',
  ];
}
