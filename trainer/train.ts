// The training loop: data -> micro-batches -> AdamW steps (step.ts), with evaluation (evaluate.ts and
// the classification head's), checkpoints, stop, and the event stream of protocol/trainer.ts. The model
// comes from loadModel.ts and is written by output.ts. The CLI (`finetune train`) and the child process
// both run this.
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { effectiveMaxLength, TRAIN_DEFAULTS } from '../protocol/options';
import type { DoneEvent, DoneStatus, StepEvent, TrainConfig } from '../protocol/trainer';
import { assertRegularFile, NotRegularFileError } from '../language/regularFile';
import { copyCheckpointOutput, pruneCheckpoints } from './checkpoints';
import { initBackend } from './compute/backend';
import {
  DatasetError,
  epochBatches,
  loadDataset,
  MAX_LISTED_LINES,
  padBatch,
  preparationSummary,
  runLoadOptions,
  splitEval,
  type TrainingExample,
} from './data';
import { evaluate, type EvalResult } from './evaluate';
import { assignLabels, ClassificationHead, evaluateClassification, labelMapping, readClassificationFolder, type LabelMap } from './heads/classification';
import { modelForRun, type BaseModel } from './loadModel';
import { modelDims } from './models/registry';
import { EtaEstimator, paddedTokens } from './eta';
import { checkMemoryFits, explainWasmAbort, WasmOutOfMemoryError } from './memoryGuard';
import { AdamW } from './optimizer';
import { saveOutput, type OutputOptions } from './output';
import { layerRows, memoryEstimate, parameterBreakdown } from './params';
import { checkpointDir, EventWriter, latestCheckpoint, lineWriter, readOptimizerState, writeCheckpointState, type TrainerState } from './runFolder';
import { parseTrainArgs, parseTrainFlags } from './runConfig';
import { prepareRunFolder, writeCheckpoint, writeOutput } from './runOwnership';
import { learningRateAt } from './schedule';
import { NonFiniteLossError, optimizerStep, type StepResult } from './step';
import { readAdapter, strategyOf } from './strategies';
import type { TunedModel } from './strategies/tunedModel';
import { taskSampledBatches } from './taskSampling';
import { errorEventFields } from './userErrors';

