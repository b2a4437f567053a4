// Prompt tuning (Lester et al. 2021) as PEFT's PROMPT_TUNING for CAUSAL_LM does it: N trained vectors
// [N, n_embd] are put before the token embeddings of every input; the base model is frozen; positions run
// over the extended sequence and the attention mask is 1 on the virtual tokens (GPT2Model.hidden).
// Initialisation, as PEFT's PromptTuningInit:
//   TEXT   the word embeddings of the init text's tokens, repeated until N and cropped to N;
//   RANDOM PEFT leaves torch.nn.Embedding's default init, N(0, 1) per element; so does this.
// Saved as PEFT saves it: adapter_config.json (peft_type PROMPT_TUNING) + adapter_model.safetensors with
// one tensor, `prompt_embeddings` [N, n_embd].
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { GPT2Model } from './model';
import { readSafetensors, writeSafetensors } from './safetensors';
import type { StrategyConfig } from './strategy';

export const PROMPT_EMBEDDINGS_KEY = 'prompt_embeddings';

/** Gives `model` N random virtual tokens (PEFT's RANDOM init); trainable, disposed with the model. */
export function attachPromptEmbeddings(model: GPT2Model, virtualTokens: number, seed: number): tf.Variable {
  const v = tf.variable(tf.randomNormal([virtualTokens, model.config.nEmbd], 0, 1, 'float32', seed), true);
  model.promptEmbeddings = v;
  model.addedVariables.push({ name: PROMPT_EMBEDDINGS_KEY, variable: v, decay: true });
  return v;
}

/** PEFT's TEXT init ids: the text's ids repeated ⌈N/len⌉ times and cropped to N. */
export function promptInitTokenIds(textIds: readonly number[], virtualTokens: number): number[] {
  if (textIds.length === 0) throw new Error('--prompt-init text has no tokens');
  const reps = Math.ceil(virtualTokens / textIds.length);
  const ids: number[] = [];
  for (let r = 0; r < reps; r++) ids.push(...textIds);
  return ids.slice(0, virtualTokens);
}

/** Sets the virtual tokens to the (frozen) word embeddings of `tokenIds` (promptInitTokenIds's result). */
export function initPromptFromTokens(model: GPT2Model, tokenIds: readonly number[]): void {
  const v = model.promptEmbeddings;
  if (!v) throw new Error('this model has no prompt embeddings (strategy is not prompt)');
  if (tokenIds.length !== v.shape[0]) throw new Error(`need ${v.shape[0]} init token ids, got ${tokenIds.length}`);
  const rows = tf.tidy(() => tf.gather(model.wte, tf.tensor1d([...tokenIds], 'int32')));
  v.assign(rows);
  rows.dispose();
}

export interface PromptAdapterInfo {
  baseModel: string;
  tokenizerName: string;
  initText?: string;
}

export function savePromptAdapter(model: GPT2Model, info: PromptAdapterInfo, outDir: string): string[] {
  const s = model.strategy;
  const v = model.promptEmbeddings;
  if (s.strategy !== 'prompt' || !v) throw new Error(`savePromptAdapter needs a prompt-tuning model (strategy is ${s.strategy})`);
  fs.mkdirSync(outDir, { recursive: true });
  const config = {
    peft_type: 'PROMPT_TUNING',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: info.baseModel,
    num_virtual_tokens: s.virtualTokens,
    token_dim: model.config.nEmbd,
    num_transformer_submodules: 1,
    num_attention_heads: model.config.nHead,
    num_layers: model.config.nLayer,
    prompt_tuning_init: info.initText !== undefined ? 'TEXT' : 'RANDOM',
    prompt_tuning_init_text: info.initText ?? null,
    tokenizer_name_or_path: info.initText !== undefined ? info.tokenizerName : null,
    inference_mode: true,
    revision: null,
  };
  fs.writeFileSync(path.join(outDir, 'adapter_config.json'), JSON.stringify(config, null, 2) + '\n');
  const tensors = new Map([[PROMPT_EMBEDDINGS_KEY, { shape: [...v.shape], data: v.dataSync() as Float32Array }]]);
  writeSafetensors(path.join(outDir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  return ['adapter_config.json', 'adapter_model.safetensors'].map((f) => path.join(outDir, f));
}

export interface PromptAdapterFolder {
  strategy: Extract<StrategyConfig, { strategy: 'prompt' }>;
  embeddings: { shape: number[]; data: Float32Array };
  baseModel: string | null;
}

export function loadPromptAdapter(dir: string): PromptAdapterFolder {
  const configFile = path.join(dir, 'adapter_config.json');
  const raw = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  if (raw.peft_type !== 'PROMPT_TUNING') throw new Error(`${configFile}: peft_type ${JSON.stringify(raw.peft_type)} is not PROMPT_TUNING`);
  if (raw.num_transformer_submodules !== undefined && raw.num_transformer_submodules !== 1)
    throw new Error(`${configFile}: num_transformer_submodules must be 1 for a decoder-only model`);
  const n = raw.num_virtual_tokens;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new Error(`${configFile}: num_virtual_tokens must be a positive integer`);
  const t = readSafetensors(path.join(dir, 'adapter_model.safetensors')).get(PROMPT_EMBEDDINGS_KEY);
  if (!t) throw new Error(`${dir}/adapter_model.safetensors has no '${PROMPT_EMBEDDINGS_KEY}' tensor`);
  if (t.shape.length !== 2 || t.shape[0] !== n) throw new Error(`${dir}: prompt_embeddings has shape [${t.shape.join(', ')}], expected [${n}, token_dim]`);
  return {
    strategy: { strategy: 'prompt', virtualTokens: n, ...(typeof raw.prompt_tuning_init_text === 'string' ? { promptInit: raw.prompt_tuning_init_text } : {}) },
    embeddings: { shape: [...t.shape], data: t.data },
    baseModel: typeof raw.base_model_name_or_path === 'string' ? raw.base_model_name_or_path : null,
  };
}

/** Copies saved prompt embeddings into a prompt-tuning model. */
export function loadPromptEmbeddings(model: GPT2Model, embeddings: { shape: readonly number[]; data: Float32Array }): void {
  const v = model.promptEmbeddings;
  if (!v) throw new Error('this model has no prompt embeddings (strategy is not prompt)');
  if (embeddings.shape[0] !== v.shape[0] || embeddings.shape[1] !== v.shape[1])
    throw new Error(`prompt_embeddings has shape [${embeddings.shape.join(', ')}], this model expects [${v.shape.join(', ')}]`);
  const t = tf.tensor2d(embeddings.data, [v.shape[0], v.shape[1]]);
  v.assign(t);
  t.dispose();
}
