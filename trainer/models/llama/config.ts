// The Llama family's shape (LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM): read from a Hugging
// Face `config.json` in either RoPE form (the classic `rope_theta` + `rope_scaling`, or the newer
// `rope_parameters` object transformers ≥ 4.57 writes), written back in the same form, and the built-in
// presets (exact config.json values of the published models) that work offline. Free of TensorFlow.js.
import * as os from 'node:os';
import { ModelConfigError } from '../gpt2/config';

export { ModelConfigError };

/** config.json's `model_type` of each member of the family. */
export type LlamaModelType = 'llama' | 'qwen2' | 'qwen3';

export const LLAMA_ARCHITECTURES: Record<LlamaModelType, { causalLm: string; base: string; classification: string }> = {
  llama: { causalLm: 'LlamaForCausalLM', base: 'LlamaModel', classification: 'LlamaForSequenceClassification' },
  qwen2: { causalLm: 'Qwen2ForCausalLM', base: 'Qwen2Model', classification: 'Qwen2ForSequenceClassification' },
  qwen3: { causalLm: 'Qwen3ForCausalLM', base: 'Qwen3Model', classification: 'Qwen3ForSequenceClassification' },
};

/** The RoPE variants transformers' `ROPE_INIT_FUNCTIONS` has that this trainer implements. */
export const SUPPORTED_ROPE_TYPES = ['default', 'llama3'] as const;

export type RopeScaling =
  | { type: 'default' }
  /** Llama 3.1's wavelength-dependent scaling (transformers' `_compute_llama3_parameters`). */
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export interface LlamaConfig {
  modelType: LlamaModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Width of one attention head: config.json's `head_dim`, else hidden_size / num_attention_heads. */
  headDim: number;
  /** `max_position_embeddings`: the context length. */
  maxPositions: number;
  rmsNormEps: number;
  ropeTheta: number;
  rope: RopeScaling;
  /** Where config.json put the RoPE settings, so that it is written back the same way. */
  ropeForm: 'classic' | 'parameters';
  /** `attention_bias` (Llama, Qwen3: q/k/v/o all with or all without; Qwen2 ignores it: q/k/v always, o never). */
  attentionBias: boolean;
  /** `mlp_bias` (Llama only; Qwen2/Qwen3's MLPs have none). */
  mlpBias: boolean;
  tieWordEmbeddings: boolean;
  /** Dropout on the attention probabilities while training (`attention_dropout`, 0 in every published model). */
  attentionDropout: number;
  initializerRange: number;
  bosTokenId?: number;
  /** One id or several (Llama 3.2 Instruct lists three). */
  eosTokenId?: number | number[];
  padTokenId?: number;
}

/** The linear modules of one decoder layer, in Hugging Face naming. */
export const LAYER_LINEARS = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
] as const;
export type LayerLinear = (typeof LAYER_LINEARS)[number];

/** [in, out] of a layer's linear module. */
export function linearShape(c: LlamaConfig, kind: LayerLinear): { in: number; out: number } {
  const e = c.hiddenSize;
  switch (kind) {
    case 'self_attn.q_proj':
      return { in: e, out: c.numHeads * c.headDim };
    case 'self_attn.k_proj':
    case 'self_attn.v_proj':
      return { in: e, out: c.numKvHeads * c.headDim };
    case 'self_attn.o_proj':
      return { in: c.numHeads * c.headDim, out: e };
    case 'mlp.gate_proj':
    case 'mlp.up_proj':
      return { in: e, out: c.intermediateSize };
    case 'mlp.down_proj':
      return { in: c.intermediateSize, out: e };
  }
}

/** Whether a layer's linear has a bias, as each family's modeling code builds it. */
export function linearHasBias(c: LlamaConfig, kind: LayerLinear): boolean {
  if (kind.startsWith('mlp.')) return c.modelType === 'llama' && c.mlpBias;
  if (c.modelType === 'qwen2') return kind !== 'self_attn.o_proj';
  return c.attentionBias;
}

