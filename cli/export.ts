// `finetune export --run RUN_DIR --to trl --out JOB_DIR [--gpus N] [--nodes N] [--zero 2|3 | --fsdp]`:
// a run (or a run.json that has not run yet) as a Hugging Face TRL + Accelerate job for a GPU cluster.
// The run's settings come from its run.json through the one option table (trainer/runConfig.ts); its
// records and split from the trainer's own reading (trainer/data.ts), each row as `finetune preview
// --json` shows it (previewRows); the files from trainer/export/trlJob.ts; the folder rule from
// trainer/export/jobFolder.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDataset } from '../language';
import { resolveChatTemplate } from '../language/chatTemplate';
import { effectiveMaxLength, TrainConfigError } from '../protocol/options';
import type { TrainConfig } from '../protocol/trainer';
import { DatasetError, loadDataset, runLoadOptions, splitEval, type TrainingExample } from '../trainer/data';
import { classificationRows, jsonl, lmRows, taskList, type PreviewIds } from '../trainer/export/jobData';
import { writeJobFolder } from '../trainer/export/jobFolder';
import { ExportError, trlJob, type ClusterTarget, type Sharding } from '../trainer/export/trlJob';
import { assignLabels, labelMapping } from '../trainer/heads/classification';
import { isLlamaPresetName, LLAMA_PRESETS } from '../trainer/models/llama/config';
import { familyOf, modelStructure } from '../trainer/models/registry';
import { modelTokenizer } from '../trainer/modelTokenizer';
import { readConfigFile, resolveTrainConfig } from '../trainer/runConfig';
import { runPaths } from '../trainer/runLayout';
import { familyTargets } from '../trainer/strategies/lora';
import { configForModel } from './params';
import { previewRows } from './preview';
import { numberFlag, parseFlags, UsageError } from './usage';

const HELP = `usage: finetune export --run RUN_DIR --to trl --out JOB_DIR [options]
  --run RUN_DIR           a run folder (or any folder holding a run.json, run or not)
  --to trl                the job's kind: Hugging Face TRL + Accelerate
  --out JOB_DIR           the job folder: new, empty, or one an export wrote
  --gpus N                GPUs per node (default 1)
  --nodes N               nodes (default 1)
  --zero 2|3              DeepSpeed ZeRO stage 2 or 3 (default: plain data parallel)
  --fsdp                  PyTorch FSDP 2 instead of DeepSpeed
  --mixed-precision P     bf16 (default; Ampere or newer), fp16 or no
  --model-id ID           what the cluster loads: a Hugging Face repo id or a path there (needed when
                          the run's model is a local folder)
  --accelerator NAME      SkyPilot's GPU name in sky.yaml (default H100)`;

/** GPT-2's and the Llama families' presets as the repos the cluster downloads them from. */
const PRESET_REPOS: Record<string, string> = { gpt2: 'openai-community/gpt2', distilgpt2: 'distilbert/distilgpt2' };

/** transformers' block class of each family, for FSDP's transformer wrap policy. */
const BLOCK_CLASSES: Record<string, string> = { gpt2: 'GPT2Block', llama: 'LlamaDecoderLayer', qwen2: 'Qwen2DecoderLayer', qwen3: 'Qwen3DecoderLayer' };

/** The model the cluster loads for the run's `model`: a preset's repo, the repo id itself, or --model-id. */
export function clusterModelId(model: string, given: string | undefined): string {
  if (given !== undefined) return given;
  if (model === 'tiny')
    throw new ExportError(
      "the run's model is the `tiny` preset: random weights made on this machine, which no cluster can download; export a run of a pretrained model (gpt2, a Llama-family preset or a Hugging Face repo id)",
    );
  if (Object.hasOwn(PRESET_REPOS, model)) return PRESET_REPOS[model];
  if (isLlamaPresetName(model)) return LLAMA_PRESETS[model].repo;
  if (path.isAbsolute(model) || model.startsWith('.') || fs.existsSync(model))
    throw new ExportError(`the run's model is the local folder ${model}; give --model-id with its Hugging Face repo id, or the path it has on the cluster`);
  return model;
}

function sharding(zero: string | undefined, fsdp: boolean): Sharding {
  if (zero !== undefined && fsdp) throw new UsageError('give either --zero or --fsdp, not both');
  if (fsdp) return 'fsdp';
  if (zero === undefined) return 'ddp';
  if (zero === '2') return 'zero2';
  if (zero === '3') return 'zero3';
  throw new UsageError(`--zero must be 2 or 3, got '${zero}'`);
}

/** The run's settings from RUN_DIR/run.json, complete (defaults applied) as the trainer resolves them. */
export function runSettings(runDir: string): TrainConfig {
  const { runJson } = runPaths(runDir);
  if (!fs.existsSync(runJson)) throw new UsageError(`--run ${runDir}: no run.json there (not a run folder)`);
  return resolveTrainConfig(readConfigFile(runJson));
}

/** The preview entries of a data file, by 1-based line, with the run's tokenization settings. */
async function previewByLine(file: string, config: TrainConfig, tokenizer: Awaited<ReturnType<typeof modelTokenizer>>['tokenizer'], maxLength: number) {
  const read = await readDataset(file, { maxTokens: maxLength });
  const rows = previewRows(read, tokenizer, {
    maxLength,
    trainOnPrompt: config.trainOnPrompt,
    chatTemplate: resolveChatTemplate(config.chatTemplate, tokenizer),
  });
  return new Map<number, PreviewIds>(rows.map((r) => [r.entry.line, r.entry]));
}

export interface ExportResult {
  out: string;
  entry: string;
  files: string[];
  trainRows: number;
  evalRows: number;
}

