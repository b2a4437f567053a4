// The model `finetune bench` trains: a family and its shape, from a preset's published config (random
// weights) and/or explicit size flags, which win over the preset's so that a reduced copy of a real
// shape (`--preset smollm2-135m --layers 2`) can be timed. Flags of the other family are refused.
import type { OptionSpec } from '../protocol/options';
import { type GPT2Config, isPresetName, PRESETS, presetConfig } from '../trainer/models/gpt2/config';
import { fromHfConfig, LLAMA_PRESETS, type LlamaModelType } from '../trainer/models/llama/config';
import type { ModelConfig } from '../trainer/models/registry';
import { UsageError } from './usage';

export const BENCH_FAMILIES = ['gpt2', 'llama', 'qwen2', 'qwen3'] as const;
export type BenchFamily = (typeof BENCH_FAMILIES)[number];

const size = (name: string, help: string, defaultHelp: string, min = 1): OptionSpec => ({
  name,
  kind: 'int',
  value: 'N',
  min,
  defaultHelp,
  group: 'run',
  commands: [],
  runJson: false,
  help,
});

/** The flags that choose the model; sizes without a default take the preset's, else the family's below. */
export const BENCH_SHAPE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'family',
    kind: 'enum',
    values: BENCH_FAMILIES,
    defaultHelp: "the preset's, else gpt2",
    group: 'run',
    commands: [],
    runJson: false,
    help: 'model family',
  },
  {
    name: 'preset',
    kind: 'enum',
    values: [...Object.keys(PRESETS).filter((p) => p !== 'tiny'), ...Object.keys(LLAMA_PRESETS)],
    group: 'run',
    commands: [],
    runJson: false,
    help: "a published model's shape (its config.json), with random weights; the size flags override it",
  },
  size('layers', 'transformer blocks: n_layer / num_hidden_layers', "4, or the preset's"),
  size('heads', 'attention heads: n_head / num_attention_heads', "4, or the preset's"),
  size('vocab', 'vocabulary size: vocab_size', "4096, or the preset's", 2),
  size('embd', 'GPT-2: n_embd, a multiple of --heads', "256, or the preset's"),
  size('hidden', 'Llama family: hidden_size', "256, or the preset's"),
  size('kvHeads', 'Llama family: num_key_value_heads, a divisor of --heads', "2, or the preset's"),
  size('headDim', 'Llama family: head_dim', "the preset's, else hidden / heads", 2),
  size('intermediate', 'Llama family: intermediate_size', "768, or the preset's"),
  { name: 'untied', kind: 'boolean', group: 'run', commands: [], runJson: false, help: 'Llama family: an lm_head of its own instead of the tied embedding' },
];

const GPT2_ONLY = ['embd'] as const;
const LLAMA_ONLY = ['hidden', 'kvHeads', 'headDim', 'intermediate', 'untied'] as const;
const flag = (name: string) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The family a preset belongs to. */
function presetFamily(preset: string): BenchFamily {
  if (isPresetName(preset)) return 'gpt2';
  return LLAMA_PRESETS[preset as keyof typeof LLAMA_PRESETS].hfConfig.model_type as LlamaModelType;
}

/** The config bench builds from its parsed flags (`own`); a bad combination is a UsageError naming the flag. */
export function benchModelConfig(own: Record<string, unknown>, seq: number): ModelConfig {
  const preset = own.preset as string | undefined;
  const fromPreset = preset === undefined ? undefined : presetFamily(preset);
  const family = (own.family as BenchFamily | undefined) ?? fromPreset ?? 'gpt2';
  if (fromPreset !== undefined && family !== fromPreset) throw new UsageError(`--preset ${preset} is a ${fromPreset} model, not --family ${family}`);
  const foreign = (family === 'gpt2' ? LLAMA_ONLY : GPT2_ONLY).find((k) => own[k] !== undefined && own[k] !== false);
  if (foreign) {
    throw new UsageError(
      `${flag(foreign)} is not a ${family} size (${family === 'gpt2' ? 'GPT-2: --layers --embd --heads --vocab' : 'Llama family: --layers --hidden --heads --kv-heads --head-dim --intermediate --vocab --untied'})`,
    );
  }
  const n = (k: string) => own[k] as number | undefined;
  if (family === 'gpt2') {
    const base: GPT2Config = preset
      ? presetConfig(preset)
      : { vocabSize: 4096, nPositions: Math.max(seq, 128), nEmbd: 256, nLayer: 4, nHead: 4, layerNormEpsilon: 1e-5, dropout: 0 };
    const config: GPT2Config = {
      ...base,
      vocabSize: n('vocab') ?? base.vocabSize,
      nEmbd: n('embd') ?? base.nEmbd,
      nLayer: n('layers') ?? base.nLayer,
      nHead: n('heads') ?? base.nHead,
      // Bench times the plain step: dropout off, as the reference's bench runs.
      dropout: 0,
    };
    if (config.nEmbd % config.nHead !== 0) throw new UsageError(`--embd (${config.nEmbd}) must be divisible by --heads (${config.nHead})`);
    if (seq > config.nPositions) throw new UsageError(`--seq ${seq} is longer than the ${preset} context (${config.nPositions} positions)`);
    return config;
  }
  const raw: Record<string, unknown> = preset
    ? { ...LLAMA_PRESETS[preset as keyof typeof LLAMA_PRESETS].hfConfig }
    : {
        model_type: family,
        vocab_size: 4096,
        hidden_size: 256,
        intermediate_size: 768,
        num_hidden_layers: 4,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: Math.max(seq, 128),
        rms_norm_eps: family === 'llama' ? 1e-5 : 1e-6,
        rope_theta: 10000,
        tie_word_embeddings: true,
      };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) raw[key] = value;
  };
  set('num_hidden_layers', n('layers'));
  set('num_attention_heads', n('heads'));
  set('vocab_size', n('vocab'));
  set('hidden_size', n('hidden'));
  set('num_key_value_heads', n('kvHeads'));
  set('intermediate_size', n('intermediate'));
  if (own.untied) raw.tie_word_embeddings = false;
  // A preset's head_dim is its own; changed widths or head counts without --head-dim take hidden / heads, as config.json without head_dim does.
  if (n('headDim') !== undefined) raw.head_dim = n('headDim');
  else if (n('hidden') !== undefined || n('heads') !== undefined) delete raw.head_dim;
  const where = preset ? `--preset ${preset} with the size flags` : 'the size flags';
  try {
    const config = fromHfConfig(raw, where);
    if (seq > config.maxPositions) throw new UsageError(`--seq ${seq} is longer than the model's context (${config.maxPositions} positions)`);
    return config;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // config.json's field names, which the size flags' help maps to one each.
    throw new UsageError((err as Error).message);
  }
}
