// What a model's output head is to the training step: its own trainable variables and the loss rows of
// a batch. The causal-LM head (causalLm.ts) takes the model's token losses; the classification head
// (classification.ts) one cross-entropy per example from the last non-padding token.
import type * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '../data';
import type { TrainableVariable } from '../optimizer';
import type { TunedModel } from '../strategies/tunedModel';

/** A batch on the device: input ids and shifted labels (int32) and the attention mask, each [B, T]. */
export interface BatchTensors {
  ids: tf.Tensor2D;
  labels: tf.Tensor2D;
  mask: tf.Tensor2D;
}

export interface Head {
  readonly kind: 'lm' | 'classification';
  /** The head's own trainable variables (none for a tied LM head), after the model's in the optimizer. */
  trainableVariables(): TrainableVariable[];
  /**
   * The loss of each row's loss positions, [B, K]: CE per token for the LM head ([B, T], labels −1 give 0),
   * one CE per example for classification ([B, 1]). The step weights them per row (rowWeights).
   */
  lossRows(model: TunedModel, batch: Batch, tensors: BatchTensors, training: boolean): tf.Tensor2D;
  dispose(): void;
}
