// `finetune eval --model M [--adapter DIR] --data FILE [--json]`: the mean cross-entropy over every token
// the loss is taken on, across all records (token-weighted, so batching cannot change it).
import { TRAIN_DEFAULTS } from '../protocol/options';
import { BACKEND_CHOICES } from '../protocol/trainer';
import { initBackend } from '../trainer/compute/backend';
import { DatasetError, loadDataset } from '../trainer/data';
import * as fs from 'node:fs';
import { evaluate } from '../trainer/evaluate';
import { assignLabels, ClassificationHead, evaluateClassification, readClassificationFolder } from '../trainer/heads/classification';
import { loadModelWithAdapter } from '../trainer/loadModel';
import { modelDims } from '../trainer/models/registry';
import { numberFlag, parseFlags, UsageError } from './usage';

export async function run(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    model: { type: 'string' },
    adapter: { type: 'string' },
    data: { type: 'string' },
    'batch-size': { type: 'string' },
    'max-length': { type: 'string' },
    'train-on-prompt': { type: 'boolean' },
    'chat-template': { type: 'string' },
    'skip-invalid': { type: 'boolean' },
    seed: { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (!values.model) throw new UsageError('--model is required');
  if (!values.data) throw new UsageError('--data is required');
  const batchSize = numberFlag('batch-size', values['batch-size'], TRAIN_DEFAULTS.batchSize, { integer: true, min: 1 });
  const maxLengthFlag = values['max-length'] === undefined ? undefined : numberFlag('max-length', values['max-length'], 0, { integer: true, min: 2 });
  // The `tiny` preset is randomly initialised from the seed: use the training run's seed to evaluate it.
  const seed = numberFlag('seed', values.seed, TRAIN_DEFAULTS.seed, { integer: true, min: 0 });
  const backendChoice = values.backend ?? 'auto';
  if (!(BACKEND_CHOICES as readonly string[]).includes(backendChoice))
    throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}, got '${backendChoice}'`);
  await initBackend(backendChoice as 'auto');

  // --adapter: a LoRA, bottleneck-adapter or prompt-tuning folder; a GPT2ForSequenceClassification
  // folder as --model is evaluated by its head (accuracy, per-class counts).
  const base = await loadModelWithAdapter(values.model, values.adapter, seed, (m) => process.stderr.write(m + '\n'));
  const classifier = fs.existsSync(values.model) ? readClassificationFolder(values.model) : null;
  const head = classifier
    ? new ClassificationHead(modelDims(base.config).hiddenSize, classifier.labels.labels.length, seed, classifier.score, base.tokenizer.eosId)
    : undefined;
  try {
    const context = modelDims(base.config).maxPositions;
    const maxLength = Math.min(maxLengthFlag ?? context, context);
    let data: Awaited<ReturnType<typeof loadDataset>>;
    try {
      data = await loadDataset(values.data, {
        tokenizer: base.tokenizer,
        maxLength,
        trainOnPrompt: values['train-on-prompt'] ?? false,
        chatTemplate: values['chat-template'],
        skipInvalid: values['skip-invalid'] ?? false,
        classification: head !== undefined,
      });
      if (classifier) assignLabels(data.examples, classifier.labels);
    } catch (err) {
      if (err instanceof DatasetError || (classifier && err instanceof Error && /label/.test(err.message))) {
        process.stderr.write(err.message + '\n');
        return 1;
      }
      throw err;
    }
    if (head && classifier) {
      const c = await evaluateClassification({
        model: base.model,
        head,
        examples: data.examples,
        labels: classifier.labels.labels,
        batchSize,
        padId: base.tokenizer.eosId,
      });
      if (values.json) process.stdout.write(JSON.stringify({ loss: c.loss, accuracy: c.accuracy, perClass: c.perClass, examples: c.examples }) + '\n');
      else {
        process.stdout.write(`loss ${c.loss.toFixed(6)}, accuracy ${(100 * c.accuracy).toFixed(2)}% over ${c.examples} examples\n`);
        for (const [label, k] of Object.entries(c.perClass)) process.stdout.write(`  ${label}: ${k.correct}/${k.total}\n`);
      }
      return 0;
    }
    const r = await evaluate(base.model, data.examples, { batchSize, padId: base.tokenizer.eosId });
    const result: Record<string, unknown> = { loss: r.loss, tokens: r.tokens, examples: r.examples };
    if (r.taskLosses) result.taskLosses = r.taskLosses;
    if (data.skippedInvalid > 0) result.skipped = data.skippedInvalid;
    if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      process.stdout.write(`loss ${r.loss.toFixed(6)} (perplexity ${Math.exp(r.loss).toFixed(3)}) over ${r.tokens} tokens in ${r.examples} examples\n`);
      if (r.taskLosses) for (const [task, loss] of Object.entries(r.taskLosses)) process.stdout.write(`  ${task}: ${loss.toFixed(6)}\n`);
      if (data.skippedInvalid > 0) process.stdout.write(`  (${data.skippedInvalid} invalid record(s) skipped)\n`);
    }
    return 0;
  } finally {
    base.model.dispose();
    head?.dispose();
  }
}
