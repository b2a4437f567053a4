// One optimizer step: forward and backward of each micro-batch through the head's objective (causal
// LM or classification, trainer/heads/), gradient accumulation, the global-norm clip and the AdamW
// update, with everything the step reports read back in one asynchronous read (webgpu has no
// synchronous read in Node).
import * as tf from '@tensorflow/tfjs-core';
import { gradientsFreeingAsItGoes } from './compute/gradients';
import { taskWeight } from '../protocol/trainer';
import type { Batch } from './data';
import { causalLmHead } from './heads/causalLm';
import type { Head } from './heads/head';
import { clipByGlobalNorm, GradientAccumulator, squaredGlobalNorm, type AdamW, type TrainableVariable } from './optimizer';
import type { TunedModel } from './strategies/tunedModel';

/**
 * Per-row weights so that the batch loss is Σ_t α_t·L_t over the tasks present, as the chapter writes it
 * (L_t: that task's token-weighted mean CE in the batch; α_t from --task-weights, default 1). Without
 * tasks it is the token-weighted mean over the batch (one task, α = 1).
 */
export function rowWeights(batch: Batch, taskWeights?: Record<string, number>): Float32Array {
  const tokensByTask = new Map<string, number>();
  batch.tasks.forEach((task, b) => tokensByTask.set(task ?? '', (tokensByTask.get(task ?? '') ?? 0) + batch.rowLossTokens[b]));
  const alpha = (task: string) => (task !== '' ? taskWeight(taskWeights, task) : 1);
  const w = new Float32Array(batch.size);
  batch.tasks.forEach((task, b) => {
    const key = task ?? '';
    const n = tokensByTask.get(key)!;
    w[b] = n > 0 ? alpha(key) / n : 0;
  });
  return w;
}

/** The objective of a step: the model, the variables it trains, the head, and the task weights α_t. */
export interface Objective {
  model: TunedModel;
  variables: readonly TrainableVariable[];
  /** Default: the causal-LM head. */
  head?: Head;
  taskWeights?: Record<string, number>;
}

/** A micro-batch's forward + backward with its results still on the device. */
interface MicroBatchTensors {
  /** The weighted batch loss, shape [1]. */
  loss: tf.Tensor1D;
  /** CE summed per row, shape [B]. */
  rowSums: tf.Tensor1D;
  grads: tf.Tensor[];
}

function microBatchTensors({ model, variables, head = causalLmHead, taskWeights }: Objective, batch: Batch): MicroBatchTensors {
  const t = {
    ids: tf.tensor2d(batch.inputIds, [batch.size, batch.length], 'int32'),
    labels: tf.tensor2d(batch.labels, [batch.size, batch.length], 'int32'),
    mask: tf.tensor2d(batch.attentionMask, [batch.size, batch.length], 'float32'),
  };
  const weights = tf.tensor2d(rowWeights(batch, taskWeights), [batch.size, 1]);
  let rowSums: tf.Tensor1D | undefined;
  try {
    const { value, grads } = gradientsFreeingAsItGoes(
      () => {
        const ce = head.lossRows(model, batch, t, true);
        rowSums = tf.keep(tf.sum(ce, 1) as tf.Tensor1D);
        return tf.sum(tf.mul(ce, weights)) as tf.Scalar;
      },
      variables.map((v) => v.variable),
    );
    const loss = tf.reshape(value, [1]) as tf.Tensor1D;
    value.dispose();
    // A trainable variable the loss does not reach (a LoRA B before any step cannot be one; an unused
    // task's head row can) gets a zero gradient, as tf.variableGrads callers expect.
    return { loss, rowSums: rowSums!, grads: grads.map((g, i) => g ?? tf.zerosLike(variables[i].variable)) };
  } finally {
    tf.dispose([weights, t.ids, t.labels, t.mask]);
  }
}

function addTaskSums(into: Map<string, { sum: number; tokens: number }>, batch: Batch, sums: ArrayLike<number>): void {
  batch.tasks.forEach((task, b) => {
    const entry = into.get(task ?? '') ?? { sum: 0, tokens: 0 };
    entry.sum += sums[b];
    entry.tokens += batch.rowLossTokens[b];
    into.set(task ?? '', entry);
  });
}

