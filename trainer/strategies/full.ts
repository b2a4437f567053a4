// Full fine-tuning: every base parameter trains; nothing is added and the output is a full model.
import { STRATEGY_SPECS } from '../../protocol/options';
import { nothingAdded, nothingAttached, TRAINS_ALL, type Strategy } from './strategy';

export const fullStrategy: Strategy<{ strategy: 'full' }> = {
  spec: STRATEGY_SPECS.full,
  fromTrainConfig: () => ({ strategy: 'full' }),
  validate: () => {},
  trains: () => TRAINS_ALL,
  added: nothingAdded,
  attach: nothingAttached,
};
