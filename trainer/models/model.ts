// The one surface a model family shows the rest of the trainer (nanoGPT's model file behind PEFT's
// `get_peft_model`): its linear modules by name, its blocks with a hook after each sublayer, its
// embeddings and an input-embeddings prefix, its parameters, and the forward pass. Strategies
// (trainer/strategies/) attach to any model of this interface; a family (trainer/models/<family>/)
// knows no strategy. Designed so that Llama-style families (RMSNorm, RoPE, GQA, SwiGLU, q/k/v/o and
// gate/up/down projections, an untied head) fit behind it unchanged: nothing here names a GPT-2 module.
import type * as tf from '@tensorflow/tfjs-core';
import type { KvCache } from './kvCache';

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** Weights by Hugging Face name: a Float32Array, or one with its shape. */
export type WeightMap = Map<string, Float32Array | { shape?: readonly number[]; data: Float32Array }>;

/** What a forward pass needs besides the activations. */
export interface ForwardContext {
  batch: number;
  seq: number;
  maskBias: tf.Tensor;
  training: boolean;
  /** A fresh seed for each dropout mask, derived from the model's seed. */
  nextSeed: () => number;
}

/**
 * A linear map y = x·W + b with W in the layout the compute multiplies by, [in, out]. A family stores
 * its checkpoint layout's transpose where that differs (nn.Linear's [out, in]) and converts on load and
 * save, so a module that wraps a linear (LoRA) sees one layout for every family.
 */