export interface MicroBatchResult {
  loss: number;
  /** Sum of CE and loss tokens per task ('' = records without a task), for per-task losses. */
  taskSums: Map<string, { sum: number; tokens: number }>;
  /** In the order of the objective's variables; the caller disposes them. */
  grads: tf.Tensor[];
}

/** Forward + backward of one micro-batch, read back asynchronously. */
export async function microBatchGradients(objective: Objective, batch: Batch): Promise<MicroBatchResult> {
  const r = microBatchTensors(objective, batch);
  try {
    const [loss, rowSums] = await Promise.all([r.loss.data(), r.rowSums.data()]);
    const taskSums = new Map<string, { sum: number; tokens: number }>();
    addTaskSums(taskSums, batch, rowSums);
    return { loss: loss[0], taskSums, grads: r.grads };
  } catch (err) {
    tf.dispose(r.grads);
    throw err;
  } finally {
    tf.dispose([r.loss, r.rowSums]);
  }
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  taskLosses?: Record<string, number>;
  tokens: number;
  lossTokens: number;
}

/** Thrown when a loss or gradient is NaN/infinite: the update is not applied. */
export class NonFiniteLossError extends Error {}

export interface StepOptions {
  model: TunedModel;
  optimizer: AdamW;
  /** The step's micro-batches (gradient accumulation averages their gradients). */
  microBatches: readonly Batch[];
  lr: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  gradClip: number;
  taskWeights?: Record<string, number>;
  /** Default: the causal-LM head. */
  head?: Head;
}

/**
 * One optimizer step over `microBatches`, clipped, at learning rate `lr`. Losses, the squared gradient
 * norm and the row sums are packed in one tensor and read once; nothing is applied when any is non-finite.
 */
export async function optimizerStep({ model, optimizer, microBatches, lr, gradClip, taskWeights, head }: StepOptions): Promise<StepResult> {
  const objective: Objective = { model, variables: optimizer.variables, head, taskWeights };
  const accumulator = new GradientAccumulator();
  const reads: tf.Tensor1D[] = [];
  let grads: tf.Tensor[];
  let packed: tf.Tensor1D;
  try {
    for (const batch of microBatches) {
      const r = microBatchTensors(objective, batch);
      accumulator.add(r.grads);
      reads.push(r.loss, r.rowSums);
    }
    grads = accumulator.mean()!;
    const losses = reads.filter((_, i) => i % 2 === 0);
    const rowSums = reads.filter((_, i) => i % 2 === 1);
    // [loss per micro-batch…, squared grad norm, row sums of each micro-batch…]
    packed = tf.tidy(() => tf.concat([...losses, tf.reshape(squaredGlobalNorm(grads), [1]), ...rowSums]) as tf.Tensor1D);
  } finally {
    tf.dispose(reads);
    accumulator.dispose();
  }
  let values: Float32Array;
  try {
    values = (await packed.data()) as Float32Array;
  } catch (err) {
    tf.dispose([...grads, packed]);
    throw err;
  }
  try {
    const n = microBatches.length;
    let lossSum = 0;
    let tokens = 0;
    let lossTokens = 0;
    const taskTotals = new Map<string, { sum: number; tokens: number }>();
    let offset = n + 1;
    microBatches.forEach((batch, i) => {
      if (!Number.isFinite(values[i])) throw new NonFiniteLossError(`training loss is ${values[i]}`);
      lossSum += values[i];
      tokens += batch.tokens;
      lossTokens += batch.lossTokens;
      addTaskSums(taskTotals, batch, values.subarray(offset, offset + batch.size));
      offset += batch.size;
    });
    const gradNorm = Math.sqrt(values[n]);
    if (!Number.isFinite(gradNorm)) throw new NonFiniteLossError(`gradient norm is ${gradNorm}`);
    grads = clipByGlobalNorm(grads, gradNorm, gradClip);
    optimizer.applyGradients(grads, lr);
    const named = [...taskTotals].filter(([task]) => task !== '');
    const result: StepResult = { loss: lossSum / n, gradNorm, tokens, lossTokens };
    if (named.length > 0) result.taskLosses = Object.fromEntries(named.map(([k, v]) => [k, v.sum / v.tokens]));
    return result;
  } finally {
    tf.dispose([...grads, packed]);
  }
}
