// The Llama family's weight names and shapes as transformers' LlamaForCausalLM / Qwen2ForCausalLM /
// Qwen3ForCausalLM state dicts spell them (`model.embed_tokens.weight`, `model.layers.N.self_attn.q_proj.weight`,
// …, `model.norm.weight`, `lm_head.weight` when untied; nn.Linear weights [out, in]), the check of a
// checkpoint's listing against the config (every key, every shape, before any data is read), reading a
// model folder's weights, and the parameter layout from the config alone (ModelStructure).
import type { CheckpointListing } from '../../formats/checkpoint';
import { CheckpointError, listCheckpoint, readCheckpoint } from '../../formats/checkpoint';
import type { LinearInfo, ModelStructure, StructureParameter } from '../model';
import { hasQkNorm, LAYER_LINEARS, type LayerLinear, type LlamaConfig, linearHasBias, linearShape } from './config';

export const EMBED_KEY = 'model.embed_tokens.weight';
export const FINAL_NORM_KEY = 'model.norm.weight';
export const LM_HEAD_KEY = 'lm_head.weight';

/** Name of a decoder layer's module or parameter, e.g. `model.layers.3.mlp.up_proj.weight`. */
export const layerKey = (layer: number, rest: string) => `model.layers.${layer}.${rest}`;

/** Keys a checkpoint may carry that are not parameters: the rotary inverse-frequency buffers older transformers saved. */
export function isIgnoredCheckpointKey(key: string): boolean {
  return /\.rotary_emb\.inv_freq$/.test(key);
}

/**
 * Every parameter of this config with its checkpoint shape, in the state dict's order (module
 * registration order: embed_tokens; per layer q/k/v/o, Qwen3's q_norm and k_norm, gate/up/down, the two
 * norms; the final norm; an untied lm_head).
 */
export function checkpointShapes(c: LlamaConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const e = c.hiddenSize;
  out.set(EMBED_KEY, [c.vocabSize, e]);
  for (let i = 0; i < c.numLayers; i++) {
    const linear = (kind: LayerLinear) => {
      const { in: inDim, out: outDim } = linearShape(c, kind);
      out.set(layerKey(i, `${kind}.weight`), [outDim, inDim]);
      if (linearHasBias(c, kind)) out.set(layerKey(i, `${kind}.bias`), [outDim]);
    };
    for (const kind of LAYER_LINEARS.slice(0, 4)) linear(kind);
    if (hasQkNorm(c)) {
      out.set(layerKey(i, 'self_attn.q_norm.weight'), [c.headDim]);
      out.set(layerKey(i, 'self_attn.k_norm.weight'), [c.headDim]);
    }
    for (const kind of LAYER_LINEARS.slice(4)) linear(kind);
    out.set(layerKey(i, 'input_layernorm.weight'), [e]);
    out.set(layerKey(i, 'post_attention_layernorm.weight'), [e]);
  }
  out.set(FINAL_NORM_KEY, [e]);
  if (!c.tieWordEmbeddings) out.set(LM_HEAD_KEY, [c.vocabSize, e]);
  return out;
}

