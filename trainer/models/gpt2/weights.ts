// GPT-2's weight names and shapes as Hugging Face's GPT2LMHeadModel spells them (Conv1D weights are
// [in, out], the layout the compute multiplies by, so loading and saving is a name map with no
// transposes), and the model's parameter layout from its config alone (ModelStructure) for counting
// and for LoRA's target matching. Free of TensorFlow.js.
import type { LinearInfo, ModelStructure, StructureParameter } from '../model';
import type { GPT2Config } from './config';

/** The linear (Conv1D) modules of one GPT-2 block, in HF naming. */
export const BLOCK_LINEARS = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
export type BlockLinear = (typeof BLOCK_LINEARS)[number];

/** [in, out] of a block's Conv1D (HF stores its weight as [in, out]). */
export function linearShape(config: GPT2Config, kind: BlockLinear): { in: number; out: number } {
  const e = config.nEmbd;
  switch (kind) {
    case 'attn.c_attn':
      return { in: e, out: 3 * e };
    case 'attn.c_proj':
      return { in: e, out: e };
    case 'mlp.c_fc':
      return { in: e, out: 4 * e };
    case 'mlp.c_proj':
      return { in: 4 * e, out: e };
  }
}

/** HF name of a block module or parameter, e.g. `transformer.h.3.mlp.c_fc.weight`. */
export const blockKey = (layer: number, rest: string) => `transformer.h.${layer}.${rest}`;

/** Keys a HF checkpoint may carry that are not parameters: causal-mask buffers and the tied head. */
export function isIgnoredCheckpointKey(key: string): boolean {
  return /(^|\.)attn\.(bias|masked_bias)$/.test(key) || key === 'lm_head.weight';
}

/** `wte.weight` -> `transformer.wte.weight`; keys already prefixed are kept. */
export function canonicalKey(key: string): string {
  return key.startsWith('transformer.') || key === 'lm_head.weight' ? key : `transformer.${key}`;
}

/** Every parameter key of a GPT2LMHeadModel of this config (with `transformer.`). */
export function expectedKeys(config: GPT2Config): string[] {
  const keys = ['transformer.wte.weight', 'transformer.wpe.weight'];
  for (let i = 0; i < config.nLayer; i++) {
    for (const n of ['ln_1', 'ln_2']) keys.push(blockKey(i, `${n}.weight`), blockKey(i, `${n}.bias`));
    for (const kind of BLOCK_LINEARS) keys.push(blockKey(i, `${kind}.weight`), blockKey(i, `${kind}.bias`));
  }
  keys.push('transformer.ln_f.weight', 'transformer.ln_f.bias');
  return keys;
}

/** The shape of parameter `key` in a model of this config. */
export function expectedShape(config: GPT2Config, key: string): number[] {
  const e = config.nEmbd;
  if (key === 'transformer.wte.weight') return [config.vocabSize, e];
  if (key === 'transformer.wpe.weight') return [config.nPositions, e];
  if (/ln_(1|2|f)\.(weight|bias)$/.test(key)) return [e];
  const m = /h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.(weight|bias)$/.exec(key);
  if (!m) throw new Error(`not a GPT-2 parameter: ${key}`);
  const { in: inDim, out } = linearShape(config, m[1] as BlockLinear);
  return m[2] === 'weight' ? [inDim, out] : [out];
}

/** GPT-2's parameter layout from its config alone (call validateConfig first: the linears are one per layer). */
export function gpt2Structure(config: GPT2Config): ModelStructure {
  const e = config.nEmbd;
  const linears: LinearInfo[] = [];
  for (let layer = 0; layer < config.nLayer; layer++) {
    for (const kind of BLOCK_LINEARS) linears.push({ name: blockKey(layer, kind), layer, kind, ...linearShape(config, kind) });
  }
  // In the breakdown's row order: embeddings, then per block attention, MLP and norms, then ln_f.
  const parameters: StructureParameter[] = [];
  const add = (name: string, group: string, part: StructureParameter['part']) =>
    parameters.push({ name, size: expectedShape(config, name).reduce((x, y) => x * y, 1), group, part });
  add('transformer.wte.weight', 'embeddings', 'embeddings');
  add('transformer.wpe.weight', 'embeddings', 'embeddings');
  for (let layer = 0; layer < config.nLayer; layer++) {
    for (const [group, names] of [
      ['attn', ['attn.c_attn', 'attn.c_proj']],
      ['mlp', ['mlp.c_fc', 'mlp.c_proj']],
      ['norms', ['ln_1', 'ln_2']],
    ] as const) {
      for (const n of names) for (const p of ['weight', 'bias']) add(blockKey(layer, `${n}.${p}`), `h.${layer}.${group}`, layer);
    }
  }
  add('transformer.ln_f.weight', 'ln_f', 'finalNorm');
  add('transformer.ln_f.bias', 'ln_f', 'finalNorm');
  return {
    familyName: 'GPT-2',
    vocabSize: config.vocabSize,
    maxPositions: config.nPositions,
    hiddenSize: e,
    numLayers: config.nLayer,
    numHeads: config.nHead,
    parameters,
    // The LM head shares wte's matrix: no parameters of its own (HF and PEFT count it once).
    lmHead: { name: 'lm_head (tied to wte)', total: 0 },
    linears,
    linearSuffixes: ['c_attn', 'c_proj', 'c_fc'],
    defaultLoraTargets: ['c_attn'],
    nonLinearModules: ['lm_head', 'wte', 'wpe'],
  };
}
