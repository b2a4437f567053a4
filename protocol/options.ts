// Every run setting, declared once: its type, default, range, the strategy or head it belongs to, its help
// text, whether run.json holds it and which commands take it as a flag. Derived from this table: the one flag
// parser of `finetune train`, `params` and `bench` (trainer/runConfig.ts) and their --help, run.json's JSON
// Schema (runJsonSchema; trainer/run.schema.json is its committed copy, compared by a test), the quick
// pick's defaults and input checks (extension/training/fineTuneChoices.ts), and TRAIN_DEFAULTS / DEFAULT_LR below.
// No Node imports: the extension host and the webviews load it as it is.
import { BACKEND_CHOICES, type Strategy, type TrainConfig } from './trainer';

/** A bad flag, value or `run.json`: the CLI exits 2 with this message. */
export class TrainConfigError extends Error {}

export type OptionKind =
  | 'string'
  | 'int'
  | 'number'
  | 'boolean'
  /** One of `values`. */
  | 'enum'
  /** The name of a declared strategy (defineStrategy) or head. */
  | 'strategy'
  | 'head'
  /** LoRA's target modules: `c_attn,c_proj`, `all-linear` or `default` (a JSON array or that string in run.json). */
  | 'targets'
  /** Per-task weights: `a=1,b=0.5` (a JSON object or that string in run.json). */
  | 'weights';

/** The commands whose flags come from the table. */
export type CommandName = 'train' | 'params' | 'bench';

/** Where --help lists an option (in this order). */
export const OPTION_GROUPS = ['run', 'training', 'data', 'strategies', 'heads', 'multi-task', 'checkpoints', 'output'] as const;
export type OptionGroup = (typeof OPTION_GROUPS)[number];

export interface OptionSpec {
  /** camelCase: the run.json key. The flag is its kebab-case form (`loraR` is `--lora-r`). */
  name: string;
  kind: OptionKind;
  /** One line: --help and the schema's description. */
  help: string;
  /** What --help shows after the flag (`N`, `FILE`); enums show their values, booleans nothing. */
  value?: string;
  /** The value when the setting is not given (a JSON value); absent when there is none or it depends (`defaultHelp`). */
  default?: unknown;
  /** The default in words when it is not a constant: lr depends on the strategy, maxLength on the model. */
  defaultHelp?: string;
  /** enum: the allowed values. */
  values?: readonly string[];
  min?: number;
  max?: number;
  /** Lower bound excluded (lr > 0). */
  positive?: boolean;
  /**
   * The strategy, head or mode the option belongs to: it means something only when `option` has one of
   * `values`. Elsewhere a value other than its default is refused (`--lora-r needs --strategy lora`).
   */
  needs?: { option: string; values: readonly string[] };
  group: OptionGroup;
  /** The commands that take it as a flag. */
  commands: readonly CommandName[];
  /** The commands that refuse to run without it. */
  required?: readonly CommandName[];
  /** Whether run.json holds it (default true; `--config` is a flag only). */
  runJson?: boolean;
  /**
   * A path: relative to the run.json that holds it, and absolute in the run.json a run writes. `dotted`:
   * only when it starts with ./ or ../ (a model may also be a preset or a repo id).
   */
  path?: 'always' | 'dotted';
}

/**
 * A fine-tuning strategy as the settings know it: its name, what it does, its learning rate, the heads it
 * trains. The trainer's strategy module carries its declaration (trainer/strategies/strategy.ts `spec`): a
 * built-in one takes it from STRATEGY_SPECS below, and registering any other module declares it here
 * (trainer/strategies/index.ts registerStrategy calls defineStrategy), so a strategy is declared once.
 */
export interface StrategySpec {
  name: string;
  help: string;
  /** The learning rate when none is given (DEFAULT_LR). */
  lr: number;
  heads: readonly string[];
  /**
   * Settings only this strategy has, for one declared outside this file (the built-in strategies'
   * settings are rows of BUILTIN below): defineStrategy adds each to the table as belonging to it
   * (`needs` --strategy NAME; in the strategies group of --help unless it names another).
   */
  options?: readonly StrategyOptionSpec[];
}

/** A setting of a strategy, declared with the strategy (StrategySpec.options): its owner is that strategy. */
export type StrategyOptionSpec = Omit<OptionSpec, 'needs' | 'group'> & { group?: OptionGroup };

export interface HeadSpec {
  name: string;
  help: string;
}

// ---------------------------------------------------------------------------------------------------
// The declarations

/**
 * The built-in strategies, in --help order; each module in trainer/strategies/ takes its `spec` from here
 * (and the registry's BUILT_IN, keyed by the same names, fails to compile while one lacks its module).
 */
