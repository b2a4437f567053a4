// The training loop: data -> micro-batches -> AdamW steps, with evaluation, checkpoints, stop, and the
// event stream of protocol/trainer.ts. The CLI (`finetune train`) and the child process both run this.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  parseTrainArgs,
  parseTrainFlags,
  taskWeight,
  TRAIN_DEFAULTS,
  type DoneEvent,
  type DoneStatus,
  type StepEvent,
  type TrainConfig,
} from '../protocol/trainer';
import { gpt2TokenizerDir, gpt2Tokenizer, type TextTokenizer } from '../language/tokenizer';
import { assertRegularFile, NotRegularFileError } from '../language/regularFile';
import { initBackend } from './backend';
import { presetConfig, type GPT2Config } from './config';
import { DatasetError, evalBatches, epochBatches, loadDataset, padBatch, splitEval, type Batch, type TrainingExample } from './data';
import { resolveModel, type DownloadProgress } from './hub';
import {
  assignLabels,
  ClassificationHead,
  evaluateClassificationAsync,
  labelMapping,
  readClassificationFolder,
  saveClassificationModel,
  SCORE_KEY,
  type LabelMap,
} from './classificationHead';
import { loadAdapterStateDict, loadBottleneckAdapter, saveBottleneckAdapter } from './adapter';
import { copyCheckpointOutput, pruneCheckpoints } from './checkpoints';
import { GPT2Model } from './model';
import { taskSampledBatches } from './taskSampling';
import { initPromptFromTokens, loadPromptAdapter, loadPromptEmbeddings, promptInitTokenIds, savePromptAdapter } from './promptTuning';
import { loadModelFolder, loadPeftAdapter, saveFullModel, savePeftAdapter } from './modelFiles';
import { AdamW, clipByGlobalNorm, GradientAccumulator, squaredGlobalNorm, type TrainableVariable } from './optimizer';
import { checkMemoryFits, explainWasmAbort, WasmOutOfMemoryError } from './memoryGuard';
import { memoryEstimate, parameterBreakdown } from './params';
import { checkpointDir, EventWriter, latestCheckpoint, lineWriter, readOptimizerState, writeCheckpointState, type TrainerState } from './runFolder';
import { prepareRunFolder, writeCheckpoint, writeOutput } from './runOwnership';
import { learningRateAt } from './schedule';
import { errorEventFields } from './userErrors';
import type { StrategyConfig } from './strategy';

export function strategyOf(
  config: Pick<
    TrainConfig,
    'strategy' | 'freezeLayers' | 'freezeEmbeddings' | 'loraR' | 'loraAlpha' | 'loraDropout' | 'loraTargets' | 'adapterDim' | 'virtualTokens' | 'promptInit'
  >,
): StrategyConfig {
  switch (config.strategy) {
    case 'full':
      return { strategy: 'full' };
    case 'partial':
      return { strategy: 'partial', freezeLayers: config.freezeLayers, freezeEmbeddings: config.freezeEmbeddings };
    case 'lora':
      return { strategy: 'lora', r: config.loraR, alpha: config.loraAlpha, dropout: config.loraDropout, targets: config.loraTargets };
    case 'adapter':
      return { strategy: 'adapter', adapterDim: config.adapterDim ?? TRAIN_DEFAULTS.adapterDim };
    case 'prompt':
      return {
        strategy: 'prompt',
        virtualTokens: config.virtualTokens ?? TRAIN_DEFAULTS.virtualTokens,
        ...(config.promptInit !== undefined ? { promptInit: config.promptInit } : {}),
      };
  }
}

export interface BaseModel {
  model: GPT2Model;
  config: GPT2Config;
  tokenizer: TextTokenizer;
  /** Folder whose tokenizer files go next to a saved full model. */
  tokenizerDir: string;
  /** What an adapter's base_model_name_or_path records: the preset or repo id, else the folder. */
  baseName: string;
}

/** `--model` (preset, folder, or Hugging Face repo id) -> a model built with the given strategy. */
export async function loadBaseModel(spec: string, strategy: StrategyConfig, seed: number, onLog?: (message: string) => void): Promise<BaseModel> {
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
    return { model: new GPT2Model(config, strategy, seed), config, tokenizer: gpt2Tokenizer(), tokenizerDir: gpt2TokenizerDir(), baseName: resolved.name };
  }
  const { config, weights, tokenizer } = loadModelFolder(resolved.dir);
  const model = GPT2Model.fromWeights(config, weights, strategy, seed);
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

// ---------------------------------------------------------------------------------------------------
// One batch through the model.

/**
 * Per-row weights so that the batch loss is Σ_t α_t·L_t over the tasks present, as the chapter writes it
 * (L_t: that task's token-weighted mean CE in the batch; α_t from --task-weights, default 1). Without
 * tasks it is the token-weighted mean over the batch (one task, α = 1).
 */
