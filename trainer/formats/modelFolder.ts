// Model folders in Hugging Face layout, in and out: config.json + model.safetensors (+ tokenizer
// files). Which family a config.json is, and what its weights are called, is the model registry's
// (trainer/models/registry.ts); adapter folders are formats/adapterFolder.ts's.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_CONFIG_BYTES, NotRegularFileError, readRegularFileSync } from '../../language/regularFile';
import { byteLevelBpeTokenizerJson, GPT2_EOS_TOKEN, tokenizerFromFolder, type TextTokenizer } from '../../language/tokenizer';
import type { NamedTensor } from '../models/model';
import { familyForHfConfig, familyOf, type ModelConfig } from '../models/registry';
import { hasCheckpoint, listCheckpoint, readCheckpoint, WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from './checkpoint';
import { writeSafetensors } from './safetensors';

/** A model folder the user named that cannot be read as one: the message names the file and what is missing. */
export class ModelFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFileError';
  }
}

/** transformers refuses safetensors files without this metadata. */
const PT_METADATA = { format: 'pt' };

export interface ModelFolder {
  config: ModelConfig;
  /** Parameters by HF name with `transformer.`; mask buffers and the tied lm_head.weight removed. */
  weights: Map<string, NamedTensor>;
  /** The folder's tokenizer (tokenizer.json, or vocab.json + merges.txt); null when it has none. */
  tokenizer: TextTokenizer | null;
}

/** A model folder's JSON file (config.json, adapter_config.json), size-bounded; unreadable or invalid JSON is a ModelFileError. */
export function readConfigJson(file: string): unknown {
  let text: string;
  try {
    text = readRegularFileSync(file, { what: 'model file', maxBytes: MAX_CONFIG_BYTES }).toString('utf8');
  } catch (err) {
    throw new ModelFileError(err instanceof NotRegularFileError ? err.message : `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ModelFileError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function hasTokenizer(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'tokenizer.json')) || (fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt')));
}

/** Reads a model folder: config.json and model.safetensors or its shards (F32, F16 or BF16), plus its tokenizer if any. */
export function loadModelFolder(dir: string): ModelFolder {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ModelFileError(`model folder ${dir} does not exist`);
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile)) throw new ModelFileError(`${dir} has no config.json`);
  const raw = readConfigJson(configFile);
  const family = familyForHfConfig(raw, configFile);
  const config = family.fromHfConfig(raw, configFile);
  // Before model.safetensors is read: weights that cannot fit in memory are refused, not loaded.
  family.checkFitsInMemory(config, configFile);
  if (!hasCheckpoint(dir)) {
    const hint = fs.existsSync(path.join(dir, 'pytorch_model.bin'))
      ? ' (it has pytorch_model.bin, a pickle this trainer does not read; convert it with transformers: model.save_pretrained(dir, safe_serialization=True))'
      : ` (nor ${WEIGHTS_INDEX_FILE} with its shards)`;
    throw new ModelFileError(`${dir} has no ${WEIGHTS_FILE}${hint}`);
  }
  // Headers first (every shard present), then the family's check of names and shapes, then the data.
  const listing = listCheckpoint(dir);
  // score.weight: a sequence-classification head, read by heads/classification.ts on its own.
  const entries = new Map([...listing.entries].filter(([key]) => key !== 'score.weight'));
  const keep = family.checkCheckpoint?.(config, entries, dir);
  const weights = new Map<string, NamedTensor>();
  for (const [key, t] of readCheckpoint(listing, (key) => entries.has(key) && (keep === undefined || keep.has(key)))) {
    const name = family.checkpointKey(key);
    if (name !== null) weights.set(name, { shape: t.shape, data: t.data });
  }
  return { config, weights, tokenizer: hasTokenizer(dir) ? tokenizerFromFolder(dir) : null };
}

/** Copies a tokenizer into `outDir` in HF's file names (the npm GPT-2 data names them encoder.json / vocab.bpe). */
export function copyTokenizerFiles(tokenizerDir: string, outDir: string, modelMaxLength: number): void {
  const pick = (...names: string[]) => names.map((n) => path.join(tokenizerDir, n)).find((p) => fs.existsSync(p));
  const vocab = pick('vocab.json', 'encoder.json');
  const merges = pick('merges.txt', 'vocab.bpe');
  const tokenizerJson = pick('tokenizer.json');
  if (!tokenizerJson && !(vocab && merges)) throw new Error(`no tokenizer in ${tokenizerDir}: expected tokenizer.json, or vocab.json and merges.txt`);
  if (vocab) fs.copyFileSync(vocab, path.join(outDir, 'vocab.json'));
  if (merges) fs.copyFileSync(merges, path.join(outDir, 'merges.txt'));
  if (tokenizerJson) {
    fs.copyFileSync(tokenizerJson, path.join(outDir, 'tokenizer.json'));
  } else if (vocab && merges) {
    const vocabMap = JSON.parse(fs.readFileSync(vocab, 'utf8')) as Record<string, number>;
    const mergeList = fs
      .readFileSync(merges, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#version'));
    fs.writeFileSync(path.join(outDir, 'tokenizer.json'), JSON.stringify(byteLevelBpeTokenizerJson(vocabMap, mergeList)));
  }
  for (const extra of ['tokenizer_config.json', 'special_tokens_map.json']) {
    const src = pick(extra);
    if (src) fs.copyFileSync(src, path.join(outDir, extra));
  }
  if (!pick('tokenizer_config.json')) {
    fs.writeFileSync(
      path.join(outDir, 'tokenizer_config.json'),
      JSON.stringify(
        {
          tokenizer_class: 'GPT2Tokenizer',
          model_max_length: modelMaxLength,
          bos_token: GPT2_EOS_TOKEN,
          eos_token: GPT2_EOS_TOKEN,
          unk_token: GPT2_EOS_TOKEN,
          add_prefix_space: false,
        },
        null,
        2,
      ),
    );
  }
}

/**
 * Writes a full model that transformers' from_pretrained loads: config.json, model.safetensors (the
 * state dict as given, e.g. with LoRA merged in) and the tokenizer files of `tokenizerDir` (skipped
 * when null).
 */
export function saveModelFolder(
  config: ModelConfig,
  stateDict: Map<string, NamedTensor>,
  tokenizerDir: string | null,
  outDir: string,
  hfConfig?: Record<string, unknown>,
): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'config.json'), JSON.stringify(hfConfig ?? familyOf(config).toHfConfig(config), null, 2) + '\n');
  writeSafetensors(path.join(outDir, 'model.safetensors'), stateDict, PT_METADATA);
  if (tokenizerDir) copyTokenizerFiles(tokenizerDir, outDir, familyOf(config).dims(config).maxPositions);
  return fs.readdirSync(outDir).map((f) => path.join(outDir, f));
}
