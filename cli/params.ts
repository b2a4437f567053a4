// `finetune params`: the trainable-parameter breakdown and memory estimate of a model + strategy,
// from its config alone (presets are built in; a folder's config.json is read, never its weights).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_CONFIG_BYTES, NotRegularFileError, readRegularFileSync } from '../language/regularFile';
import { DEFAULT_MAX_LENGTH, effectiveMaxLength, type OptionSpec, optionDefaults, optionsHelp, TrainConfigError } from '../protocol/options';
import type { ParamsJson, StrategyFit, SurveyedModel, SurveyRequest, SurveyResult } from '../protocol/params';
import type { TrainConfig } from '../protocol/trainer';
import { isRepoId, PRESET_LIST, resolveModel } from '../trainer/hub';
import { isPresetName, presetConfig } from '../trainer/models/gpt2/config';
import { isLlamaPresetName, llamaPresetConfig } from '../trainer/models/llama/config';
import { modelConfigFromHf, modelDims, modelStructure, type ModelConfig } from '../trainer/models/registry';
import { initBackend } from '../trainer/compute/backend';
import { loadDataset, splitEval } from '../trainer/data';
import { memoryFit } from '../trainer/memoryGuard';
import { modelTokenizer } from '../trainer/modelTokenizer';
import { formatBytes, memoryEstimate, parameterBreakdown, shapeKey, withCommas, type HeadKind } from '../trainer/params';
import { parseCommandSettings } from '../trainer/runConfig';
import { strategyNames, strategyOf, validateStrategy, type StrategyConfig } from '../trainer/strategies';
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
    "  `params --survey=JSON` (protocol/params.ts SurveyRequest) answers the extension's quick pick for\n" +
    '  several models at once: parameters, memory estimate and fit per strategy, trained tokens of a dataset.\n' +
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
      return `lora (r=${s.r}, alpha=${s.alpha}, dropout=${s.dropout}, targets ${typeof s.targets === 'string' ? s.targets : s.targets.join(',')})`;
    case 'adapter':
      return `adapter (bottleneck ${s.adapterDim} after attention and after the MLP of each block)`;
    case 'prompt':
      return `prompt (${s.virtualTokens} virtual tokens)`;
    default:
      // A registered strategy (trainer/strategies/index.ts): its name.
      return (s as { strategy: string }).strategy;
  }
}

/**
 * `finetune bench` flags that build a random model of `config`'s shape (cli/bench.ts's size flags). A
 * Llama's optional attention_bias / mlp_bias have no flag: their adds are a vanishing part of a step.
 */
export function benchShapeArgs(config: ModelConfig): string[] {
  if (!('modelType' in config)) {
    return ['--family', 'gpt2', '--layers', config.nLayer, '--embd', config.nEmbd, '--heads', config.nHead, '--vocab', config.vocabSize].map(String);
  }
  const c = config;
  const sizes = ['--layers', c.numLayers, '--hidden', c.hiddenSize, '--heads', c.numHeads, '--kv-heads', c.numKvHeads, '--head-dim', c.headDim];
  return ['--family', c.modelType, ...sizes, '--intermediate', c.intermediateSize, '--vocab', c.vocabSize, ...(c.tieWordEmbeddings ? [] : ['--untied'])].map(
    String,
  );
}

