// Prompt tuning (Lester et al. 2021) as PEFT's PROMPT_TUNING for CAUSAL_LM does it: N trained vectors
// [N, hidden] go before the token embeddings of every input (the model's input-embeddings hook,
// CausalLM.inputPrefix); the base model is frozen; positions run over the extended sequence and the
// attention mask is 1 on the virtual tokens. Initialisation, as PEFT's PromptTuningInit:
//   TEXT   the word embeddings of the init text's tokens, repeated until N and cropped to N;
//   RANDOM PEFT leaves torch.nn.Embedding's default init, N(0, 1) per element; so does this.
// Saved as PEFT saves it: adapter_config.json (peft_type PROMPT_TUNING) + adapter_model.safetensors with
// one tensor, `prompt_embeddings` [N, hidden].
import * as tf from '@tensorflow/tfjs-core';
import { STRATEGY_SPECS, TRAIN_DEFAULTS, TrainConfigError } from '../../protocol/options';
import { ModelFileError } from '../formats/modelFolder';
import type { CausalLM, NamedTensor } from '../models/model';
import type { TrainableVariable } from '../optimizer';
import { TRAINS_NONE, type AdapterFolderCodec, type Attachment, type Strategy, type StrategyConfig } from './strategy';

type PromptConfig = Extract<StrategyConfig, { strategy: 'prompt' }>;

export const PROMPT_EMBEDDINGS_KEY = 'prompt_embeddings';

/** PEFT's TEXT init ids: the text's ids repeated ⌈N/len⌉ times and cropped to N. */
export function promptInitTokenIds(textIds: readonly number[], virtualTokens: number): number[] {
  if (textIds.length === 0) throw new Error('--prompt-init text has no tokens');
  const reps = Math.ceil(virtualTokens / textIds.length);
  const ids: number[] = [];
  for (let r = 0; r < reps; r++) ids.push(...textIds);
  return ids.slice(0, virtualTokens);
}

class PromptAttachment implements Attachment {
  readonly variables: TrainableVariable[];
  constructor(readonly embeddings: tf.Variable) {
    this.variables = [{ name: PROMPT_EMBEDDINGS_KEY, variable: embeddings, decay: true }];
  }

  stateDict(): Map<string, NamedTensor> {
    return new Map([[PROMPT_EMBEDDINGS_KEY, { shape: [...this.embeddings.shape], data: this.embeddings.dataSync() as Float32Array }]]);
  }

  /** Copies saved prompt embeddings in. */
  loadStateDict(map: Map<string, { shape: readonly number[]; data: Float32Array }>): void {
    const v = this.embeddings;
    const saved = map.get(PROMPT_EMBEDDINGS_KEY);
    if (!saved) throw new Error(`adapter weights have no '${PROMPT_EMBEDDINGS_KEY}'`);
    if (saved.shape[0] !== v.shape[0] || saved.shape[1] !== v.shape[1])
      throw new Error(`prompt_embeddings has shape [${saved.shape.join(', ')}], this model expects [${v.shape.join(', ')}]`);
    const t = tf.tensor2d(saved.data, [v.shape[0], v.shape[1]]);
    v.assign(t);
    t.dispose();
  }

  dispose(): void {
    this.embeddings.dispose();
  }
}

/** The virtual-token embeddings [N, hidden] of a prompt-tuned model (undefined for any other strategy). */
export function promptEmbeddingsOf(model: { readonly attachment: Attachment }): tf.Variable | undefined {
  return model.attachment instanceof PromptAttachment ? model.attachment.embeddings : undefined;
}

/** Sets the virtual tokens to the (frozen) word embeddings of `tokenIds` (promptInitTokenIds's result). */
export function initPromptFromTokens(model: { readonly base: CausalLM; readonly attachment: Attachment }, tokenIds: readonly number[]): void {
  const v = promptEmbeddingsOf(model);
  if (!v) throw new Error('this model has no prompt embeddings (strategy is not prompt)');
  if (tokenIds.length !== v.shape[0]) throw new Error(`need ${v.shape[0]} init token ids, got ${tokenIds.length}`);
  const rows = tf.tidy(() => tf.gather(model.base.embeddings.tokens, tf.tensor1d([...tokenIds], 'int32')));
  v.assign(rows);
  rows.dispose();
}

