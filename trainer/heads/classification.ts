// Sequence classification as Hugging Face's GPT2ForSequenceClassification / LlamaForSequenceClassification
// (GenericForSequenceClassification) compute it: the final hidden state of each row's last non-padding
// token times `score` (a linear layer hidden → num_labels without bias), cross-entropy over the labels.
// transformers finds that token from the ids alone: the rightmost one that is not config.pad_token_id
// (position 0 when every one is). The saved config.json sets pad_token_id to the tokenizer's eos (GPT-2,
// Llama and Qwen have no pad token of their own), so a text whose last token is the eos itself is read at
// the token before it; the head does the same when it knows the pad id, and takes the last position the
// attention mask covers otherwise.
// Labels: the distinct label strings of the training (and eval) data, sorted by JavaScript's default
// string order (UTF-16 code units; for ASCII labels, byte order), get ids 0…N−1; config.json stores
// them as id2label / label2id, as transformers does. The head works on any family (the hidden states of
// trainer/models/model.ts); the family names its sequence-classification architecture.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, matMul2d } from '../compute/ops';
import { evalBatches, padBatch, type Batch, type TrainingExample } from '../data';
import { readConfigJson, saveModelFolder } from '../formats/modelFolder';
import { readSafetensors } from '../formats/safetensors';
import type { NamedTensor } from '../models/model';
import { familyOf, isClassificationArchitecture, type ModelConfig } from '../models/registry';
import type { TunedModel } from '../strategies/tunedModel';
import type { BatchTensors, Head } from './head';

export const SCORE_KEY = 'score.weight';

export interface LabelMap {
  /** id (as a string key, as JSON stores it) -> label */
  id2label: Record<string, string>;
  label2id: Record<string, number>;
  labels: string[];
}

