// Partial fine-tuning: the first N blocks, and optionally the embeddings (so a tied head), are frozen;
// the rest of the base model trains, the final norm included. Nothing is added; the output is a full model.
import { STRATEGY_SPECS, TrainConfigError } from '../../protocol/options';
import { nothingAdded, nothingAttached, type Strategy, type StrategyConfig } from './strategy';

type PartialConfig = Extract<StrategyConfig, { strategy: 'partial' }>;

export const partialStrategy: Strategy<PartialConfig> = {
  spec: STRATEGY_SPECS.partial,
  fromTrainConfig: (c) => ({ strategy: 'partial', freezeLayers: c.freezeLayers, freezeEmbeddings: c.freezeEmbeddings }),
  validate(structure, s) {
    if (!Number.isInteger(s.freezeLayers) || s.freezeLayers < 0 || s.freezeLayers > structure.numLayers) {
      throw new TrainConfigError(`--freeze-layers must be an integer from 0 to ${structure.numLayers} (the model's layer count), got ${s.freezeLayers}`);
    }
  },
  trains: (s) => ({ embeddings: s.freezeEmbeddings !== true, block: (layer) => layer >= s.freezeLayers, finalNorm: true }),
  added: nothingAdded,
  attach: nothingAttached,
};