export interface TrainOptions {
  writer: EventWriter;
  /** Aborting stops the run cleanly after the current step: output saved, `done` with status `stopped`. */
  signal?: AbortSignal;
  /** The `--config` file the settings came from: it may not lie where the run writes (trainer/runOwnership.ts). */
  configFile?: string;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

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
function savedTensors(model: TunedModel, optimizer?: AdamW, head?: ClassificationHead): tf.Tensor[] {
  return [
    ...model.namedParameters().map(([, v]) => v),
    ...model.trainableVariables().map((v) => v.variable),
    ...(head?.trainableVariables().map((v) => v.variable) ?? []),
    ...(optimizer?.stateTensors() ?? []),
  ];
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
    const { backend, device, fallback: backendNote } = await initBackend(config.backend);
    if (backendNote) log(backendNote, 'warning');
    const strategy = strategyOf(config);
    base = await modelForRun(config.model, strategy, config.seed, checkpointToLoad, (m) => log(m));
    const { model, config: modelConfig, tokenizer } = base;
    model.base.gradientCheckpointing = config.gradientCheckpointing === true;
    const dims = modelDims(modelConfig);
    const maxLength = effectiveMaxLength(config.maxLength, dims.maxPositions);
    if (config.maxLength !== undefined && config.maxLength > dims.maxPositions) {
      log(`--max-length ${config.maxLength} exceeds the model's context of ${dims.maxPositions} tokens; using ${dims.maxPositions}`, 'warning');
    }
    // Examples are cut to maxLength tokens; the model sees maxLength - 1 inputs, as HF's shift does.
    const dataOptions = runLoadOptions(config, tokenizer, maxLength);
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
    if (trainData.droppedEmpty > 0)
      log(
        `${trainData.droppedEmpty} record(s) have no trained token within ${maxLength} tokens and were left out (line${trainData.droppedLines.length === 1 ? '' : 's'} ${trainData.droppedLines
          .slice(0, MAX_LISTED_LINES)
          .map((l) => l + 1)
          .join(', ')}${trainData.droppedLines.length > MAX_LISTED_LINES ? ', …' : ''})`,
        'warning',
      );
    if (trainData.truncated > 0)
      log(
        `${trainData.truncated} record(s) were truncated to ${maxLength} tokens${trainData.targetTruncated > 0 ? ` (${trainData.targetTruncated} of them lose trained tokens)` : ''}`,
        'warning',
      );
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
      head = new ClassificationHead(dims.hiddenSize, labelMap.labels.length, config.seed * 1000 + 999, saved?.score, tokenizer.eosId);
    }
    // A fresh run's initialisation that needs the tokenizer (prompt tuning's text init); a resumed run has its weights.
    if (!checkpointToLoad) model.initialise({ encode: (text) => tokenizer.encode(text) });
    const outputOptions = (merge: boolean): OutputOptions => ({ merge, head, labels: labelMap });

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
      ...(backendNote ? { backendNote } : {}),
      model: {
        vocabSize: dims.vocabSize,
        nPositions: dims.maxPositions,
        nEmbd: dims.hiddenSize,
        nLayer: dims.numLayers,
        nHead: dims.numHeads,
      },
      dataset: {
        train: trainExamples.length,
        eval: evalExamples.length,
        skipped,
        trainTokens: count(trainExamples),
        evalTokens: count(evalExamples),
        format: trainData.format,
        ...preparationSummary(trainData, trainExamples),
      },
      stepsPerEpoch,
      totalSteps,
      ...(resumedFrom !== undefined ? { resumedFrom } : {}),
    });
    if (resumedFrom !== undefined) log(`continuing from the checkpoint of step ${resumedFrom} (${lastCheckpoint})`);
    const headKind = head ? { kind: 'classification' as const, numLabels: head.numLabels } : 'lm';
    const p = parameterBreakdown(modelConfig, model.strategy, headKind);
    const perLayer = layerRows(modelConfig, p);
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
      model.strategy,
      config.batchSize,
      lengths.reduce((a, b) => Math.max(a, b), 0),
      headKind,
      config.gradientCheckpointing === true,
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
      if (head && labelMap)
        r = await evaluateClassification({ model, head, examples: evalExamples, labels: labelMap.labels, batchSize: config.batchSize, padId });
      else r = await evaluate(model, evalExamples, { batchSize: config.batchSize, padId });
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
        saveOutput(base!, tmp, outputOptions(false));
        writeCheckpointState(tmp, state, opt.exportState(), paths.id);
      });
      lastCheckpoint = dir;
      writer.emit({ type: 'checkpoint', step: state.step, path: dir });
      pruneCheckpoints(paths, config.keepCheckpoints ?? TRAIN_DEFAULTS.keepCheckpoints, state.bestStep);
    }

    let status: DoneStatus = 'completed';
    const eta = new EtaEstimator();
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
      // Each step's padded tokens in this epoch's order, for the ETA; later epochs at this epoch's mean.
      const stepCosts: number[] = [];
      for (let i = 0; i < batches.length; i += config.gradAccum) stepCosts.push(paddedTokens(batches.slice(i, i + config.gradAccum), lengths));
      const meanStepCost = stepCosts.reduce((a, c) => a + c, 0) / Math.max(1, stepCosts.length);
      const remainingCost = (nextBatch: number, stepsLeft: number) => {
        const inEpoch = stepCosts.slice(Math.ceil(nextBatch / config.gradAccum), Math.ceil(nextBatch / config.gradAccum) + stepsLeft);
        return inEpoch.reduce((a, c) => a + c, 0) + (stepsLeft - inEpoch.length) * meanStepCost;
      };
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
          r = await optimizerStep({ model, optimizer: opt, microBatches: group, lr, gradClip: config.gradClip, taskWeights: config.taskWeights, head });
        } catch (err) {
          if (!(err instanceof NonFiniteLossError)) throw explainWasmAbort(err, estimate);
          const message = `${err.message} at step ${state.step + 1}; the run stopped. Try a lower --lr (now ${config.lr}), a --grad-clip, or check the data.`;
          writer.emit({ type: 'error', message });
          return finish('failed', { message });
        }
        const seconds = (performance.now() - t0) / 1000;
        eta.record(stepCosts[Math.floor(i / config.gradAccum)] ?? meanStepCost, seconds);
        state.trainSeconds += seconds;
        state.step++;
        state.nextBatch = i + group.length;
        state.lastLoss = r.loss;
        const epochEnd = state.nextBatch >= batches.length;
        const epoch = state.epoch + state.nextBatch / batches.length;
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
          etaSec: eta.etaSec(remainingCost(state.nextBatch, totalSteps - state.step), totalSteps - state.step) ?? 0,
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
      if (config.merge && model.impl.mergeable && !head) {
        // The best checkpoint holds the adapter unmerged: load it back, then merge it into the output.
        model.loadAdapterState(readAdapter(best, model.impl).weights);
        outputFiles = writeOutput(paths, (tmp) => saveOutput(base!, tmp, outputOptions(config.merge)));
      } else {
        outputFiles = copyCheckpointOutput(best, paths);
      }
    } else {
      // Into a temporary folder, then renamed over output/: a failed save leaves the last good output.
      outputFiles = writeOutput(paths, (tmp) => saveOutput(base!, tmp, outputOptions(config.merge)));
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
