// `finetune params`: the trainable-parameter breakdown and memory estimate of a model + strategy,
// from its config alone (presets are built in; a folder's config.json is read, never its weights).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_CONFIG_BYTES, NotRegularFileError, readRegularFileSync } from '../language/regularFile';
import { isRepoId, resolveModel } from '../trainer/hub';
import { fromHfConfig, isPresetName, presetConfig, type GPT2Config } from '../trainer/config';
import { formatBytes, memoryEstimate, parameterBreakdown, withCommas, type HeadKind } from '../trainer/params';
import { LORA_DEFAULTS, parseLoraTargets, validateStrategy, type StrategyConfig } from '../trainer/strategy';
import { numberFlag, parseFlags, UsageError } from './usage';

const FLAGS = {
  model: { type: 'string' },
  strategy: { type: 'string' },
  'freeze-layers': { type: 'string' },
  'freeze-embeddings': { type: 'boolean' },
  'lora-r': { type: 'string' },
  'lora-alpha': { type: 'string' },
  'lora-dropout': { type: 'string' },
  'lora-targets': { type: 'string' },
  'adapter-dim': { type: 'string' },
  'virtual-tokens': { type: 'string' },
  head: { type: 'string' },
  'num-labels': { type: 'string' },
  'batch-size': { type: 'string' },
  'max-length': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const HELP = `usage: finetune params --model M [--strategy full|partial|lora] [options] [--json]
  --model M             a preset (gpt2, distilgpt2, tiny) or a Hugging Face model folder (its config.json)
  --strategy S          full (default), partial, lora, adapter or prompt
  --freeze-layers N     partial: freeze the first N blocks
  --freeze-embeddings   partial: freeze the token and position embeddings too
  --lora-r R            lora: rank (default ${LORA_DEFAULTS.r})
  --lora-alpha A        lora: scaling numerator, W = W0 + (A/R)·B·A (default ${LORA_DEFAULTS.alpha}, PEFT's default)
  --lora-dropout P      lora: dropout on the LoRA input (default ${LORA_DEFAULTS.dropout})
  --lora-targets T      lora: comma-separated module names (PEFT suffix match) or all-linear (default c_attn)
  --adapter-dim M       adapter: bottleneck width of each adapter
  --virtual-tokens N    prompt: number of trained virtual tokens
  --head H              lm (default) or classification (with --num-labels N: a score layer [n_embd, N])
  --batch-size B, --max-length T   shape for the memory estimate (default 8 and the model's context)
  --json                one JSON object: {total, trainable, frozen, ratio, line, chapterLine, groups, perLayer, memory}`;

function readConfigFile(file: string): GPT2Config {
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
  return fromHfConfig(raw, file);
}

/**
 * The config of `--model`: a preset (built in, no network), a folder's config.json, or a Hugging Face
 * repo id, for which only config.json is looked up in the HF cache (and fetched if missing).
 */
export async function configForModel(spec: string): Promise<{ config: GPT2Config; label: string }> {
  if (isPresetName(spec)) return { config: presetConfig(spec), label: `${spec} (preset)` };
  const file = path.join(spec, 'config.json');
  if (fs.existsSync(file)) return { config: readConfigFile(file), label: spec };
  if (fs.existsSync(spec)) throw new UsageError(`--model ${spec}: folder has no config.json`);
  if (isRepoId(spec)) {
    const resolved = await resolveModel(spec, { files: ['config.json'], requiredFiles: ['config.json'] });
    if (resolved.kind === 'folder') return { config: readConfigFile(path.join(resolved.dir, 'config.json')), label: resolved.repoId ?? spec };
  }
  throw new UsageError(`--model '${spec}' is neither a preset (gpt2, distilgpt2, tiny), a model folder with a config.json, nor a Hugging Face repo id`);
}

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>['values'];

/** The StrategyConfig the strategy flags describe; flags that belong to another strategy are usage errors. */
export function strategyFromFlags(values: Values, config: GPT2Config): StrategyConfig {
  const name = values.strategy ?? 'full';
  const loraFlags = (['lora-r', 'lora-alpha', 'lora-dropout', 'lora-targets'] as const).filter((f) => values[f] !== undefined);
  const partialFlags = (['freeze-layers', 'freeze-embeddings'] as const).filter((f) => values[f] !== undefined);
  const adapterFlags = values['adapter-dim'] !== undefined ? ['adapter-dim'] : [];
  const promptFlags = values['virtual-tokens'] !== undefined ? ['virtual-tokens'] : [];
  const misplaced = (flags: readonly string[], owner: string) => {
    if (flags.length > 0) throw new UsageError(`${flags.map((f) => '--' + f).join(', ')} only applies to --strategy ${owner}`);
  };
  if (name !== 'adapter') misplaced(adapterFlags, 'adapter');
  if (name !== 'prompt') misplaced(promptFlags, 'prompt');
  let strategy: StrategyConfig;
  switch (name) {
    case 'adapter':
      misplaced(loraFlags, 'lora');
      misplaced(partialFlags, 'partial');
      misplaced(promptFlags, 'prompt');
      if (values['adapter-dim'] === undefined) throw new UsageError('--strategy adapter needs --adapter-dim M');
      strategy = { strategy: 'adapter', adapterDim: numberFlag('adapter-dim', values['adapter-dim'], 0, { integer: true, min: 1 }) };
      break;
    case 'prompt':
      misplaced(loraFlags, 'lora');
      misplaced(partialFlags, 'partial');
      misplaced(adapterFlags, 'adapter');
      if (values['virtual-tokens'] === undefined) throw new UsageError('--strategy prompt needs --virtual-tokens N');
      strategy = { strategy: 'prompt', virtualTokens: numberFlag('virtual-tokens', values['virtual-tokens'], 0, { integer: true, min: 1 }) };
      break;
    case 'full':
      misplaced(loraFlags, 'lora');
      misplaced(partialFlags, 'partial');
      strategy = { strategy: 'full' };
      break;
    case 'partial':
      misplaced(loraFlags, 'lora');
      if (values['freeze-layers'] === undefined) throw new UsageError('--strategy partial needs --freeze-layers N');
      strategy = {
        strategy: 'partial',
        freezeLayers: numberFlag('freeze-layers', values['freeze-layers'], 0, { integer: true, min: 0, max: config.nLayer }),
        freezeEmbeddings: values['freeze-embeddings'] === true,
      };
      break;
    case 'lora':
      misplaced(partialFlags, 'partial');
      try {
        strategy = {
          strategy: 'lora',
          r: numberFlag('lora-r', values['lora-r'], LORA_DEFAULTS.r, { integer: true, min: 1 }),
          alpha: numberFlag('lora-alpha', values['lora-alpha'], LORA_DEFAULTS.alpha, { min: Number.MIN_VALUE }),
          dropout: numberFlag('lora-dropout', values['lora-dropout'], LORA_DEFAULTS.dropout, { min: 0, max: 0.99 }),
          targets: values['lora-targets'] === undefined ? [...LORA_DEFAULTS.targets] : parseLoraTargets(values['lora-targets']),
        };
      } catch (err) {
        throw err instanceof UsageError ? err : new UsageError((err as Error).message);
      }
      break;
    default:
      throw new UsageError(`--strategy must be full, partial, lora, adapter or prompt, got '${name}'`);
  }
  try {
    return validateStrategy(config, strategy);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
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
  }
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.model === undefined) throw new UsageError(`--model is required\n${HELP}`);
  let head: HeadKind = 'lm';
  if (values.head === 'classification') {
    if (values['num-labels'] === undefined) throw new UsageError('--head classification needs --num-labels N');
    head = { kind: 'classification', numLabels: numberFlag('num-labels', values['num-labels'], 2, { integer: true, min: 2 }) };
  } else if (values.head !== undefined && values.head !== 'lm') {
    throw new UsageError(`--head must be lm or classification, got '${values.head}'`);
  } else if (values['num-labels'] !== undefined) {
    throw new UsageError('--num-labels only applies to --head classification');
  }
  const { config, label } = await configForModel(values.model);
  const strategy = strategyFromFlags(values, config);
  const batch = numberFlag('batch-size', values['batch-size'], 8, { integer: true, min: 1 });
  const seq = numberFlag('max-length', values['max-length'], config.nPositions, { integer: true, min: 1, max: config.nPositions });
  const p = parameterBreakdown(config, strategy, head);
  const memory = memoryEstimate(config, strategy, batch, seq, head);
  if (values.json) {
    const { total, trainable, frozen, ratio, line, chapterLine, groups, perLayer } = p;
    process.stdout.write(JSON.stringify({ total, trainable, frozen, ratio, line, chapterLine, groups, perLayer, memory: { ...memory, batch, seq } }) + '\n');
    return 0;
  }
  const out: string[] = [];
  out.push(`Model: ${label}: ${config.nLayer} layers, ${config.nEmbd} wide, ${config.nHead} heads, vocab ${config.vocabSize}, context ${config.nPositions}`);
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
