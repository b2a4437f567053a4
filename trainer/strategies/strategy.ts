// What a fine-tuning strategy is (PEFT's tuner): which of the base model trains, the modules it
// attaches to any CausalLM (trainer/models/model.ts), the parameters it adds (counted from the config
// alone, for `finetune params`), and how its adapter folder reads and writes (through
// trainer/formats/adapterFolder.ts). One module per strategy in this folder; trainer/strategies/index.ts
// is the registry. This file holds only types and tensor-free helpers.
import type { StrategySpec } from '../../protocol/options';
import type { TrainConfig } from '../../protocol/trainer';
import type { CausalLM, ModelStructure, NamedTensor } from '../models/model';
import type { TrainableVariable } from '../optimizer';

/** The settings of every built-in strategy; a registered strategy has its own `{strategy: name, …}`. */
export type StrategyConfig =
  | { strategy: 'full' }
  | { strategy: 'partial'; freezeLayers: number; freezeEmbeddings?: boolean }
  /** LoRA (lora.ts); `targets: 'default'` is the family's own list, resolved by the registry's validateStrategy. */
  | { strategy: 'lora'; r: number; alpha: number; dropout: number; targets: string[] | 'all-linear' | 'default' }
  /** Bottleneck adapters (adapter.ts) after attention and after the MLP of every block. */
  | { strategy: 'adapter'; adapterDim: number }
  /** Prompt tuning (prompt.ts): `virtualTokens` trained embeddings before the input; `promptInit` text or random. */
  | { strategy: 'prompt'; virtualTokens: number; promptInit?: string };

/** Any strategy's settings, built-in or registered: the name and the strategy's own fields. */
export interface AnyStrategyConfig {
  readonly strategy: string;
  readonly [field: string]: unknown;
}

/** Which of the base model's parameters train under a strategy (the rest are frozen). */
export interface TrainsPlan {
  /** Token and position embeddings (and so a tied head). */
  embeddings: boolean;
  block(layer: number): boolean;
  finalNorm: boolean;
  /** A finer answer for one parameter by checkpoint name (e.g. every bias); undefined: its part's answer above. */
  parameter?(name: string): boolean | undefined;
}

/** Whether a base parameter trains under `plan`. */
export function parameterTrains(plan: TrainsPlan, name: string, part: number | 'embeddings' | 'finalNorm'): boolean {
  return plan.parameter?.(name) ?? (part === 'embeddings' ? plan.embeddings : part === 'finalNorm' ? plan.finalNorm : plan.block(part));
}

/** The base model trains entirely (full fine-tuning). */
export const TRAINS_ALL: TrainsPlan = { embeddings: true, block: () => true, finalNorm: true };
/** The base model is frozen: only what the strategy adds trains (LoRA, adapters, prompt tuning). */
export const TRAINS_NONE: TrainsPlan = { embeddings: false, block: () => false, finalNorm: false };

/** The parameters a strategy adds, from the config alone. */
export interface AddedParameters {
  /** Added to each block (LoRA's A and B, adapters), all trainable; one entry per layer. */
  perLayer: number[];
  /** The breakdown's row for everything added (`lora`, `adapters`, …); none when nothing is added. */
  group?: { name: string; total: number };
  /** Floats per token the added modules keep for the backward pass (LoRA's r-wide intermediates), for the memory estimate. */
  activationWidth: number;
}

/** What a strategy attached to a model: its trainable variables and its own weights. */
export interface Attachment {
  /** Trainable variables the strategy added, in the order the optimizer sees them. */
  readonly variables: TrainableVariable[];
  /** The weights its adapter folder holds, under the folder's names and layouts. */
  stateDict(): Map<string, NamedTensor>;
  /** Loads what stateDict wrote; every weight must be present with its exact shape, and nothing else. */
  loadStateDict(map: Map<string, { shape: readonly number[]; data: Float32Array }>): void;
  dispose(): void;
}

/** An adapter folder's settings file and weights as a strategy reads and writes them (formats/adapterFolder.ts does the files). */
export interface AdapterFolderCodec<C extends AnyStrategyConfig> {
  /** How a message names what this codec reads (`LORA`, `adapter_type "bottleneck"`). */
  readonly label: string;
  /** Whether this adapter_config.json is this strategy's (peft_type, adapter_type). */
  recognizes(config: Record<string, unknown>): boolean;
  /** adapter_config.json for a model tuned with `settings`; `baseModel` is what base_model_name_or_path records. */
  config(settings: C, structure: ModelStructure, baseModel: string): Record<string, unknown>;
  /**
   * The settings and weights of a folder; anything this trainer cannot apply exactly is an error naming
   * `configFile` or `weightsFile`.
   */
  read(
    config: Record<string, unknown>,
    tensors: Map<string, NamedTensor>,
    files: { configFile: string; weightsFile: string },
  ): { strategy: C; weights: Map<string, NamedTensor> };
}

/** The tokenizer view a strategy's initialisation may use (prompt tuning's text init). */
export interface StrategyInitContext {
  encode(text: string): number[];
}

export interface Strategy<C extends AnyStrategyConfig = AnyStrategyConfig> {
  /**
   * Its one declaration in the option table (protocol/options.ts): the name, the help line, the default
   * learning rate, the heads it trains and, for a strategy defined outside the trainer, its own settings.
   * A built-in module takes it from STRATEGY_SPECS; registerStrategy declares any other.
   */
  readonly spec: StrategySpec & { readonly name: C['strategy'] };
  /** The strategy's settings from a run's config (its own TrainConfig fields, defaults filled in). */
  fromTrainConfig(config: TrainConfig): C;
  /** Throws a TrainConfigError (the settings are the user's to change) unless `settings` fit the model. */
  validate(structure: ModelStructure, settings: C): void;
  trains(settings: C): TrainsPlan;
  added(structure: ModelStructure, settings: C): AddedParameters;
  /**
   * Attaches the strategy's modules to `model` (already frozen per `trains`). Random initialisation draws
   * its seeds from model.nextInitSeed(), in a fixed order, so a run is reproducible bit for bit.
   */
  attach(model: CausalLM, settings: C): Attachment;
  /** A fresh run's initialisation that needs the tokenizer (prompt tuning's text init); not on resume or load. */
  initialise?(model: CausalLM, attachment: Attachment, settings: C, ctx: StrategyInitContext): void;
  /** Its output is an adapter folder (PEFT's layout where PEFT has the method); absent: a full model. */
  readonly adapterFolder?: AdapterFolderCodec<C>;
  /** Its weights fold into the base weights (LoRA), so `--merge` and a classification output are plain models. */
  readonly mergeable?: boolean;
}

/** Parameters of the bottleneck adapters of one block: two adapters of down [d→m] + up [m→d] with biases. */
export function adapterParamsPerBlock(nEmbd: number, adapterDim: number): number {
  return 2 * (2 * nEmbd * adapterDim + adapterDim + nEmbd);
}

/** A strategy that adds no parameters (full, partial). */
export function nothingAdded(structure: ModelStructure): AddedParameters {
  return { perLayer: new Array<number>(structure.numLayers).fill(0), activationWidth: 0 };
}

/** The attachment of a strategy that adds nothing. */
export function nothingAttached(): Attachment {
  return { variables: [], stateDict: () => new Map(), loadStateDict: () => {}, dispose: () => {} };
}
