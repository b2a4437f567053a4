// "Fine-tune…": checks the dataset, asks for the base model, the strategy and its options, the head
// (classification datasets), epochs, learning rate, batch size and task weights (each prefilled, so
// Enter all the way gives a sensible run that needs no download), writes run.json into a new run folder
// and starts it. "Resume Run" continues a stopped or failed run from its last checkpoint. The choices
// themselves are made in fineTuneChoices.ts.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { HeadKind, TrainConfig } from '../../protocol/trainer';
import { readConfigFile } from '../../trainer/runConfig';
import type { SurveyedModel, SurveyRequest, SurveyResult } from '../../protocol/params';
import {
  canResume,
  chatTemplateChoices,
  checkRepoId,
  checkSetting,
  configForRerun,
  configFromChoices,
  defaultPromptInit,
  fitText,
  headChoices,
  modelChatTemplate,
  modelChoices,
  modelFolderInfo,
  scanCachedModels,
  withSurvey,
  parseTaskWeights,
  resumeConfig,
  runDefaults,
  strategyChoices,
  taskSamplingChoices,
  taskWeightsText,
  writeRunJson,
  type FineTuneChoices,
  type ModelChoice,
} from './fineTuneChoices';
import { isRunJsonName } from '../../trainer/runFolder';
import { language } from '../languageLoader';
import { runIdFor, summarizeRunFolder, uniqueRunDir } from './runFolders';
import type { RunManager } from './runManager';
import type { DatasetSettings } from '../settings';
import { benchArgs, chooseThroughput, estimateText, lastComparableRun, ThroughputCache, type RunMatch, type ThroughputKey } from './timeEstimate';
import type { TrainerQueries } from './trainerQueries';

export interface FineTuneDeps {
  manager: RunManager;
  settings: DatasetSettings;
  runsDirectory(): string;
  log: vscode.LogOutputChannel;
  /** The trainer's answers (survey, bench) from a child process; without them the flow asks no estimate. */
  queries?: TrainerQueries;
  /** The file of this machine's throughput measurements (in the extension's global storage). */
  throughputCacheFile?: string;
}

export const UNTRUSTED_MESSAGE =
  'Fine-tuning runs the trainer and may download models, so it needs a trusted workspace. Dataset validation and previews keep working.';

/** True when training may start; otherwise explains and offers the trust editor. */
export function requireTrust(): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window.showWarningMessage(UNTRUSTED_MESSAGE, 'Manage Workspace Trust').then((pick) => {
    if (pick === 'Manage Workspace Trust') void vscode.commands.executeCommand('workbench.trust.manage');
  });
  return false;
}

/** What the flow asks from: the dataset's format, and its tasks and labels, from the one validation read. */
interface DatasetFacts {
  format: string | undefined;
  tasks: string[];
  labels: string[];
}