/** Sorted distinct labels -> ids. */
export function labelMapping(labels: Iterable<string>): LabelMap {
  const sorted = [...new Set(labels)].sort();
  return {
    labels: sorted,
    id2label: Object.fromEntries(sorted.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(sorted.map((l, i) => [l, i])),
  };
}

/** Sets `classLabel` on every example from its `labelText`. */
export function assignLabels(examples: TrainingExample[], map: LabelMap): void {
  for (const e of examples) {
    if (e.labelText === undefined) throw new Error(`record on line ${e.line + 1} has no label`);
    // Own properties only: a label `toString` outside the training labels must not find Object.prototype's.
    const id = Object.hasOwn(map.label2id, e.labelText) ? map.label2id[e.labelText] : undefined;
    if (id === undefined) throw new Error(`record on line ${e.line + 1}: label '${e.labelText}' is not among the training labels (${map.labels.join(', ')})`);
    e.classLabel = id;
  }
}

export class ClassificationHead implements Head {
  readonly kind = 'classification';
  /** [n_embd, num_labels]: HF's score.weight [num_labels, n_embd] transposed. */
  readonly score: tf.Variable;
  constructor(
    readonly nEmbd: number,
    readonly numLabels: number,
    seed: number,
    weight?: { shape: readonly number[]; data: Float32Array },
    /** config.pad_token_id of the saved model (the batches' padding id): the token read is the last one that is not it. */
    readonly padTokenId?: number,
  ) {
    if (!Number.isInteger(numLabels) || numLabels < 2) throw new Error(`a classification head needs at least 2 labels, got ${numLabels}`);
    if (weight) {
      if (weight.shape[0] !== numLabels || weight.shape[1] !== nEmbd)
        throw new Error(`score.weight has shape [${weight.shape.join(', ')}], expected [${numLabels}, ${nEmbd}]`);
      this.score = tf.tidy(() => tf.variable(tf.transpose(tf.tensor2d(weight.data, [numLabels, nEmbd])), true));
    } else {
      // HF's _init_weights: N(0, initializer_range = 0.02).
      this.score = tf.variable(tf.randomNormal([nEmbd, numLabels], 0, 0.02, 'float32', seed), true);
    }
  }

  trainableVariables() {
    return [{ name: SCORE_KEY, variable: this.score, decay: true }];
  }

  /** Logits [B, num_labels] from the last non-padding token of each row. */
  logits(model: TunedModel, inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const [batch, seq] = inputIds.shape;
    // Read before the model uses the mask: a tensor made from CPU values still holds them then, so this
    // works on webgpu too (it cannot read a GPU result synchronously in Node).
    const mask = attentionMask.dataSync();
    const ids = this.padTokenId === undefined ? undefined : inputIds.dataSync();
    const rows = Int32Array.from({ length: batch }, (_, b) => {
      for (let t = seq - 1; t > 0; t--) {
        const i = b * seq + t;
        if (mask[i] > 0 && (ids === undefined || ids[i] !== this.padTokenId)) return i;
      }
      return b * seq;
    });
    const hidden = model.hiddenStates(inputIds, attentionMask, training);
    const last = tf.gather(hidden, tf.tensor1d(rows, 'int32')) as tf.Tensor2D;
    return matMul2d(last, this.score as tf.Tensor2D);
  }

  /** Cross-entropy per row [B]. */
  loss(model: TunedModel, batch: Batch, training: boolean): tf.Tensor1D {
    if (!batch.classLabels) throw new Error('classification batch has no labels');
    const ids = tf.tensor2d(batch.inputIds, [batch.size, batch.length], 'int32');
    const mask = tf.tensor2d(batch.attentionMask, [batch.size, batch.length], 'float32');
    const logits = this.logits(model, ids, mask, training);
    return crossEntropy(logits, tf.tensor1d(batch.classLabels, 'int32')) as tf.Tensor1D;
  }

  /** One CE per row ([B, 1]; a row's rowLossTokens is 1), weighted like token losses by the training step. */
  lossRows(model: TunedModel, batch: Batch, _tensors: BatchTensors, training: boolean): tf.Tensor2D {
    return tf.reshape(this.loss(model, batch, training), [batch.size, 1]);
  }

  dispose(): void {
    this.score.dispose();
  }
}

export interface ClassificationEval {
  loss: number;
  accuracy: number;
  /** label -> {correct, total} over the eval set. */
  perClass: Record<string, { correct: number; total: number }>;
  examples: number;
  tokens: number;
}

/** Running totals of a classification evaluation. */
class ClassificationTotals {
  private sum = 0;
  private correct = 0;
  private tokens = 0;
  /** By label id (labels are the user's strings: a Map or array, never a plain object, holds them). */
  private readonly counts: { correct: number; total: number }[];

  constructor(private readonly labels: readonly string[]) {
    this.counts = labels.map(() => ({ correct: 0, total: 0 }));
  }

  add(batch: Batch, ceValues: ArrayLike<number>, predValues: ArrayLike<number>): void {
    this.tokens += batch.tokens;
    for (let b = 0; b < batch.size; b++) {
      this.sum += ceValues[b];
      const c = this.counts[batch.classLabels![b]];
      const hit = predValues[b] === batch.classLabels![b];
      if (hit) this.correct++;
      c.total++;
      if (hit) c.correct++;
    }
  }

  result(n: number): ClassificationEval {
    // Object.fromEntries defines own properties, so a label `__proto__` is a key like any other.
    const perClass = Object.fromEntries(this.labels.map((l, i) => [l, this.counts[i]]));
    return { loss: n > 0 ? this.sum / n : NaN, accuracy: n > 0 ? this.correct / n : NaN, perClass, examples: n, tokens: this.tokens };
  }
}

export interface ClassificationEvalOptions {
  model: TunedModel;
  head: ClassificationHead;
  examples: readonly TrainingExample[];
  labels: readonly string[];
  batchSize: number;
  /** Default 0. */
  padId?: number;
}

/** Mean CE, accuracy (argmax = label) and per-class counts over `examples`; reads asynchronously (works on webgpu). */
export async function evaluateClassification({ model, head, examples, labels, batchSize, padId = 0 }: ClassificationEvalOptions): Promise<ClassificationEval> {
  const totals = new ClassificationTotals(labels);
  for (const indices of evalBatches(
    examples.map((e) => e.inputIds.length),
    batchSize,
  )) {
    const batch = padBatch(
      indices.map((i) => examples[i]),
      padId,
    );
    const { ce, pred } = tf.tidy(() => {
      const ids = tf.tensor2d(batch.inputIds, [batch.size, batch.length], 'int32');
      const mask = tf.tensor2d(batch.attentionMask, [batch.size, batch.length], 'float32');
      const logits = head.logits(model, ids, mask, false);
      return { ce: crossEntropy(logits, tf.tensor1d(batch.classLabels!, 'int32')), pred: tf.argMax(logits, 1) };
    });
    try {
      const [ceValues, predValues] = await Promise.all([ce.data(), pred.data()]);
      totals.add(batch, ceValues, predValues);
    } finally {
      tf.dispose([ce, pred]);
    }
  }
  return totals.result(examples.length);
}

/** The sequence-classification state dict: the base model's weights (LoRA merged) + score.weight [num_labels, n_embd]. */
export function classificationStateDict(model: TunedModel, head: ClassificationHead): Map<string, NamedTensor> {
  const out = model.hfStateDict({ merged: true });
  // Transposed on the CPU: the score's values are what the caller has read (webgpu reads asynchronously).
  const [nEmbd, numLabels] = head.score.shape;
  const w = head.score.dataSync();
  const data = new Float32Array(numLabels * nEmbd);
  for (let i = 0; i < nEmbd; i++) for (let j = 0; j < numLabels; j++) data[j * nEmbd + i] = w[i * numLabels + j];
  out.set(SCORE_KEY, { shape: [numLabels, nEmbd], data });
  return out;
}

/** config.json of the family's sequence classifier (GPT2ForSequenceClassification), with the label map and the padding id. */
export function classificationHfConfig(config: ModelConfig, labels: LabelMap, padTokenId: number): Record<string, unknown> {
  const family = familyOf(config);
  return {
    ...family.toHfConfig(config),
    architectures: [family.classificationArchitecture],
    id2label: labels.id2label,
    label2id: labels.label2id,
    pad_token_id: padTokenId,
  };
}

export interface ClassificationOutput {
  model: TunedModel;
  head: ClassificationHead;
  labels: LabelMap;
  padTokenId: number;
  /** Whose tokenizer files go beside the model; null: none. */
  tokenizerDir: string | null;
}

/** Writes a model the family's sequence classifier (GPT2ForSequenceClassification.from_pretrained) loads: config.json, model.safetensors, tokenizer files. */
export function saveClassificationModel({ model, head, labels, padTokenId, tokenizerDir }: ClassificationOutput, outDir: string): string[] {
  return saveModelFolder(model.config, classificationStateDict(model, head), tokenizerDir, outDir, classificationHfConfig(model.config, labels, padTokenId));
}

/** The label map and score weight of a saved classification model folder (null when it is not one). */
export function readClassificationFolder(dir: string): { labels: LabelMap; score: NamedTensor } | null {
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile)) return null;
  const raw = readConfigJson(configFile) as { architectures?: unknown; id2label?: Record<string, string> };
  const architecture = Array.isArray(raw.architectures) ? raw.architectures.find((a) => typeof a === 'string' && isClassificationArchitecture(a)) : undefined;
  if (!architecture) return null;
  const score = readSafetensors(path.join(dir, 'model.safetensors')).get(SCORE_KEY);
  if (!score || !raw.id2label) throw new Error(`${dir}: a ${architecture} folder needs id2label in config.json and score.weight in model.safetensors`);
  const ids = Object.keys(raw.id2label)
    .map(Number)
    .sort((a, b) => a - b);
  const labels = ids.map((i) => raw.id2label![String(i)]);
  if (!ids.every((id, i) => id === i) || !labels.every((l) => typeof l === 'string'))
    throw new Error(`${configFile}: id2label must map the ids 0…N−1 to label strings`);
  return {
    labels: { labels, id2label: raw.id2label, label2id: Object.fromEntries(labels.map((l, i) => [l, i])) },
    score: { shape: score.shape, data: score.data },
  };
}
