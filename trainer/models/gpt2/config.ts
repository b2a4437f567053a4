// GPT-2 model shape: read from a Hugging Face `config.json` and written back in the same form, plus
// the built-in presets that work offline.
import * as os from 'node:os';
import { GPT2_EOS_ID } from '../../../language/tokenizer';

export interface GPT2Config {
  vocabSize: number;
  /** Context length (`n_positions`). */
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  layerNormEpsilon: number;
  /** Dropout used for embeddings, attention probabilities and residual branches while training. */
  dropout: number;
  bosTokenId?: number;
  eosTokenId?: number;
}

/** A config.json that this trainer cannot run: the message names the field. */
export class ModelConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelConfigError';
  }
}

export type PresetName = 'gpt2' | 'distilgpt2' | 'tiny';

const GPT2_SHAPE = {
  vocabSize: 50257,
  nPositions: 1024,
  nEmbd: 768,
  nHead: 12,
  layerNormEpsilon: 1e-5,
  dropout: 0.1,
  bosTokenId: GPT2_EOS_ID,
  eosTokenId: GPT2_EOS_ID,
};

/** Configs of the presets: `gpt2` and `distilgpt2` as published on the hub; `tiny` is ours (random weights, GPT-2 tokenizer). */
export const PRESETS: Record<PresetName, GPT2Config> = {
  gpt2: { ...GPT2_SHAPE, nLayer: 12 },
  distilgpt2: { ...GPT2_SHAPE, nLayer: 6 },
  tiny: { ...GPT2_SHAPE, nPositions: 256, nEmbd: 64, nLayer: 2, nHead: 2, dropout: 0 },
};

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

export function presetConfig(name: string): GPT2Config {
  if (!isPresetName(name)) throw new ModelConfigError(`unknown preset '${name}' (presets: ${Object.keys(PRESETS).join(', ')})`);
  return { ...PRESETS[name] };
}

/** config.json's name of each size, so that a message names the field the user wrote. */
const HF_NAMES = { vocabSize: 'vocab_size', nPositions: 'n_positions', nEmbd: 'n_embd', nLayer: 'n_layer', nHead: 'n_head' } as const;

/**
 * The largest value each size may take. A config is untrusted input (hub downloads included), and the
 * trainer builds per-layer and per-key structures from these numbers before it reads a single weight,
 * so an absurd one must be refused before anything is allocated. The limits are far above any published
 * GPT-2 style model (GPT-3 175B: 96 layers, n_embd 12,288, 96 heads; vocabularies stay below 300k).
 */
export const CONFIG_LIMITS = { vocabSize: 2 ** 21, nPositions: 2 ** 20, nEmbd: 2 ** 16, nLayer: 1024, nHead: 1024 } as const;
/** Above this many parameters (4 TB of float32) a shape is refused even by `params`, which only counts. */
export const MAX_PARAMETERS = 1e12;

/**
 * Parameters of the base model in closed form: wte + wpe, per block 12·E² + 13·E (c_attn, c_proj,
 * c_fc, mlp.c_proj with biases, two layer norms), ln_f. No per-layer loop, so it is safe on any input.
 */
export function baseParameterCount(c: Pick<GPT2Config, 'vocabSize' | 'nPositions' | 'nEmbd' | 'nLayer'>): number {
  const e = c.nEmbd;
  return (c.vocabSize + c.nPositions) * e + c.nLayer * (12 * e * e + 13 * e) + 2 * e;
}

/** Throws ModelConfigError unless the shape is one the model can be built with (every size bounded). */
export function validateConfig(c: GPT2Config): GPT2Config {
  for (const key of ['vocabSize', 'nPositions', 'nEmbd', 'nLayer', 'nHead'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new ModelConfigError(`${HF_NAMES[key]} must be a positive integer, got ${c[key]}`);
    if (c[key] > CONFIG_LIMITS[key]) throw new ModelConfigError(`${HF_NAMES[key]} ${c[key]} is implausibly large (at most ${CONFIG_LIMITS[key]})`);
  }
  if (c.nEmbd % c.nHead !== 0) throw new ModelConfigError(`n_embd (${c.nEmbd}) must be divisible by n_head (${c.nHead})`);
  if (!(c.layerNormEpsilon > 0)) throw new ModelConfigError(`layer_norm_epsilon must be positive, got ${c.layerNormEpsilon}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new ModelConfigError(`dropout must be in [0, 1), got ${c.dropout}`);
  const params = baseParameterCount(c);
  if (params > MAX_PARAMETERS) {
    throw new ModelConfigError(
      `n_layer ${c.nLayer} × n_embd ${c.nEmbd} (vocab_size ${c.vocabSize}, n_positions ${c.nPositions}) makes ${params.toExponential(2)} parameters, more than the ${MAX_PARAMETERS.toExponential(0)} this trainer accepts`,
    );
  }
  return c;
}

/**
 * Throws ModelConfigError when the model's weights alone (float32) exceed the machine's memory: such a
 * model can only end in an out-of-memory abort, after minutes of allocating. Checked before any weight is
 * read or allocated; training needs more (gradients, optimizer state, activations), so this is a floor.
 */
export function checkFitsInMemory(c: GPT2Config, where: string, totalBytes: number = os.totalmem()): void {
  const bytes = 4 * baseParameterCount(c);
  if (bytes > totalBytes) {
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
    throw new ModelConfigError(
      `${where}: a model of this shape (n_layer ${c.nLayer}, n_embd ${c.nEmbd}, vocab_size ${c.vocabSize}, n_positions ${c.nPositions}) has ` +
        `${baseParameterCount(c).toLocaleString('en-US')} parameters, ${gib(bytes)} in float32, more than this machine's memory (${gib(totalBytes)})`,
    );
  }
}

