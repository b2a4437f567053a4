// Text generation from a base model, a saved full model, or a base model with a saved adapter (PEFT
// LoRA, bottleneck adapters, PEFT prompt tuning): greedy at temperature 0, otherwise sampling from
// softmax(logits / T) cut to the top k tokens and then to the nucleus of probability p (transformers'
// warpers in that order), stopping at end-of-text or after maxNewTokens. The prompt is encoded in one
// forward pass (the prefill) and each new token in one step over the model's key/value cache; every
// logits read is asynchronous (`await data()`), so a GPU backend is never blocked on a synchronous read.
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { formatRecord } from '../language';
import type { TextTokenizer } from '../language/tokenizer';
import type { DatasetFormat } from '../language/types';
import type { GenerateResult, StopReason } from '../protocol/generate';
import type { BackendChoice } from '../protocol/trainer';
import { initBackend } from './compute/backend';
import { loadModelWithAdapter } from './loadModel';
import { seededRandom } from './random';
import { adapterStrategyOf } from './strategies';
import type { KvCache } from './models/kvCache';
import type { TunedModel } from './strategies/tunedModel';

/** What an adapter folder holds (the strategy's name: lora, adapter, prompt), from its adapter_config.json. */
export function adapterKind(dir: string): string {
  return adapterStrategyOf(dir).spec.name;
}

/** A prompt as a record of `format` would be formatted for training (`none`: the text as is). */
export function applyTemplate(prompt: string, template: DatasetFormat | 'none'): string {
  switch (template) {
    case 'none':
      return prompt;
    case 'alpaca':
      return formatRecord({ instruction: prompt, input: '', output: '' }, 'alpaca').prompt;
    case 'chat':
      return formatRecord({ messages: [{ role: 'user', content: prompt }] }, 'chat').prompt;
    case 'completion':
      return formatRecord({ prompt, completion: '' }, 'completion').prompt;
    case 'classification':
      return formatRecord({ text: prompt, label: '' }, 'classification').prompt;
    case 'text':
      return prompt;
  }
}

export interface SamplingOptions {
  maxNewTokens: number;
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Sample only among the k most likely tokens; 0 = all. */
  topK: number;
  /** Nucleus sampling: only the smallest set of most likely tokens whose probability reaches p; 1 (default) = all. */
  topP?: number;
  seed: number;
  stopAtEos: boolean;
  eosId: number;
  /** Called with each new token id as it is chosen. */
  onToken?: (id: number) => void;
  /**
   * Default true: one step per token over the key/value cache. False runs the whole cropped sequence
   * through the forward pass for every token: the reference the cache is tested and measured against
   * (its input check reads the ids synchronously, so it does not run on webgpu).
   */
  cache?: boolean;
}

export type { StopReason };

/** Three-way partition of a[lo, hi) around v, in place: [lo, gt) holds what is above v, [gt, lt) v itself, [lt, hi) the rest. */
function partition3(a: Float64Array, lo: number, hi: number, v: number): [number, number] {
  let gt = lo;
  let lt = hi;
  let i = lo;
  while (i < lt) {
    const x = a[i];
    if (x > v) {
      a[i++] = a[gt];
      a[gt++] = x;
    } else if (x < v) {
      a[i] = a[--lt];
      a[lt] = x;
    } else {
      i++;
    }
  }
  return [gt, lt];
}

/**
 * Where a walk through `values` from the largest down first has `enough` (of count taken and their sum;
 * monotone in both): the value it stops at and how many of the elements equal to it it takes; null when
 * it takes everything. A quickselect over a copy, O(n) expected: sorting a 128k vocabulary per token
 * would cost more than the model's decode step.
 */
function cutoff(values: ArrayLike<number>, enough: (count: number, sum: number) => boolean): { value: number; ties: number } | null {
  const a = Float64Array.from(values);
  let lo = 0;
  let hi = a.length;
  let count = 0;
  let sum = 0;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    const [x, y, z] = [a[lo], a[m], a[hi - 1]];
    const v = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z)); // median of three
    const [gt, lt] = partition3(a, lo, hi, v);
    let above = 0;
    for (let i = lo; i < gt; i++) above += a[i];
    if (gt > lo && enough(count + gt - lo, sum + above)) {
      hi = gt;
      continue;
    }
    count += gt - lo;
    sum += above;
    for (let ties = 1; ties <= lt - gt; ties++) if (enough(count + ties, sum + ties * v)) return { value: v, ties };
    count += lt - gt;
    sum += (lt - gt) * v;
    lo = lt;
  }
  return null;
}