/** Qwen3's per-head RMSNorm of the queries and keys (over head_dim, before the rotation). */
export function hasQkNorm(c: LlamaConfig): boolean {
  return c.modelType === 'qwen3';
}

/**
 * The largest value each size may take. A config is untrusted input and the trainer builds per-layer
 * structures from these numbers before it reads a weight, so an absurd one is refused first. Far above
 * any published model (Llama 3.1 405B: 126 layers, hidden 16,384, 128 heads, MLP 53,248; vocabularies
 * below 300k).
 */
export const LLAMA_LIMITS = {
  vocabSize: 2 ** 21,
  hiddenSize: 2 ** 16,
  intermediateSize: 2 ** 20,
  numLayers: 1024,
  numHeads: 1024,
  numKvHeads: 1024,
  headDim: 2 ** 12,
  maxPositions: 2 ** 24,
} as const;
/** Above this many parameters (4 TB of float32) a shape is refused even by `params`, which only counts. */
export const MAX_PARAMETERS = 1e12;

const HF_NAMES = {
  vocabSize: 'vocab_size',
  hiddenSize: 'hidden_size',
  intermediateSize: 'intermediate_size',
  numLayers: 'num_hidden_layers',
  numHeads: 'num_attention_heads',
  numKvHeads: 'num_key_value_heads',
  headDim: 'head_dim',
  maxPositions: 'max_position_embeddings',
} as const;

/**
 * Parameters of the base model in closed form (no per-layer loop, safe on any input): the embedding,
 * an untied head, per layer the seven projections with their biases, two norms (and Qwen3's q/k norms),
 * and the final norm. transformers' `num_parameters()` counts the same: a tied head once.
 */
export function baseParameterCount(c: LlamaConfig): number {
  let layer = 0;
  for (const kind of LAYER_LINEARS) {
    const { in: i, out: o } = linearShape(c, kind);
    layer += i * o + (linearHasBias(c, kind) ? o : 0);
  }
  layer += 2 * c.hiddenSize + (hasQkNorm(c) ? 2 * c.headDim : 0);
  const embeddings = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
  return embeddings + c.numLayers * layer + c.hiddenSize;
}

/** Throws ModelConfigError unless the shape is one the model can be built with (every size bounded). */
export function validateConfig(c: LlamaConfig): LlamaConfig {
  for (const key of Object.keys(LLAMA_LIMITS) as (keyof typeof LLAMA_LIMITS)[]) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new ModelConfigError(`${HF_NAMES[key]} must be a positive integer, got ${c[key]}`);
    if (c[key] > LLAMA_LIMITS[key]) throw new ModelConfigError(`${HF_NAMES[key]} ${c[key]} is implausibly large (at most ${LLAMA_LIMITS[key]})`);
  }
  if (c.numHeads % c.numKvHeads !== 0) {
    throw new ModelConfigError(`num_attention_heads (${c.numHeads}) must be a multiple of num_key_value_heads (${c.numKvHeads})`);
  }
  // rotate_half splits each head in two halves.
  if (c.headDim % 2 !== 0) throw new ModelConfigError(`head_dim must be even for rotary embeddings, got ${c.headDim}`);
  if (!(c.rmsNormEps > 0)) throw new ModelConfigError(`rms_norm_eps must be positive, got ${c.rmsNormEps}`);
  if (!(c.ropeTheta > 0 && Number.isFinite(c.ropeTheta))) throw new ModelConfigError(`rope_theta must be a positive number, got ${c.ropeTheta}`);
  if (!(c.attentionDropout >= 0 && c.attentionDropout < 1)) throw new ModelConfigError(`attention_dropout must be in [0, 1), got ${c.attentionDropout}`);
  if (c.rope.type === 'llama3') validateLlama3(c.rope);
  const params = baseParameterCount(c);
  if (params > MAX_PARAMETERS) {
    throw new ModelConfigError(
      `num_hidden_layers ${c.numLayers} × hidden_size ${c.hiddenSize} (intermediate_size ${c.intermediateSize}, vocab_size ${c.vocabSize}) makes ` +
        `${params.toExponential(2)} parameters, more than the ${MAX_PARAMETERS.toExponential(0)} this trainer accepts`,
    );
  }
  return c;
}