export function rowWeights(batch: Batch, taskWeights?: Record<string, number>): Float32Array {
  const tokensByTask = new Map<string, number>();
  batch.tasks.forEach((task, b) => tokensByTask.set(task ?? '', (tokensByTask.get(task ?? '') ?? 0) + batch.rowLossTokens[b]));
  const alpha = (task: string) => (task !== '' ? taskWeight(taskWeights, task) : 1);
  const w = new Float32Array(batch.size);
  batch.tasks.forEach((task, b) => {
    const key = task ?? '';
    const n = tokensByTask.get(key)!;
    w[b] = n > 0 ? alpha(key) / n : 0;
  });
  return w;
}

function batchTensors(batch: Batch) {
  return {
    ids: tf.tensor2d(batch.inputIds, [batch.size, batch.length], 'int32'),
    labels: tf.tensor2d(batch.labels, [batch.size, batch.length], 'int32'),
    mask: tf.tensor2d(batch.attentionMask, [batch.size, batch.length], 'float32'),
  };
}

export interface MicroBatchResult {
  loss: number;
  /** Sum of CE and loss tokens per task ('' = records without a task), for per-task losses. */
  taskSums: Map<string, { sum: number; tokens: number }>;
  grads: tf.Tensor[];
}

/** A micro-batch's forward + backward with its results still on the device. */
interface MicroBatchTensors {
  /** The weighted batch loss, shape [1]. */
  loss: tf.Tensor1D;
  /** CE summed per row, shape [B]. */
  rowSums: tf.Tensor1D;
  grads: tf.Tensor[];
}

function microBatchTensors(
  model: GPT2Model,
  variables: readonly TrainableVariable[],
  batch: Batch,
  taskWeights?: Record<string, number>,
  head?: ClassificationHead,
): MicroBatchTensors {
  const t = batchTensors(batch);
  const weights = tf.tensor2d(rowWeights(batch, taskWeights), [batch.size, 1]);
  let rowSums: tf.Tensor1D | undefined;
  try {
    const { value, grads } = tf.variableGrads(
      () => {
        // Classification: one CE per row ([B, 1]; rowLossTokens is 1), weighted like token losses.
        const ce = head ? tf.reshape(head.loss(model, batch, true), [batch.size, 1]) : model.tokenLoss(t.ids, t.labels, t.mask, true);
        rowSums = tf.keep(tf.sum(ce, 1) as tf.Tensor1D);
        return tf.sum(tf.mul(ce, weights)) as tf.Scalar;
      },
      variables.map((v) => v.variable),
    );
    const loss = tf.reshape(value, [1]) as tf.Tensor1D;
    value.dispose();
    return { loss, rowSums: rowSums!, grads: variables.map((v) => grads[v.variable.name]) };
  } finally {
    tf.dispose([weights, t.ids, t.labels, t.mask]);
  }
}

function addTaskSums(into: Map<string, { sum: number; tokens: number }>, batch: Batch, sums: ArrayLike<number>): void {
  batch.tasks.forEach((task, b) => {
    const entry = into.get(task ?? '') ?? { sum: 0, tokens: 0 };
    entry.sum += sums[b];
    entry.tokens += batch.rowLossTokens[b];
    into.set(task ?? '', entry);
  });
}

/** Forward + backward of one micro-batch; gradients in the order of `variables` (reads synchronously). */
export function microBatchGradients(
  model: GPT2Model,
  variables: readonly TrainableVariable[],
  batch: Batch,
  taskWeights?: Record<string, number>,
  head?: ClassificationHead,
): MicroBatchResult {
  const r = microBatchTensors(model, variables, batch, taskWeights, head);
  const loss = r.loss.dataSync()[0];
  const taskSums = new Map<string, { sum: number; tokens: number }>();
  addTaskSums(taskSums, batch, r.rowSums.dataSync());
  tf.dispose([r.loss, r.rowSums]);
  return { loss, taskSums, grads: r.grads };
}

/**
 * Reads `tensors` once asynchronously so that their values are cached on the CPU: after that the
 * synchronous reads of the save functions (hfStateDict, exportState, ...) work on webgpu too. On wasm
 * and cpu the data already is on the CPU.
 */
async function cacheOnCpu(tensors: readonly tf.Tensor[]): Promise<void> {
  if (tf.getBackend() !== 'webgpu') return;
  await Promise.all(tensors.filter((t) => !t.isDisposed).map((t) => t.data()));
}

/** Every tensor a checkpoint or output of this run reads. */
function savedTensors(model: GPT2Model, optimizer?: AdamW, head?: ClassificationHead): tf.Tensor[] {
  return [
    ...model.namedParameters().map(([, v]) => v),
    ...model.trainableVariables().map((v) => v.variable),
    ...(head?.trainableVariables().map((v) => v.variable) ?? []),
    ...(optimizer?.stateTensors() ?? []),
  ];
}

