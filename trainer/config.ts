// GPT-2 model shape: read from a Hugging Face `config.json` and written back in the same form, plus
// the built-in presets that work offline.
import { GPT2_EOS_ID } from '../language/tokenizer';

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

const GPT2_SHAPE = { vocabSize: 50257, nPositions: 1024, nEmbd: 768, nHead: 12, layerNormEpsilon: 1e-5, dropout: 0.1, bosTokenId: GPT2_EOS_ID, eosTokenId: GPT2_EOS_ID };

/** Configs of the presets: `gpt2` and `distilgpt2` as published on the hub; `tiny` is ours (random weights, GPT-2 tokenizer). */
export const PRESETS: Record<PresetName, GPT2Config> = {
  gpt2: { ...GPT2_SHAPE, nLayer: 12 },
  distilgpt2: { ...GPT2_SHAPE, nLayer: 6 },
  tiny: { ...GPT2_SHAPE, nPositions: 256, nEmbd: 64, nLayer: 2, nHead: 2, dropout: 0 },
};

export function isPresetName(name: string): name is PresetName {
  return Object.prototype.hasOwnProperty.call(PRESETS, name);
}

export function presetConfig(name: string): GPT2Config {
  if (!isPresetName(name)) throw new ModelConfigError(`unknown preset '${name}' (presets: ${Object.keys(PRESETS).join(', ')})`);
  return { ...PRESETS[name] };
}

/** Throws ModelConfigError unless the shape is one the model can be built with. */
export function validateConfig(c: GPT2Config): GPT2Config {
  for (const key of ['vocabSize', 'nPositions', 'nEmbd', 'nLayer', 'nHead'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new ModelConfigError(`${key} must be a positive integer, got ${c[key]}`);
  }
  if (c.nEmbd % c.nHead !== 0) throw new ModelConfigError(`n_embd (${c.nEmbd}) must be divisible by n_head (${c.nHead})`);
  if (!(c.layerNormEpsilon > 0)) throw new ModelConfigError(`layer_norm_epsilon must be positive, got ${c.layerNormEpsilon}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new ModelConfigError(`dropout must be in [0, 1), got ${c.dropout}`);
  return c;
}

function intField(raw: Record<string, unknown>, names: string[], where: string, fallback?: number): number {
  for (const name of names) {
    const v = raw[name];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ModelConfigError(`${where}: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
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
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') throw new ModelConfigError(`${where}: activation_function '${String(act)}' is not supported (gelu_new)`);
  if (r.scale_attn_by_inverse_layer_idx === true || r.reorder_and_upcast_attn === true) {
    throw new ModelConfigError(`${where}: scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported`);
  }
  if (r.tie_word_embeddings === false) throw new ModelConfigError(`${where}: tie_word_embeddings false is not supported (GPT-2 ties the LM head to the token embedding)`);
  if (r.scale_attn_weights === false) throw new ModelConfigError(`${where}: scale_attn_weights false is not supported`);
  const eps = r.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) throw new ModelConfigError(`${where}: layer_norm_epsilon must be a positive number`);
  const drop = r.resid_pdrop ?? 0.1;
  if (typeof drop !== 'number' || !(drop >= 0 && drop < 1)) throw new ModelConfigError(`${where}: resid_pdrop must be a number in [0, 1)`);
  const config: GPT2Config = {
    vocabSize: intField(r, ['vocab_size'], where),
    nPositions: intField(r, ['n_positions', 'n_ctx'], where),
    nEmbd: intField(r, ['n_embd', 'hidden_size'], where),
    nLayer: intField(r, ['n_layer', 'num_hidden_layers'], where),
    nHead: intField(r, ['n_head', 'num_attention_heads'], where),
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
