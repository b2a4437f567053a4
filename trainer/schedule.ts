// Learning-rate schedules, as Hugging Face's get_{constant,linear,cosine}_schedule_with_warmup, except
// that warm-up starts at lr/warmup rather than 0 so that the first optimizer step is not wasted.
import type { Schedule } from '../protocol/trainer';

export interface ScheduleOptions {
  schedule: Schedule;
  /** Peak learning rate. */
  lr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Learning rate for optimizer step `step` (counted from 1). */
export function learningRateAt(step: number, { schedule, lr, warmupSteps, totalSteps }: ScheduleOptions): number {
  if (!Number.isInteger(step) || step < 1) throw new RangeError(`step must be an integer >= 1, got ${step}`);
  const s = step - 1;
  if (s < warmupSteps) return (lr * (s + 1)) / warmupSteps;
  if (schedule === 'constant') return lr;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (s - warmupSteps) / decaySteps);
  if (schedule === 'linear') return lr * (1 - progress);
  return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
}