/** Validates with the language library; undefined (after saying why) when the dataset has errors, else its facts. */
async function checkDataset(uri: vscode.Uri, deps: FineTuneDeps): Promise<DatasetFacts | undefined> {
  const name = path.basename(uri.fsPath);
  let result: Awaited<ReturnType<ReturnType<typeof language>['validateFile']>>;
  try {
    result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Checking ${name}` }, () =>
      language().validateFile(uri.fsPath, { ...deps.settings.validationOptions(), maxDiagnostics: 1 }),
    );
  } catch (err) {
    void vscode.window.showErrorMessage(`Fine-tune: cannot read ${name}: ${(err as Error).message}`);
    return undefined;
  }
  if (result.errors > 0) {
    const pick = await vscode.window.showErrorMessage(
      `${result.errors} error${result.errors === 1 ? '' : 's'} in ${name}: fix them before training.`,
      'Open Problems',
    );
    if (pick === 'Open Problems') {
      // Opening the file runs the live diagnostics, which fill Problems.
      await vscode.window.showTextDocument(uri, { preview: false });
      await vscode.commands.executeCommand('workbench.actions.view.problems');
    }
    return undefined;
  }
  if (result.records === 0) {
    void vscode.window.showErrorMessage(`${name} has no records to train on.`);
    return undefined;
  }
  return { format: result.format, tasks: result.tasks, labels: result.labels };
}

interface Step {
  title: string;
}

async function pick<T extends vscode.QuickPickItem>(items: T[], step: Step, placeHolder: string): Promise<T | undefined> {
  return vscode.window.showQuickPick(items, { title: step.title, placeHolder, ignoreFocusOut: true, matchOnDescription: true });
}

async function input(step: Step, prompt: string, value: string, validate: (v: string) => string | undefined): Promise<string | undefined> {
  return vscode.window.showInputBox({ title: step.title, prompt, value, ignoreFocusOut: true, validateInput: validate });
}

/** The survey's request for these model items at the flow's defaults (runDefaults: each model's own batch and length). */
function surveyRequestFor(items: readonly ModelChoice[]): SurveyRequest | undefined {
  const models = items
    .filter((c) => c.model !== undefined && (c.kind === 'cached' || c.kind === 'preset' || c.kind === 'browse'))
    .map((c) => {
      const d = runDefaults(c, 'lora');
      return { model: c.model!, batchSize: d.batchSize, maxLength: d.maxLength };
    });
  return models.length ? { models } : undefined;
}

/** The survey's answer, or undefined (logged) when the trainer cannot be asked: the flow goes on without estimates. */
async function trySurvey(deps: FineTuneDeps, request: SurveyRequest | undefined, title: string): Promise<SurveyResult | undefined> {
  if (!deps.queries || !request) return undefined;
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, () => deps.queries!.survey(request));
  } catch (err) {
    deps.log.warn(`Fine-tune: no memory estimate (${(err as Error).message})`);
    return undefined;
  }
}

interface PickedModel {
  model: ModelChoice;
  /** The survey's answer for it, when the trainer gave one. */
  surveyed?: SurveyedModel;
  backend?: string;
}

function surveyedOf(result: SurveyResult | undefined, model: string | undefined): SurveyedModel | undefined {
  const found = result?.models.find((m) => m.model === model);
  return found && !('error' in found) ? found : undefined;
}

async function chooseModel(step: Step, deps: FineTuneDeps): Promise<PickedModel | undefined> {
  const { models, unsupported } = scanCachedModels();
  const items = modelChoices(models, unsupported);
  const survey = await trySurvey(deps, surveyRequestFor(items), 'Estimating the memory of each model');
  const choices = withSurvey(items, survey);
  const picked = await pick(
    choices.map((c) => ({ label: c.label, description: c.description, detail: c.detail, choice: c })),
    step,
    'Base model (Enter: the first, which needs no download)',
  );
  if (!picked) return undefined;
  const choice = picked.choice;
  if (choice.kind === 'unsupported') {
    void vscode.window.showErrorMessage(`${choice.label} cannot be fine-tuned here: ${choice.detail ?? 'unsupported architecture'}`);
    return undefined;
  }
  if (choice.kind === 'browse') {
    const folder = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      openLabel: 'Use This Model',
      title: 'A model folder with config.json and safetensors weights',
    });
    if (!folder?.[0]) return undefined;
    const dir = folder[0].fsPath;
    const info = modelFolderInfo(dir);
    if (!info) {
      void vscode.window.showErrorMessage(
        `${dir} is not a model folder (it needs config.json and model.safetensors, or model.safetensors.index.json and its shards).`,
      );
      return undefined;
    }
    if ('unsupported' in info) {
      void vscode.window.showErrorMessage(`${dir} cannot be fine-tuned here: ${info.unsupported}`);
      return undefined;
    }
    const model: ModelChoice = { kind: 'browse', label: path.basename(dir), model: dir, nLayer: info.nLayer, parameters: info.parameters };
    const surveyedFolder = await trySurvey(deps, surveyRequestFor([model]), `Estimating the memory of ${path.basename(dir)}`);
    return { model, surveyed: surveyedOf(surveyedFolder, dir), backend: surveyedFolder?.backend };
  }
  if (choice.kind === 'hub') {
    const id = await input(step, 'Hugging Face model id (downloaded into the Hugging Face cache when the run starts)', '', checkRepoId);
    if (!id) return undefined;
    return { model: { kind: 'hub', label: id.trim(), model: id.trim() } };
  }
  return { model: choice, surveyed: surveyedOf(survey, choice.model), backend: survey?.backend };
}

/**
 * The template chat records are rendered with (`--chat-template`): undefined for the model's own (or the
 * plain format when it has none), `chatml`, or a file the user picks; null when the user cancels.
 */
async function chooseChatTemplate(step: Step, model: string): Promise<string | undefined | null> {
  const picked = await pick(
    chatTemplateChoices(modelChatTemplate(model)).map((c) => ({ label: c.label, description: c.description, value: c.value })),
    step,
    'How conversations are turned into the text the model sees',
  );
  if (!picked) return null;
  if (picked.value !== 'file') return picked.value;
  const files = await vscode.window.showOpenDialog({
    title: 'Chat template',
    openLabel: 'Use Template',
    canSelectMany: false,
    filters: { 'Chat templates': ['jinja', 'json'] },
  });
  return files?.[0]?.fsPath ?? null;
}

/** Asks everything; undefined when the user cancels (Escape) at any step. */
async function askChoices(
  uri: vscode.Uri,
  { format, tasks, labels }: DatasetFacts,
  deps: FineTuneDeps,
): Promise<{ choices: FineTuneChoices; picked: PickedModel; pending: PendingSurvey } | undefined> {
  const name = path.basename(uri.fsPath);
  const heads = headChoices(format, labels);
  const samplings = tasks.length > 1 ? taskSamplingChoices() : [];
  const chat = format === 'chat';
  const total = 5 + (heads.length ? 1 : 0) + (chat ? 1 : 0) + (tasks.length ? 1 : 0) + (samplings.length ? 1 : 0);
  let n = 0;
  const step = (what: string): Step => ({ title: `Fine-tune ${name} (${++n}/${total}): ${what}` });

  const picked = await chooseModel(step('Base Model'), deps);
  const model = picked?.model;
  if (!picked || !model?.model) return undefined;
  let head: HeadKind = 'lm';
  if (heads.length) {
    const picked = await pick(
      heads.map((h) => ({ label: h.label, description: h.description, value: h.head })),
      step('Head'),
      `What the model outputs for the ${labels.length} labels`,
    );
    if (!picked) return undefined;
    head = picked.value;
  }
  // Chat records: the template decides every token, so it is asked before anything that counts them.
  let chatTemplate: string | undefined;
  if (chat) {
    const template = await chooseChatTemplate(step('Chat Template'), model.model);
    if (template === null) return undefined;
    chatTemplate = template;
  }
  // Each strategy says whether it fits in memory at the defaults, where the trainer could tell.
  const fitOf = (strategy: string) =>
    fitText(
      picked.surveyed?.strategies.find((f) => f.strategy === strategy),
      picked.backend ?? '',
    );
  const strategyPick = await pick(
    strategyChoices(model, head).map((s) => ({ ...s, detail: fitOf(s.strategy), value: s.strategy })),
    step('Strategy'),
    'Training strategy',
  );
  if (!strategyPick) return undefined;
  const strategy = strategyPick.value;
  const d = runDefaults(model, strategy);
  const choices: FineTuneChoices = {
    data: uri.fsPath,
    model: model.model,
    strategy,
    epochs: d.epochs,
    lr: d.lr,
    batchSize: d.batchSize,
    maxLength: d.maxLength,
  };
  if (head === 'classification') Object.assign(choices, { head, numLabels: labels.length });
  if (chatTemplate !== undefined) choices.chatTemplate = chatTemplate;

  if (strategy === 'partial') {
    const layers = model.nLayer;
    const v = await input(
      { title: `Fine-tune ${name}: partial` },
      `Freeze how many of the ${layers ?? ''} transformer layers (from the bottom)?`.replace('  ', ' '),
      String(d.freezeLayers),
      (t) => checkSetting('freezeLayers', t, 'Frozen layers', layers),
    );
    if (v === undefined) return undefined;
    choices.freezeLayers = Number(v);
  } else if (strategy === 'lora') {
    const r = await input({ title: `Fine-tune ${name}: LoRA rank` }, 'LoRA rank r', String(d.loraR), (t) => checkSetting('loraR', t, 'r'));
    if (r === undefined) return undefined;
    const alpha = await input({ title: `Fine-tune ${name}: LoRA alpha` }, 'LoRA alpha (the update is scaled by alpha / r)', r, (t) =>
      checkSetting('loraAlpha', t, 'alpha'),
    );
    if (alpha === undefined) return undefined;
    const targets = await pick(
      [
        {
          label: 'default',
          description: "the family's own, as PEFT picks them: GPT-2's attention projection c_attn, Llama's q_proj and v_proj (as in the LoRA paper)",
          value: 'default' as string[] | 'all-linear' | 'default',
        },
        { label: 'all-linear', description: 'every linear layer of the blocks (more parameters, often better)', value: 'all-linear' as const },
      ],
      { title: `Fine-tune ${name}: LoRA targets` },
      'Modules that get adapters',
    );
    if (!targets) return undefined;
    Object.assign(choices, { loraR: Number(r), loraAlpha: Number(alpha), loraTargets: targets.value });
  } else if (strategy === 'adapter') {
    const dim = await input({ title: `Fine-tune ${name}: adapter` }, "Adapter bottleneck dimension (the down-projection's width)", String(d.adapterDim), (t) =>
      checkSetting('adapterDim', t, 'Adapter dimension'),
    );
    if (dim === undefined) return undefined;
    choices.adapterDim = Number(dim);
  } else if (strategy === 'prompt') {
    const n = await input(
      { title: `Fine-tune ${name}: prompt tuning` },
      'Virtual tokens (learnt embeddings put in front of every example)',
      String(d.virtualTokens),
      (t) => checkSetting('virtualTokens', t, 'Virtual tokens'),
    );
    if (n === undefined) return undefined;
    const init = await input(
      { title: `Fine-tune ${name}: prompt tuning` },
      'Initialise the virtual tokens from this text (empty: random initialisation)',
      defaultPromptInit(format, labels),
      () => undefined,
    );
    if (init === undefined) return undefined;
    Object.assign(choices, { virtualTokens: Number(n), promptInit: init });
  }

  // The run's estimate is asked now, while the last questions are answered (the batch size, if changed, asks again).
  const pending = startRunSurvey({ ...choices }, deps);
  const epochs = await input(step('Epochs'), 'Epochs (passes over the training data)', String(d.epochs), (t) => checkSetting('epochs', t, 'Epochs'));
  if (epochs === undefined) return undefined;
  const lr = await input(
    step('Learning Rate'),
    `Peak learning rate (linear decay)${model.tiny ? '; tiny has random weights and wants a large one' : ''}`,
    String(d.lr),
    (t) => checkSetting('lr', t, 'Learning rate'),
  );
  if (lr === undefined) return undefined;
  const batch = await input(step('Batch Size'), `Examples per step (examples are cut to ${d.maxLength} tokens)`, String(d.batchSize), (t) =>
    checkSetting('batchSize', t, 'Batch size'),
  );
  if (batch === undefined) return undefined;
  Object.assign(choices, { epochs: Number(epochs), lr: Number(lr), batchSize: Number(batch) });

  if (tasks.length) {
    const w = await input(
      step('Task Weights'),
      `Loss weight α per task (${tasks.join(', ')}); 0 leaves a task out of the loss`,
      taskWeightsText(tasks),
      (t) => parseTaskWeights(t).error,
    );
    if (w === undefined) return undefined;
    choices.taskWeights = parseTaskWeights(w).weights;
  }
  if (samplings.length) {
    const sampling = await pick(
      samplings.map((s) => ({ label: s.label, description: s.description, value: s.value })),
      step('Task Sampling'),
      'How batches draw examples from the tasks',
    );
    if (!sampling) return undefined;
    choices.taskSampling = sampling.value;
    if (sampling.value === 'temperature') {
      const t = await input(
        { title: `Fine-tune ${name}: temperature sampling` },
        'Temperature T: each task is drawn in proportion to its size^(1/T) (1 = proportional, large = uniform)',
        String(d.samplingTemperature),
        (v) => checkSetting('samplingTemperature', v, 'T'),
      );
      if (t === undefined) return undefined;
      choices.samplingTemperature = Number(t);
    }
  }
  return { choices, picked, pending };
}

/** What the confirmation shows: the memory estimate of the run as chosen, and the time estimate or why there is none. */
interface RunEstimate {
  memory?: string;
  /** The estimate's words (timeEstimate.ts estimateText). */
  time?: string;
  /** Why no time is estimated, when none is. */
  unknown?: string;
  /** Present when a measurement could give the estimate. */
  measure?: { key: ThroughputKey; shapeArgs: string[]; seq: number };
}

/** The survey of a run as chosen: everything but the epochs, which only multiply the time. */
function runSurveyRequest(choices: FineTuneChoices): SurveyRequest {
  const { data, model, strategy, batchSize, maxLength } = choices;
  // The strategy's own settings change what trains and is added, the chat template which tokens there
  // are; the task weights and sampling do not.
  const keys = ['freezeLayers', 'loraR', 'loraAlpha', 'loraTargets', 'adapterDim', 'virtualTokens', 'chatTemplate'] as const;
  const settings = Object.fromEntries(keys.filter((k) => choices[k] !== undefined).map((k) => [k, choices[k]])) as Partial<TrainConfig>;
  return { models: [{ model, batchSize, maxLength, settings }], strategies: [strategy], data };
}

/** A survey started ahead, while the user answers the last questions; reused when they leave its settings as they were. */
interface PendingSurvey {
  request: string;
  result: Promise<SurveyResult | undefined>;
}

function startRunSurvey(choices: FineTuneChoices, deps: FineTuneDeps): PendingSurvey {
  const request = runSurveyRequest(choices);
  return { request: JSON.stringify(request), result: trySurvey(deps, request, `Estimating the run on ${path.basename(choices.data)}`) };
}

async function estimateRun(choices: FineTuneChoices, deps: FineTuneDeps, pending?: PendingSurvey): Promise<RunEstimate> {
  const { model, strategy, batchSize, epochs } = choices;
  const survey = pending && pending.request === JSON.stringify(runSurveyRequest(choices)) ? await pending.result : await startRunSurvey(choices, deps).result;
  const surveyed = surveyedOf(survey, model);
  if (!survey || !surveyed) {
    const failed = survey?.models.find((m) => m.model === model);
    return { unknown: `the trainer could not estimate this model${failed && 'error' in failed ? `: ${failed.error}` : ''}` };
  }
  const fit = surveyed.strategies[0];
  const out: RunEstimate = {
    memory: `Memory: ${fitText(fit, survey.backend)} (batch ${batchSize} × ${surveyed.seq} tokens, ${survey.backend} backend).`,
  };
  if (surveyed.trainTokens === undefined)
    return { ...out, unknown: `the dataset's tokens could not be counted (${surveyed.trainTokensError ?? 'unknown reason'})` };
  const key: ThroughputKey = { shapeKey: surveyed.shapeKey, strategy, backend: survey.backend, batchSize };
  const match: RunMatch = {
    ...key,
    model: { vocabSize: surveyed.vocabSize, nEmbd: surveyed.hiddenSize, nLayer: surveyed.layers, nHead: surveyed.heads },
    totalParameters: fit.total,
  };
  const cache = deps.throughputCacheFile ? new ThroughputCache(deps.throughputCacheFile) : undefined;
  const throughput = chooseThroughput(lastComparableRun(deps.runsDirectory(), match), cache?.get(key));
  if (throughput) return { ...out, time: estimateText(surveyed.trainTokens, epochs, throughput) };
  return {
    ...out,
    unknown: `no run of this model shape with ${strategy} on ${survey.backend} at batch ${batchSize} has finished here, and its speed was not measured`,
    measure: cache && deps.queries ? { key, shapeArgs: surveyed.benchArgs, seq: surveyed.seq } : undefined,
  };
}

/**
 * The last step: the run's memory and time estimates, and Start. Without a throughput for this shape it
 * offers to measure one (a few timed training steps of a random model of the same shape, cached for this
 * machine) and asks again. False when the user cancels.
 */
async function confirmRun(choices: FineTuneChoices, deps: FineTuneDeps, pending?: PendingSurvey): Promise<boolean> {
  const name = path.basename(choices.data);
  for (;;) {
    const estimate = await estimateRun(choices, deps, pending);
    const summary = [estimate.memory, estimate.time ? `Time: ${estimate.time}.` : `Time: unknown (${estimate.unknown}).`].filter(Boolean).join(' ');
    const items: (vscode.QuickPickItem & { value: 'start' | 'measure' | 'cancel' })[] = [
      { label: 'Start training', description: estimate.time ?? 'time unknown', detail: summary, value: 'start' },
    ];
    if (estimate.measure)
      items.push({
        label: 'Measure the speed first',
        description: 'a few timed training steps of this model shape, remembered for this machine',
        value: 'measure',
      });
    items.push({ label: 'Cancel', value: 'cancel' });
    const answer = await pick(items, { title: `Fine-tune ${name}: Start` }, summary);
    if (!answer || answer.value === 'cancel') return false;
    if (answer.value === 'start') return true;
    const m = estimate.measure!;
    try {
      const tokensPerSec = await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `Measuring ${m.key.strategy} training speed (batch ${m.key.batchSize} × ${m.seq} tokens)`,
          cancellable: true,
        },
        (_progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return deps.queries!.bench(benchArgs(m.shapeArgs, m.key, m.seq), abort.signal);
        },
      );
      new ThroughputCache(deps.throughputCacheFile!).put(m.key, tokensPerSec, m.seq);
    } catch (err) {
      void vscode.window.showErrorMessage(`Fine-tune: the speed could not be measured: ${(err as Error).message}`);
    }
  }
}

