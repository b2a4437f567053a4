// Text generation from a base model, a saved full model, or a base model with a saved adapter (PEFT
// LoRA, bottleneck adapters, PEFT prompt tuning): greedy at temperature 0, otherwise sampling from
// softmax(logits / T) restricted to the top k tokens, stopping at end-of-text or after maxNewTokens.
// No KV cache: each step runs the whole (context-cropped) sequence, which is fine for the small
// models and short answers this is for (the panel's "Try It" box, `finetune generate`).
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
  seed: number;
  stopAtEos: boolean;
  eosId: number;
  /** Called with each new token id as it is chosen. */
  onToken?: (id: number) => void;
}

export type { StopReason };

/** Picks the next token from one row of logits. */
export function pickToken(logits: Float32Array, temperature: number, topK: number, random: () => number): number {
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let candidates = Array.from(logits.keys());
  if (topK > 0 && topK < logits.length) candidates = candidates.sort((a, b) => logits[b] - logits[a]).slice(0, topK);
  let max = -Infinity;
  for (const i of candidates) max = Math.max(max, logits[i]);
  const weights = candidates.map((i) => Math.exp((logits[i] - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let r = random() * total;
  for (let j = 0; j < candidates.length; j++) {
    r -= weights[j];
    if (r < 0) return candidates[j];
  }
  return candidates[candidates.length - 1];
}

/** The next-token logits [V] after `ids` (cropped on the left to what fits the context). */
export function nextTokenLogits(model: TunedModel, ids: readonly number[]): Float32Array {
  const prefix = model.base.inputPrefix;
  const virtual = prefix ? prefix.shape[0] : 0;
  const { maxPositions, vocabSize } = model.base.dims;
  const window = ids.slice(Math.max(0, ids.length - (maxPositions - virtual)));
  const t = window.length;
  const out = tf.tidy(() => {
    const logits = model.logits(tf.tensor2d([window], [1, t], 'int32'), tf.ones([1, t]) as tf.Tensor2D);
    return tf.reshape(tf.slice(logits, [0, t - 1, 0], [1, 1, vocabSize]), [vocabSize]);
  });
  const data = out.dataSync() as Float32Array;
  out.dispose();
  return data;
}

/** Generates after `promptIds`; returns the new token ids (end-of-text not included) and why it stopped. */
export function generateTokens(model: TunedModel, promptIds: readonly number[], opts: SamplingOptions): { tokens: number[]; stopReason: StopReason } {
  if (promptIds.length === 0) throw new Error('the prompt has no tokens');
  const rng = seededRandom(opts.seed);
  const ids = [...promptIds];
  const tokens: number[] = [];
  while (tokens.length < opts.maxNewTokens) {
    const next = pickToken(nextTokenLogits(model, ids), opts.temperature, opts.topK, rng.next);
    if (opts.stopAtEos && next === opts.eosId) return { tokens, stopReason: 'eos' };
    tokens.push(next);
    ids.push(next);
    opts.onToken?.(next);
  }
  return { tokens, stopReason: 'max-tokens' };
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
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new Error(`maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  if (!(temperature >= 0)) throw new Error(`temperature must be 0 or more, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`topK must be a non-negative integer, got ${topK}`);
  await initBackend(opts.backend ?? 'auto');
  const base = await loadModelWithAdapter(opts.modelSpec, opts.adapterDir, opts.modelSeed ?? 42, opts.onLog);
  try {
    const tokenizer: TextTokenizer = base.tokenizer;
    const prompt = applyTemplate(opts.prompt, opts.template ?? 'none');
    const promptIds = tokenizer.encode(prompt);
    const produced: number[] = [];
    const { tokens, stopReason } = generateTokens(base.model, promptIds, {
      maxNewTokens,
      temperature,
      topK,
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
    return { text: tokenizer.decode(tokens), tokens, prompt, promptTokens: promptIds.length, stopReason };
  } finally {
    base.model.dispose();
  }
}
