// What every family's forward pass does with its inputs before and after its blocks: checks the ids against
// the vocabulary and the context, puts an input prefix (prompt tuning's virtual tokens) before the token
// embeddings with the attention mask widened to match, and drops the prefix positions from the final states.
// One copy, so that a new family gets the same checks and the same prefix layout (PEFT's) as the others.
import * as tf from '@tensorflow/tfjs-core';

export interface ModelInput {
  batch: number;
  /** Positions of the ids alone. */
  inputSeq: number;
  /** Prefix positions (0 without a prefix). */
  virtual: number;
  /** inputSeq + virtual: what the blocks see. */
  seq: number;
  /** The mask over [prefix, input] (1 on the prefix). */
  attentionMask: tf.Tensor2D;
}

/**
 * Checks `inputIds` (every id inside the vocabulary: an id past it would read outside the embedding matrix
 * on wasm) and the length with the prefix against the model's context; widens the mask over the prefix.
 */
export function modelInput(
  inputIds: tf.Tensor2D,
  attentionMask: tf.Tensor2D,
  prefix: tf.Tensor | undefined,
  limits: { maxPositions: number; vocabSize: number },
): ModelInput {
  const [batch, inputSeq] = inputIds.shape;
  const virtual = prefix ? prefix.shape[0] : 0;
  const seq = inputSeq + virtual;
  if (virtual > 0) attentionMask = tf.concat([tf.ones([batch, virtual]), attentionMask], 1) as tf.Tensor2D;
  if (seq > limits.maxPositions) throw new Error(`sequence length ${seq} exceeds the model's context (${limits.maxPositions})`);
  const idValues = inputIds.dataSync();
  for (let i = 0; i < idValues.length; i++) {
    if (!(idValues[i] >= 0 && idValues[i] < limits.vocabSize))
      throw new Error(`token id ${idValues[i]} is outside the model's vocabulary (${limits.vocabSize} tokens)`);
  }
  return { batch, inputSeq, virtual, seq, attentionMask };
}

/** Token embeddings [B, seq, E] of `inputIds`, with the prefix [N, E] in front of every row. */
export function embedWithPrefix(table: tf.Tensor, inputIds: tf.Tensor2D, prefix: tf.Tensor | undefined, input: ModelInput): tf.Tensor3D {
  const e = table.shape[1]!;
  const tok = tf.reshape(tf.gather(table, tf.reshape(inputIds, [input.batch * input.inputSeq])), [input.batch, input.inputSeq, e]) as tf.Tensor3D;
  return prefix ? (tf.concat([tf.tile(tf.expandDims(prefix, 0), [input.batch, 1, 1]), tok], 1) as tf.Tensor3D) : tok;
}

/** The final states [B·seq, E] less the prefix positions: [B·inputSeq, E]. */
export function dropPrefix(h: tf.Tensor2D, input: ModelInput): tf.Tensor2D {
  if (input.virtual === 0) return h;
  const e = h.shape[1];
  return tf.reshape(tf.slice(tf.reshape(h, [input.batch, input.seq, e]), [0, input.virtual, 0], [input.batch, input.inputSeq, e]), [
    input.batch * input.inputSeq,
    e,
  ]) as tf.Tensor2D;
}