/** The positions of `values` a cutoff keeps, in index order: all above its value and the first `ties` equal to it. */
function kept(values: ArrayLike<number>, cut: { value: number; ties: number } | null): Int32Array {
  const out = new Int32Array(values.length);
  let n = 0;
  let ties = cut?.ties ?? 0;
  for (let i = 0; i < values.length; i++) if (!cut || values[i] > cut.value || (values[i] === cut.value && ties-- > 0)) out[n++] = i;
  return out.subarray(0, n);
}

/** The tokens a sampled pick draws from and their unnormalised probabilities (`total` their sum). */
export interface SamplingDistribution {
  ids: Int32Array;
  weights: Float64Array;
  total: number;
}

/**
 * softmax(logits / T) over the top k (0 = all) and then over the nucleus of probability topP (1 = all):
 * the fewest most likely tokens whose probability reaches p, never none (transformers' TopKLogitsWarper
 * and TopPLogitsWarper with min_tokens_to_keep 1, applied in that order after the temperature). Ties at
 * a cut are taken in token order. `temperature` must be above 0.
 */
export function samplingDistribution(logits: Float32Array, temperature: number, topK: number, topP = 1): SamplingDistribution {
  const ids = kept(logits, topK > 0 && topK < logits.length ? cutoff(logits, (count) => count >= topK) : null);
  let max = -Infinity;
  for (let j = 0; j < ids.length; j++) max = Math.max(max, logits[ids[j]]);
  const weights = new Float64Array(ids.length);
  let total = 0;
  for (let j = 0; j < ids.length; j++) total += weights[j] = Math.exp((logits[ids[j]] - max) / temperature);
  if (!(topP < 1)) return { ids, weights, total };
  const nucleus = kept(
    weights,
    cutoff(weights, (count, mass) => count >= 1 && mass >= topP * total),
  );
  const out = { ids: new Int32Array(nucleus.length), weights: new Float64Array(nucleus.length), total: 0 };
  for (let j = 0; j < nucleus.length; j++) {
    out.ids[j] = ids[nucleus[j]];
    out.total += out.weights[j] = weights[nucleus[j]];
  }
  return out;
}

/** Picks the next token from one row of logits: the argmax at temperature 0, otherwise a draw from samplingDistribution. */
export function pickToken(logits: Float32Array, temperature: number, topK: number, random: () => number, topP = 1): number {
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const { ids, weights, total } = samplingDistribution(logits, temperature, topK, topP);
  let r = random() * total;
  for (let j = 0; j < ids.length; j++) {
    r -= weights[j];
    if (r < 0) return ids[j];
  }
  return ids[ids.length - 1];
}

/** How many of the last ids a forward pass can take: the context less an input prefix's positions. */
function contextWindow(model: TunedModel): number {
  const prefix = model.base.inputPrefix;
  return model.base.dims.maxPositions - (prefix ? prefix.shape[0] : 0);
}

