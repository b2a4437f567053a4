// Model folders in Hugging Face layout, in and out: config.json + model.safetensors (+ tokenizer
// files) for full models, adapter_config.json + adapter_model.safetensors for PEFT LoRA adapters.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_CONFIG_BYTES, NotRegularFileError, readRegularFileSync } from '../language/regularFile';
import { byteLevelBpeTokenizerJson, GPT2_EOS_TOKEN, tokenizerFromFolder, type TextTokenizer } from '../language/tokenizer';
import { checkFitsInMemory, fromHfConfig, toHfConfig, type GPT2Config } from './config';
import { canonicalKey, isIgnoredCheckpointKey, type GPT2Model, type NamedTensor } from './model';
import { readSafetensors, writeSafetensors } from './safetensors';
import type { StrategyConfig } from './strategy';

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
  config: GPT2Config;
  /** Parameters by HF name with `transformer.`; mask buffers and the tied lm_head.weight removed. */
  weights: Map<string, NamedTensor>;
  /** The folder's tokenizer (tokenizer.json, or vocab.json + merges.txt); null when it has none. */
  tokenizer: TextTokenizer | null;
}

function readJson(file: string): unknown {
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

/** Reads a GPT-2 model folder: config.json and model.safetensors (F32, F16 or BF16), plus its tokenizer if any. */
export function loadModelFolder(dir: string): ModelFolder {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ModelFileError(`model folder ${dir} does not exist`);
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile)) throw new ModelFileError(`${dir} has no config.json`);
  const config = fromHfConfig(readJson(configFile), configFile);
  // Before model.safetensors is read: weights that cannot fit in memory are refused, not loaded.
  checkFitsInMemory(config, configFile);
  const weightsFile = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(weightsFile)) {
    const hint = fs.existsSync(path.join(dir, 'pytorch_model.bin'))
      ? ' (it has pytorch_model.bin, a pickle this trainer does not read; convert it with transformers: model.save_pretrained(dir, safe_serialization=True))'
      : fs.existsSync(path.join(dir, 'model.safetensors.index.json'))
        ? ' (sharded checkpoints are not supported)'
        : '';
    throw new ModelFileError(`${dir} has no model.safetensors${hint}`);
  }
  const weights = new Map<string, NamedTensor>();
  for (const [key, t] of readSafetensors(weightsFile)) {
    // score.weight: a GPT2ForSequenceClassification head, read by classificationHead.ts on its own.
    if (isIgnoredCheckpointKey(key) || key === 'score.weight') continue;
    weights.set(canonicalKey(key), { shape: t.shape, data: t.data });
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
 * Writes a full model that transformers' GPT2LMHeadModel.from_pretrained loads: config.json,
 * model.safetensors (LoRA merged in when the model has it) and the tokenizer files of `tokenizerDir`
 * (skipped when null).
 */
export function saveFullModel(model: GPT2Model, config: GPT2Config, tokenizerDir: string | null, outDir: string): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'config.json'), JSON.stringify(toHfConfig(config), null, 2) + '\n');
  writeSafetensors(path.join(outDir, 'model.safetensors'), model.hfStateDict({ merged: true }), PT_METADATA);
  if (tokenizerDir) copyTokenizerFiles(tokenizerDir, outDir, config.nPositions);
  return fs.readdirSync(outDir).map((f) => path.join(outDir, f));
}

/** PEFT's names for the `target_modules` of an adapter: the module suffixes as given, all-linear spelled out. */
function targetModuleNames(targets: string[] | 'all-linear'): string[] {
  return targets === 'all-linear' ? ['c_attn', 'c_proj', 'c_fc'] : [...targets];
}

/**
 * Writes a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) that
 * PeftModel.from_pretrained loads. The config lists only fields every PEFT release since 0.3 knows
 * (older ones reject unknown keys); later fields such as use_dora default to what this adapter is.
 */