export const STRATEGY_SPECS = {
  // LoRA, adapters and prompt tuning train few, freshly initialised weights and want larger rates.
  full: { name: 'full', help: 'every weight trains', lr: 5e-5, heads: ['lm', 'classification'] },
  partial: { name: 'partial', help: 'the first {freezeLayers} blocks are frozen', lr: 5e-5, heads: ['lm', 'classification'] },
  lora: { name: 'lora', help: 'low-rank adapters on the frozen weights', lr: 2e-4, heads: ['lm', 'classification'] },
  adapter: { name: 'adapter', help: 'bottleneck adapters after attention and after the MLP', lr: 5e-4, heads: ['lm'] },
  prompt: { name: 'prompt', help: 'prompt tuning, trained virtual tokens before the input', lr: 3e-2, heads: ['lm'] },
} as const satisfies { readonly [K in Strategy]: StrategySpec & { name: K } };
const BUILTIN_STRATEGIES = Object.values(STRATEGY_SPECS);

const HEADS: readonly HeadSpec[] = [
  { name: 'lm', help: 'causal LM' },
  { name: 'classification', help: 'a score per label on the last non-padding token, as GPT2ForSequenceClassification (classification datasets)' },
];

type Declaration<T> = Omit<OptionSpec, 'name' | 'default'> & { default?: T };
type Declarations = { [K in keyof TrainConfig]-?: Declaration<NonNullable<TrainConfig[K]>> } & { config: Declaration<string> };

const T = ['train'] as const;
const STRATEGY_COMMANDS = ['train', 'params', 'bench'] as const;
const partial = { option: 'strategy', values: ['partial'] } as const;
const lora = { option: 'strategy', values: ['lora'] } as const;