function startRun(config: TrainConfig, deps: FineTuneDeps): void {
  try {
    writeRunJson(config);
  } catch (err) {
    // A runs folder that cannot be written, or a folder no run created (trainer/runOwnership.ts).
    void vscode.window.showErrorMessage(`Fine-tune: ${(err as Error).message}`);
    return;
  }
  deps.log.info(`Fine-tune: starting ${config.out}`);
  deps.manager.start(config);
}

/** The dataset the command is about: its argument (Explorer, editor title) or the active editor's. */
function datasetUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  return vscode.window.activeTextEditor?.document.uri;
}

export async function fineTuneCommand(arg: unknown, deps: FineTuneDeps): Promise<void> {
  if (!requireTrust()) return;
  const uri = datasetUri(arg);
  if (!uri || !uri.path.toLowerCase().endsWith('.jsonl')) {
    void vscode.window.showErrorMessage('Fine-tune: pick a .jsonl dataset in the Explorer or open one.');
    return;
  }
  if (uri.scheme !== 'file') {
    void vscode.window.showErrorMessage(`Fine-tune: ${path.posix.basename(uri.path)} is not a local file; the trainer reads datasets from disk.`);
    return;
  }
  const checked = await checkDataset(uri, deps);
  if (!checked) return;
  const asked = await askChoices(uri, checked, deps);
  if (!asked) return;
  const { choices, pending } = asked;
  if (!(await confirmRun(choices, deps, pending))) return;
  // The dataset's hovers and checks then follow the model it is trained on (finetune.dataset.model's default).
  void deps.settings.rememberRunModel(uri, choices.model);
  const dir = uniqueRunDir(deps.runsDirectory(), runIdFor(new Date(), uri.fsPath, choices.strategy));
  let config: TrainConfig;
  try {
    config = configFromChoices(choices, dir);
  } catch (err) {
    void vscode.window.showErrorMessage(`Fine-tune: ${(err as Error).message}`);
    return;
  }
  startRun(config, deps);
}

