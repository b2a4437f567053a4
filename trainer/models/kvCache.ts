// Incremental decoding's state and its attention, shared by every family: each layer's keys and values of
// the positions seen so far ([kv heads, T, head_dim]: grouped-query attention caches its kv heads, never
// the repeated ones), and the attention of a few new queries over them. One sequence at a time: generation
// decodes one prompt. Inference only (no gradient), so the ops are tfjs's own, not custom-grad ones.
import * as tf from '@tensorflow/tfjs-core';
import { batchedMatMul } from '../compute/ops';

/** Large enough that exp() of it under softmax is exactly 0, as attentionMaskBias's masked entries. */
const MASKED = -1e9;

export class KvCache {
  /** Positions held (an input prefix's included): the absolute position of the next one. */
  length = 0;
  private readonly keys: (tf.Tensor3D | undefined)[];
  private readonly values: (tf.Tensor3D | undefined)[];

  constructor(
    readonly numLayers: number,
    /** The model's context: a step that would hold more positions is refused. */
    readonly maxPositions: number,
  ) {
    this.keys = new Array(numLayers).fill(undefined);
    this.values = new Array(numLayers).fill(undefined);
  }

  /** Whether `n` more positions fit the context. */
  fits(n: number): boolean {
    return this.length + n <= this.maxPositions;
  }

  /**
   * Layer `layer`'s keys and values with `k`, `v` [kvHeads, n, D] appended: the tensors attention reads
   * this step. They are kept (outside any tidy) and the previous ones disposed; `advance` moves `length`
   * once every layer has appended.
   */
  append(layer: number, k: tf.Tensor3D, v: tf.Tensor3D): { k: tf.Tensor3D; v: tf.Tensor3D } {
    const grow = (old: tf.Tensor3D | undefined, add: tf.Tensor3D) => tf.keep(old ? (tf.concat([old, add], 1) as tf.Tensor3D) : add.clone());
    const nk = grow(this.keys[layer], k);
    const nv = grow(this.values[layer], v);
    this.keys[layer]?.dispose();
    this.values[layer]?.dispose();
    this.keys[layer] = nk;
    this.values[layer] = nv;
    return { k: nk, v: nv };
  }

  advance(n: number): void {
    this.length += n;
  }

  dispose(): void {
    for (let i = 0; i < this.numLayers; i++) {
      this.keys[i]?.dispose();
      this.values[i]?.dispose();
      this.keys[i] = this.values[i] = undefined;
    }
    this.length = 0;
  }
}

/**
 * The additive mask [n, total] of `n` new queries at positions total−n…total−1 over all `total` positions:
 * 0 where a key is at or before the query, MASKED after it (the causal mask's last n rows). Null for one
 * query, which sees every cached position.
 */
export function decodeMaskBias(n: number, total: number): tf.Tensor2D | null {
  if (n === 1) return null;
  const bias = new Float32Array(n * total);
  const first = total - n;
  for (let i = 0; i < n; i++) for (let s = first + i + 1; s < total; s++) bias[i * total + s] = MASKED;
  return tf.tensor2d(bias, [n, total]);
}

/** [n, H·D] (heads side by side, as a projection's output) -> [H, n, D]. */
export function splitHeads(x: tf.Tensor2D, heads: number): tf.Tensor3D {
  const [n, width] = x.shape;
  return tf.transpose(tf.reshape(x, [n, heads, width / heads]), [1, 0, 2]) as tf.Tensor3D;
}

/**
 * Softmax attention of q [n, H·D] over cached keys and values [Hkv, T, D] (T ≥ n, the new positions last),
 * giving [n, H·D] as causalSelfAttention's output is laid out. Query head h reads kv head ⌊h / (H/Hkv)⌋
 * (repeat_kv's order); the query heads of one kv head are stacked as rows, so keys and values are never
 * repeated. The scores are scaled after the product, as causalSelfAttention does.
 */
export function cachedAttention(q: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D, numHeads: number, bias: tf.Tensor2D | null): tf.Tensor2D {
  const n = q.shape[0];
  const [kvHeads, total, d] = keys.shape;
  const rep = numHeads / kvHeads;
  const grouped = tf.reshape(splitHeads(q, numHeads), [kvHeads, rep * n, d]) as tf.Tensor3D;
  const scores = tf.mul(batchedMatMul(grouped, keys, false, true), 1 / Math.sqrt(d));
  const masked = bias ? tf.add(tf.reshape(scores, [kvHeads, rep, n, total]), bias) : scores;
  const probs = tf.reshape(tf.softmax(masked), [kvHeads, rep * n, total]) as tf.Tensor3D;
  const out = tf.reshape(batchedMatMul(probs, values), [numHeads, n, d]);
  return tf.reshape(tf.transpose(out, [1, 0, 2]), [n, numHeads * d]) as tf.Tensor2D;
}

/** Checks a decode step's ids against the vocabulary on the JavaScript side (no device read). */
export function checkDecodeIds(ids: readonly number[], vocabSize: number): void {
  if (ids.length === 0) throw new Error('a decode step needs at least one token');
  for (const id of ids) {
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new Error(`token id ${id} is outside the model's vocabulary (${vocabSize} tokens)`);
  }
}

/** What a family's layers get for one decode step. */
export interface DecodeFrame {
  /** Positions this step adds (the input prefix's included on an empty cache). */
  n: number;
  /** The absolute position of the first of them. */
  start: number;
  /** The causal bias among the new positions, or null for one position (cachedAttention's `bias`). */
  bias: tf.Tensor2D | null;
  /** The ForwardContext's maskBias: the forward pass's is the whole sequence's, decoding's attention takes `bias`. */
  maskBias: tf.Tensor;
}

/**
 * The frame of every family's decodeStep: checks the ids and the room left in the context, embeds the ids
 * from `tokens` [V, E] with the input prefix first on an empty cache (as hiddenStates lays them out),
 * runs the family's `layers` on those [n, E] embeddings, and advances the cache once they have appended.
 */
export function decodeStepWith(
  cache: KvCache,
  ids: readonly number[],
  tokens: tf.Tensor,
  prefix: tf.Tensor2D | undefined,
  layers: (embedded: tf.Tensor2D, frame: DecodeFrame) => tf.Tensor1D,
): tf.Tensor1D {
  checkDecodeIds(ids, tokens.shape[0]);
  const first = cache.length === 0 ? prefix : undefined;
  const n = ids.length + (first ? first.shape[0] : 0);
  if (!cache.fits(n)) throw new Error(`decoding ${n} more positions after ${cache.length} exceeds the model's context (${cache.maxPositions})`);
  const start = cache.length;
  const logits = tf.tidy(() => {
    const bias = decodeMaskBias(n, start + n);
    const tok = tf.gather(tokens, tf.tensor1d([...ids], 'int32')) as tf.Tensor2D;
    const embedded = first ? (tf.concat([first, tok], 0) as tf.Tensor2D) : tok;
    return layers(embedded, { n, start, bias, maskBias: bias ?? tf.zeros([1, 1]) });
  });
  cache.advance(n);
  return logits;
}
