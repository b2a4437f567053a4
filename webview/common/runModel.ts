// The trainer's event stream reduced to what the panels draw: append-only columns for the charts (typed
// arrays uPlot reads without copying), the latest header facts, the parameter breakdown, the memory
// estimate and the config. Applying an event is O(1) amortised (smoothing is incremental), so a
// 100,000-step backlog costs milliseconds and a live run costs nothing per event beyond a push.
// Pure: no DOM, so node's unit tests and both webviews share it.
import {
  parseEventLines,
  type CheckpointEvent,
  type ClusterEvent,
  type DoneEvent,
  type ErrorEvent,
  type EvalEvent,
  type LogEvent,
  type MemoryEvent,
  type ParamsEvent,
  type StartEvent,
  type StepEvent,
  type TrainerEvent,
} from '../../protocol/trainer';
import type { RunStatus } from '../../protocol/panel';

/** One bar of the per-layer chart. */
export interface LayerBreakdown {
  name: string;
  frozen: number;
  trainable: number;
  /** Parameters the strategy adds (LoRA's A and B). */
  added: number;
}

/** ParamsEvent, with the per-layer breakdown newer trainers send. */
export type ParamsWithLayers = ParamsEvent & { perLayer?: LayerBreakdown[] };

export type XAxis = 'step' | 'epoch' | 'tokens';
export const X_AXES: readonly XAxis[] = ['step', 'epoch', 'tokens'];

/** A float column that grows by doubling; `view()` is a no-copy window for uPlot. */
export class Column {
  private buf: Float64Array;
  length = 0;
  constructor(capacity = 1024) {
    this.buf = new Float64Array(capacity);
  }
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  get(i: number): number {
    return this.buf[i];
  }
  last(): number | undefined {
    return this.length ? this.buf[this.length - 1] : undefined;
  }
  truncate(n: number): void {
    this.length = Math.max(0, Math.min(n, this.length));
  }
  view(): Float64Array {
    return this.buf.subarray(0, this.length);
  }
}

/** Debiased exponential moving average (TensorBoard's smoothing): the first points are not pulled to 0. */
export class Ema {
  private value = 0;
  private weight = 0;
  constructor(public alpha: number) {}
  next(x: number): number {
    this.value = this.alpha * this.value + (1 - this.alpha) * x;
    this.weight = this.alpha * this.weight + (1 - this.alpha);
    return this.weight > 0 ? this.value / this.weight : x;
  }
  reset(): void {
    this.value = 0;
    this.weight = 0;
  }
}

export type ModelChange = 'series' | 'header' | 'params' | 'memory' | 'config' | 'logs' | 'tasks' | 'accuracy' | 'cluster';

/** Right predictions and examples of one label in an eval (classification head). */
export interface ClassCount {
  correct: number;
  total: number;
}

/** An eval event with the classification head's fields (newer trainers; absent for the LM head). */
type EvalWithAccuracy = EvalEvent & { accuracy?: number; perClass?: Record<string, ClassCount> };

/** One row of the per-class table: a label's counts in the latest eval that had them. */
export interface PerClassRow extends ClassCount {
  label: string;
  /** correct / total; undefined for a label with no eval example. */
  accuracy?: number;
}

/** The per-class counts of an eval as table rows, in the trainer's label order; malformed entries are left out. */
export function perClassRows(perClass: unknown): PerClassRow[] {
  if (!perClass || typeof perClass !== 'object' || Array.isArray(perClass)) return [];
  const rows: PerClassRow[] = [];
  for (const [label, v] of Object.entries(perClass as Record<string, unknown>)) {
    const c = v as Partial<ClassCount> | null;
    if (!c || typeof c !== 'object' || typeof c.correct !== 'number' || typeof c.total !== 'number' || !(c.total >= 0) || !(c.correct >= 0)) continue;
    rows.push({ label, correct: c.correct, total: c.total, accuracy: c.total > 0 ? c.correct / c.total : undefined });
  }
  return rows;
}

/** Clamps a smoothing weight to [0, 0.99] (NaN -> 0). */
export function clampSmoothing(v: number): number {
  return Number.isFinite(v) ? Math.min(0.99, Math.max(0, v)) : 0;
}

