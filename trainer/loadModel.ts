// Model loading: a preset, folder or Hugging Face repo id as a model of its family (trainer/models/
// registry.ts) with a strategy applied (trainer/strategies/), and the same with an adapter folder or a
// run's checkpoint read back on top. Training, evaluation, generation and the benchmark all load here.
import { gpt2Tokenizer, gpt2TokenizerDir, type TextTokenizer } from '../language/tokenizer';
import { isAdapterFolder } from './formats/adapterFolder';
import { loadModelFolder } from './formats/modelFolder';
import { resolveModel, type DownloadProgress } from './hub';
import type { WeightMap } from './models/model';
import { presetConfig } from './models/gpt2/config';
import { familyOf, type ModelConfig } from './models/registry';
import { readAdapter, strategyFor, validateStrategy, type AnyStrategyConfig } from './strategies';
import { TunedModel } from './strategies/tunedModel';
import { SCORE_KEY } from './heads/classification';

/** A randomly initialised model of `config`'s family with `strategy` applied; every seed derives from `seed`. */
export function buildModel(config: ModelConfig, strategy: AnyStrategyConfig, seed: number): TunedModel {
  const family = familyOf(config);
  // Sizes first: a shape or a strategy that cannot be built must fail here, not after minutes of allocating.
  family.validateConfig(config);
  family.checkFitsInMemory(config, 'model');
  const resolved = validateStrategy(config, strategy);
  return TunedModel.apply(config, family.build(config, seed), resolved);
}

/** A model holding `weights` (the family's checkpoint names) with `strategy` applied. */
export function modelFromWeights(config: ModelConfig, weights: WeightMap, strategy: AnyStrategyConfig, seed: number): TunedModel {
  const family = familyOf(config);
  family.validateConfig(config);
  const resolved = validateStrategy(config, strategy);
  return TunedModel.apply(config, family.fromWeights(config, weights, seed), resolved);
}

export interface BaseModel {
  model: TunedModel;
  config: ModelConfig;
  tokenizer: TextTokenizer;
  /** Folder whose tokenizer files go next to a saved full model. */
  tokenizerDir: string;
  /** What an adapter's base_model_name_or_path records: the preset or repo id, else the folder. */
  baseName: string;
}

/** `--model` (preset, folder, or Hugging Face repo id) -> a model built with the given strategy. */
export async function loadBaseModel(spec: string, strategy: AnyStrategyConfig, seed: number, onLog?: (message: string) => void): Promise<BaseModel> {
  let lastFile = '';
  const onProgress = (p: DownloadProgress) => {
    // One line when a file starts and one when it completes; the byte counts in between would flood the log.
    if (p.bytes === 0 && p.file !== lastFile) onLog?.(`downloading ${p.file}${p.total ? ` (${p.total} bytes)` : ''}`);
    else if (p.total !== undefined && p.bytes === p.total) onLog?.(`downloaded ${p.file}`);
    lastFile = p.file;
  };
  const resolved = await resolveModel(spec, { onProgress, needWeights: true });
  if (resolved.kind === 'preset') {
    if (resolved.name !== 'tiny') throw new Error(`preset '${resolved.name}' has no built-in weights; they come from the Hugging Face cache`);
    const config = presetConfig(resolved.name);
    return { model: buildModel(config, strategy, seed), config, tokenizer: gpt2Tokenizer(), tokenizerDir: gpt2TokenizerDir(), baseName: resolved.name };
  }
  const { config, weights, tokenizer } = loadModelFolder(resolved.dir);
  const model = modelFromWeights(config, weights, strategy, seed);
  const baseName = resolved.repoId ?? resolved.dir;
  if (tokenizer) return { model, config, tokenizer, tokenizerDir: resolved.dir, baseName };
  onLog?.(`${resolved.dir} has no tokenizer files; using the GPT-2 tokenizer`);
  if (config.vocabSize < 50257) {
    model.dispose();
    throw new Error(
      `${resolved.dir} has no tokenizer files and its vocabulary (${config.vocabSize}) is smaller than GPT-2's, so the GPT-2 tokenizer cannot stand in`,
    );
  }
  return { model, config, tokenizer: gpt2Tokenizer(), tokenizerDir: gpt2TokenizerDir(), baseName };
}

/** Runs `load` on a loaded model, disposing the model when it fails. */
function loadInto(base: BaseModel, load: () => void): BaseModel {
  try {
    load();
    return base;
  } catch (err) {
    base.model.dispose();
    throw err;
  }
}

/**
 * `modelSpec` (preset, folder, repo id, or a run's saved full output) with the adapter folder of
 * `adapterDir` applied, if any (any strategy with an adapter folder). The `tiny` preset is random,
 * initialised from `seed` as its training run did.
 */
export async function loadModelWithAdapter(modelSpec: string, adapterDir: string | undefined, seed: number, onLog?: (m: string) => void): Promise<BaseModel> {
  if (!adapterDir) return loadBaseModel(modelSpec, { strategy: 'full' }, seed, onLog);
  const adapter = readAdapter(adapterDir);
  const base = await loadBaseModel(modelSpec, adapter.strategy, seed, onLog);
  return loadInto(base, () => base.model.loadAdapterState(adapter.weights));
}

/**
 * The model for a run: the base model, or for `--resume` the checkpoint's weights on top of it (the
 * strategy's adapter folder, or a full model for strategies that train the base).
 */
export async function modelForRun(
  spec: string,
  strategy: AnyStrategyConfig,
  seed: number,
  checkpoint: string | undefined,
  log: (m: string) => void,
): Promise<BaseModel> {
  const base = await loadBaseModel(spec, strategy, seed, log);
  if (!checkpoint) return base;
  if (strategyFor(strategy.strategy).adapterFolder && isAdapterFolder(checkpoint)) {
    return loadInto(base, () => base.model.loadAdapterState(readAdapter(checkpoint, strategyFor(strategy.strategy)).weights));
  }
  // Full / partial checkpoints are complete models; the base stays the source of tokenizer files. A
  // classification checkpoint's score layer is read by the run itself (readClassificationFolder).
  const { weights } = loadModelFolder(checkpoint);
  weights.delete(`transformer.${SCORE_KEY}`);
  base.model.dispose();
  return { ...base, model: modelFromWeights(base.config, weights, strategy, seed) };
}
