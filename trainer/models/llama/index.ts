// The Llama family as the model registry (../registry.ts) sees it: one ModelFamily per model_type
// (llama, qwen2, qwen3), sharing the config reader and writer, the weight names, the parameter layout
// and the model. Everything family-specific the rest of the trainer needs goes through these objects.
import type { ModelFamily } from '../registry';
import { checkFitsInMemory, fromHfConfig, LLAMA_ARCHITECTURES, type LlamaConfig, type LlamaModelType, toHfConfig, validateConfig } from './config';
import { LlamaModel } from './model';
import { checkCheckpointShapes, isIgnoredCheckpointKey, llamaStructure } from './weights';

function family(modelType: LlamaModelType): ModelFamily<LlamaConfig> {
  const names = LLAMA_ARCHITECTURES[modelType];
  return {
    modelType,
    architectures: [names.causalLm, names.base, names.classification],
    classificationArchitecture: names.classification,
    fromHfConfig,
    toHfConfig,
    validateConfig,
    checkFitsInMemory: (config, where) => checkFitsInMemory(config, where),
    dims: (c) => ({ vocabSize: c.vocabSize, maxPositions: c.maxPositions, hiddenSize: c.hiddenSize, numLayers: c.numLayers, numHeads: c.numHeads }),
    structure: llamaStructure,
    // Checkpoint names are the model's own; a tied model's saved lm_head.weight is skipped by fromWeights.
    checkpointKey: (key) => (isIgnoredCheckpointKey(key) ? null : key),
    checkCheckpoint: checkCheckpointShapes,
    build: (config, seed) => new LlamaModel(config, seed),
    fromWeights: (config, weights, seed) => LlamaModel.fromWeights(config, weights, seed),
  };
}

export const llamaFamily = family('llama');
export const qwen2Family = family('qwen2');
export const qwen3Family = family('qwen3');
export const LLAMA_FAMILIES: readonly ModelFamily<LlamaConfig>[] = [llamaFamily, qwen2Family, qwen3Family];