const MAX_LOGS = 200;

export class RunModel {
  start?: StartEvent;
  params?: ParamsWithLayers;
  memory?: MemoryEvent;
  lastStep?: StepEvent;
  done?: DoneEvent;
  error?: ErrorEvent;
  hostStatus?: { status: RunStatus; message?: string };
  evals: EvalEvent[] = [];
  checkpoints: CheckpointEvent[] = [];
  /** The latest imported cluster job's results (`finetune import`): a loss series of its own. */
  cluster?: ClusterEvent;
  logs: LogEvent[] = [];

  // One row per optimizer step.
  readonly step = new Column();
  readonly epoch = new Column();
  /** Cumulative input tokens up to and including the step. */
  readonly tokens = new Column();
  readonly loss = new Column();
  readonly smoothed = new Column();
  readonly lr = new Column();
  readonly tokensPerSec = new Column();
  /** Eval loss on the row of the step it followed; null elsewhere (drawn as points joined across gaps). */
  evalLoss: (number | null)[] = [];
  /** Eval accuracy (classification head) on the row of the step it followed; null elsewhere. */
  evalAccuracy: (number | null)[] = [];
  /** Task names in order of first appearance. */
  taskNames: string[] = [];
  /** Smoothed per-task train loss per row (null where the step had no example of the task). */
  taskSmoothed = new Map<string, (number | null)[]>();
  private taskRaw = new Map<string, (number | null)[]>();
  private ema: Ema;
  private taskEma = new Map<string, Ema>();
  // The same per-task state by index, for the per-step loop.
  private taskRawList: (number | null)[][] = [];
  private taskSmoothedList: (number | null)[][] = [];
  private taskEmaList: Ema[] = [];
  private tokensPerSecSum = 0;
  private changes = new Set<ModelChange>();

  constructor(smoothing = 0.6) {
    this.ema = new Ema(clampSmoothing(smoothing));
  }

  get smoothing(): number {
    return this.ema.alpha;
  }

  get rows(): number {
    return this.step.length;
  }

  /** What changed since the last call; the view redraws only that. */
  takeChanges(): Set<ModelChange> {
    const c = this.changes;
    this.changes = new Set();
    return c;
  }

  apply(events: readonly TrainerEvent[]): void {
    for (const e of events) this.applyOne(e);
  }

  /**
   * Applies `events.jsonl` text (the host's backlog), parsed by protocol's one event-line parser, the
   * same that reads the file on the host; returns how many lines were not trainer events.
   */
  applyJsonl(text: string): number {
    let skipped = 0;
    this.apply(parseEventLines(text, () => skipped++));
    return skipped;
  }

  applyOne(e: TrainerEvent): void {
    if (!e || typeof e !== 'object') return;
    switch (e.type) {
      case 'start':
        this.start = e;
        // A resumed run (same events.jsonl) is running again.
        this.done = undefined;
        this.error = undefined;
        this.hostStatus = undefined;
        this.mark('header', 'config');
        break;
      case 'params':
        this.params = e;
        this.mark('params', 'header');
        break;
      case 'memory':
        this.memory = e;
        this.mark('memory');
        break;
      case 'step':
        this.addStep(e);
        break;
      case 'eval':
        this.addEval(e);
        break;
      case 'checkpoint':
        this.checkpoints.push(e);
        this.mark('header');
        break;
      case 'log':
        this.logs.push(e);
        if (this.logs.length > MAX_LOGS) this.logs.splice(0, this.logs.length - MAX_LOGS);
        this.mark('logs');
        break;
      case 'done':
        this.done = e;
        this.mark('header');
        break;
      case 'error':
        this.error = e;
        this.mark('header');
        break;
      case 'cluster':
        this.cluster = e;
        this.mark('cluster');
        break;
      default:
        // Unknown event types (a newer trainer) are ignored.
        break;
    }
  }

  setHostStatus(status: RunStatus, message?: string): void {
    this.hostStatus = { status, message };
    this.mark('header');
  }