export interface EvalResult {
  loss: number;
  tokens: number;
  examples: number;
  taskLosses?: Record<string, number>;
}

class EvalTotals {
  private sum = 0;
  private tokens = 0;
  private readonly byTask = new Map<string, { sum: number; tokens: number }>();

  add(batch: Batch, values: ArrayLike<number>): void {
    batch.tasks.forEach((task, b) => {
      this.sum += values[b];
      this.tokens += batch.rowLossTokens[b];
      if (task !== undefined) {
        const e = this.byTask.get(task) ?? { sum: 0, tokens: 0 };
        e.sum += values[b];
        e.tokens += batch.rowLossTokens[b];
        this.byTask.set(task, e);
      }
    });
  }

  result(examples: number): EvalResult {
    const result: EvalResult = { loss: this.tokens > 0 ? this.sum / this.tokens : NaN, tokens: this.tokens, examples };
    if (this.byTask.size > 0) result.taskLosses = Object.fromEntries([...this.byTask].map(([k, v]) => [k, v.sum / v.tokens]));
    return result;
  }
}

function* evalRows(model: GPT2Model, examples: readonly TrainingExample[], batchSize: number, padId: number): Generator<{ batch: Batch; rows: tf.Tensor }> {
  for (const indices of evalBatches(
    examples.map((e) => e.inputIds.length),
    batchSize,
  )) {
    const batch = padBatch(
      indices.map((i) => examples[i]),
      padId,
    );
    const t = batchTensors(batch);
    try {
      yield { batch, rows: tf.tidy(() => tf.sum(model.tokenLoss(t.ids, t.labels, t.mask, false), 1)) };
    } finally {
      tf.dispose([t.ids, t.labels, t.mask]);
    }
  }
}

/** Token-weighted mean CE over every loss token of `examples` (batching cannot change it). */
export function evaluate(model: GPT2Model, examples: readonly TrainingExample[], batchSize: number, padId = 0): EvalResult {
  const totals = new EvalTotals();
  for (const { batch, rows } of evalRows(model, examples, batchSize, padId)) {
    totals.add(batch, rows.dataSync());
    rows.dispose();
  }
  return totals.result(examples.length);
}

/** `evaluate` with asynchronous reads (the training loop's; works on webgpu). */
export async function evaluateAsync(model: GPT2Model, examples: readonly TrainingExample[], batchSize: number, padId = 0): Promise<EvalResult> {
  const totals = new EvalTotals();
  for (const { batch, rows } of evalRows(model, examples, batchSize, padId)) {
    const values = await rows.data();
    rows.dispose();
    totals.add(batch, values);
  }
  return totals.result(examples.length);
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  taskLosses?: Record<string, number>;
  tokens: number;
  lossTokens: number;
}

/** Thrown when a loss or gradient is NaN/infinite: the update is not applied. */
export class NonFiniteLossError extends Error {}

/** One optimizer step's forward/backward work, with everything the step reports packed in one tensor. */
interface PendingStep {
  grads: tf.Tensor[];
  /** [loss per micro-batch…, squared grad norm, row sums of each micro-batch…] */
  packed: tf.Tensor1D;
}

function stepTensors(
  model: GPT2Model,
  optimizer: AdamW,
  microBatches: readonly Batch[],
  taskWeights?: Record<string, number>,
  head?: ClassificationHead,
): PendingStep {
  const accumulator = new GradientAccumulator();
  const reads: tf.Tensor1D[] = [];
  try {
    for (const batch of microBatches) {
      const r = microBatchTensors(model, optimizer.variables, batch, taskWeights, head);
      accumulator.add(r.grads);
      reads.push(r.loss, r.rowSums);
    }
    const grads = accumulator.mean()!;
    const losses = reads.filter((_, i) => i % 2 === 0);
    const rowSums = reads.filter((_, i) => i % 2 === 1);
    const packed = tf.tidy(() => tf.concat([...losses, tf.reshape(squaredGlobalNorm(grads), [1]), ...rowSums]) as tf.Tensor1D);
    return { grads, packed };
  } finally {
    tf.dispose(reads);
    accumulator.dispose();
  }
}