export function savePeftAdapter(model: GPT2Model, baseModelName: string, outDir: string): string[] {
  const s = model.strategy;
  if (s.strategy !== 'lora') throw new Error(`savePeftAdapter needs a LoRA model (strategy is ${s.strategy})`);
  fs.mkdirSync(outDir, { recursive: true });
  const adapterConfig = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModelName,
    r: s.r,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
    target_modules: targetModuleNames(s.targets),
    bias: 'none',
    fan_in_fan_out: true,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    revision: null,
  };
  fs.writeFileSync(path.join(outDir, 'adapter_config.json'), JSON.stringify(adapterConfig, null, 2) + '\n');
  writeSafetensors(path.join(outDir, 'adapter_model.safetensors'), model.loraStateDict(), PT_METADATA);
  return ['adapter_config.json', 'adapter_model.safetensors'].map((f) => path.join(outDir, f));
}

export interface PeftAdapter {
  /** A lora strategy whose targets are the exact modules the adapter holds weights for. */
  strategy: Extract<StrategyConfig, { strategy: 'lora' }>;
  weights: Map<string, NamedTensor>;
  baseModel: string | null;
}

/** Reads a PEFT LoRA adapter folder; anything this trainer cannot apply exactly is an error. */
export function loadPeftAdapter(dir: string): PeftAdapter {
  const configFile = path.join(dir, 'adapter_config.json');
  const weightsFile = path.join(dir, 'adapter_model.safetensors');
  if (!fs.existsSync(configFile)) throw new ModelFileError(`${dir} has no adapter_config.json (not a PEFT adapter folder)`);
  if (!fs.existsSync(weightsFile)) {
    throw new ModelFileError(
      `${dir} has no adapter_model.safetensors${fs.existsSync(path.join(dir, 'adapter_model.bin')) ? ' (adapter_model.bin is not supported; save with safe_serialization=True)' : ''}`,
    );
  }
  const raw = readJson(configFile) as Record<string, unknown>;
  const fail = (why: string): never => {
    throw new ModelFileError(`${configFile}: ${why}`);
  };
  if (raw.peft_type !== 'LORA') fail(`peft_type ${JSON.stringify(raw.peft_type)} is not supported (only LORA)`);
  if (raw.use_dora === true) fail('DoRA adapters (use_dora) are not supported');
  if (raw.use_rslora === true) fail('rsLoRA adapters (use_rslora) are not supported');
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = raw[key];
    if (v && typeof v === 'object' && Object.keys(v).length > 0) fail(`${key} is not supported (one r and lora_alpha for every layer)`);
  }
  if (raw.bias !== undefined && raw.bias !== 'none') fail(`bias '${String(raw.bias)}' is not supported (only 'none')`);
  const r = raw.r;
  const alpha = raw.lora_alpha ?? 8;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) fail(`r must be a positive integer, got ${JSON.stringify(r)}`);
  if (typeof alpha !== 'number' || !(alpha > 0)) fail(`lora_alpha must be a positive number, got ${JSON.stringify(alpha)}`);
  const dropout = typeof raw.lora_dropout === 'number' ? raw.lora_dropout : 0;
  const weights = new Map<string, NamedTensor>();
  const modules = new Set<string>();
  for (const [key, t] of readSafetensors(weightsFile)) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(key);
    if (!m) throw new ModelFileError(`${weightsFile}: unexpected tensor '${key}' (expected base_model.model.<module>.lora_A/lora_B.weight)`);
    const module = m[1].startsWith('transformer.') ? m[1] : `transformer.${m[1]}`;
    modules.add(module);
    weights.set(`base_model.model.${module}.lora_${m[2]}.weight`, { shape: t.shape, data: t.data });
  }
  if (modules.size === 0) throw new ModelFileError(`${weightsFile} holds no LoRA weights`);
  return {
    strategy: { strategy: 'lora', r: r as number, alpha: alpha as number, dropout, targets: [...modules] },
    weights,
    baseModel: typeof raw.base_model_name_or_path === 'string' ? raw.base_model_name_or_path : null,
  };
}