  get status(): RunStatus {
    if (this.done) return this.error ? 'failed' : this.done.status;
    if (this.error) return 'failed';
    if (this.hostStatus) return this.hostStatus.status;
    return this.start || this.rows > 0 ? 'running' : 'waiting';
  }

  /** The message of a failed run: the error event's, else done's or the host's. */
  get failureMessage(): string | undefined {
    if (this.status !== 'failed') return undefined;
    return this.error?.message ?? this.done?.message ?? this.hostStatus?.message ?? 'The run failed.';
  }

  setSmoothing(alpha: number): void {
    const a = clampSmoothing(alpha);
    if (a === this.ema.alpha) return;
    this.ema.alpha = a;
    this.resmooth();
  }

  private mark(...kinds: ModelChange[]): void {
    for (const k of kinds) this.changes.add(k);
  }

  /** Index of the last row whose step is <= `step` (-1 if none); steps are increasing. */
  rowAtOrBefore(step: number): number {
    let lo = 0;
    let hi = this.step.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.step.get(mid) <= step) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  private addStep(e: StepEvent): void {
    const lastStep = this.step.last();
    if (lastStep !== undefined && e.step <= lastStep) {
      // A resumed run repeats the steps after its last checkpoint: the new ones replace them.
      this.truncateRows(this.rowAtOrBefore(e.step - 1) + 1);
    }
    const row = this.step.length;
    this.step.push(e.step);
    this.epoch.push(e.epoch);
    this.tokens.push((this.tokens.last() ?? 0) + (Number.isFinite(e.tokens) ? e.tokens : 0));
    this.loss.push(e.loss);
    this.smoothed.push(this.ema.next(e.loss));
    this.lr.push(e.lr);
    this.tokensPerSec.push(e.tokensPerSec);
    this.tokensPerSecSum += Number.isFinite(e.tokensPerSec) ? e.tokensPerSec : 0;
    this.evalLoss.push(null);
    this.evalAccuracy.push(null);
    // Task names are the user's strings: own keys only, so `constructor` is a task, not Object's member.
    const losses = e.taskLosses && typeof e.taskLosses === 'object' ? e.taskLosses : undefined;
    if (losses) {
      for (const name of Object.keys(losses)) {
        if (!this.taskRaw.has(name)) this.addTask(name, row);
      }
    }
    for (let t = 0; t < this.taskNames.length; t++) {
      const name = this.taskNames[t];
      const v = losses && Object.hasOwn(losses, name) ? losses[name] : undefined;
      const has = typeof v === 'number' && Number.isFinite(v);
      this.taskRawList[t].push(has ? v : null);
      this.taskSmoothedList[t].push(has ? this.taskEmaList[t].next(v) : null);
    }
    this.lastStep = e;
    this.changes.add('series');
    this.changes.add('header');
  }

  private addTask(name: string, rows: number): void {
    this.taskNames.push(name);
    const raw = new Array<number | null>(rows).fill(null);
    const smoothed = new Array<number | null>(rows).fill(null);
    const ema = new Ema(this.ema.alpha);
    this.taskRaw.set(name, raw);
    this.taskSmoothed.set(name, smoothed);
    this.taskEma.set(name, ema);
    this.taskRawList.push(raw);
    this.taskSmoothedList.push(smoothed);
    this.taskEmaList.push(ema);
    this.mark('tasks');
  }

  private addEval(e: EvalEvent): void {
    // Re-evaluations of a step (after a resume) replace the earlier one.
    this.evals = this.evals.filter((x) => x.step < e.step);
    this.evals.push(e);
    const row = this.rowAtOrBefore(e.step);
    if (row >= 0) this.evalLoss[row] = e.loss;
    const accuracy = (e as EvalWithAccuracy).accuracy;
    if (typeof accuracy === 'number' && Number.isFinite(accuracy)) {
      if (row >= 0) this.evalAccuracy[row] = accuracy;
      this.mark('accuracy');
    } else if ((e as EvalWithAccuracy).perClass) {
      this.mark('accuracy');
    }
    this.mark('series', 'header');
  }