export interface LinearModule {
  /** [in, out]. */
  readonly weight: tf.Variable;
  /** [out], or null for a linear without bias (Llama's projections). */
  readonly bias: tf.Variable | null;
  forward(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D;
  /**
   * The [in, out] weight a merged export carries: a wrapper folds its update in (LoRA's W0 + (α/r)·(B·A)ᵀ).
   * Absent on a plain linear, whose export is `weight` itself.
   */
  mergedWeight?(): tf.Tensor2D;
}

/** Where a block lets a module act on a sublayer's output, before dropout and the residual add. */
export type SublayerSite = 'attention' | 'mlp';
export const SUBLAYER_SITES: readonly SublayerSite[] = ['attention', 'mlp'];

/** A module inserted on a sublayer's output (bottleneck adapters). */
export interface SublayerHook {
  forward(x: tf.Tensor2D): tf.Tensor2D;
}

export interface ModelBlock {
  /** The block's module name as checkpoints spell it (`transformer.h.0`), the prefix of what attaches to it. */
  readonly name: string;
  /** What acts on each sublayer's output; empty for the plain model. */
  readonly hooks: Partial<Record<SublayerSite, SublayerHook>>;
  /** The block's own parameters (norms, attention, MLP), for freezing. */
  parameters(): tf.Variable[];
}

/** Size facts every family has, under neutral names (GPT-2's n_embd is `hiddenSize`). */
export interface ModelDims {
  vocabSize: number;
  /** The context length: positions the model can attend over. */
  maxPositions: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
}

/** One linear module of a model, known from its config alone (no tensors): what LoRA's targets match. */
export interface LinearInfo {
  /** Full module name as the family's checkpoints spell it, e.g. `transformer.h.0.attn.c_attn`. */
  name: string;
  layer: number;
  /** The name within a block, e.g. `attn.c_attn`. */
  kind: string;
  in: number;
  out: number;
}

/**
 * A model's parameter layout from its config alone: the basis of `finetune params` and of LoRA's target
 * matching, so neither has to build tensors.
 */
export interface ModelStructure extends ModelDims {
  /** The family's display name in messages ("GPT-2"). */
  familyName: string;
  /**
   * Every base parameter by checkpoint name, in the model's order: its size, the breakdown row it counts
   * in (`embeddings`, `h.0.attn`, …, `ln_f`) and the part a strategy freezes it with.
   */
  parameters: StructureParameter[];
  /** The causal-LM head's row: a tied head has no parameters of its own and trains with the embeddings. */
  lmHead: { name: string; total: number };
  linears: LinearInfo[];
  /** The short names of the linear modules (`c_attn`, `c_proj`, `c_fc`), as PEFT's all-linear lists them. */
  linearSuffixes: string[];
  /** PEFT's default LoRA targets for the family (GPT-2: c_attn; Llama, Qwen2, Qwen3: q_proj, v_proj). */
  defaultLoraTargets: string[];
  /** Module names that are not linears a LoRA target may name (embeddings, the head). */
  nonLinearModules: string[];
}

export interface StructureParameter {
  name: string;
  size: number;
  /** The parameter breakdown's row, e.g. `h.3.mlp`. */
  group: string;
  /** A block index, or the embeddings / final norm. */
  part: number | 'embeddings' | 'finalNorm';
}

/** A decoder-only language model of any family. */
export interface CausalLM {
  /** The family's `model_type` (`gpt2`). */
  readonly family: string;
  readonly dims: ModelDims;
  readonly seed: number;
  /** Dropout masks drawn so far; each mask's seed derives from it, so resetting it replays the same masks. */
  dropoutCounter: number;
  /** Recompute each block in the backward pass instead of keeping its activations (checkpoint.ts). */
  gradientCheckpointing: boolean;
  /**
   * The next initialisation seed: the model drew its own first (random init), and whatever attaches to it
   * continues the same sequence, so LoRA's A, adapters and prompt embeddings start bit-identically.
   */
  nextInitSeed(): number;
  /** Linear modules by full name, in the model's order; a wrapper replaced with `replaceLinear` is listed. */
  namedLinears(): Map<string, LinearModule>;
  /** Puts `module` where the linear `name` was (LoRA holds the base module and takes its place). */
  replaceLinear(name: string, module: LinearModule): void;
  readonly blocks: readonly ModelBlock[];
  /** Token embeddings [V, E] (and position embeddings where the family has them), for freezing and prompt init. */
  readonly embeddings: { tokens: tf.Variable; positions?: tf.Variable };
  /** The final norm's parameters, for freezing. */
  finalNormParameters(): tf.Variable[];
  /** An untied LM head's parameters (none, or absent, when tied): they train and freeze with the embeddings. */
  headParameters?(): tf.Variable[];
  /**
   * The input-embeddings hook: [N, E] vectors put before every input's token embeddings (prompt tuning);
   * the sequence the blocks see is [prefix, input], and only the input positions come out.
   */
  inputPrefix?: tf.Tensor2D;
  /** Base parameters by checkpoint name, in the model's order (what a wrapper adds is not included). */
  namedParameters(): [string, tf.Variable][];
  /** Final hidden states [B·T, E] of the input positions. */
  hiddenStates(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D;
  /** Logits [B, T, V]; no dropout. */
  logits(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor3D;
  /** Cross-entropy per position [B, T] against already-shifted labels, −1 (loss 0) where none is taken. */
  tokenLoss(inputIds: tf.Tensor2D, labels: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D;
  /** An empty key/value cache for `decodeStep` (one sequence, the model's context long at most). */
  startCache(): KvCache;
  /**
   * Incremental decoding: runs `ids` at positions cache.length… through the same linear modules and
   * sublayer hooks as the forward pass (so every strategy's modules act), appends their keys and values
   * to `cache` and returns the last position's logits [V], as `logits` gives them for the whole sequence.
   * On an empty cache an input prefix goes first, its vectors the first cached positions. Refuses a step
   * that would not fit the context; the caller re-encodes a cropped window instead.
   */
  decodeStep(ids: readonly number[], cache: KvCache): tf.Tensor1D;
  /**
   * The checkpoint state dict (the family's names and layouts). With `merged`, each linear that has a
   * `mergedWeight` exports it, so the result loads as a plain model.
   */
  stateDict(opts?: { merged?: boolean }): Map<string, NamedTensor>;
  dispose(): void;
}
