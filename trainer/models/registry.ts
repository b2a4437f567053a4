// The model families the trainer knows, chosen by config.json's `architectures` / `model_type`. A new
// family is a folder (trainer/models/<family>/: config, weight names, model implementing CausalLM) and
// one line in FAMILIES; strategies, heads and the training loop then work with it unchanged.
import type { CausalLM, ModelDims, ModelStructure, WeightMap } from './model';
import type { GPT2Config } from './gpt2/config';
import { gpt2Family } from './gpt2';

/** A family's own config type; the union grows by one member per family. */
export type ModelConfig = GPT2Config;

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
  /** A randomly initialised model. */
  build(config: C, seed: number): CausalLM;
  /** A model holding `weights`; every parameter must be present with its exact shape. */
  fromWeights(config: C, weights: WeightMap, seed: number): CausalLM;
}

/** Every family, the default (for a config.json without model_type) first. */
const FAMILIES: readonly ModelFamily[] = [gpt2Family];

/**
 * The family of a parsed config.json, by `architectures` then `model_type`. With neither recognised the
 * default family's reader is used, whose message names what it does support.
 */
export function familyForHfConfig(raw: unknown): ModelFamily {
  const r = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const architectures = Array.isArray(r.architectures) ? r.architectures : [];
  return (
    FAMILIES.find((f) => architectures.some((a) => f.architectures.includes(a as string))) ?? FAMILIES.find((f) => f.modelType === r.model_type) ?? FAMILIES[0]
  );
}

/** The family a config belongs to. */
export function familyOf(_config: ModelConfig): ModelFamily {
  // One family today; a second one adds a discriminant to its config type and a lookup here.
  return gpt2Family;
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
