// The model families the trainer knows, chosen by config.json's `architectures` / `model_type`. A new
// family is a folder (trainer/models/<family>/: config, weight names, model implementing CausalLM) and
// one line in FAMILIES; strategies, heads and the training loop then work with it unchanged.
import type { CausalLM, ModelDims, ModelStructure, WeightMap } from './model';
import { ModelConfigError, type GPT2Config } from './gpt2/config';
import { gpt2Family } from './gpt2';
import type { LlamaConfig } from './llama/config';
import { LLAMA_FAMILIES } from './llama';

/** A family's own config type; the union grows by one member per family. */
export type ModelConfig = GPT2Config | LlamaConfig;

export interface ModelFamily<C = ModelConfig> {
  /** config.json's `model_type`. */
  readonly modelType: string;
  /** config.json `architectures` entries that name this family. */
  readonly architectures: readonly string[];
  /** Its sequence-classification model's architecture (GPT2ForSequenceClassification), for classification outputs. */
  readonly classificationArchitecture: string;
  /** The family's config from a parsed config.json; throws ModelConfigError naming `where` and the field. */
  fromHfConfig(raw: unknown, where?: string): C;
  /** The config.json transformers writes for this config. */
  toHfConfig(config: C): Record<string, unknown>;
  /** Throws ModelConfigError unless every size is one the model can be built with. */
  validateConfig(config: C): C;
  /** Throws ModelConfigError when the weights alone cannot fit in this machine's memory. */
  checkFitsInMemory(config: C, where: string): void;
  dims(config: C): ModelDims;
  /** The parameter layout from the config alone (validateConfig first). */
  structure(config: C): ModelStructure;
  /** A checkpoint key under the family's canonical name, or null for a key that is not a parameter (mask buffers, a tied head). */
  checkpointKey(key: string): string | null;
  /**
   * Checks a checkpoint's tensor names and shapes (from the headers alone) against the config, before
   * any data is read; returns the keys to read. Throws naming the key. Absent: fromWeights checks them.
   */
  checkCheckpoint?(config: C, tensors: Map<string, { shape: readonly number[] }>, where: string): Set<string>;
  /** A randomly initialised model. */
  build(config: C, seed: number): CausalLM;
  /** A model holding `weights`; every parameter must be present with its exact shape. */
  fromWeights(config: C, weights: WeightMap, seed: number): CausalLM;
}

/** Every family, the default (for a config.json without model_type) first. */
const FAMILIES: readonly ModelFamily[] = [gpt2Family as ModelFamily, ...(LLAMA_FAMILIES as readonly ModelFamily[])];

/** Every supported architecture, for messages. */
export function supportedArchitectures(): string[] {
  return FAMILIES.flatMap((f) => f.architectures);
}

/**
 * The family of a parsed config.json, by `architectures` then `model_type`; a config.json with neither
 * is read as the default family's (GPT-2 checkpoints predate both fields). Anything else named is a
 * ModelConfigError listing every supported architecture. `where` names the file in that message.
 */
export function familyForHfConfig(raw: unknown, where = 'config.json'): ModelFamily {
  const r = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const architectures = Array.isArray(r.architectures) ? r.architectures : [];
  const byArchitecture = FAMILIES.find((f) => architectures.some((a) => f.architectures.includes(a as string)));
  if (byArchitecture) return byArchitecture;
  const byType = FAMILIES.find((f) => f.modelType === r.model_type);
  if (byType) return byType;
  if (architectures.length === 0 && r.model_type === undefined) return FAMILIES[0];
  const named =
    architectures.length > 0 ? `architecture ${architectures.map((a) => JSON.stringify(a)).join(', ')}` : `model_type ${JSON.stringify(r.model_type)}`;
  throw new ModelConfigError(`${where}: ${named} is not supported (supported architectures: ${supportedArchitectures().join(', ')})`);
}

/** The family a config belongs to: a Llama-family config carries its `modelType`, GPT-2's has none. */
export function familyOf(config: ModelConfig): ModelFamily {
  if (!('modelType' in config)) return gpt2Family as ModelFamily;
  const family = FAMILIES.find((f) => f.modelType === config.modelType);
  if (!family)
    throw new ModelConfigError(`model_type '${config.modelType}' is not supported (supported architectures: ${supportedArchitectures().join(', ')})`);
  return family;
}

/** A family-neutral model config from a parsed config.json (the family chosen by familyForHfConfig). */
export function modelConfigFromHf(raw: unknown, where = 'config.json'): ModelConfig {
  return familyForHfConfig(raw, where).fromHfConfig(raw, where);
}

/** The neutral size facts of `config`. */
export function modelDims(config: ModelConfig): ModelDims {
  return familyOf(config).dims(config);
}

/** Whether `architecture` is some family's sequence classifier. */
export function isClassificationArchitecture(architecture: string): boolean {
  return FAMILIES.some((f) => f.classificationArchitecture === architecture);
}

/** The parameter layout of `config`'s model, from the config alone. */
export function modelStructure(config: ModelConfig): ModelStructure {
  const family = familyOf(config);
  family.validateConfig(config);
  return family.structure(config);
}