/** Exports the run in `runDir` into `out` (the whole command, for the CLI and tests). */
export async function exportRun(runDir: string, out: string, target: ClusterTarget, modelIdFlag?: string): Promise<ExportResult> {
  const config = runSettings(runDir);
  const modelId = clusterModelId(config.model, modelIdFlag);
  const { config: modelConfig } = await configForModel(config.model);
  const structure = modelStructure(modelConfig);
  const family = 'modelType' in modelConfig ? (modelConfig.modelType as string) : 'gpt2';
  const { tokenizer, maxPositions } = await modelTokenizer(config.model, (m) => process.stderr.write(m + '\n'));
  const maxLength = effectiveMaxLength(config.maxLength, maxPositions);
  if (config.strategy === 'partial' && config.freezeLayers > structure.numLayers)
    throw new TrainConfigError(`--freeze-layers must be an integer from 0 to ${structure.numLayers} (the model's layer count), got ${config.freezeLayers}`);

  // The trainer's own reading and split (trainer/train.ts), so the job trains exactly the run's records.
  const classification = config.head === 'classification';
  const dataOptions = runLoadOptions(config, tokenizer, maxLength);
  const trainData = await loadDataset(config.data, dataOptions);
  let train: TrainingExample[] = trainData.examples;
  let evalSet: TrainingExample[] = [];
  if (config.evalData) evalSet = (await loadDataset(config.evalData, dataOptions)).examples;
  else if (config.evalFraction > 0) ({ train, eval: evalSet } = splitEval(train, config.evalFraction, config.seed));
  if (train.length === 0) throw new DatasetError(`${config.data}: no record left to train on after holding out the eval split`);
  // As the trainer does: a batch holds at most every training record.
  const settings = { ...config, batchSize: Math.min(config.batchSize, train.length) };

  const tasks = taskList([...train, ...evalSet]);
  const files: Record<string, string> = {};
  let labels: string[] | undefined;
  if (classification) {
    if (tasks.length) throw new ExportError('a multi-task classification run cannot be exported: train.py weights tasks for the causal LM head only');
    const map = labelMapping([...train, ...evalSet].map((e) => e.labelText!));
    assignLabels(train, map);
    assignLabels(evalSet, map);
    labels = map.labels;
    files['data/train.jsonl'] = jsonl(classificationRows(train));
    if (evalSet.length) files['data/eval.jsonl'] = jsonl(classificationRows(evalSet));
  } else {
    const trainEntries = await previewByLine(config.data, config, tokenizer, maxLength);
    files['data/train.jsonl'] = jsonl(lmRows(train, trainEntries, tasks));
    if (evalSet.length) {
      const evalEntries = config.evalData ? await previewByLine(config.evalData, config, tokenizer, maxLength) : trainEntries;
      files['data/eval.jsonl'] = jsonl(lmRows(evalSet, evalEntries, tasks));
    }
  }
  const stepsPerEpoch = Math.ceil(Math.ceil(train.length / settings.batchSize) / settings.gradAccum);
  const job = trlJob({
    config: settings,
    runName: path.basename(path.resolve(runDir)),
    modelId,
    blockClass: BLOCK_CLASSES[family] ?? familyOf(modelConfig).architectures[0],
    maxLength,
    loraTargets: familyTargets(structure, config.loraTargets as Parameters<typeof familyTargets>[1]),
    tasks,
    labels,
    trainRows: train.length,
    evalRows: evalSet.length,
    totalSteps: settings.maxSteps ?? Math.max(1, Math.ceil(settings.epochs * stepsPerEpoch)),
    target,
  });
  const written = writeJobFolder(out, runDir, { ...job.files, ...files }, ['launch.sh']);
  return { out: path.resolve(out), entry: job.entry, files: written, trainRows: train.length, evalRows: evalSet.length };
}

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const { values } = parseFlags(args, {
    run: { type: 'string' },
    to: { type: 'string' },
    out: { type: 'string' },
    gpus: { type: 'string' },
    nodes: { type: 'string' },
    zero: { type: 'string' },
    fsdp: { type: 'boolean' },
    'mixed-precision': { type: 'string' },
    'model-id': { type: 'string' },
    accelerator: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (!values.run) throw new UsageError(`--run is required\n${HELP}`);
  if (!values.out) throw new UsageError(`--out is required\n${HELP}`);
  if (values.to !== 'trl') throw new UsageError(values.to === undefined ? '--to is required (trl)' : `--to must be trl, got '${values.to}'`);
  const mixed = values['mixed-precision'] ?? 'bf16';
  if (mixed !== 'bf16' && mixed !== 'fp16' && mixed !== 'no') throw new UsageError(`--mixed-precision must be bf16, fp16 or no, got '${mixed}'`);
  const target: ClusterTarget = {
    gpus: numberFlag('gpus', values.gpus, 1, { integer: true, min: 1 }),
    nodes: numberFlag('nodes', values.nodes, 1, { integer: true, min: 1 }),
    sharding: sharding(values.zero, values.fsdp === true),
    mixedPrecision: mixed,
    accelerator: values.accelerator ?? 'H100',
  };
  let result: ExportResult;
  try {
    result = await exportRun(values.run, values.out, target, values['model-id']);
  } catch (err) {
    if (err instanceof ExportError || err instanceof TrainConfigError) throw new UsageError(err.message);
    throw err;
  }
  if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
  else
    process.stdout.write(
      `exported ${values.run} to ${result.out} (${result.entry}; ${result.trainRows} train and ${result.evalRows} eval records): ${result.files.join(', ')}\n` +
        `start it there with ./launch.sh (README.md); bring the results back with finetune import --job ${result.out} --run ${values.run}\n`,
    );
  return 0;
}