const promptFolder: AdapterFolderCodec<PromptConfig> = {
  label: 'PROMPT_TUNING',
  recognizes: (raw) => raw.peft_type === 'PROMPT_TUNING',
  config: (s, structure, baseModel) => ({
    peft_type: 'PROMPT_TUNING',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    num_virtual_tokens: s.virtualTokens,
    token_dim: structure.hiddenSize,
    num_transformer_submodules: 1,
    num_attention_heads: structure.numHeads,
    num_layers: structure.numLayers,
    prompt_tuning_init: s.promptInit !== undefined ? 'TEXT' : 'RANDOM',
    prompt_tuning_init_text: s.promptInit ?? null,
    // The init text's tokenizer is the base model's own.
    tokenizer_name_or_path: s.promptInit !== undefined ? baseModel : null,
    inference_mode: true,
    revision: null,
  }),
  read(raw, tensors, { configFile, weightsFile }) {
    if (raw.peft_type !== 'PROMPT_TUNING') throw new ModelFileError(`${configFile}: peft_type ${JSON.stringify(raw.peft_type)} is not PROMPT_TUNING`);
    if (raw.num_transformer_submodules !== undefined && raw.num_transformer_submodules !== 1)
      throw new ModelFileError(`${configFile}: num_transformer_submodules must be 1 for a decoder-only model`);
    const n = raw.num_virtual_tokens;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new ModelFileError(`${configFile}: num_virtual_tokens must be a positive integer`);
    const t = tensors.get(PROMPT_EMBEDDINGS_KEY);
    if (!t) throw new ModelFileError(`${weightsFile} has no '${PROMPT_EMBEDDINGS_KEY}' tensor`);
    if (t.shape.length !== 2 || t.shape[0] !== n)
      throw new ModelFileError(`${weightsFile}: prompt_embeddings has shape [${t.shape.join(', ')}], expected [${n}, token_dim]`);
    const strategy: PromptConfig = {
      strategy: 'prompt',
      virtualTokens: n,
      ...(typeof raw.prompt_tuning_init_text === 'string' ? { promptInit: raw.prompt_tuning_init_text } : {}),
    };
    return { strategy, weights: new Map([[PROMPT_EMBEDDINGS_KEY, t]]) };
  },
};

export const promptStrategy: Strategy<PromptConfig> = {
  spec: STRATEGY_SPECS.prompt,
  fromTrainConfig: (c) => ({
    strategy: 'prompt',
    virtualTokens: c.virtualTokens ?? TRAIN_DEFAULTS.virtualTokens,
    ...(c.promptInit !== undefined ? { promptInit: c.promptInit } : {}),
  }),
  validate(structure, s) {
    if (!Number.isInteger(s.virtualTokens) || s.virtualTokens < 1)
      throw new TrainConfigError(`--virtual-tokens must be a positive integer, got ${s.virtualTokens}`);
    if (s.virtualTokens >= structure.maxPositions)
      throw new TrainConfigError(`--virtual-tokens ${s.virtualTokens} leaves no room for the input in the model's context of ${structure.maxPositions}`);
  },
  trains: () => TRAINS_NONE,
  added: (structure, s) => ({
    perLayer: new Array<number>(structure.numLayers).fill(0),
    group: { name: 'prompt (virtual tokens)', total: s.virtualTokens * structure.hiddenSize },
    activationWidth: 0,
  }),
  /** N random virtual tokens (PEFT's RANDOM init, one init seed) on the model's input-embeddings hook. */
  attach(model: CausalLM, s) {
    const v = tf.variable(tf.randomNormal([s.virtualTokens, model.dims.hiddenSize], 0, 1, 'float32', model.nextInitSeed()), true);
    model.inputPrefix = v as tf.Tensor2D;
    return new PromptAttachment(v);
  },
  /** PEFT's TEXT init: the word embeddings of the init text's tokens. */
  initialise(model, attachment, s, ctx) {
    if (s.promptInit === undefined) return;
    initPromptFromTokens({ base: model, attachment }, promptInitTokenIds(ctx.encode(s.promptInit), s.virtualTokens));
  },
  adapterFolder: promptFolder,
};