/** Reads a [V] logits tensor without blocking (webgpu maps the buffer asynchronously) and disposes it. */
async function readLogits(t: tf.Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/** The next-token logits [V] after `ids` (cropped on the left to what fits the context) by a whole forward pass, no cache. */
export async function nextTokenLogits(model: TunedModel, ids: readonly number[]): Promise<Float32Array> {
  const { vocabSize } = model.base.dims;
  const window = ids.slice(Math.max(0, ids.length - contextWindow(model)));
  const t = window.length;
  return readLogits(
    tf.tidy(() => {
      const logits = model.logits(tf.tensor2d([window], [1, t], 'int32'), tf.ones([1, t]) as tf.Tensor2D);
      return tf.reshape(tf.slice(logits, [0, t - 1, 0], [1, 1, vocabSize]), [vocabSize]);
    }),
  );
}

/**
 * Next-token logits over a key/value cache: the first call prefills the prompt in one pass, each later
 * one runs only the newest token. When the next position would not fit the context the cropped window
 * is encoded afresh: a cached position cannot move (GPT-2's position embedding and RoPE's rotation are
 * in its keys and in every later layer's input), so re-encoding is the only way to keep every position
 * what an uncached pass over the same window gives it. From then on each step re-encodes the window.
 */
class CachedDecoder {
  private cache: KvCache | undefined;
  constructor(private readonly model: TunedModel) {}

  next(ids: readonly number[]): Promise<Float32Array> {
    const base = this.model.base;
    if (this.cache?.fits(1)) return readLogits(base.decodeStep([ids[ids.length - 1]], this.cache));
    this.cache?.dispose();
    this.cache = base.startCache();
    return readLogits(base.decodeStep(ids.slice(Math.max(0, ids.length - contextWindow(this.model))), this.cache));
  }

  dispose(): void {
    this.cache?.dispose();
    this.cache = undefined;
  }
}

/** generateTokens's answer: the new token ids (end-of-text not included), why it stopped, and its timing. */
export interface GeneratedTokens {
  tokens: number[];
  stopReason: StopReason;
  /** Wall time of the prompt's forward pass up to its logits read. */
  prefillMs: number;
  /** Wall time of the steps after the prefill (each a forward pass, its read and the pick). */
  decodeMs: number;
  /** Forward passes after the prefill: one per token after the first. */
  decodeSteps: number;
}

/** Generates after `promptIds` (see SamplingOptions). */
export async function generateTokens(model: TunedModel, promptIds: readonly number[], opts: SamplingOptions): Promise<GeneratedTokens> {
  if (promptIds.length === 0) throw new Error('the prompt has no tokens');
  const rng = seededRandom(opts.seed);
  const ids = [...promptIds];
  const tokens: number[] = [];
  const decoder = opts.cache === false ? undefined : new CachedDecoder(model);
  const started = performance.now();
  let prefillMs = 0;
  let passes = 0;
  const done = (stopReason: StopReason): GeneratedTokens => ({
    tokens,
    stopReason,
    prefillMs,
    decodeMs: passes > 1 ? performance.now() - started - prefillMs : 0,
    decodeSteps: Math.max(0, passes - 1),
  });
  try {
    while (tokens.length < opts.maxNewTokens) {
      const logits = await (decoder ? decoder.next(ids) : nextTokenLogits(model, ids));
      if (passes++ === 0) prefillMs = performance.now() - started;
      const next = pickToken(logits, opts.temperature, opts.topK, rng.next, opts.topP ?? 1);
      if (opts.stopAtEos && next === opts.eosId) return done('eos');
      tokens.push(next);
      ids.push(next);
      opts.onToken?.(next);
    }
    return done('max-tokens');
  } finally {
    decoder?.dispose();
  }
}

export interface GenerateOptions {
  /** Preset, model folder (a run's full output too) or Hugging Face repo id. */
  modelSpec: string;
  /** A LoRA (PEFT), bottleneck-adapter or prompt-tuning (PEFT) output folder to apply. */
  adapterDir?: string;
  prompt: string;
  /** Default 64. */
  maxNewTokens?: number;
  /** Default 0 (greedy). */
  temperature?: number;
  /** Default 0 (no top-k cut). */
  topK?: number;
  /** Default 1 (no nucleus cut). */
  topP?: number;
  /** Sampling seed; default 0. */
  seed?: number;
  /** Seed the `tiny` preset was initialised with (the run's seed); default 42, the training default. */
  modelSeed?: number;
  /** Default true. */
  stopAtEos?: boolean;
  /** Format the prompt as the run's records were formatted (default none). */
  template?: DatasetFormat | 'none';
  backend?: BackendChoice;
  onLog?: (message: string) => void;
  /** Called with the decoded text so far after each token. */
  onText?: (textSoFar: string) => void;
}

/** What `finetune generate --json` prints (typed in protocol/, where Try It reads it). */
export type { GenerateResult };

export async function generate(opts: GenerateOptions): Promise<GenerateResult> {
  const maxNewTokens = opts.maxNewTokens ?? 64;
  const temperature = opts.temperature ?? 0;
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new Error(`maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  if (!(temperature >= 0)) throw new Error(`temperature must be 0 or more, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`topK must be a non-negative integer, got ${topK}`);
  if (!(topP >= 0 && topP <= 1)) throw new Error(`topP must be from 0 to 1, got ${topP}`);
  await initBackend(opts.backend ?? 'auto');
  const base = await loadModelWithAdapter(opts.modelSpec, opts.adapterDir, opts.modelSeed ?? 42, opts.onLog);
  try {
    const tokenizer: TextTokenizer = base.tokenizer;
    const prompt = applyTemplate(opts.prompt, opts.template ?? 'none');
    const promptIds = tokenizer.encode(prompt);
    const produced: number[] = [];
    const run = await generateTokens(base.model, promptIds, {
      maxNewTokens,
      temperature,
      topK,
      topP,
      seed: opts.seed ?? 0,
      stopAtEos: opts.stopAtEos ?? true,
      eosId: tokenizer.eosId,
      onToken: opts.onText
        ? (id) => {
            produced.push(id);
            opts.onText!(tokenizer.decode(produced));
          }
        : undefined,
    });
    const { tokens, stopReason, prefillMs, decodeMs, decodeSteps } = run;
    return {
      text: tokenizer.decode(tokens),
      tokens,
      prompt,
      promptTokens: promptIds.length,
      stopReason,
      prefillMs,
      decodeMs,
      tokensPerSecond: decodeSteps > 0 && decodeMs > 0 ? decodeSteps / (decodeMs / 1000) : null,
    };
  } finally {
    base.model.dispose();
  }
}
