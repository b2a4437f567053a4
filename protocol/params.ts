// The parameter breakdown and memory estimate of a model and strategy: what `finetune params --json`
// prints, what the trainer's `params` and `memory` events carry (protocol/trainer.ts) and what
// trainer/params.ts computes: types, and the byte formatter their messages share (the extension host's too).
import type { TrainConfig } from './trainer';

export interface ParamGroup {
  name: string;
  total: number;
  trainable: number;
}

export interface LayerParams {
  layer: number;
  /** Base weights of the block (attention, MLP, norms). */
  total: number;
  trainable: number;
  frozen: boolean;
  /** Parameters the strategy adds to this block (LoRA, bottleneck adapters; all trainable). */
  lora: number;
}

export interface ParameterBreakdown {
  /** Every parameter, LoRA's added ones included (PEFT's "all params"). */
  total: number;
  trainable: number;
  frozen: number;
  /** trainable / total, a fraction in [0, 1]. */
  ratio: number;
  /** PEFT's `print_trainable_parameters` line, e.g. `trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364`. */
  line: string;
  /** The chapter's line, e.g. `Trainable: 294912, Total: 124734720, Ratio: 0.24%` (plain integers, as the chapter prints them). */
  chapterLine: string;
  groups: ParamGroup[];
  perLayer: LayerParams[];
}

/** A row of the panel's per-layer table, from the input side (embeddings, h.0 … h.N-1, ln_f). */
export interface LayerRow {
  name: string;
  /** Frozen and trainable base weights, and those the strategy adds (LoRA, adapters). */
  frozen: number;
  trainable: number;
  added: number;
}

/** Training memory in bytes (trainer/params.ts documents the formula). */
export interface MemoryEstimate {
  weights: number;
  gradients: number;
  optimizer: number;
  activations: number;
  total: number;
}

/** `finetune params --json`: the breakdown, and the memory estimate with the shape it assumed. */
export interface ParamsJson extends ParameterBreakdown {
  memory: MemoryEstimate & { batch: number; seq: number };
}

/**
 * `finetune params --survey=REQUEST`: the quick pick's one question to the trainer's code about several
 * models at once (the extension host loads no TensorFlow.js, so it asks a child process). REQUEST is
 * this object as JSON.
 */
export interface SurveyRequest {
  /** `settings`: the run's strategy options (loraR, loraTargets, adapterDim, …) over train's defaults. */
  models: { model: string; batchSize: number; maxLength?: number; settings?: Partial<TrainConfig> }[];
  /** The run's `backend` setting; `auto` is resolved as train resolves it. */
  backend?: string;
  /**
   * A dataset to count the trained tokens of, with the one model that is then surveyed (its tokenizer and
   * maxLength, as train cuts the examples): what the time estimate multiplies.
   */
  data?: string;
  /** The strategies to estimate (default every built-in one); their settings are train's defaults. */
  strategies?: string[];
}

/** One strategy of a surveyed model: its trainable parameters, memory estimate and whether it fits. */
export interface StrategyFit {
  strategy: string;
  trainable: number;
  total: number;
  memory: MemoryEstimate;
  /** The bytes the memory guard compares: the projected wasm heap, else the estimate's total. */
  neededBytes: number;
  /** The wasm heap limit, else this machine's memory. */
  limitBytes: number;
  fits: boolean;
}

export interface SurveyedModel {
  model: string;
  /** The family's display name (GPT-2, Llama, Qwen2, Qwen3). */
  family: string;
  /** Every base parameter (an untied head included): full fine-tuning's total. */
  parameters: number;
  layers: number;
  hiddenSize: number;
  heads: number;
  vocabSize: number;
  context: number;
  /** The sequence length the estimates assumed and the batch size. */
  seq: number;
  batchSize: number;
  /** A stable key of the model's shape (family and every size), for throughput measurements. */
  shapeKey: string;
  /** `finetune bench` flags that build a random model of this shape. */
  benchArgs: string[];
  strategies: StrategyFit[];
  /** With `data`: tokens of the training split per epoch (the start event's `dataset.trainTokens`) and its examples. */
  trainTokens?: number;
  trainExamples?: number;
  /** With `data`, when its tokens could not be counted (no tokenizer offline, a record the trainer refuses). */
  trainTokensError?: string;
}

export interface SurveyResult {
  /** The backend a run would use (`auto` resolved). */
  backend: string;
  totalMemBytes: number;
  models: (SurveyedModel | { model: string; error: string })[];
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