/** The config's sizes a shape is made of, for messages about a key of the wrong shape. */
function sizes(c: LlamaConfig): string {
  return (
    `vocab_size ${c.vocabSize}, hidden_size ${c.hiddenSize}, intermediate_size ${c.intermediateSize}, num_attention_heads ${c.numHeads}, ` +
    `num_key_value_heads ${c.numKvHeads}, head_dim ${c.headDim}`
  );
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const list = (keys: string[]) => `${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ` and ${keys.length - 5} more` : ''}`;

/**
 * Checks a checkpoint's tensors (names and shapes, e.g. from the safetensors headers alone) against
 * the config: every parameter present with its exact shape, nothing unknown. A tied model's saved
 * `lm_head.weight` (some writers keep the tied copy) must have the embedding's shape and is not read.
 * Returns the keys to read. Throws CheckpointError naming the key.
 */
export function checkCheckpointShapes(c: LlamaConfig, tensors: Map<string, { shape: readonly number[] }>, where: string): Set<string> {
  const expected = checkpointShapes(c);
  const keep = new Set<string>();
  const family = `${c.numLayers}-layer ${c.modelType}`;
  for (const [key, t] of tensors) {
    if (isIgnoredCheckpointKey(key)) continue;
    const want = expected.get(key) ?? (key === LM_HEAD_KEY && c.tieWordEmbeddings ? [c.vocabSize, c.hiddenSize] : undefined);
    if (!want) {
      const hint =
        key.endsWith('.bias') && expected.has(key.replace(/\.bias$/, '.weight'))
          ? ' (config.json says this linear has no bias: attention_bias / mlp_bias)'
          : /q_norm|k_norm/.test(key)
            ? ' (q_norm / k_norm are Qwen3 weights; model_type is ' + c.modelType + ')'
            : '';
      throw new CheckpointError(`${where}: unexpected weight '${key}': not a parameter of a ${family} model${hint}`);
    }
    if (!same(t.shape, want)) {
      throw new CheckpointError(`${where}: weight '${key}' has shape [${t.shape.join(', ')}], expected [${want.join(', ')}] for this config (${sizes(c)})`);
    }
    if (expected.has(key)) keep.add(key);
  }
  const missing = [...expected.keys()].filter((k) => !keep.has(k));
  if (missing.length > 0) {
    const hint = missing.includes(LM_HEAD_KEY) ? ' (config.json says tie_word_embeddings false: an untied model saves lm_head.weight)' : '';
    throw new CheckpointError(`${where}: missing weight(s) of a ${family} model: ${list(missing)}${hint}`);
  }
  return keep;
}

/**
 * A model folder's parameters (model.safetensors or shards), F32/F16/BF16 widened to float32, in
 * checkpoint names and layouts. Every key and shape is checked against the config from the headers
 * before any tensor is read.
 */
export function readLlamaWeights(c: LlamaConfig, dir: string): Map<string, { shape: number[]; data: Float32Array }> {
  const listing: CheckpointListing = listCheckpoint(dir);
  const keep = checkCheckpointShapes(c, listing.entries, dir);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [key, t] of readCheckpoint(listing, (k) => keep.has(k))) out.set(key, { shape: t.shape, data: t.data });
  return out;
}

/** The short names of the linear modules, as PEFT's all-linear and LoRA's target lists name them. */
export const LINEAR_SUFFIXES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** The family's parameter layout from its config alone (call validateConfig first: the rows are one per layer). */
export function llamaStructure(c: LlamaConfig): ModelStructure {
  const linears: LinearInfo[] = [];
  for (let layer = 0; layer < c.numLayers; layer++) {
    for (const kind of LAYER_LINEARS) linears.push({ name: layerKey(layer, kind), layer, kind, ...linearShape(c, kind) });
  }
  // The breakdown's rows: `h.N.<part>` as the panel folds them per block, the final norm, then the head.
  const parameters: StructureParameter[] = [];
  for (const [name, shape] of checkpointShapes(c)) {
    if (name === LM_HEAD_KEY) continue;
    const size = shape.reduce((x, y) => x * y, 1);
    const m = /^model\.layers\.(\d+)\.(self_attn|mlp)?/.exec(name);
    if (name === EMBED_KEY) parameters.push({ name, size, group: 'embeddings', part: 'embeddings' });
    else if (name === FINAL_NORM_KEY) parameters.push({ name, size, group: 'norm', part: 'finalNorm' });
    else if (m) parameters.push({ name, size, group: `h.${m[1]}.${m[2] ?? 'norms'}`, part: Number(m[1]) });
  }
  return {
    familyName: { llama: 'Llama', qwen2: 'Qwen2', qwen3: 'Qwen3' }[c.modelType],
    vocabSize: c.vocabSize,
    maxPositions: c.maxPositions,
    hiddenSize: c.hiddenSize,
    numLayers: c.numLayers,
    numHeads: c.numHeads,
    parameters,
    // Tied: the head is embed_tokens' matrix (transformers and PEFT count it once). Untied: its own [V, E].
    lmHead: c.tieWordEmbeddings ? { name: 'lm_head (tied to embed_tokens)', total: 0 } : { name: 'lm_head', total: c.vocabSize * c.hiddenSize },
    linears,
    linearSuffixes: LINEAR_SUFFIXES,
    // PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING for llama, qwen2 and qwen3.
    defaultLoraTargets: ['q_proj', 'v_proj'],
    nonLinearModules: ['lm_head', 'embed_tokens'],
  };
}
