// The causal-LM head: next-token cross-entropy over every position the loss mask keeps. Its weights are
// the model's own (GPT-2 ties them to the token embedding; an untied family holds lm_head itself), so
// the head adds no variables.
import type * as tf from '@tensorflow/tfjs-core';
import type { TunedModel } from '../strategies/tunedModel';
import type { BatchTensors, Head } from './head';

export const causalLmHead: Head = {
  kind: 'lm',
  trainableVariables: () => [],
  lossRows(model: TunedModel, _batch, t: BatchTensors, training: boolean): tf.Tensor2D {
    return model.tokenLoss(t.ids, t.labels, t.mask, training);
  },
  dispose: () => {},
};