/** Checks the values read back, clips and applies the update (not applied when anything is non-finite). */
function finishStep(optimizer: AdamW, microBatches: readonly Batch[], pending: PendingStep, values: Float32Array, lr: number, gradClip: number): StepResult {
  let grads = pending.grads;
  try {
    const n = microBatches.length;
    let lossSum = 0;
    let tokens = 0;
    let lossTokens = 0;
    const taskTotals = new Map<string, { sum: number; tokens: number }>();
    let offset = n + 1;
    microBatches.forEach((batch, i) => {
      if (!Number.isFinite(values[i])) throw new NonFiniteLossError(`training loss is ${values[i]}`);
      lossSum += values[i];
      tokens += batch.tokens;
      lossTokens += batch.lossTokens;
      addTaskSums(taskTotals, batch, values.subarray(offset, offset + batch.size));
      offset += batch.size;
    });
    const gradNorm = Math.sqrt(values[n]);
    if (!Number.isFinite(gradNorm)) throw new NonFiniteLossError(`gradient norm is ${gradNorm}`);
    grads = clipByGlobalNorm(grads, gradNorm, gradClip);
    optimizer.applyGradients(grads, lr);
    const named = [...taskTotals].filter(([task]) => task !== '');
    const result: StepResult = { loss: lossSum / n, gradNorm, tokens, lossTokens };
    if (named.length > 0) result.taskLosses = Object.fromEntries(named.map(([k, v]) => [k, v.sum / v.tokens]));
    return result;
  } finally {
    tf.dispose([...grads, pending.packed]);
  }
}

/** One optimizer step over `microBatches` (gradient accumulation), clipped, at learning rate `lr`; one synchronous read. */
export function optimizerStep(
  model: GPT2Model,
  optimizer: AdamW,
  microBatches: readonly Batch[],
  lr: number,
  gradClip: number,
  taskWeights?: Record<string, number>,
  head?: ClassificationHead,
): StepResult {
  const pending = stepTensors(model, optimizer, microBatches, taskWeights, head);
  return finishStep(optimizer, microBatches, pending, pending.packed.dataSync() as Float32Array, lr, gradClip);
}

/** `optimizerStep` with its one read asynchronous: the training loop's, and the only one webgpu can run in Node. */
export async function optimizerStepAsync(
  model: GPT2Model,
  optimizer: AdamW,
  microBatches: readonly Batch[],
  lr: number,
  gradClip: number,
  taskWeights?: Record<string, number>,
  head?: ClassificationHead,
): Promise<StepResult> {
  const pending = stepTensors(model, optimizer, microBatches, taskWeights, head);
  let values: Float32Array;
  try {
    values = (await pending.packed.data()) as Float32Array;
  } catch (err) {
    tf.dispose([...pending.grads, pending.packed]);
    throw err;
  }
  return finishStep(optimizer, microBatches, pending, values, lr, gradClip);
}

// ---------------------------------------------------------------------------------------------------
// The run.

export interface TrainOptions {
  writer: EventWriter;
  /** Aborting stops the run cleanly after the current step: output saved, `done` with status `stopped`. */
  signal?: AbortSignal;
  /** The `--config` file the settings came from: it may not lie where the run writes (trainer/runOwnership.ts). */
  configFile?: string;
}

/**
 * Writes the model (full / partial / LoRA merged when `merge`) or the PEFT adapter into `dir`; returns
 * the file names. Checkpoints never merge, so that `--resume` can load the adapter back.
 */
export interface OutputExtras {
  /** Classification head and its labels: the output is a GPT2ForSequenceClassification folder (LoRA merged). */
  head?: ClassificationHead;
  labels?: LabelMap;
  /** Prompt tuning's init text, recorded in adapter_config.json. */
  promptInit?: string;
}