function intField(raw: Record<string, unknown>, names: string[], where: string, max: number, fallback?: number): number {
  for (const name of names) {
    const v = raw[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new ModelConfigError(`${where}: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
    if (v > max) throw new ModelConfigError(`${where}: ${name} ${v} is implausibly large (at most ${max})`);
    return v;
  }
  if (fallback !== undefined) return fallback;
  throw new ModelConfigError(`${where}: missing ${names.join(' / ')}`);
}

/** A GPT2Config from the parsed `config.json` of a Hugging Face GPT-2 model. */
export function fromHfConfig(raw: unknown, where = 'config.json'): GPT2Config {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelConfigError(`${where}: not a JSON object`);
  const r = raw as Record<string, unknown>;
  if (r.model_type !== undefined && r.model_type !== 'gpt2') {
    throw new ModelConfigError(`${where}: model_type '${String(r.model_type)}' is not supported (only GPT-2 style models, model_type 'gpt2')`);
  }
  const act = r.activation_function ?? 'gelu_new';
  // gelu_pytorch_tanh is the same function as gelu_new.
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh')
    throw new ModelConfigError(`${where}: activation_function '${String(act)}' is not supported (gelu_new)`);
  if (r.scale_attn_by_inverse_layer_idx === true || r.reorder_and_upcast_attn === true) {
    throw new ModelConfigError(`${where}: scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported`);
  }
  if (r.tie_word_embeddings === false)
    throw new ModelConfigError(`${where}: tie_word_embeddings false is not supported (GPT-2 ties the LM head to the token embedding)`);
  if (r.scale_attn_weights === false) throw new ModelConfigError(`${where}: scale_attn_weights false is not supported`);
  const eps = r.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) throw new ModelConfigError(`${where}: layer_norm_epsilon must be a positive number`);
  const drop = r.resid_pdrop ?? 0.1;
  if (typeof drop !== 'number' || !(drop >= 0 && drop < 1)) throw new ModelConfigError(`${where}: resid_pdrop must be a number in [0, 1)`);
  const config: GPT2Config = {
    vocabSize: intField(r, ['vocab_size'], where, CONFIG_LIMITS.vocabSize),
    nPositions: intField(r, ['n_positions', 'n_ctx'], where, CONFIG_LIMITS.nPositions),
    nEmbd: intField(r, ['n_embd', 'hidden_size'], where, CONFIG_LIMITS.nEmbd),
    nLayer: intField(r, ['n_layer', 'num_hidden_layers'], where, CONFIG_LIMITS.nLayer),
    nHead: intField(r, ['n_head', 'num_attention_heads'], where, CONFIG_LIMITS.nHead),
    layerNormEpsilon: eps,
    dropout: drop,
  };
  if (r.n_inner !== undefined && r.n_inner !== null && r.n_inner !== 4 * config.nEmbd) {
    throw new ModelConfigError(`${where}: n_inner ${String(r.n_inner)} is not supported (only 4 * n_embd)`);
  }
  if (typeof r.bos_token_id === 'number') config.bosTokenId = r.bos_token_id;
  if (typeof r.eos_token_id === 'number') config.eosTokenId = r.eos_token_id;
  try {
    return validateConfig(config);
  } catch (err) {
    throw new ModelConfigError(`${where}: ${(err as Error).message}`);
  }
}

/** The `config.json` Hugging Face transformers writes for a GPT2LMHeadModel of this shape. */
export function toHfConfig(c: GPT2Config): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    vocab_size: c.vocabSize,
    n_positions: c.nPositions,
    n_ctx: c.nPositions,
    n_embd: c.nEmbd,
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_inner: null,
    layer_norm_epsilon: c.layerNormEpsilon,
    resid_pdrop: c.dropout,
    embd_pdrop: c.dropout,
    attn_pdrop: c.dropout,
    initializer_range: 0.02,
    scale_attn_weights: true,
    use_cache: true,
    bos_token_id: c.bosTokenId ?? c.vocabSize - 1,
    eos_token_id: c.eosTokenId ?? c.vocabSize - 1,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
  };
}
