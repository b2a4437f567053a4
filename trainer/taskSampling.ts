// Multi-task sampling: which task each training record of an epoch comes from.
//   proportional  p_t = n_t / N (plain shuffling; data.ts's epochBatches);
//   uniform       p_t = 1 / K;
//   temperature   p_t ∝ n_t^(1/T) (T = 1 is proportional, T → ∞ uniform), as in multilingual/multi-task
//                 training (e.g. T5, mT5).
// An epoch is still N records: each slot draws a task by p_t, then the next record of that task's
// shuffled queue (refilled and reshuffled when used up, so small tasks repeat and large ones are
// subsampled). Everything is drawn from the seed and epoch, so `--resume` rebuilds the same order.
import type { TaskSampling } from '../protocol/trainer';
import { deriveSeed, seededRandom, shuffleInPlace } from './random';

/** Sampling probability per task (keys in first-seen order). */
export function taskProbabilities(counts: ReadonlyMap<string, number>, mode: TaskSampling, temperature = 1): Map<string, number> {
  if (!(temperature > 0)) throw new Error(`sampling temperature must be greater than 0, got ${temperature}`);
  const weights = new Map<string, number>();
  for (const [task, n] of counts) weights.set(task, mode === 'uniform' ? 1 : mode === 'temperature' ? n ** (1 / temperature) : n);
  const total = [...weights.values()].reduce((a, b) => a + b, 0);
  return new Map([...weights].map(([t, w]) => [t, w / total]));
}

/**
 * The batches of one epoch (lists of example indices) with tasks drawn by `mode`. Records without a task
 * form their own task ('').
 */
export function taskSampledBatches(
  tasks: readonly (string | undefined)[],
  batchSize: number,
  options: { mode: TaskSampling; temperature: number; seed: number; epoch: number },
): number[][] {
  const byTask = new Map<string, number[]>();
  tasks.forEach((t, i) => {
    const key = t ?? '';
    if (!byTask.has(key)) byTask.set(key, []);
    byTask.get(key)!.push(i);
  });
  const random = seededRandom(deriveSeed(options.seed, 0x7a5c + options.epoch));
  const probs = taskProbabilities(new Map([...byTask].map(([t, ids]) => [t, ids.length])), options.mode, options.temperature);
  const names = [...probs.keys()];
  const cumulative: number[] = [];
  let acc = 0;
  for (const t of names) cumulative.push((acc += probs.get(t)!));
  const queues = new Map<string, number[]>();
  const next = (task: string): number => {
    let q = queues.get(task);
    if (!q || q.length === 0) {
      q = shuffleInPlace([...byTask.get(task)!], random);
      queues.set(task, q);
    }
    return q.pop()!;
  };
  const order: number[] = [];
  for (let i = 0; i < tasks.length; i++) {
    const r = random.next() * acc;
    const k = cumulative.findIndex((c) => r < c);
    order.push(next(names[k === -1 ? names.length - 1 : k]));
  }
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}
