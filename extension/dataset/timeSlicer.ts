// Runs an incremental job in short slices, yielding to the event loop between them, so that the
// extension host keeps answering (hovers, completions, other extensions) while a 100,000-line file
// is validated. The job reports "done" itself; the slicer only decides when to call it again.

export interface SliceJob {
  /** Does at most about `budgetMs` of work; true when there is nothing left to do. */
  step(budgetMs: number): boolean;
}

export interface SliceOptions {
  budgetMs: number;
  /** Called between slices with how long the last slice took (for progress publishing and measurement). */
  onSlice?: (sliceMs: number) => void;
  /** How the next slice is scheduled; setImmediate lets queued I/O and messages run first. */
  schedule?: (fn: () => void) => void;
}

export interface SliceRun {
  /** Resolves true when the job finished, false when it was cancelled. Rejects if a step throws. */
  readonly done: Promise<boolean>;
  cancel(): void;
  /** Longest single slice so far, in milliseconds. */
  readonly longestSliceMs: number;
}

export function runInSlices(job: SliceJob, options: SliceOptions): SliceRun {
  const schedule = options.schedule ?? ((fn) => setImmediate(fn));
  let cancelled = false;
  let longest = 0;
  let settle: (finished: boolean) => void = () => {};
  let fail: (err: unknown) => void = () => {};
  const done = new Promise<boolean>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  const slice = () => {
    if (cancelled) return settle(false);
    const t0 = performance.now();
    let finished: boolean;
    try {
      finished = job.step(options.budgetMs);
    } catch (err) {
      return fail(err);
    }
    const ms = performance.now() - t0;
    if (ms > longest) longest = ms;
    options.onSlice?.(ms);
    if (finished) return settle(true);
    schedule(slice);
  };
  schedule(slice);
  return {
    done,
    cancel() {
      cancelled = true;
    },
    get longestSliceMs() {
      return longest;
    },
  };
}
