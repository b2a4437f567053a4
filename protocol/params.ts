// The parameter breakdown and memory estimate of a model and strategy: what `finetune params --json`
// prints, what the trainer's `params` and `memory` events carry (protocol/trainer.ts) and what
// trainer/params.ts computes. Types only.

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
