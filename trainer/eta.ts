// The run's ETA (the step event's etaSec, the panel's ETA) from the recent steps: a step takes a fixed
// part (every weight is read twice, the optimizer runs) plus a part per padded token (a batch is padded to
// its longest example), fitted by least squares over the last steps, and the steps left are summed with
// their own costs. The first step a process times also pays one-off costs (buffers allocated, pages
// touched: 3x a later step on Qwen2.5-0.5B's shape) and is left out once there are others. "Steps left ×
// mean step time so far" was off by 50-200% on Qwen2.5-0.5B LoRA over short records.

/** What a step costs, in padded tokens: each micro-batch's size times its longest example. */
export function paddedTokens(groups: readonly (readonly number[])[], lengths: readonly number[]): number {
  let total = 0;
  for (const idx of groups) {
    let longest = 0;
    for (const j of idx) longest = Math.max(longest, lengths[j]);
    total += idx.length * longest;
  }
  return total;
}

export class EtaEstimator {
  private readonly recent: { cost: number; seconds: number }[] = [];
  private first: { cost: number; seconds: number } | undefined;

  /** `window`: how many recent steps the rate averages over. */
  constructor(private readonly window = 20) {}

  /** One timed step: its padded tokens and seconds. */
  record(cost: number, seconds: number): void {
    if (this.first === undefined && this.recent.length === 0) {
      this.first = { cost, seconds };
      return;
    }
    this.recent.push({ cost, seconds });
    if (this.recent.length > this.window) this.recent.shift();
  }

  /**
   * Seconds per step as fixed + perToken·cost over the recent steps (the first one only while it is the
   * only one). Where the costs barely differ, or the fit comes out negative, the time is all per token.
   */
  model(): { fixed: number; perToken: number } | undefined {
    const steps = this.recent.length > 0 ? this.recent : this.first ? [this.first] : [];
    if (steps.length === 0) return undefined;
    const n = steps.length;
    const mc = steps.reduce((a, s) => a + s.cost, 0) / n;
    const ms = steps.reduce((a, s) => a + s.seconds, 0) / n;
    if (!(mc > 0)) return undefined;
    let sxx = 0;
    let sxy = 0;
    for (const s of steps) {
      sxx += (s.cost - mc) ** 2;
      sxy += (s.cost - mc) * (s.seconds - ms);
    }
    // A fit needs a few steps whose costs differ by more than ~10% of their mean, else it is noise over
    // noise (single steps vary by ±50% on a shared machine).
    if (n >= 5 && Math.sqrt(sxx / n) > 0.1 * mc) {
      const perToken = sxy / sxx;
      const fixed = ms - perToken * mc;
      if (perToken > 0 && fixed >= 0) return { fixed, perToken };
    }
    return { fixed: 0, perToken: ms / mc };
  }

  /** Seconds for `stepsLeft` more steps costing `remainingCost` padded tokens together; undefined before any step. */
  etaSec(remainingCost: number, stepsLeft: number): number | undefined {
    const m = this.model();
    return m === undefined ? undefined : stepsLeft * m.fixed + remainingCost * m.perToken;
  }
}
