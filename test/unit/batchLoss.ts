// The token-weighted next-token loss of id sequences evaluated as one right-padded batch, as the PyTorch
// reference's `eval` computes it over the same sequences: what the Llama parity tests compare.
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM } from '../../trainer/models/model';

/** The token-weighted loss over `records` evaluated as one right-padded batch (padding masked, never trained). */
export function batchLoss(model: Pick<CausalLM, 'tokenLoss'>, records: number[][]): { loss: number; tokens: number } {
  return tf.tidy(() => {
    const t = Math.max(...records.map((r) => r.length));
    const pad = (row: number[], fill: number) => [...row, ...Array<number>(t - row.length).fill(fill)];
    const input = tf.tensor2d(
      records.map((r) => pad(r, 0)),
      [records.length, t],
      'int32',
    );
    const labels = tf.tensor2d(
      records.map((r) => pad(r.slice(1), -1)),
      [records.length, t],
      'int32',
    );
    const mask = tf.tensor2d(
      records.map((r) =>
        pad(
          r.map(() => 1),
          0,
        ),
      ),
      [records.length, t],
    );
    const tokens = records.reduce((a, r) => a + r.length - 1, 0);
    return { loss: tf.sum(model.tokenLoss(input, labels, mask, false)).dataSync()[0] / tokens, tokens };
  });
}