/** Every `train` option, in --help order within each group. Adding a TrainConfig field without one fails to compile. */
const BUILTIN = {
  config: { kind: 'string', value: 'run.json', group: 'run', commands: T, runJson: false, help: 'read the settings from a run.json; flags win over it' },
  data: { kind: 'string', value: 'FILE', group: 'run', commands: T, required: T, path: 'always', help: 'the training dataset (JSONL)' },
  model: {
    kind: 'string',
    value: 'M',
    group: 'run',
    commands: ['train', 'params'],
    required: ['train', 'params'],
    path: 'dotted',
    help: 'a Hugging Face folder, a repo id (local cache first) or a preset: tiny, gpt2, distilgpt2; tiny (random weights, for trying the flow) has its own defaults (`finetune train --help` lists them)',
  },
  strategy: { kind: 'strategy', group: 'run', commands: STRATEGY_COMMANDS, default: 'full', help: 'what trains' },
  out: {
    kind: 'string',
    value: 'DIR',
    group: 'run',
    commands: T,
    required: T,
    path: 'always',
    help: 'the run folder: run.json, events.jsonl, checkpoints/, output/',
  },
  epochs: { kind: 'number', value: 'N', positive: true, default: 3, group: 'training', commands: T, help: 'passes over the training data' },
  maxSteps: { kind: 'int', value: 'N', min: 1, group: 'training', commands: T, help: 'optimizer steps; wins over {epochs} (the data cycles)' },
  batchSize: { kind: 'int', value: 'B', min: 1, default: 8, group: 'training', commands: ['train', 'params'], help: 'examples per micro-batch' },
  gradAccum: { kind: 'int', value: 'K', min: 1, default: 1, group: 'training', commands: T, help: 'micro-batches per optimizer step' },
  lr: { kind: 'number', value: 'LR', positive: true, group: 'training', commands: T, help: 'peak learning rate' },
  weightDecay: {
    kind: 'number',
    value: 'W',
    min: 0,
    default: 0.01,
    group: 'training',
    commands: T,
    help: "AdamW's decoupled weight decay (not applied to biases and LayerNorm weights)",
  },
  schedule: {
    kind: 'enum',
    values: ['constant', 'linear', 'cosine'],
    default: 'linear',
    group: 'training',
    commands: T,
    help: 'learning-rate decay after the warm-up',
  },
  warmupSteps: { kind: 'int', value: 'N', min: 0, default: 0, group: 'training', commands: T, help: 'steps of linear warm-up' },
  gradClip: { kind: 'number', value: 'C', min: 0, default: 1, group: 'training', commands: T, help: 'maximum global gradient norm; 0 turns clipping off' },
  maxLength: {
    kind: 'int',
    value: 'T',
    min: 2,
    defaultHelp: "the model's context, at most 1,024 (TRL's SFTConfig default)",
    group: 'training',
    commands: ['train', 'params'],
    help: 'tokens per example',
  },
  seed: {
    kind: 'int',
    value: 'S',
    min: 0,
    default: 42,
    group: 'training',
    commands: ['train', 'bench'],
    help: 'seed of the initialisation, the shuffling, the eval split and dropout',
  },
  noShuffle: { kind: 'boolean', default: false, group: 'training', commands: T, help: 'keep the records in file order' },
  gradientCheckpointing: {
    kind: 'boolean',
    default: false,
    group: 'training',
    commands: ['train', 'bench'],
    help: 'recompute each block in the backward pass instead of keeping its activations: less memory, about a third more compute',
  },
  trainOnPrompt: { kind: 'boolean', default: false, group: 'training', commands: T, help: 'take the loss on prompt tokens too' },
  chatTemplate: {
    kind: 'string',
    value: 'chatml|FILE',
    defaultHelp: "the model's own; without one, the plain chat format",
    group: 'data',
    commands: T,
    path: 'dotted',
    help: 'chat template of chat records: the built-in chatml, or a .jinja file (or a tokenizer_config.json)',
  },
  backend: {
    kind: 'enum',
    values: BACKEND_CHOICES,
    default: 'auto',
    group: 'training',
    commands: ['train', 'bench'],
    help: 'TensorFlow.js backend; auto takes the fastest that starts',
  },
  evalData: { kind: 'string', value: 'FILE', group: 'data', commands: T, path: 'always', help: 'evaluation dataset; excludes {evalFraction}' },
  evalFraction: {
    kind: 'number',
    value: 'F',
    min: 0,
    max: 0.9,
    default: 0.1,
    group: 'data',
    commands: T,
    help: 'share of {data} held out for evaluation (seeded) when {evalData} is not given',
  },
  evalEvery: {
    kind: 'int',
    value: 'N',
    min: 0,
    default: 0,
    group: 'data',
    commands: T,
    help: 'also evaluate every N optimizer steps; 0 = at epoch ends and at the end only',
  },
  skipInvalid: { kind: 'boolean', default: false, group: 'data', commands: T, help: 'skip invalid records (with a count) instead of refusing to start' },
  freezeLayers: {
    kind: 'int',
    value: 'N',
    min: 0,
    default: 0,
    needs: partial,
    group: 'strategies',
    commands: STRATEGY_COMMANDS,
    help: 'blocks frozen from the input side',
  },
  freezeEmbeddings: {
    kind: 'boolean',
    default: false,
    needs: partial,
    group: 'strategies',
    commands: STRATEGY_COMMANDS,
    help: 'freeze the token and position embeddings too',
  },
  // PEFT's LoraConfig defaults (r=8, lora_alpha=8, lora_dropout=0). The rank's upper
  // bound is the model's (min(d_in, d_out) of each target), checked by the strategy against the shape.
  loraR: { kind: 'int', value: 'R', min: 1, default: 8, needs: lora, group: 'strategies', commands: STRATEGY_COMMANDS, help: 'rank r of the update B·A' },
  loraAlpha: {
    kind: 'number',
    value: 'A',
    positive: true,
    default: 8,
    needs: lora,
    group: 'strategies',
    commands: STRATEGY_COMMANDS,
    help: "scaling numerator, W = W0 + (alpha/r)·B·A (PEFT's default)",
  },
  loraDropout: {
    kind: 'number',
    value: 'P',
    min: 0,
    max: 0.99,
    default: 0,
    needs: lora,
    group: 'strategies',
    commands: ['train', 'params'],
    help: 'dropout on the LoRA input',
  },
  // `default` is a value of its own, not GPT-2's c_attn, so that c_attn typed on a Llama is refused rather than
  // read as "the default"; the strategy resolves it per family, as PEFT does when target_modules is None.
  loraTargets: {
    kind: 'targets',
    value: 'M1,M2|all-linear|default',
    default: 'default',
    defaultHelp: "the family's own (GPT-2 c_attn; Llama, Qwen2, Qwen3 q_proj,v_proj)",
    needs: lora,
    group: 'strategies',
    commands: STRATEGY_COMMANDS,
    help: "modules LoRA wraps by PEFT's suffix match (GPT-2: c_attn, c_proj, c_fc; Llama, Qwen2, Qwen3: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj), all-linear, or default",
  },
  merge: { kind: 'boolean', default: false, needs: lora, group: 'strategies', commands: T, help: 'save the adapter merged into a full model' },
  adapterDim: {
    kind: 'int',
    value: 'M',
    min: 1,
    default: 64,
    needs: { option: 'strategy', values: ['adapter'] },
    group: 'strategies',
    commands: STRATEGY_COMMANDS,
    help: 'bottleneck width m of each adapter (down n_embd→m, gelu_new, up m→n_embd, residual)',
  },
  virtualTokens: {
    kind: 'int',
    value: 'N',
    min: 1,
    default: 20,
    needs: { option: 'strategy', values: ['prompt'] },
    group: 'strategies',
    commands: STRATEGY_COMMANDS,
    help: 'number of trained virtual tokens',
  },
  promptInit: {
    kind: 'string',
    value: 'TEXT',
    needs: { option: 'strategy', values: ['prompt'] },
    group: 'strategies',
    commands: T,
    help: "init text (PEFT's TEXT init: its tokens' embeddings, repeated or cropped to {virtualTokens}); absent = random init",
  },
  head: { kind: 'head', default: 'lm', group: 'heads', commands: ['train', 'params'], help: 'what the model outputs' },
  numLabels: {
    kind: 'int',
    value: 'N',
    min: 2,
    defaultHelp: 'the distinct labels of the data, which it must match when given',
    needs: { option: 'head', values: ['classification'] },
    group: 'heads',
    commands: ['train', 'params'],
    help: 'number of labels',
  },
  taskWeights: {
    kind: 'weights',
    value: 'a=1,b=0.5',
    group: 'multi-task',
    commands: T,
    help: "weights α_t of the tasks (default 1): the batch loss is Σ α_t·L_t over the tasks in the batch, L_t the mean loss over task t's target tokens",
  },
  taskSampling: {
    kind: 'enum',
    values: ['proportional', 'uniform', 'temperature'],
    default: 'proportional',
    group: 'multi-task',
    commands: T,
    help: "how batches draw each task's records: in proportion to the task's size, equally, or p_t ∝ n_t^(1/{samplingTemperature})",
  },
  samplingTemperature: {
    kind: 'number',
    value: 'T',
    positive: true,
    default: 2,
    needs: { option: 'taskSampling', values: ['temperature'] },
    group: 'multi-task',
    commands: T,
    help: 'T in p_t ∝ n_t^(1/T): 1 is proportional, large T approaches uniform',
  },
  checkpointEvery: {
    kind: 'int',
    value: 'N',
    min: 0,
    default: 0,
    group: 'checkpoints',
    commands: T,
    help: 'save checkpoints/step-N every N optimizer steps; 0 = only the final output',
  },
  keepCheckpoints: {
    kind: 'int',
    value: 'K',
    min: 1,
    default: 3,
    group: 'checkpoints',
    commands: T,
    help: 'keep the last K checkpoints (plus the best by eval loss)',
  },
  earlyStoppingPatience: {
    kind: 'int',
    value: 'K',
    min: 0,
    default: 0,
    group: 'checkpoints',
    commands: T,
    help: 'stop after K evaluations without an improvement of at least {minDelta}; 0 = off',
  },
  minDelta: { kind: 'number', value: 'D', min: 0, default: 0, group: 'checkpoints', commands: T, help: 'the smallest fall of the eval loss that counts' },
  resume: {
    kind: 'string',
    value: 'DIR',
    group: 'checkpoints',
    commands: T,
    path: 'always',
    help: 'continue the run in DIR from its last checkpoint, with its own run.json (events.jsonl is appended to)',
  },
} satisfies Declarations;