function validateLlama3(r: Extract<RopeScaling, { type: 'llama3' }>): void {
  const positive = { factor: r.factor, low_freq_factor: r.lowFreqFactor, high_freq_factor: r.highFreqFactor };
  for (const [name, v] of Object.entries(positive)) {
    if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new ModelConfigError(`rope type llama3: ${name} must be a positive number, got ${v}`);
  }
  // The smoothing divides by high − low; transformers' validation asks the same.
  if (!(r.highFreqFactor > r.lowFreqFactor)) {
    throw new ModelConfigError(`rope type llama3: high_freq_factor (${r.highFreqFactor}) must be larger than low_freq_factor (${r.lowFreqFactor})`);
  }
  if (!Number.isInteger(r.originalMaxPositionEmbeddings) || r.originalMaxPositionEmbeddings < 1) {
    throw new ModelConfigError(`rope type llama3: original_max_position_embeddings must be a positive integer, got ${r.originalMaxPositionEmbeddings}`);
  }
}

/**
 * Throws ModelConfigError when the model's weights alone (float32) exceed the machine's memory: such a
 * model can only end in an out-of-memory abort after minutes of allocating. Checked before any weight
 * is read; training needs more, so this is a floor.
 */
export function checkFitsInMemory(c: LlamaConfig, where: string, totalBytes: number = os.totalmem()): void {
  const count = baseParameterCount(c);
  const bytes = 4 * count;
  if (bytes > totalBytes) {
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
    throw new ModelConfigError(
      `${where}: a model of this shape (num_hidden_layers ${c.numLayers}, hidden_size ${c.hiddenSize}, intermediate_size ${c.intermediateSize}, ` +
        `vocab_size ${c.vocabSize}) has ${count.toLocaleString('en-US')} parameters, ${gib(bytes)} in float32, more than this machine's memory (${gib(totalBytes)})`,
    );
  }
}

type Raw = Record<string, unknown>;