  /** The latest eval accuracy (classification head), if any eval reported one. */
  get lastAccuracy(): number | undefined {
    for (let i = this.evals.length - 1; i >= 0; i--) {
      const a = (this.evals[i] as EvalWithAccuracy).accuracy;
      if (typeof a === 'number' && Number.isFinite(a)) return a;
    }
    return undefined;
  }

  get bestAccuracy(): number | undefined {
    let best: number | undefined;
    for (const e of this.evals) {
      const a = (e as EvalWithAccuracy).accuracy;
      if (typeof a === 'number' && Number.isFinite(a) && (best === undefined || a > best)) best = a;
    }
    return best;
  }

  /** The per-class counts of the latest eval that has them, and its step. */
  latestPerClass(): { step: number; rows: PerClassRow[] } | undefined {
    for (let i = this.evals.length - 1; i >= 0; i--) {
      const rows = perClassRows((this.evals[i] as EvalWithAccuracy).perClass);
      if (rows.length) return { step: this.evals[i].step, rows };
    }
    return undefined;
  }

  /** uPlot's aligned data for the accuracy chart: x, eval accuracy (points on eval rows). */
  accuracyChartData(axis: XAxis): (Float64Array | (number | null)[])[] {
    return [this.x(axis), this.evalAccuracy];
  }

  private truncateRows(n: number): void {
    for (const c of [this.step, this.epoch, this.tokens, this.loss, this.smoothed, this.lr, this.tokensPerSec]) c.truncate(n);
    this.evalLoss.length = n;
    this.evalAccuracy.length = n;
    for (const a of this.taskRaw.values()) a.length = n;
    for (const a of this.taskSmoothed.values()) a.length = n;
    this.tokensPerSecSum = 0;
    for (let i = 0; i < n; i++) this.tokensPerSecSum += Number.isFinite(this.tokensPerSec.get(i)) ? this.tokensPerSec.get(i) : 0;
    this.resmooth();
  }

  /** Recomputes every smoothed value (a new smoothing weight, or rows dropped); O(rows). */
  private resmooth(): void {
    this.ema.reset();
    const n = this.loss.length;
    this.smoothed.truncate(0);
    for (let i = 0; i < n; i++) this.smoothed.push(this.ema.next(this.loss.get(i)));
    for (const name of this.taskNames) {
      const ema = this.taskEma.get(name)!;
      ema.alpha = this.ema.alpha;
      ema.reset();
      const raw = this.taskRaw.get(name)!;
      const smoothed = raw.map((v) => (v === null ? null : ema.next(v)));
      this.taskSmoothed.set(name, smoothed);
      this.taskSmoothedList[this.taskNames.indexOf(name)] = smoothed;
    }
    this.mark('series');
  }

  x(axis: XAxis): Float64Array {
    return axis === 'epoch' ? this.epoch.view() : axis === 'tokens' ? this.tokens.view() : this.step.view();
  }

  /** Labels of lossChartData's series after x, in order. */
  lossSeriesLabels(): string[] {
    return ['train', 'train (smoothed)', 'eval', ...this.taskNames.map((t) => `task ${t}`)];
  }

  /** uPlot's aligned data for the loss chart: x, raw, smoothed, eval, then one smoothed curve per task. */
  lossChartData(axis: XAxis): (Float64Array | (number | null)[])[] {
    return [this.x(axis), this.loss.view(), this.smoothed.view(), this.evalLoss, ...this.taskNames.map((t) => this.taskSmoothed.get(t)!)];
  }

  lrChartData(axis: XAxis): Float64Array[] {
    return [this.x(axis), this.lr.view()];
  }

  get meanTokensPerSec(): number | undefined {
    return this.rows ? this.tokensPerSecSum / this.rows : undefined;
  }

  get bestEvalLoss(): number | undefined {
    if (this.done?.bestEvalLoss !== undefined) return this.done.bestEvalLoss;
    return this.evals.length ? Math.min(...this.evals.map((e) => e.loss)) : undefined;
  }

  get finalTrainLoss(): number | undefined {
    return this.done?.finalLoss ?? this.lastStep?.loss;
  }

  get elapsedSec(): number | undefined {
    return this.done?.elapsedSec ?? this.lastStep?.elapsedSec;
  }