export function saveOutput(base: BaseModel, strategy: TrainConfig['strategy'], merge: boolean, dir: string, extras: OutputExtras = {}): string[] {
  fs.mkdirSync(dir, { recursive: true });
  if (extras.head && extras.labels) {
    saveClassificationModel(base.model, extras.head, base.config, extras.labels, base.tokenizer.eosId, base.tokenizerDir, dir);
    // LoRA's own weights beside the merged model, so that `--resume` continues the adapter exactly.
    if (strategy === 'lora' && !merge) savePeftAdapter(base.model, base.baseName, dir);
  } else if (strategy === 'lora' && !merge) savePeftAdapter(base.model, base.baseName, dir);
  else if (strategy === 'adapter') saveBottleneckAdapter(base.model, base.baseName, dir);
  else if (strategy === 'prompt') savePromptAdapter(base.model, { baseModel: base.baseName, tokenizerName: base.baseName, initText: extras.promptInit }, dir);
  else saveFullModel(base.model, base.config, base.tokenizerDir, dir);
  return fs.readdirSync(dir).sort();
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The model for a run: the base model, or for `--resume` the checkpoint's weights on top of it. */
async function modelForRun(config: TrainConfig, strategy: StrategyConfig, checkpoint: string | undefined, log: (m: string) => void): Promise<BaseModel> {
  const base = await loadBaseModel(config.model, strategy, config.seed, log);
  if (!checkpoint) return base;
  if (strategy.strategy === 'lora' && fs.existsSync(path.join(checkpoint, 'adapter_config.json'))) {
    base.model.loadLoraStateDict(loadPeftAdapter(checkpoint).weights);
    return base;
  }
  if (strategy.strategy === 'adapter') {
    loadAdapterStateDict(base.model, loadBottleneckAdapter(checkpoint).weights);
    return base;
  }
  if (strategy.strategy === 'prompt') {
    loadPromptEmbeddings(base.model, loadPromptAdapter(checkpoint).embeddings);
    return base;
  }
  // Full / partial checkpoints are complete models; the base stays the source of tokenizer files. A
  // classification checkpoint's score layer is read by the run itself (readClassificationFolder).
  const { weights } = loadModelFolder(checkpoint);
  weights.delete(`transformer.${SCORE_KEY}`);
  base.model.dispose();
  return { ...base, model: GPT2Model.fromWeights(base.config, weights, strategy, config.seed) };
}

/**
 * The data files exist and are regular files, checked before the run folder is touched or the model is
 * loaded: a FIFO, directory or device named as data is refused at once instead of hanging a read.
 */
async function checkDataFiles(config: TrainConfig): Promise<void> {
  for (const file of [config.data, config.evalData]) {
    if (file === undefined) continue;
    try {
      await assertRegularFile(file, 'dataset');
    } catch (err) {
      throw new DatasetError(err instanceof NotRegularFileError ? err.message : `cannot read dataset ${file}: ${(err as Error).message}`);
    }
  }
}

/** Runs one training run to its end; never throws: failures end in `error` + `done` with status `failed`. */
export async function train(config: TrainConfig, { writer, signal, configFile }: TrainOptions): Promise<DoneEvent> {
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const log = (message: string, level: 'info' | 'warning' = 'info') => writer.emit({ type: 'log', level, message });
  let base: BaseModel | undefined;
  let optimizer: AdamW | undefined;
  let lastCheckpoint: string | undefined;
  // Where the loop is; a checkpoint stores exactly this.
  const state: TrainerState = { step: 0, epoch: 0, nextBatch: 0, evalsWithoutGain: 0, lastEvalStep: -1, trainSeconds: 0 };
  const finish = (status: DoneStatus, extra: Partial<DoneEvent> = {}) =>
    writer.emit({
      type: 'done',
      status,
      step: state.step,
      elapsedSec: elapsed(),
      outputFiles: [],
      checkpoint: lastCheckpoint,
      finalLoss: state.lastLoss,
      bestEvalLoss: state.bestEvalLoss,
      ...extra,
    }) as DoneEvent;
  try {
    await checkDataFiles(config);
    // Before any work: a folder the run may not write, or a path it could not write at its end, is refused now.
    const paths = prepareRunFolder(config, { configFile });
    writer.open(paths.events);
    if (paths.startedOver && paths.startedOver.steps > 0)
      log(`${paths.dir} held a run of ${paths.startedOver.steps} step(s) that left no checkpoint or output; starting over`);
    let resumedFrom: number | undefined;
    let checkpointToLoad: string | undefined;
    if (config.resume) {
      const found = latestCheckpoint(paths, paths.id);
      if (found) {
        Object.assign(state, found.state);
        resumedFrom = found.state.step;
        checkpointToLoad = lastCheckpoint = found.dir;
      } else {
        // Killed before its first checkpoint: nothing to continue, so the run starts from the beginning.
        log(`--resume: ${paths.dir} has no checkpoint yet (checkpoints are written by --checkpoint-every and when a run is stopped); starting from step 0`);
      }
    }
    const { backend, device } = await initBackend(config.backend);
    const strategy = strategyOf(config);
    base = await modelForRun(config, strategy, checkpointToLoad, (m) => log(m));
    const { model, config: modelConfig, tokenizer } = base;
    let maxLength = config.maxLength ?? modelConfig.nPositions;
    if (maxLength > modelConfig.nPositions) {
      log(`--max-length ${maxLength} exceeds the model's context of ${modelConfig.nPositions} tokens; using ${modelConfig.nPositions}`, 'warning');
      maxLength = modelConfig.nPositions;
    }
    // Examples are cut to maxLength tokens; the model sees maxLength - 1 inputs, as HF's shift does.
    const dataOptions = {
      tokenizer,
      maxLength,
      trainOnPrompt: config.trainOnPrompt,
      skipInvalid: config.skipInvalid,
      classification: config.head === 'classification',
    };
    const trainData = await loadDataset(config.data, dataOptions);
    let trainExamples = trainData.examples;
    let evalExamples: TrainingExample[] = [];
    let skipped = trainData.skippedInvalid;
    if (config.evalData) {
      const evalData = await loadDataset(config.evalData, dataOptions);
      evalExamples = evalData.examples;
      skipped += evalData.skippedInvalid;
    } else if (config.evalFraction > 0) {
      ({ train: trainExamples, eval: evalExamples } = splitEval(trainExamples, config.evalFraction, config.seed));
      if (evalExamples.length === 0) log('the dataset is too small to hold out an eval split; training without evaluation', 'warning');
    }
    if (trainData.skippedInvalid > 0) log(`skipped ${trainData.skippedInvalid} invalid record(s) (--skip-invalid)`, 'warning');
    if (trainData.droppedEmpty > 0) log(`${trainData.droppedEmpty} record(s) have no target token within ${maxLength} tokens and were left out`, 'warning');
    if (trainData.truncated > 0) log(`${trainData.truncated} record(s) were truncated to ${maxLength} tokens`, 'warning');
    if (config.taskWeights) {
      const tasks = new Set(trainExamples.map((e) => e.task));
      const unknown = Object.keys(config.taskWeights).filter((t) => !tasks.has(t));
      if (unknown.length > 0) log(`--task-weights names task(s) not in the training data: ${unknown.join(', ')}`, 'warning');
    }
    if (trainExamples.length === 0) throw new DatasetError(`${config.data}: no record left to train on after holding out the eval split`);
    if (config.batchSize > trainExamples.length) {
      // A batch cannot hold more records than there are: capped before the memory estimate, which would
      // otherwise refuse the run for rows that never exist.
      log(`--batch-size ${config.batchSize} is more than the ${trainExamples.length} training record(s); using batches of ${trainExamples.length}`, 'warning');
      config = { ...config, batchSize: trainExamples.length };
    }
    let head: ClassificationHead | undefined;
    let labelMap: LabelMap | undefined;
    if (config.head === 'classification') {
      const saved = checkpointToLoad ? readClassificationFolder(checkpointToLoad) : null;
      labelMap = saved?.labels ?? labelMapping([...trainExamples, ...evalExamples].map((e) => e.labelText!));
      if (config.numLabels !== undefined && config.numLabels !== labelMap.labels.length) {
        throw new DatasetError(`--num-labels ${config.numLabels} but the data has ${labelMap.labels.length} distinct labels (${labelMap.labels.join(', ')})`);
      }
      if (labelMap.labels.length < 2)
        throw new DatasetError(`${config.data}: a classification head needs at least 2 distinct labels, found ${labelMap.labels.length}`);
      assignLabels(trainExamples, labelMap);
      assignLabels(evalExamples, labelMap);
      head = new ClassificationHead(modelConfig.nEmbd, labelMap.labels.length, config.seed * 1000 + 999, saved?.score);
    }
    if (strategy.strategy === 'prompt' && strategy.promptInit !== undefined && !checkpointToLoad) {
      initPromptFromTokens(model, promptInitTokenIds(tokenizer.encode(strategy.promptInit), strategy.virtualTokens));
    }
    const extras: OutputExtras = { head, labels: labelMap, promptInit: config.promptInit };

    const lengths = trainExamples.map((e) => e.inputIds.length);
    const batchesPerEpoch = Math.ceil(trainExamples.length / config.batchSize);
    const stepsPerEpoch = Math.ceil(batchesPerEpoch / config.gradAccum);
    const totalSteps = config.maxSteps ?? Math.max(1, Math.ceil(config.epochs * stepsPerEpoch));
    const count = (xs: TrainingExample[]) => xs.reduce((a, e) => a + e.inputIds.length, 0);
    writer.emit({
      type: 'start',
      config,
      backend,
      device,
      model: {
        vocabSize: modelConfig.vocabSize,
        nPositions: modelConfig.nPositions,
        nEmbd: modelConfig.nEmbd,
        nLayer: modelConfig.nLayer,
        nHead: modelConfig.nHead,
      },
      dataset: {
        train: trainExamples.length,
        eval: evalExamples.length,
        skipped,
        trainTokens: count(trainExamples),
        evalTokens: count(evalExamples),
        format: trainData.format,
      },
      stepsPerEpoch,
      totalSteps,
      ...(resumedFrom !== undefined ? { resumedFrom } : {}),
    });
    if (resumedFrom !== undefined) log(`continuing from the checkpoint of step ${resumedFrom} (${lastCheckpoint})`);
    const headKind = head ? { kind: 'classification' as const, numLabels: head.numLabels } : 'lm';
    const p = parameterBreakdown(modelConfig, strategy, headKind);
    const row = (name: string) => p.groups.find((g) => g.name === name) ?? { total: 0, trainable: 0 };
    const edge = (name: string) => ({ name, frozen: row(name).total - row(name).trainable, trainable: row(name).trainable, added: 0 });
    const perLayer = [
      edge('embeddings'),
      ...p.perLayer.map((l) => ({ name: `h.${l.layer}`, frozen: l.total - l.trainable, trainable: l.trainable, added: l.lora })),
      edge('ln_f'),
    ];
    writer.emit({
      type: 'params',
      total: p.total,
      trainable: p.trainable,
      frozen: p.frozen,
      ratio: p.ratio,
      line: p.line,
      chapterLine: p.chapterLine,
      groups: p.groups,
      perLayer,
    });
    const estimate = memoryEstimate(
      modelConfig,
      strategy,
      config.batchSize,
      lengths.reduce((a, b) => Math.max(a, b), 0),
      headKind,
    );
    writer.emit({ type: 'memory', ...estimate });
    // wasm's heap stops at 4 GiB: refuse a run that cannot fit before it aborts halfway through a step.
    const fits = checkMemoryFits(estimate, backend);
    if (!fits.ok) throw new WasmOutOfMemoryError(fits.message);

    optimizer = new AdamW([...model.trainableVariables(), ...(head?.trainableVariables() ?? [])], { weightDecay: config.weightDecay });
    if (checkpointToLoad) {
      optimizer.loadState(readOptimizerState(checkpointToLoad), state.step);
      model.dropoutCounter = state.dropoutCounter ?? 0;
    }
    const opt = optimizer;
    const padId = tokenizer.eosId;
    const runEval = async (epoch: number): Promise<boolean> => {
      if (evalExamples.length === 0 || state.lastEvalStep === state.step) return false;
      state.lastEvalStep = state.step;
      let r: EvalResult & { accuracy?: number; perClass?: Record<string, { correct: number; total: number }> };
      if (head && labelMap) r = await evaluateClassificationAsync(model, head, evalExamples, labelMap.labels, config.batchSize, padId);
      else r = await evaluateAsync(model, evalExamples, config.batchSize, padId);
      writer.emit({
        type: 'eval',
        step: state.step,
        epoch,
        loss: r.loss,
        taskLosses: r.taskLosses,
        tokens: r.tokens,
        examples: r.examples,
        ...(r.accuracy !== undefined ? { accuracy: r.accuracy, perClass: r.perClass } : {}),
      });
      if (state.bestEvalLoss === undefined || r.loss < state.bestEvalLoss - config.minDelta) {
        state.bestEvalLoss = r.loss;
        state.evalsWithoutGain = 0;
        // The best model by eval loss is kept as a checkpoint whenever checkpoints or early stopping are on.
        if (config.checkpointEvery > 0 || config.earlyStoppingPatience > 0) {
          state.bestStep = state.step;
          await saveCheckpoint();
        }
      } else {
        state.evalsWithoutGain++;
      }
      return config.earlyStoppingPatience > 0 && state.evalsWithoutGain >= config.earlyStoppingPatience;
    };
    async function saveCheckpoint() {
      if (lastCheckpoint === checkpointDir(paths, state.step)) return;
      const dir = checkpointDir(paths, state.step);
      // The dropout masks drawn so far: a resumed run draws the same masks as an uninterrupted one.
      state.dropoutCounter = model.dropoutCounter;
      await cacheOnCpu(savedTensors(model, opt, head));
      // Written into a temporary folder and renamed: a killed run never leaves a half-written step-N.
      writeCheckpoint(paths, state.step, (tmp) => {
        saveOutput(base!, config.strategy, false, tmp, extras);
        writeCheckpointState(tmp, state, opt.exportState(), paths.id);
      });
      lastCheckpoint = dir;
      writer.emit({ type: 'checkpoint', step: state.step, path: dir });
      pruneCheckpoints(paths, config.keepCheckpoints ?? TRAIN_DEFAULTS.keepCheckpoints, state.bestStep);
    }

    let status: DoneStatus = 'completed';
    const stepsAtStart = state.step;
    const secondsAtStart = state.trainSeconds;
    outer: while (state.step < totalSteps) {
      const sampling = config.taskSampling ?? TRAIN_DEFAULTS.taskSampling;
      const batches =
        sampling !== 'proportional' && trainExamples.some((e) => e.task !== undefined)
          ? taskSampledBatches(
              trainExamples.map((e) => e.task),
              config.batchSize,
              { mode: sampling, temperature: config.samplingTemperature ?? TRAIN_DEFAULTS.samplingTemperature, seed: config.seed, epoch: state.epoch },
            )
          : epochBatches(lengths, config.batchSize, { shuffle: !config.noShuffle, seed: config.seed, epoch: state.epoch });
      while (state.nextBatch < batches.length && state.step < totalSteps) {
        await yieldToEventLoop();
        if (signal?.aborted) {
          status = 'stopped';
          break outer;
        }
        const i = state.nextBatch;
        const group = batches.slice(i, i + config.gradAccum).map((idx) =>
          padBatch(
            idx.map((j) => trainExamples[j]),
            padId,
          ),
        );
        const lr = learningRateAt(state.step + 1, { schedule: config.schedule, lr: config.lr, warmupSteps: config.warmupSteps, totalSteps });
        const t0 = performance.now();
        let r: StepResult;
        try {
          r = await optimizerStepAsync(model, opt, group, lr, config.gradClip, config.taskWeights, head);
        } catch (err) {
          if (!(err instanceof NonFiniteLossError)) throw explainWasmAbort(err, estimate);
          const message = `${err.message} at step ${state.step + 1}; the run stopped. Try a lower --lr (now ${config.lr}), a --grad-clip, or check the data.`;
          writer.emit({ type: 'error', message });
          return finish('failed', { message });
        }
        const seconds = (performance.now() - t0) / 1000;
        state.trainSeconds += seconds;
        state.step++;
        state.nextBatch = i + group.length;
        state.lastLoss = r.loss;
        const epochEnd = state.nextBatch >= batches.length;
        const epoch = state.epoch + state.nextBatch / batches.length;
        const secondsPerStep = (state.trainSeconds - secondsAtStart) / (state.step - stepsAtStart);
        const event: Omit<StepEvent, 'time'> = {
          type: 'step',
          step: state.step,
          epoch,
          loss: r.loss,
          lr,
          gradNorm: r.gradNorm,
          tokens: r.tokens,
          lossTokens: r.lossTokens,
          tokensPerSec: seconds > 0 ? r.tokens / seconds : 0,
          elapsedSec: elapsed(),
          etaSec: secondsPerStep * (totalSteps - state.step),
        };
        if (r.taskLosses) event.taskLosses = r.taskLosses;
        writer.emit(event);
        if (epochEnd) {
          state.epoch++;
          state.nextBatch = 0;
        }
        if ((config.evalEvery > 0 && state.step % config.evalEvery === 0) || epochEnd || state.step === totalSteps) {
          if (await runEval(epoch)) {
            log(`eval loss did not improve by ${config.minDelta} for ${config.earlyStoppingPatience} evaluation(s); stopping early`);
            status = 'early-stopped';
            break outer;
          }
        }
        if (config.checkpointEvery > 0 && state.step % config.checkpointEvery === 0 && state.step < totalSteps) await saveCheckpoint();
        // The next epoch has its own batch order.
        if (epochEnd) break;
      }
    }
    // Stopped before its first step: nothing was trained, so nothing is written.
    if (state.step === 0) return finish(status, { message: 'stopped before the first step' });
    // A stopped run keeps a checkpoint so that `--resume` can continue it.
    if (status === 'stopped') await saveCheckpoint();
    await cacheOnCpu(savedTensors(model, opt, head));
    const best = state.bestStep !== undefined ? checkpointDir(paths, state.bestStep) : undefined;
    let outputFiles: string[];
    if (status === 'early-stopped' && best && fs.existsSync(best) && state.bestStep !== state.step) {
      // Early stopping keeps the best model by eval loss, not the last one.
      log(`output: the best checkpoint by eval loss (step ${state.bestStep}, loss ${state.bestEvalLoss})`);
      if (config.strategy === 'lora' && config.merge && !head) {
        model.loadLoraStateDict(loadPeftAdapter(best).weights);
        outputFiles = writeOutput(paths, (tmp) => saveOutput(base!, config.strategy, config.merge, tmp, extras));
      } else {
        outputFiles = copyCheckpointOutput(best, paths);
      }
    } else {
      // Into a temporary folder, then renamed over output/: a failed save leaves the last good output.
      outputFiles = writeOutput(paths, (tmp) => saveOutput(base!, config.strategy, config.merge, tmp, extras));
    }
    return finish(status, { outputDir: paths.output, outputFiles, message: status === 'stopped' ? `stopped at step ${state.step}` : undefined });
  } catch (err) {
    const e = err as Error;
    // A user's error (bad dataset, flag, file or path) is its message alone; a bug keeps its stack.
    writer.emit({ type: 'error', ...errorEventFields(err) });
    return finish('failed', { message: e.message });
  } finally {
    optimizer?.dispose();
    base?.model.dispose();
    writer.close();
  }
}

/**
 * `finetune train` and the child process share this: settings from argv (`--config` merged, flags win),
 * events as JSON lines on `out` and in events.jsonl. Throws TrainConfigError for bad settings (before
 * any event); otherwise resolves with the `done` event.
 */
export async function trainFromArgs(args: string[], out: NodeJS.WritableStream, signal?: AbortSignal): Promise<DoneEvent> {
  const config = parseTrainArgs(args);
  const { config: configFile } = parseTrainFlags(args);
  const writer = new EventWriter();
  writer.onEvent(lineWriter(out));
  return train(config, { writer, signal, configFile });
}
