// `finetune params`: the trainable-parameter breakdown and memory estimate of a model + strategy,
// from its config alone (presets are built in; a folder's config.json is read, never its weights).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_CONFIG_BYTES, NotRegularFileError, readRegularFileSync } from '../language/regularFile';
import { type OptionSpec, optionsHelp, TrainConfigError } from '../protocol/options';
import type { ParamsJson } from '../protocol/params';
import type { TrainConfig } from '../protocol/trainer';
import { isRepoId, PRESET_LIST, resolveModel } from '../trainer/hub';
import { isPresetName, presetConfig } from '../trainer/models/gpt2/config';
import { isLlamaPresetName, llamaPresetConfig } from '../trainer/models/llama/config';
import { modelConfigFromHf, modelDims, type ModelConfig } from '../trainer/models/registry';
import { formatBytes, memoryEstimate, parameterBreakdown, withCommas, type HeadKind } from '../trainer/params';
import { parseCommandSettings } from '../trainer/runConfig';
import { strategyOf, validateStrategy, type StrategyConfig } from '../trainer/strategies';
import { UsageError } from './usage';

/** `params`'s own flag; the others are the option table's (protocol/options.ts) that `params` takes. */
const PARAMS_FLAGS: readonly OptionSpec[] = [
  {
    name: 'json',
    kind: 'boolean',
    group: 'output',
    commands: [],
    runJson: false,
    help: 'one JSON object: {total, trainable, frozen, ratio, line, chapterLine, groups, perLayer, memory}',
  },
];

/** `finetune params --help`. */
export function paramsHelp(): string {
  return (
    'usage: finetune params --model M [--strategy S] [strategy options] [--head classification --num-labels N] [--json]\n' +
    "  The parameter breakdown by group, the chapter's line, PEFT's totals line and a memory estimate (for\n" +
    "  --batch-size and --max-length), from the model's config alone: a preset is built in, a folder's or a\n" +
    "  repo's config.json is read, never its weights. The options are train's, with train's defaults.\n" +
    optionsHelp('params', PARAMS_FLAGS)
  );
}

/** The settings `params`' flags describe, the table's defaults under them; usage errors name the flag. */
export function paramsSettings(args: string[]): { settings: Partial<TrainConfig>; json: boolean } {
  let parsed: ReturnType<typeof parseCommandSettings>;
  try {
    parsed = parseCommandSettings('params', args, PARAMS_FLAGS);
  } catch (err) {
    if (err instanceof TrainConfigError) throw new UsageError(/is required$/.test(err.message) ? `${err.message}\n${paramsHelp()}` : err.message);
    throw err;
  }
  const { given, settings, own } = parsed;
  // Train counts the labels in its data and freezes 0 layers by default; params has no data, and a
  // partial breakdown without the frozen layers is full fine-tuning's.
  if (settings.head === 'classification' && given.numLabels === undefined) throw new UsageError('--head classification needs --num-labels N');
  if (settings.strategy === 'partial' && given.freezeLayers === undefined) throw new UsageError('--strategy partial needs --freeze-layers N');
  return { settings: settings as Partial<TrainConfig>, json: own.json === true };
}