function intField(raw: Raw, name: string, where: string, max: number, fallback?: number): number {
  const v = raw[name];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ModelConfigError(`${where}: missing ${name}`);
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new ModelConfigError(`${where}: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  if (v > max) throw new ModelConfigError(`${where}: ${name} ${v} is implausibly large (at most ${max})`);
  return v;
}

function numberField(raw: Raw, name: string, where: string, fallback: number): number {
  const v = raw[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelConfigError(`${where}: ${name} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function boolField(raw: Raw, name: string, where: string, fallback: boolean): boolean {
  const v = raw[name] ?? fallback;
  if (typeof v !== 'boolean') throw new ModelConfigError(`${where}: ${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function tokenId(raw: Raw, name: string, where: string): number | undefined {
  const v = raw[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ModelConfigError(`${where}: ${name} must be a token id, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * The RoPE settings of either form, standardized as transformers' `standardize_rope_params` does: the
 * `rope_parameters` object (rope_theta inside it) or `rope_scaling` beside `rope_theta`; the type from
 * `rope_type`, else the legacy `type`, else default. Any other type is refused by name.
 */
function ropeOf(r: Raw, where: string, maxPositions: number): { theta: number; rope: RopeScaling; form: 'classic' | 'parameters' } {
  const form = r.rope_parameters !== undefined && r.rope_parameters !== null ? 'parameters' : 'classic';
  const field = form === 'parameters' ? 'rope_parameters' : 'rope_scaling';
  const given = form === 'parameters' ? r.rope_parameters : r.rope_scaling;
  if (given !== undefined && given !== null && (typeof given !== 'object' || Array.isArray(given))) {
    throw new ModelConfigError(`${where}: ${field} must be an object or null, got ${JSON.stringify(given)}`);
  }
  const p = (given ?? {}) as Raw;
  const theta = numberField(p.rope_theta !== undefined ? p : r, 'rope_theta', where, 10000);
  const type = p.rope_type ?? p.type ?? 'default';
  if (type === 'default') return { theta, rope: { type: 'default' }, form };
  if (type !== 'llama3') {
    throw new ModelConfigError(`${where}: ${field}.rope_type ${JSON.stringify(type)} is not supported (supported: ${SUPPORTED_ROPE_TYPES.join(', ')})`);
  }
  const num = (name: string) => {
    const v = p[name];
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ModelConfigError(`${where}: ${field}.${name} must be a number for rope type llama3, got ${JSON.stringify(v)}`);
    return v;
  };
  const original = p.original_max_position_embeddings ?? maxPositions;
  return {
    theta,
    rope: {
      type: 'llama3',
      factor: num('factor'),
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalMaxPositionEmbeddings: original as number,
    },
    form,
  };
}

/** A LlamaConfig from the parsed `config.json` of a Llama, Qwen2 or Qwen3 model. */
export function fromHfConfig(raw: unknown, where = 'config.json'): LlamaConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelConfigError(`${where}: not a JSON object`);
  const r = raw as Raw;
  const modelType = r.model_type;
  if (modelType !== 'llama' && modelType !== 'qwen2' && modelType !== 'qwen3') {
    throw new ModelConfigError(
      `${where}: model_type ${JSON.stringify(modelType)} is not one of the Llama family's (${Object.keys(LLAMA_ARCHITECTURES).join(', ')})`,
    );
  }
  const known = Object.values(LLAMA_ARCHITECTURES[modelType]);
  if (Array.isArray(r.architectures)) {
    for (const a of r.architectures) {
      if (!known.includes(a as string)) {
        throw new ModelConfigError(
          `${where}: architecture ${JSON.stringify(a)} is not supported for model_type '${modelType}' (supported: ${known.join(', ')})`,
        );
      }
    }
  }
  const act = r.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ModelConfigError(`${where}: hidden_act ${JSON.stringify(act)} is not supported (silu)`);
  // Qwen2/Qwen3 configs carry sliding-window fields; every published small model leaves the window off.
  if (r.use_sliding_window === true) throw new ModelConfigError(`${where}: use_sliding_window true is not supported (sliding-window attention)`);
  if (r.partial_rotary_factor !== undefined && r.partial_rotary_factor !== null && r.partial_rotary_factor !== 1) {
    throw new ModelConfigError(
      `${where}: partial_rotary_factor ${JSON.stringify(r.partial_rotary_factor)} is not supported (rotary embeddings over the whole head)`,
    );
  }
  const hiddenSize = intField(r, 'hidden_size', where, LLAMA_LIMITS.hiddenSize);
  const numHeads = intField(r, 'num_attention_heads', where, LLAMA_LIMITS.numHeads);
  if ((r.head_dim === undefined || r.head_dim === null) && hiddenSize % numHeads !== 0) {
    throw new ModelConfigError(`${where}: hidden_size (${hiddenSize}) must be divisible by num_attention_heads (${numHeads}) when head_dim is not given`);
  }
  // transformers' defaults: LlamaConfig 2048, Qwen2Config and Qwen3Config 32768.
  const maxPositions = intField(r, 'max_position_embeddings', where, LLAMA_LIMITS.maxPositions, modelType === 'llama' ? 2048 : 32768);
  const { theta, rope, form } = ropeOf(r, where, maxPositions);
  const eos = r.eos_token_id;
  const eosTokenId = Array.isArray(eos)
    ? eos.map((e, i) => {
        if (typeof e !== 'number' || !Number.isInteger(e) || e < 0)
          throw new ModelConfigError(`${where}: eos_token_id[${i}] must be a token id, got ${JSON.stringify(e)}`);
        return e;
      })
    : tokenId(r, 'eos_token_id', where);
  const rmsNormEps = numberField(r, 'rms_norm_eps', where, 1e-6);
  const config: LlamaConfig = {
    modelType,
    vocabSize: intField(r, 'vocab_size', where, LLAMA_LIMITS.vocabSize),
    hiddenSize,
    intermediateSize: intField(r, 'intermediate_size', where, LLAMA_LIMITS.intermediateSize),
    numLayers: intField(r, 'num_hidden_layers', where, LLAMA_LIMITS.numLayers),
    numHeads,
    numKvHeads: intField(r, 'num_key_value_heads', where, LLAMA_LIMITS.numKvHeads, numHeads),
    headDim: intField(r, 'head_dim', where, LLAMA_LIMITS.headDim, hiddenSize / numHeads),
    maxPositions,
    rmsNormEps,
    ropeTheta: theta,
    rope,
    ropeForm: form,
    attentionBias: boolField(r, 'attention_bias', where, false),
    mlpBias: boolField(r, 'mlp_bias', where, false),
    // LlamaConfig, Qwen2Config and Qwen3Config all default to an untied head.
    tieWordEmbeddings: boolField(r, 'tie_word_embeddings', where, false),
    attentionDropout: numberField(r, 'attention_dropout', where, 0),
    initializerRange: numberField(r, 'initializer_range', where, 0.02),
  };
  const bos = tokenId(r, 'bos_token_id', where);
  if (bos !== undefined) config.bosTokenId = bos;
  if (eosTokenId !== undefined) config.eosTokenId = eosTokenId;
  const pad = tokenId(r, 'pad_token_id', where);
  if (pad !== undefined) config.padTokenId = pad;
  try {
    return validateConfig(config);
  } catch (err) {
    throw new ModelConfigError(`${where}: ${(err as Error).message}`);
  }
}

/** The `config.json` transformers writes for a model of this config (its RoPE settings in the form they were read in). */
export function toHfConfig(c: LlamaConfig): Record<string, unknown> {
  const rope: Record<string, unknown> | null =
    c.rope.type === 'llama3'
      ? {
          rope_type: 'llama3',
          factor: c.rope.factor,
          low_freq_factor: c.rope.lowFreqFactor,
          high_freq_factor: c.rope.highFreqFactor,
          original_max_position_embeddings: c.rope.originalMaxPositionEmbeddings,
        }
      : null;
  const out: Record<string, unknown> = {
    architectures: [LLAMA_ARCHITECTURES[c.modelType].causalLm],
    model_type: c.modelType,
    hidden_act: 'silu',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.maxPositions,
    rms_norm_eps: c.rmsNormEps,
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_dropout: c.attentionDropout,
    initializer_range: c.initializerRange,
    use_cache: true,
    torch_dtype: 'float32',
  };
  if (c.modelType !== 'qwen2') out.attention_bias = c.attentionBias;
  if (c.modelType === 'llama') out.mlp_bias = c.mlpBias;
  else Object.assign(out, { use_sliding_window: false, sliding_window: null, max_window_layers: c.numLayers });
  if (c.ropeForm === 'parameters') out.rope_parameters = { rope_theta: c.ropeTheta, ...(rope ?? { rope_type: 'default' }) };
  else Object.assign(out, { rope_theta: c.ropeTheta, rope_scaling: rope });
  if (c.bosTokenId !== undefined) out.bos_token_id = c.bosTokenId;
  if (c.eosTokenId !== undefined) out.eos_token_id = c.eosTokenId;
  if (c.padTokenId !== undefined) out.pad_token_id = c.padTokenId;
  return out;
}

export type LlamaPresetName = 'smollm2-135m' | 'smollm2-360m' | 'qwen2.5-0.5b' | 'qwen3-0.6b' | 'tinyllama-1.1b' | 'llama-3.2-1b';

/**
 * The presets' config.json, exactly as the model repos publish them (the fields this trainer reads;
 * checked against the repos' files: SmolLM2's, TinyLlama-1.1B-Chat-v1.0's, Qwen2.5-0.5B's,
 * Qwen3-0.6B's and Llama-3.2-1B's config.json). `repo` is where the weights and tokenizer come from.
 */
export const LLAMA_PRESETS: Record<LlamaPresetName, { repo: string; hfConfig: Record<string, unknown> }> = {
  'smollm2-135m': {
    repo: 'HuggingFaceTB/SmolLM2-135M',
    hfConfig: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 0,
      eos_token_id: 0,
      head_dim: 64,
      hidden_act: 'silu',
      hidden_size: 576,
      initializer_range: 0.041666666666666664,
      intermediate_size: 1536,
      max_position_embeddings: 8192,
      mlp_bias: false,
      num_attention_heads: 9,
      num_hidden_layers: 30,
      num_key_value_heads: 3,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      rope_theta: 100000,
      tie_word_embeddings: true,
      vocab_size: 49152,
    },
  },
  'smollm2-360m': {
    repo: 'HuggingFaceTB/SmolLM2-360M',
    hfConfig: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 0,
      eos_token_id: 0,
      head_dim: 64,
      hidden_act: 'silu',
      hidden_size: 960,
      initializer_range: 0.02,
      intermediate_size: 2560,
      max_position_embeddings: 8192,
      mlp_bias: false,
      num_attention_heads: 15,
      num_hidden_layers: 32,
      num_key_value_heads: 5,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      rope_theta: 100000,
      tie_word_embeddings: true,
      vocab_size: 49152,
    },
  },
  'qwen2.5-0.5b': {
    repo: 'Qwen/Qwen2.5-0.5B',
    hfConfig: {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151643,
      hidden_act: 'silu',
      hidden_size: 896,
      initializer_range: 0.02,
      intermediate_size: 4864,
      max_position_embeddings: 32768,
      max_window_layers: 24,
      num_attention_heads: 14,
      num_hidden_layers: 24,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      tie_word_embeddings: true,
      use_sliding_window: false,
      vocab_size: 151936,
    },
  },
  'qwen3-0.6b': {
    repo: 'Qwen/Qwen3-0.6B',
    hfConfig: {
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151645,
      head_dim: 128,
      hidden_act: 'silu',
      hidden_size: 1024,
      initializer_range: 0.02,
      intermediate_size: 3072,
      max_position_embeddings: 40960,
      max_window_layers: 28,
      num_attention_heads: 16,
      num_hidden_layers: 28,
      num_key_value_heads: 8,
      rms_norm_eps: 1e-6,
      rope_scaling: null,
      rope_theta: 1000000,
      sliding_window: null,
      tie_word_embeddings: true,
      use_sliding_window: false,
      vocab_size: 151936,
    },
  },
  'tinyllama-1.1b': {
    repo: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    hfConfig: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      attention_bias: false,
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 5632,
      max_position_embeddings: 2048,
      num_attention_heads: 32,
      num_hidden_layers: 22,
      num_key_value_heads: 4,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      rope_theta: 10000.0,
      tie_word_embeddings: false,
      vocab_size: 32000,
    },
  },
  'llama-3.2-1b': {
    repo: 'meta-llama/Llama-3.2-1B',
    hfConfig: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 128000,
      eos_token_id: 128001,
      head_dim: 64,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 8192,
      max_position_embeddings: 131072,
      mlp_bias: false,
      num_attention_heads: 32,
      num_hidden_layers: 16,
      num_key_value_heads: 8,
      rms_norm_eps: 1e-5,
      rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
      rope_theta: 500000.0,
      tie_word_embeddings: true,
      vocab_size: 128256,
    },
  },
};

export function isLlamaPresetName(name: string): name is LlamaPresetName {
  return Object.hasOwn(LLAMA_PRESETS, name);
}

/** A preset's config, parsed from its published config.json. */
export function llamaPresetConfig(name: string): LlamaConfig {
  if (!isLlamaPresetName(name)) throw new ModelConfigError(`unknown preset '${name}' (presets: ${Object.keys(LLAMA_PRESETS).join(', ')})`);
  return fromHfConfig(LLAMA_PRESETS[name].hfConfig, `preset ${name}`);
}