/** The request of `--survey=JSON`, checked: a usage error names what is wrong. */
export function parseSurveyRequest(text: string): SurveyRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--survey: not valid JSON (${(err as Error).message})`);
  }
  const r = raw as Partial<SurveyRequest> | null;
  const isCount = (n: unknown) => Number.isInteger(n) && (n as number) >= 1;
  if (!r || typeof r !== 'object' || !Array.isArray(r.models) || r.models.length === 0)
    throw new UsageError('--survey: expected {"models": [{"model", "batchSize", "maxLength"?}, …]}');
  for (const m of r.models) {
    if (!m || typeof m.model !== 'string' || !isCount(m.batchSize) || (m.maxLength !== undefined && !isCount(m.maxLength)))
      throw new UsageError(`--survey: each model needs a "model" string, a whole "batchSize" and an optional whole "maxLength" (got ${JSON.stringify(m)})`);
    if (m.settings !== undefined && (!m.settings || typeof m.settings !== 'object' || Array.isArray(m.settings)))
      throw new UsageError('--survey: a model\'s "settings" is an object of run settings');
  }
  if (r.data !== undefined && (typeof r.data !== 'string' || r.models.length !== 1))
    throw new UsageError('--survey: "data" is a file name, counted for exactly one model');
  if (r.strategies !== undefined && !(Array.isArray(r.strategies) && r.strategies.every((x) => typeof x === 'string')))
    throw new UsageError('--survey: "strategies" is a list of names');
  if (r.backend !== undefined && typeof r.backend !== 'string') throw new UsageError('--survey: "backend" is a name');
  return r as SurveyRequest;
}

/** Train's split of the dataset for `model` (its tokenizer, maxLength and default eval split): the tokens of one epoch. */
async function countTrainTokens(
  data: string,
  model: string,
  maxLength: number,
  chatTemplate: string | undefined,
): Promise<{ trainTokens: number; trainExamples: number; longest: number }> {
  const { tokenizer } = await modelTokenizer(model);
  const loaded = await loadDataset(data, { tokenizer, maxLength, trainOnPrompt: false, skipInvalid: false, chatTemplate });
  const defaults = optionDefaults('train') as { evalFraction: number; seed: number };
  const train = defaults.evalFraction > 0 ? splitEval(loaded.examples, defaults.evalFraction, defaults.seed).train : loaded.examples;
  const lengths = train.map((e) => e.inputIds.length);
  return { trainTokens: lengths.reduce((a, b) => a + b, 0), trainExamples: train.length, longest: lengths.reduce((a, b) => Math.max(a, b), 0) };
}

async function surveyModel(entry: SurveyRequest['models'][number], request: SurveyRequest, backend: string, machineBytes: number): Promise<SurveyedModel> {
  const { config } = await configForModel(entry.model);
  const dims = modelDims(config);
  const structure = modelStructure(config);
  let maxLength = effectiveMaxLength(entry.maxLength, dims.maxPositions);
  const surveyed: Partial<SurveyedModel> = {};
  if (request.data !== undefined) {
    try {
      const counted = await countTrainTokens(
        request.data,
        entry.model,
        maxLength,
        typeof entry.settings?.chatTemplate === 'string' ? entry.settings.chatTemplate : undefined,
      );
      Object.assign(surveyed, { trainTokens: counted.trainTokens, trainExamples: counted.trainExamples });
      // Train pads a batch to its longest example: the memory of the run is that length's.
      if (counted.longest >= 2) maxLength = counted.longest;
    } catch (err) {
      surveyed.trainTokensError = (err as Error).message;
    }
  }
  const strategies: StrategyFit[] = [];
  for (const name of request.strategies ?? strategyNames()) {
    const args = ['--model', entry.model, '--strategy', name, '--batch-size', String(entry.batchSize)];
    // The quick pick's own default for partial: half of the blocks frozen (extension/training/fineTuneChoices.ts).
    if (name === 'partial') args.push('--freeze-layers', String(Math.max(1, Math.floor(dims.numLayers / 2))));
    const strategy = validateStrategy(config, strategyOf({ ...paramsSettings(args).settings, ...entry.settings, strategy: name } as TrainConfig));
    const memory = memoryEstimate(config, strategy, entry.batchSize, maxLength);
    const p = parameterBreakdown(config, strategy);
    strategies.push({ strategy: name, trainable: p.trainable, total: p.total, memory, ...memoryFit(memory, backend, machineBytes) });
  }
  const full = parameterBreakdown(config, { strategy: 'full' });
  return {
    model: entry.model,
    family: structure.familyName,
    parameters: full.total,
    layers: dims.numLayers,
    hiddenSize: dims.hiddenSize,
    heads: dims.numHeads,
    vocabSize: dims.vocabSize,
    context: dims.maxPositions,
    seq: maxLength,
    batchSize: entry.batchSize,
    shapeKey: shapeKey(config),
    benchArgs: benchShapeArgs(config),
    strategies,
    ...surveyed,
  };
}

/**
 * `--survey=JSON` (SurveyRequest): every model's parameter count and, per strategy, its memory estimate
 * and whether it fits on this machine with the backend a run would use; with `data`, the trained tokens.
 * One JSON line (SurveyResult); a model that cannot be read has its error instead.
 */
export async function survey(request: SurveyRequest, machineBytes: number = os.totalmem()): Promise<SurveyResult> {
  const backend = (await initBackend((request.backend ?? 'auto') as Parameters<typeof initBackend>[0])).backend;
  const models: SurveyResult['models'] = [];
  for (const entry of request.models) {
    try {
      models.push(await surveyModel(entry, request, backend, machineBytes));
    } catch (err) {
      models.push({ model: entry.model, error: (err as Error).message });
    }
  }
  return { backend, totalMemBytes: machineBytes, models };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(paramsHelp());
    return 0;
  }
  const surveyArg = args.find((a) => a.startsWith('--survey='));
  if (surveyArg !== undefined) {
    if (args.length !== 1) throw new UsageError('--survey=JSON takes no other flag: the request holds every setting');
    process.stdout.write(JSON.stringify(await survey(parseSurveyRequest(surveyArg.slice('--survey='.length)))) + '\n');
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
  const seq = settings.maxLength ?? effectiveMaxLength(undefined, dims.maxPositions);
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
  // The estimate is for full-length batches; a run's batches are only as long as their longest example.
  out.push(
    settings.maxLength !== undefined
      ? `  (sequence ${seq}: --max-length)`
      : `  (sequence ${seq}: train's default --max-length, ${seq < DEFAULT_MAX_LENGTH ? "the model's context" : `at most ${DEFAULT_MAX_LENGTH.toLocaleString('en-US')}`}; a run's batch is as long as its longest example, so pass --max-length for shorter data)`,
  );
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