// ---------------------------------------------------------------------------------------------------
// The table: the declarations above, and what defineOption / defineStrategy add (a test's toy option).

const options = new Map<string, OptionSpec>();
const strategies = new Map<string, StrategySpec>();
for (const [name, declaration] of Object.entries(BUILTIN)) options.set(name, Object.freeze({ name, ...declaration }));
for (const s of BUILTIN_STRATEGIES) strategies.set(s.name, Object.freeze(s));

/**
 * Adds an option to the table: from then on the parser, --help, the schema and the defaults know it.
 * Returns the function that removes it again (tests declare toy options and clean up after themselves).
 */
export function defineOption(spec: OptionSpec): () => void {
  if (options.has(spec.name)) throw new Error(`option '${spec.name}' is already declared`);
  if (!/^[a-z][a-zA-Z0-9]*$/.test(spec.name)) throw new Error(`option name '${spec.name}' must be camelCase`);
  const frozen = Object.freeze({ ...spec });
  options.set(spec.name, frozen);
  return () => {
    if (options.get(spec.name) === frozen) options.delete(spec.name);
  };
}

/**
 * Adds a strategy that `--strategy` accepts, with its learning rate, its heads and its own settings
 * (`options`, each then owned by it); returns the removal of all of them. Nothing is added when one of
 * them cannot be (a name already declared). trainer/strategies/index.ts registerStrategy calls it with
 * the module's `spec`; called alone, it declares a name the trainer has no module for.
 */