/** "Fine-tune with run.json": a new run with the settings of an existing (possibly edited) run.json. */
export async function runFromConfigCommand(arg: unknown, deps: FineTuneDeps): Promise<void> {
  if (!requireTrust()) return;
  const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
  if (!uri || !isRunJsonName(uri.fsPath) || uri.scheme !== 'file') {
    void vscode.window.showErrorMessage('Fine-tune with run.json: pick a run.json file in the Explorer or open one.');
    return;
  }
  // Unsaved edits are what the user means to run.
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open?.isDirty) await open.save();
  let config: TrainConfig;
  let dir: string;
  try {
    const saved = readConfigFile(uri.fsPath);
    if (!saved.data) throw new Error('run.json has no "data" (the dataset file)');
    dir = uniqueRunDir(deps.runsDirectory(), runIdFor(new Date(), saved.data, saved.strategy ?? 'full'));
    config = configForRerun(saved, dir);
  } catch (err) {
    void vscode.window.showErrorMessage(`Fine-tune with run.json: ${(err as Error).message}`);
    return;
  }
  if (!(await checkDataset(vscode.Uri.file(config.data), deps))) return;
  startRun(config, deps);
}

/**
 * "Resume Run": the trainer continues the run in its own folder from its last checkpoint (`--resume`),
 * appending to its events.jsonl, so the run's panel (opened or revealed) follows it as the same run.
 */
export async function resumeRunCommand(runDir: string, deps: FineTuneDeps): Promise<void> {
  if (!requireTrust()) return;
  const id = path.basename(runDir);
  if (deps.manager.isActive(runDir)) {
    void vscode.window.showInformationMessage(`${id} is already running.`);
    return;
  }
  const summary = summarizeRunFolder(runDir);
  if (!canResume(summary.status, runDir)) {
    const why =
      summary.status === 'stopped' || summary.status === 'failed'
        ? 'it has no checkpoint to continue from (checkpoints are written when a run is stopped and every --checkpoint-every steps)'
        : `it is ${summary.status}; only stopped or failed runs continue`;
    void vscode.window.showErrorMessage(`Cannot resume ${id}: ${why}.`);
    return;
  }
  let config: TrainConfig;
  try {
    config = resumeConfig(runDir);
  } catch (err) {
    void vscode.window.showErrorMessage(`Cannot resume ${id}: ${(err as Error).message}`);
    return;
  }
  deps.log.info(`Fine-tune: resuming ${config.out}`);
  deps.manager.start(config);
}
