// The strategy registry: adding a strategy is its module in this folder, its entry in protocol/options.ts
// STRATEGY_SPECS (the module's `spec`) and one line in BUILT_IN; or, for a strategy defined elsewhere (a
// test's), one registerStrategy call, which also declares its spec and settings in the option table, so
// that the flag parser, --help, run.json's schema and the quick pick know it. Everything that asks "what
// does strategy X do" (building a model, the parameter breakdown, saving and reading an adapter folder, a
// run's settings) asks here.
import { defineStrategy, strategySpec, TRAIN_DEFAULTS, TrainConfigError } from '../../protocol/options';
import type { Strategy as BuiltInName, TrainConfig } from '../../protocol/trainer';
import { readAdapterConfig, readAdapterFolder } from '../formats/adapterFolder';
import { ModelFileError } from '../formats/modelFolder';
import type { ModelStructure, NamedTensor } from '../models/model';
import { modelStructure, type ModelConfig } from '../models/registry';
import { adapterStrategy } from './adapter';
import { fullStrategy } from './full';
import { loraStrategy } from './lora';
import { partialStrategy } from './partial';
import { promptStrategy } from './prompt';
import type { AnyStrategyConfig, Strategy, StrategyConfig } from './strategy';

export type { AnyStrategyConfig, Strategy, StrategyConfig } from './strategy';

/** One module per built-in strategy name: a name in STRATEGY_SPECS (the `Strategy` union) without one fails to compile. */
const BUILT_IN: { readonly [K in BuiltInName]: Strategy<Extract<StrategyConfig, { strategy: K }>> } = {
  full: fullStrategy,
  partial: partialStrategy,
  lora: loraStrategy,
  adapter: adapterStrategy,
  prompt: promptStrategy,
};

const registry = new Map<string, Strategy>();
for (const s of Object.values(BUILT_IN) as unknown as Strategy[]) {
  // The module's spec is the table's own declaration, not a copy that could drift from it.
  if (strategySpec(s.spec.name) !== s.spec) throw new Error(`strategy '${s.spec.name}': its spec is not protocol/options.ts STRATEGY_SPECS.${s.spec.name}`);
  registry.set(s.spec.name, s);
}

/** What unregisterStrategy undoes in the option table, per registered strategy. */
const undeclare = new Map<string, () => void>();

/**
 * Adds a strategy (its name must be new) and declares it in the option table from its `spec`: its name
 * for --strategy, its learning rate, heads and own settings (`spec.options`). From then on it works
 * through the flag parser and --help (trainer/runConfig.ts), run.json's schema, the quick pick, and the
 * APIs here (buildModel, parameterBreakdown, saveAdapter / readAdapter) by its settings' `strategy` name.
 */
export function registerStrategy<C extends AnyStrategyConfig>(strategy: Strategy<C>): void {
  const name = strategy.spec.name;
  if (registry.has(name)) throw new Error(`a strategy named '${name}' is already registered`);
  undeclare.set(name, defineStrategy(strategy.spec));
  registry.set(name, strategy as unknown as Strategy);
}

/** Removes a strategy registerStrategy added, and its declaration and settings (built-in ones stay). */
export function unregisterStrategy(name: string): void {
  if (Object.hasOwn(BUILT_IN, name)) throw new Error(`'${name}' is a built-in strategy`);
  registry.delete(name);
  undeclare.get(name)?.();
  undeclare.delete(name);
}

/** The names of every strategy, built-in first, in registration order. */
export function strategyNames(): string[] {
  return [...registry.keys()];
}

const nameList = (names: string[]) => (names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join(''));

/** The strategy called `name`; an unknown name is a TrainConfigError listing the known ones. */
export function strategyFor(name: string): Strategy {
  // A Map, not an object: a name like `constructor` finds nothing on a prototype.
  const s = registry.get(name);
  if (!s) throw new TrainConfigError(`unknown strategy '${name}' (${nameList(strategyNames())})`);
  return s;
}

/** A run's strategy settings from its config (each strategy reads its own fields). */
export function strategyOf(config: TrainConfig): StrategyConfig {
  return strategyFor(config.strategy).fromTrainConfig(config) as StrategyConfig;
}

/**
 * `s` for this model: LoRA's targets left at the option table's default (GPT-2's c_attn) become the
 * family's own default (PEFT's per-family targets) where the model has no module of that name.
 */
export function strategyForModel<C extends AnyStrategyConfig>(structure: ModelStructure, s: C): C {
  if (s.strategy !== 'lora') return s;
  const lora = s as unknown as { targets: string[] | 'all-linear' };
  const tableDefault = TRAIN_DEFAULTS.loraTargets;
  const isDefault = Array.isArray(lora.targets) && lora.targets.length === tableDefault.length && lora.targets.every((t, i) => t === tableDefault[i]);
  if (!isDefault || structure.linearSuffixes.some((n) => tableDefault.includes(n))) return s;
  return { ...s, targets: [...structure.defaultLoraTargets] };
}

/**
 * The strategy as it applies to the model (strategyForModel); throws a TrainConfigError (the settings are
 * the user's to change) unless it fits the model.
 */
export function validateStrategy<C extends AnyStrategyConfig>(config: ModelConfig | ModelStructure, s: C): C {
  const structure = 'linears' in config ? config : modelStructure(config);
  const resolved = strategyForModel(structure, s);
  strategyFor(resolved.strategy).validate(structure, resolved);
  return resolved;
}

export interface AdapterRead {
  /** The settings the folder was trained with (LoRA: targets are the exact modules it holds weights for). */
  strategy: AnyStrategyConfig;
  weights: Map<string, NamedTensor>;
  /** base_model_name_or_path, when the folder records one. */
  baseModel: string | null;
}

/** The strategy whose adapter folder `dir` is, from its adapter_config.json alone. */
export function adapterStrategyOf(dir: string): Strategy {
  const { config, configFile } = readAdapterConfig(dir);
  const s = [...registry.values()].find((x) => x.adapterFolder?.recognizes(config));
  if (!s) {
    const labels = [...registry.values()].flatMap((x) => (x.adapterFolder ? [x.adapterFolder.label] : []));
    throw new ModelFileError(`${configFile}: unsupported adapter (peft_type ${JSON.stringify(config.peft_type)}; ${nameList(labels)})`);
  }
  return s;
}

/** Reads an adapter folder of any registered strategy; anything this trainer cannot apply exactly is an error. */
export function readAdapter(dir: string, strategy: Strategy = adapterStrategyOf(dir)): AdapterRead {
  const codec = strategy.adapterFolder;
  if (!codec) throw new Error(`strategy '${strategy.spec.name}' has no adapter folder`);
  const files = readAdapterFolder(dir);
  const { strategy: settings, weights } = codec.read(files.config, files.tensors, files);
  const baseModel = files.config.base_model_name_or_path;
  return { strategy: settings, weights, baseModel: typeof baseModel === 'string' ? baseModel : null };
}
