// The strategy registry: adding a strategy is its module in this folder, its entry in protocol/options.ts
// STRATEGY_SPECS (the module's `spec`) and one line in BUILT_IN; or, for a strategy defined elsewhere (a
// test's), one registerStrategy call, which also declares its spec and settings in the option table, so
// that the flag parser, --help, run.json's schema and the quick pick know it. Everything that asks "what
// does strategy X do" (building a model, the parameter breakdown, saving and reading an adapter folder, a
// run's settings) asks here.
import { defineStrategy, strategySpec, TrainConfigError } from '../../protocol/options';
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
 * `s` for this model: LoRA's targets `default` become the family's own list (PEFT's per-family
 * target_modules: GPT-2 c_attn; Llama, Qwen2, Qwen3 q_proj,v_proj). Names given explicitly stay as
 * they are, so a name the family lacks (c_attn on a Llama) is refused by validate, never replaced.
 */
export function strategyForModel<C extends AnyStrategyConfig>(structure: ModelStructure, s: C): C {
  if (s.strategy !== 'lora' || (s as unknown as { targets: unknown }).targets !== 'default') return s;
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
