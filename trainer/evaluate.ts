// Evaluation of the causal-LM objective: the token-weighted mean cross-entropy over every loss token of
// a set of examples (batching cannot change it), per task too. Reads are asynchronous, so it runs on
// webgpu. The classification head's evaluation (accuracy, per-class counts) is heads/classification.ts's.
import * as tf from '@tensorflow/tfjs-core';
import { evalBatches, padBatch, type Batch, type TrainingExample } from './data';
import type { TunedModel } from './strategies/tunedModel';

export interface EvalResult {
  loss: number;
  tokens: number;
  examples: number;
  taskLosses?: Record<string, number>;
}

class EvalTotals {
  private sum = 0;
  private tokens = 0;
  private readonly byTask = new Map<string, { sum: number; tokens: number }>();

  add(batch: Batch, values: ArrayLike<number>): void {
    batch.tasks.forEach((task, b) => {
      this.sum += values[b];
      this.tokens += batch.rowLossTokens[b];
      if (task !== undefined) {
        const e = this.byTask.get(task) ?? { sum: 0, tokens: 0 };
        e.sum += values[b];
        e.tokens += batch.rowLossTokens[b];
        this.byTask.set(task, e);
      }
    });
  }

  result(examples: number): EvalResult {
    const result: EvalResult = { loss: this.tokens > 0 ? this.sum / this.tokens : NaN, tokens: this.tokens, examples };
    if (this.byTask.size > 0) result.taskLosses = Object.fromEntries([...this.byTask].map(([k, v]) => [k, v.sum / v.tokens]));
    return result;
  }
}

export interface EvalOptions {
  batchSize: number;
  /** The padding token id; default 0 (padding never counts: its labels are −1). */
  padId?: number;
}

/** Token-weighted mean CE over every loss token of `examples`. */
export async function evaluate(model: TunedModel, examples: readonly TrainingExample[], { batchSize, padId = 0 }: EvalOptions): Promise<EvalResult> {
  const totals = new EvalTotals();
  for (const indices of evalBatches(
    examples.map((e) => e.inputIds.length),
    batchSize,
  )) {
    const batch = padBatch(
      indices.map((i) => examples[i]),
      padId,
    );
    const ids = tf.tensor2d(batch.inputIds, [batch.size, batch.length], 'int32');
    const labels = tf.tensor2d(batch.labels, [batch.size, batch.length], 'int32');
    const mask = tf.tensor2d(batch.attentionMask, [batch.size, batch.length], 'float32');
    const rows = tf.tidy(() => tf.sum(model.tokenLoss(ids, labels, mask, false), 1));
    try {
      totals.add(batch, await rows.data());
    } finally {
      tf.dispose([rows, ids, labels, mask]);
    }
  }
  return totals.result(examples.length);
}