export function defineStrategy(spec: StrategySpec): () => void {
  if (strategies.has(spec.name)) throw new Error(`strategy '${spec.name}' is already declared`);
  if (!/^[a-z][a-z0-9-]*$/.test(spec.name)) throw new Error(`strategy name '${spec.name}' must be lowercase (letters, digits, -)`);
  const removals: (() => void)[] = [];
  const remove = () => {
    for (const r of removals.splice(0).reverse()) r();
  };
  try {
    for (const o of spec.options ?? []) {
      removals.push(defineOption({ group: 'strategies', ...o, needs: { option: 'strategy', values: [spec.name] } }));
    }
  } catch (err) {
    remove();
    throw err;
  }
  const frozen = Object.freeze({ ...spec });
  strategies.set(spec.name, frozen);
  removals.push(() => {
    if (strategies.get(spec.name) === frozen) strategies.delete(spec.name);
  });
  return remove;
}

/** The options `command` takes as flags (every option without one), in table order. */
export function optionSpecs(command?: CommandName): OptionSpec[] {
  return [...options.values()].filter((o) => command === undefined || o.commands.includes(command));
}

export function optionSpec(name: string): OptionSpec | undefined {
  return options.get(name);
}

export function strategySpecs(): StrategySpec[] {
  return [...strategies.values()];
}

export function strategySpec(name: string): StrategySpec | undefined {
  return strategies.get(name);
}

export function headSpecs(): readonly HeadSpec[] {
  return HEADS;
}

/** The settings run.json may hold, in table order. */
export function settingNames(): string[] {
  return optionSpecs()
    .filter((o) => o.runJson !== false)
    .map((o) => o.name);
}

/** The declared settings (TrainConfig's keys; trainer/run.schema.json lists the same). */
export const TRAIN_SETTING_NAMES = settingNames() as (keyof TrainConfig)[];

/** Learning rate when none is given, per strategy. */
export const DEFAULT_LR: Readonly<Record<Strategy, number>> = Object.freeze(Object.fromEntries(BUILTIN_STRATEGIES.map((s) => [s.name, s.lr]))) as Record<
  Strategy,
  number
>;

type Defaulted = { [K in keyof typeof BUILTIN]: (typeof BUILTIN)[K] extends { default: unknown } ? K : never }[keyof typeof BUILTIN];
export type TrainDefaults = { readonly [K in Defaulted & keyof TrainConfig]: NonNullable<TrainConfig[K]> };

/** The defaults of the declared settings (`lr` depends on the strategy: DEFAULT_LR). */
export const TRAIN_DEFAULTS: TrainDefaults = deepFreeze(
  Object.fromEntries(Object.entries(BUILTIN).flatMap(([name, d]) => ('default' in d ? [[name, d.default]] : []))),
) as TrainDefaults;