  /** The per-layer bars: the trainer's own breakdown, else one derived from the module groups. */
  layerBreakdown(): LayerBreakdown[] {
    if (!this.params) return [];
    const given = Array.isArray(this.params.perLayer) ? this.params.perLayer.map(normalizeLayer) : [];
    if (given.length && given.every((l): l is LayerBreakdown => l !== undefined)) return given;
    return layersFromGroups(this.params.groups ?? []);
  }
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/**
 * One per-layer entry as the panel draws it. Takes `{name, frozen, trainable, added}` and also the shape
 * trainer/params.ts computes (`{layer, total, trainable, frozen: boolean, lora}`); undefined otherwise.
 */
export function normalizeLayer(entry: unknown): LayerBreakdown | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  const e = entry as Record<string, unknown>;
  if (typeof e.name === 'string' && typeof e.frozen === 'number') {
    return { name: e.name, frozen: count(e.frozen), trainable: count(e.trainable), added: count(e.added) };
  }
  if (typeof e.layer === 'number' && typeof e.total === 'number') {
    const trainable = count(e.trainable);
    return {
      name: `h.${e.layer}`,
      frozen: e.frozen === true ? count(e.total) : Math.max(0, count(e.total) - trainable),
      trainable: e.frozen === true ? 0 : trainable,
      added: count(e.lora),
    };
  }
  return undefined;
}

/**
 * Groups named `h.<layer>.<part>` (the trainer's module groups) folded into one bar per block; other
 * groups keep their own bar. A group that is all trainable and named like an adapter (`lora`) counts as
 * added parameters, since the base model does not have them.
 */
export function layersFromGroups(groups: readonly { name: string; total: number; trainable: number }[]): LayerBreakdown[] {
  const out: LayerBreakdown[] = [];
  const byName = new Map<string, LayerBreakdown>();
  for (const g of groups) {
    if (!(g.total > 0)) continue;
    const block = /^h\.(\d+)\./.exec(g.name);
    const name = block ? `h.${block[1]}` : g.name;
    let bar = byName.get(name);
    if (!bar) {
      bar = { name, frozen: 0, trainable: 0, added: 0 };
      byName.set(name, bar);
      out.push(bar);
    }
    if (/^(lora|adapter|prompt)/i.test(g.name)) {
      bar.added += g.total;
    } else {
      bar.trainable += g.trainable;
      bar.frozen += g.total - g.trainable;
    }
  }
  return out;
}

/** The compare table's row for one run. */
export interface RunSummary {
  status: RunStatus;
  strategy?: string;
  trainable?: number;
  total?: number;
  ratio?: number;
  memoryTotal?: number;
  wallSec?: number;
  meanTokensPerSec?: number;
  finalTrainLoss?: number;
  bestEvalLoss?: number;
  steps: number;
}

export function summarize(model: RunModel): RunSummary {
  return {
    status: model.status,
    strategy: model.start?.config?.strategy,
    trainable: model.params?.trainable,
    total: model.params?.total,
    ratio: model.params?.ratio,
    memoryTotal: model.memory?.total,
    wallSec: model.elapsedSec,
    meanTokensPerSec: model.meanTokensPerSec,
    finalTrainLoss: model.finalTrainLoss,
    bestEvalLoss: model.bestEvalLoss,
    steps: model.lastStep?.step ?? 0,
  };
}

/** Module groups folded by kind across blocks (`h.3.attn` -> `attn`): the parameter table's rows. */
export function groupsByKind(groups: readonly { name: string; total: number; trainable: number }[]): { name: string; total: number; trainable: number }[] {
  const out: { name: string; total: number; trainable: number }[] = [];
  const byName = new Map<string, { name: string; total: number; trainable: number }>();
  for (const g of groups) {
    const name = g.name.replace(/^h\.\d+\./, '');
    let row = byName.get(name);
    if (!row) {
      row = { name, total: 0, trainable: 0 };
      byName.set(name, row);
      out.push(row);
    }
    row.total += g.total;
    row.trainable += g.trainable;
  }
  return out;
}
