// The GPT-2 family as the model registry (../registry.ts) sees it: its config.json reader and writer,
// its weight names, its parameter layout and its model. Everything GPT-2-specific the rest of the
// trainer needs goes through this object.
import type { ModelFamily } from '../registry';
import { checkFitsInMemory, fromHfConfig, toHfConfig, validateConfig, type GPT2Config } from './config';
import { GPT2Model } from './model';
import { canonicalKey, gpt2Structure, isIgnoredCheckpointKey } from './weights';

export const gpt2Family: ModelFamily<GPT2Config> = {
  modelType: 'gpt2',
  architectures: ['GPT2LMHeadModel', 'GPT2Model', 'GPT2ForSequenceClassification'],
  classificationArchitecture: 'GPT2ForSequenceClassification',
  fromHfConfig,
  toHfConfig,
  validateConfig,
  checkFitsInMemory: (config, where) => checkFitsInMemory(config, where),
  dims: (c) => ({ vocabSize: c.vocabSize, maxPositions: c.nPositions, hiddenSize: c.nEmbd, numLayers: c.nLayer, numHeads: c.nHead }),
  structure: gpt2Structure,
  checkpointKey: (key) => (isIgnoredCheckpointKey(key) ? null : canonicalKey(key)),
  build: (config, seed) => new GPT2Model(config, seed),
  fromWeights: (config, weights, seed) => GPT2Model.fromWeights(config, weights, seed),
};