function deepFreeze<V>(value: V): V {
  if (value && typeof value === 'object') for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

/** The defaults of every option `command` takes (toy ones included), as fresh values the caller may change. */
export function optionDefaults(command: CommandName = 'train'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of optionSpecs(command)) if (o.default !== undefined) out[o.name] = JSON.parse(JSON.stringify(o.default));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Preset defaults

/** A preset's own training defaults: they replace TRAIN_DEFAULTS and DEFAULT_LR for a run on that preset. */
export interface PresetTrainDefaults {
  epochs: number;
  batchSize: number;
  warmupSteps: number;
  maxLength: number;
  lr: Readonly<Record<Strategy, number>>;
}

/**
 * The recommended settings of a run on a preset, declared once: resolveTrainConfig puts them under the
 * settings given (`finetune train --model tiny` without --epochs trains 50 epochs) and the quick pick
 * offers the same values (extension/training/fineTuneChoices.ts runDefaults). `tiny` has random weights, so the
 * fine-tuning rates of DEFAULT_LR barely move it (3 epochs of 5e-5 end near ln(50257) ≈ 10.8). These
 * let it memorise samples/alpaca.jsonl (18 training records: 250 steps of 4, train loss below 0.1,
 * greedy answers that repeat the records' outputs) in about a minute on two cores. Small batches give
 * more steps per epoch; fewer epochs leave records with the same instruction and another input with
 * one answer. 4e-3 after 20 warmup steps falls smoothly (5e-3 after 10 spikes on the short last batch,
 * 1e-2 diverges). 128 tokens hold the sample's longest record.
 */
export const PRESET_TRAIN_DEFAULTS: Readonly<Record<string, PresetTrainDefaults>> = {
  tiny: {
    epochs: 50,
    batchSize: 4,
    warmupSteps: 20,
    maxLength: 128,
    // Adapters on a frozen random model learn little at any rate; prompt tuning keeps its usual one.
    lr: { full: 4e-3, partial: 4e-3, lora: 2e-3, adapter: 2e-3, prompt: DEFAULT_LR.prompt },
  },
};

/** The settings PRESET_TRAIN_DEFAULTS gives a run of `strategy` on `model` (none when it is no preset with its own). */
export function presetTrainDefaults(model: string | undefined, strategy: Strategy): Partial<TrainConfig> {
  const preset = model !== undefined && Object.hasOwn(PRESET_TRAIN_DEFAULTS, model) ? PRESET_TRAIN_DEFAULTS[model] : undefined;
  if (!preset) return {};
  const lr = Object.hasOwn(preset.lr, strategy) ? preset.lr[strategy] : undefined;
  return {
    epochs: preset.epochs,
    batchSize: preset.batchSize,
    warmupSteps: preset.warmupSteps,
    maxLength: preset.maxLength,
    ...(lr !== undefined ? { lr } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// Values: one check for a flag's string and for run.json's JSON value

/**
 * Without --max-length an example keeps at most this many tokens, or the model's context where that is
 * shorter: TRL's SFTConfig default (max_length=1024), so an exported job truncates as the local run did,
 * and a model with an 8,192-token context does not plan its memory for examples nobody has.
 */
export const DEFAULT_MAX_LENGTH = 1024;

/** The maximum example length a run, preview, estimate or editor check uses: the one rule for all of them. */
export function effectiveMaxLength(given: number | undefined, contextLength: number): number {
  return Math.min(given ?? DEFAULT_MAX_LENGTH, contextLength);
}

export const flagOf = (name: string): string => '--' + name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
export const nameOfFlag = (flag: string): string => flag.replace(/^--/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** `a, b or c`. */
export function orList(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/** The values a `strategy`, `head` or `enum` option accepts (strategies as they are declared now). */
export function optionValues(spec: OptionSpec): readonly string[] | undefined {
  if (spec.kind === 'strategy') return strategySpecs().map((s) => s.name);
  if (spec.kind === 'head') return HEADS.map((h) => h.name);
  return spec.values;
}

type NumberRange = Pick<OptionSpec, 'kind' | 'min' | 'max' | 'positive'>;

function checkNumber(label: string, n: number, spec: NumberRange): number {
  // String(n), not JSON.stringify: JSON writes Infinity and NaN as null.
  if (!Number.isFinite(n)) throw new TrainConfigError(`${label} must be a finite number, got ${String(n)}`);
  if (spec.kind === 'int' && !Number.isInteger(n)) throw new TrainConfigError(`${label} must be an integer, got ${n}`);
  if (spec.positive && n <= 0) throw new TrainConfigError(`${label} must be greater than 0, got ${n}`);
  if (spec.min !== undefined && n < spec.min) throw new TrainConfigError(`${label} must be at least ${spec.min}, got ${n}`);
  if (spec.max !== undefined && n > spec.max) throw new TrainConfigError(`${label} must be at most ${spec.max}, got ${n}`);
  return n;
}

function parseTargets(label: string, value: unknown): string[] | 'all-linear' | 'default' {
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  if (!list?.every((t) => typeof t === 'string'))
    throw new TrainConfigError(`${label} must be a comma-separated list of module names, 'all-linear' or 'default'`);
  const names = list.map((t) => t.trim()).filter((t) => t !== '');
  if (names.length === 0) throw new TrainConfigError(`${label} names no module`);
  for (const word of ['all-linear', 'default'] as const) {
    if (names.length === 1 && names[0] === word) return word;
    if (names.includes(word)) throw new TrainConfigError(`${label}: '${word}' cannot be combined with module names`);
  }
  return names;
}

function parseWeights(label: string, value: unknown): Record<string, number> {
  // A Map, then own properties (Object.fromEntries): task names are the user's, and `__proto__=2` must
  // be a weight, not an assignment to the object's prototype. Readers look weights up with Object.hasOwn.
  const out = new Map<string, number>();
  const weight: NumberRange = { kind: 'number', min: 0 };
  if (typeof value === 'string') {
    for (const part of value
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '')) {
      const eq = part.lastIndexOf('=');
      if (eq <= 0) throw new TrainConfigError(`${label}: expected task=weight, got '${part}'`);
      const task = part.slice(0, eq).trim();
      out.set(task, checkNumber(`${label} for '${task}'`, Number(part.slice(eq + 1)), weight));
    }
  } else if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [task, w] of Object.entries(value)) out.set(task, checkNumber(`${label} for '${task}'`, typeof w === 'number' ? w : NaN, weight));
  } else {
    throw new TrainConfigError(`${label} must be like a=1,b=0.5`);
  }
  if (out.size === 0) throw new TrainConfigError(`${label} names no task`);
  return Object.fromEntries(out);
}

/** How a value is named in messages: the flag, or the run.json key. */
export function optionLabel(name: string, from: 'flag' | 'json'): string {
  return from === 'flag' ? flagOf(name) : `run.json: "${name}"`;
}

/**
 * One option's value, from a flag (a string, or true for a boolean flag) or from run.json (a JSON value),
 * checked against its declaration; a TrainConfigError names the flag or key otherwise.
 */
export function coerceOption(spec: OptionSpec, raw: unknown, from: 'flag' | 'json'): unknown {
  const label = optionLabel(spec.name, from);
  switch (spec.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw.trim() === '') throw new TrainConfigError(`${label} must be a non-empty string`);
      return raw;
    case 'boolean':
      if (typeof raw !== 'boolean') throw new TrainConfigError(`${label} must be true or false`);
      return raw;
    case 'int':
    case 'number': {
      const n = typeof raw === 'string' && from === 'flag' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || Number.isNaN(n))
        throw new TrainConfigError(`${label} must be ${spec.kind === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
      return checkNumber(label, n, spec);
    }
    case 'enum': {
      const values = optionValues(spec) ?? [];
      if (typeof raw !== 'string' || !values.includes(raw))
        throw new TrainConfigError(`${label} must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw;
    }
    case 'strategy':
    case 'head': {
      // A name looked up among the declared strategies or heads (own entries only: not `constructor`).
      const values = optionValues(spec) ?? [];
      if (typeof raw !== 'string' || !values.includes(raw)) throw new TrainConfigError(`${label} must be ${orList(values)}, got ${JSON.stringify(raw)}`);
      return raw;
    }
    case 'targets':
      return parseTargets(label, raw);
    case 'weights':
      return parseWeights(label, raw);
  }
}

// ---------------------------------------------------------------------------------------------------
// Settings that belong to a strategy, head or mode

/**
 * Refuses an option given for a strategy, head or mode the run does not have. `differs` (train): only a
 * value other than the default is a mistake, because run.json stores every setting and a LoRA run's file
 * holds freezeLayers: 0. `given` (params, bench: flags typed on the spot): any value of it is.
 */
export function checkOwners(given: Readonly<Record<string, unknown>>, resolved: Readonly<Record<string, unknown>>, rule: 'differs' | 'given'): void {
  for (const spec of options.values()) {
    const value = given[spec.name];
    if (!spec.needs || value === undefined) continue;
    const owner = resolved[spec.needs.option];
    if (spec.needs.values.includes(owner as string)) continue;
    const ownerText = `${flagOf(spec.needs.option)} ${orList(spec.needs.values)}`;
    if (rule === 'given') throw new TrainConfigError(`${flagOf(spec.name)} only applies to ${ownerText}`);
    if (JSON.stringify(value) !== JSON.stringify(spec.default)) throw new TrainConfigError(`${flagOf(spec.name)} needs ${ownerText} (got ${String(owner)})`);
  }
  const head = resolved.head;
  const strategy = strategySpec(String(resolved.strategy));
  if (typeof head === 'string' && strategy && !strategy.heads.includes(head)) {
    const able = strategySpecs()
      .filter((s) => s.heads.includes(head))
      .map((s) => s.name);
    throw new TrainConfigError(`--head ${head} trains with --strategy ${orList(able)}, not ${strategy.name}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// --help

/** How help text names another setting: `{evalData}` is `--eval-data` on the command line, `evalData` in run.json. */
function renderHelp(text: string, style: 'flag' | 'json'): string {
  return text.replace(/\{([a-z][a-zA-Z0-9]*)\}/g, (_, name: string) => (style === 'flag' ? flagOf(name) : name));
}

/** 5e-5 as 5e-5, not 0.00005. */
function formatValue(value: unknown): string {
  if (typeof value === 'number' && value !== 0 && Math.abs(value) < 1e-3) return value.toExponential();
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

function defaultText(spec: OptionSpec): string | undefined {
  if (spec.name === 'lr') {
    // The learning rate's default is the strategy's.
    const byRate = new Map<number, string[]>();
    for (const s of strategySpecs()) byRate.set(s.lr, [...(byRate.get(s.lr) ?? []), s.name]);
    return [...byRate].map(([lr, names]) => `${formatValue(lr)} (${names.join(', ')})`).join(', ');
  }
  if (spec.defaultHelp) return spec.defaultHelp;
  if (spec.default === undefined || spec.default === false) return undefined;
  return formatValue(spec.default);
}

/** The option's help without its flag: owner, text, the declared strategies or heads, default. */
export function optionHelp(spec: OptionSpec, style: 'flag' | 'json' = 'flag'): string {
  const owner = spec.needs ? `${spec.needs.values.join('/')}: ` : '';
  let text = owner + spec.help;
  if (spec.kind === 'strategy')
    text +=
      ' (' +
      strategySpecs()
        .map((s) => `${s.name}: ${s.help}`)
        .join('; ') +
      ')';
  if (spec.kind === 'head') text += ' (' + HEADS.map((h) => `${h.name}: ${h.help}`).join('; ') + ')';
  // The schema gives a constant default as `default`; words are for the ones that depend.
  const d = style === 'json' && spec.default !== undefined ? undefined : defaultText(spec);
  return renderHelp(d === undefined ? text : `${text}; default ${d}`, style);
}

/** `--flag VALUE` as --help shows it. */
export function optionSynopsis(spec: OptionSpec): string {
  if (spec.kind === 'boolean') return flagOf(spec.name);
  const values = optionValues(spec);
  return `${flagOf(spec.name)} ${values ? values.join('|') : (spec.value ?? 'VALUE')}`;
}

/** The options part of `command`'s --help, group by group; `extra` are the command's own flags (after the table's). */
export function optionsHelp(command: CommandName, extra: readonly OptionSpec[] = []): string {
  const all = [...optionSpecs(command), ...extra];
  const width = Math.min(30, Math.max(...all.map((o) => optionSynopsis(o).length)) + 2);
  const lines: string[] = [];
  for (const group of OPTION_GROUPS) {
    const inGroup = all.filter((o) => o.group === group);
    if (inGroup.length === 0) continue;
    lines.push(`${group}:`);
    for (const o of inGroup) {
      const synopsis = optionSynopsis(o);
      const required = o.required?.includes(command) ? 'required: ' : '';
      // A synopsis wider than the column gets the help on its own line.
      if (synopsis.length + 2 > width) lines.push(`  ${synopsis}`, `  ${''.padEnd(width)}${required}${optionHelp(o)}`);
      else lines.push(`  ${synopsis.padEnd(width)}${required}${optionHelp(o)}`);
    }
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------
// run.json's JSON Schema

function valueSchema(spec: OptionSpec): Record<string, unknown> {
  const range: Record<string, unknown> = {};
  if (spec.min !== undefined) range.minimum = spec.min;
  if (spec.positive) range.exclusiveMinimum = 0;
  if (spec.max !== undefined) range.maximum = spec.max;
  switch (spec.kind) {
    case 'string':
      // The parser refuses empty and blank strings.
      return { type: 'string', pattern: '\\S' };
    case 'boolean':
      return { type: 'boolean' };
    case 'int':
      return { type: 'integer', ...range };
    case 'number':
      return { type: 'number', ...range };
    case 'enum':
    case 'strategy':
    case 'head':
      return { enum: [...(optionValues(spec) ?? [])] };
    case 'targets':
      return {
        oneOf: [
          { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
          { type: 'string', minLength: 1 },
        ],
      };
    case 'weights':
      return {
        oneOf: [
          { type: 'object', additionalProperties: { type: 'number', minimum: 0 }, minProperties: 1 },
          { type: 'string', pattern: '^\\s*[^=,]+=[^,]+(,\\s*[^=,]+=[^,]+)*\\s*$' },
        ],
      };
  }
}

/** run.json's JSON Schema (draft-07), from the table: what the editor checks as the user types. */
export function runJsonSchema(): Record<string, unknown> {
  const properties: Record<string, unknown> = { $schema: { type: 'string' } };
  for (const spec of optionSpecs().filter((o) => o.runJson !== false)) {
    const property: Record<string, unknown> = { ...valueSchema(spec), description: optionHelp(spec, 'json') };
    if (spec.default !== undefined) property.default = spec.default;
    properties[spec.name] = property;
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://finetune-studio.invalid/run.schema.json',
    $comment: 'Generated from protocol/options.ts: node --import tsx scripts/run-schema.mjs (test/unit/option-table.test.ts checks it is current).',
    title: 'Fine-Tune Studio run settings (run.json)',
    description: 'The settings of one training run: every `finetune train` option, camelCased. Relative paths are relative to this file.',
    type: 'object',
    additionalProperties: false,
    required: optionSpecs()
      .filter((o) => o.runJson !== false && o.required?.includes('train'))
      .map((o) => o.name),
    properties,
  };
}