function readConfigFile(file: string): ModelConfig {
  let text: string;
  try {
    text = readRegularFileSync(file, { what: 'model config', maxBytes: MAX_CONFIG_BYTES }).toString('utf8');
  } catch (err) {
    throw new UsageError(err instanceof NotRegularFileError ? err.message : `cannot read ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  return modelConfigFromHf(raw, file);
}

/**
 * The config of `--model`: a preset (built in, no network), a folder's config.json, or a Hugging Face
 * repo id, for which only config.json is looked up in the HF cache (and fetched if missing).
 */
export async function configForModel(spec: string): Promise<{ config: ModelConfig; label: string }> {
  if (isPresetName(spec)) return { config: presetConfig(spec), label: `${spec} (preset)` };
  if (isLlamaPresetName(spec)) return { config: llamaPresetConfig(spec), label: `${spec} (preset)` };
  const file = path.join(spec, 'config.json');
  if (fs.existsSync(file)) return { config: readConfigFile(file), label: spec };
  if (fs.existsSync(spec)) throw new UsageError(`--model ${spec}: folder has no config.json`);
  if (isRepoId(spec)) {
    const resolved = await resolveModel(spec, { files: ['config.json'], requiredFiles: ['config.json'] });
    if (resolved.kind === 'folder') return { config: readConfigFile(path.join(resolved.dir, 'config.json')), label: resolved.repoId ?? spec };
  }
  throw new UsageError(`--model '${spec}' is neither a preset (${PRESET_LIST}), a model folder with a config.json, nor a Hugging Face repo id`);
}

function describeStrategy(s: StrategyConfig): string {
  switch (s.strategy) {
    case 'full':
      return 'full (every parameter trains)';
    case 'partial':
      return `partial (first ${s.freezeLayers} block(s) frozen${s.freezeEmbeddings ? ', embeddings frozen' : ''})`;
    case 'lora':
      return `lora (r=${s.r}, alpha=${s.alpha}, dropout=${s.dropout}, targets ${s.targets === 'all-linear' ? 'all-linear' : s.targets.join(',')})`;
    case 'adapter':
      return `adapter (bottleneck ${s.adapterDim} after attention and after the MLP of each block)`;
    case 'prompt':
      return `prompt (${s.virtualTokens} virtual tokens)`;
    default:
      // A registered strategy (trainer/strategies/index.ts): its name.
      return (s as { strategy: string }).strategy;
  }
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(paramsHelp());
    return 0;
  }
  const { settings, json } = paramsSettings(args);
  const { config, label } = await configForModel(settings.model!);
  let strategy: StrategyConfig;
  try {
    strategy = validateStrategy(config, strategyOf(settings as TrainConfig));
  } catch (err) {
    throw err instanceof TrainConfigError ? new UsageError(err.message) : err;
  }
  const head: HeadKind = settings.head === 'classification' ? { kind: 'classification', numLabels: settings.numLabels! } : 'lm';
  const batch = settings.batchSize!;
  const dims = modelDims(config);
  const seq = settings.maxLength ?? dims.maxPositions;
  if (seq > dims.maxPositions) throw new UsageError(`--max-length must be at most ${dims.maxPositions} (the model's context), got ${seq}`);
  const p = parameterBreakdown(config, strategy, head);
  const memory = memoryEstimate(config, strategy, batch, seq, head);
  if (json) {
    const { total, trainable, frozen, ratio, line, chapterLine, groups, perLayer } = p;
    const result: ParamsJson = { total, trainable, frozen, ratio, line, chapterLine, groups, perLayer, memory: { ...memory, batch, seq } };
    process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  }
  const out: string[] = [];
  out.push(`Model: ${label}: ${dims.numLayers} layers, ${dims.hiddenSize} wide, ${dims.numHeads} heads, vocab ${dims.vocabSize}, context ${dims.maxPositions}`);
  out.push(`Strategy: ${describeStrategy(strategy)}`);
  out.push('');
  const width = Math.max(...p.groups.map((g) => g.name.length), 5);
  const num = Math.max(...p.groups.map((g) => withCommas(g.total).length), 9);
  out.push(`${'group'.padEnd(width)}  ${'total'.padStart(num)}  ${'trainable'.padStart(num)}`);
  for (const g of p.groups) out.push(`${g.name.padEnd(width)}  ${withCommas(g.total).padStart(num)}  ${withCommas(g.trainable).padStart(num)}`);
  out.push('');
  out.push(p.chapterLine);
  out.push(p.line);
  out.push('');
  out.push(
    `Memory estimate (float32, batch ${batch}, sequence ${seq}): weights ${formatBytes(memory.weights)}, gradients ${formatBytes(memory.gradients)}, ` +
      `optimizer ${formatBytes(memory.optimizer)}, activations ${formatBytes(memory.activations)}, total ${formatBytes(memory.total)}`,
  );
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
