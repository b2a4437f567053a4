// Parameter counts and a memory estimate, computed from the config alone (no tensors), so that
// `finetune params` answers instantly for GPT-2 small without its weights. The model's layout is its
// family's (ModelStructure, trainer/models/); what trains and what is added is the strategy's own
// answer (trainer/strategies/), so a new family or strategy is counted without a change here.
import type { LayerParams, MemoryEstimate, ParameterBreakdown, ParamGroup } from '../protocol/params';
import { modelStructure, type ModelConfig } from './models/registry';
import { strategyFor, type AnyStrategyConfig } from './strategies';
import { parameterTrains } from './strategies/strategy';

/**
 * The model's output head: the causal-LM head (tied to the token embedding, no parameters of its own),
 * or GPT2ForSequenceClassification's `score` layer [n_embd → numLabels] without bias, always trainable.
 */
export type HeadKind = 'lm' | { kind: 'classification'; numLabels: number };

export type { LayerParams, MemoryEstimate, ParameterBreakdown, ParamGroup };

/** 1234567 -> "1,234,567", as Python's `{:,}` prints it. */
export function withCommas(n: number): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function parameterBreakdown(config: ModelConfig, strategy: AnyStrategyConfig, head: HeadKind = 'lm'): ParameterBreakdown {
  if (head !== 'lm' && !(head.kind === 'classification' && Number.isInteger(head.numLabels) && head.numLabels >= 2)) {
    throw new Error(`a classification head needs an integer number of labels of at least 2, got ${JSON.stringify(head)}`);
  }
  // The per-layer rows below are one per block: the shape is bounded (modelStructure validates it) before they are built.
  const structure = modelStructure(config);
  const impl = strategyFor(strategy.strategy);
  impl.validate(structure, strategy);
  const plan = impl.trains(strategy);
  const added = impl.added(structure, strategy);
  const groups: ParamGroup[] = [];
  const perLayer: LayerParams[] = [];
  const rows = new Map<string, ParamGroup>();
  const layers = Array.from({ length: structure.numLayers }, (_, layer) => ({ layer, total: 0, trainable: 0 }));
  for (const param of structure.parameters) {
    let row = rows.get(param.group);
    if (!row) rows.set(param.group, (row = { name: param.group, total: 0, trainable: 0 }));
    const trainable = parameterTrains(plan, param.name, param.part) ? param.size : 0;
    row.total += param.size;
    row.trainable += trainable;
    if (typeof param.part === 'number') {
      layers[param.part].total += param.size;
      layers[param.part].trainable += trainable;
    }
  }
  groups.push(...rows.values());
  for (const l of layers) perLayer.push({ ...l, frozen: l.trainable === 0, lora: added.perLayer[l.layer] });
  // A tied LM head shares the embedding's matrix: no parameters of its own (HF and PEFT count it once).
  const lmHead = structure.lmHead;
  if (head === 'lm') groups.push({ name: lmHead.name, total: lmHead.total, trainable: plan.embeddings ? lmHead.total : 0 });
  else groups.push({ name: 'score (classification head)', total: structure.hiddenSize * head.numLabels, trainable: structure.hiddenSize * head.numLabels });
  if (added.group) groups.push({ name: added.group.name, total: added.group.total, trainable: added.group.total });

  const total = groups.reduce((a, g) => a + g.total, 0);
  const trainable = groups.reduce((a, g) => a + g.trainable, 0);
  const ratio = total === 0 ? 0 : trainable / total;
  return {
    total,
    trainable,
    frozen: total - trainable,
    ratio,
    line: `trainable params: ${withCommas(trainable)} || all params: ${withCommas(total)} || trainable%: ${(100 * ratio).toFixed(4)}`,
    chapterLine: `Trainable: ${trainable}, Total: ${total}, Ratio: ${(100 * ratio).toFixed(2)}%`,
    groups,
    perLayer,
  };
}

/**
 * Training memory in bytes, everything float32 (4 bytes):
 *   weights     = 4 · total parameters (frozen ones included; LoRA's added ones too)
 *   gradients   = 4 · trainable parameters
 *   optimizer   = 8 · trainable parameters (AdamW's first and second moments)
 *   activations = 4 · B · T · ( L · (17·E + 2·H·T) + 2·V + 2·E ) + LoRA inputs
 * Activations are what the backward pass keeps per token: in each of L blocks the block input, two
 * layer-norm outputs, q/k/v (3E), the attention output and its projection, the MLP's 4E hidden layer
 * before and after gelu (8E) and its output, i.e. about 17·E floats, plus the attention scores and
 * probabilities (2·H·T per token); then the logits and their softmax (2·V) and the embedding sum and
 * final norm (2·E). LoRA keeps its r-wide intermediate per wrapped layer (r floats a token each).
 * It is an estimate of the steady state, not of the allocator's peak.
 */
export function memoryEstimate(config: ModelConfig, strategy: AnyStrategyConfig, batch: number, seq: number, head: HeadKind = 'lm'): MemoryEstimate {
  const p = parameterBreakdown(config, strategy, head);
  const structure = modelStructure(config);
  const { numLayers: L, hiddenSize: E, numHeads: H, vocabSize: V } = structure;
  const tokens = batch * seq;
  // What the strategy's modules keep per token (LoRA: r floats per wrapped layer).
  const loraWidth = strategyFor(strategy.strategy).added(structure, strategy).activationWidth;
  const weights = 4 * p.total;
  const gradients = 4 * p.trainable;
  const optimizer = 8 * p.trainable;
  const activations = 4 * tokens * (L * (17 * E + 2 * H * seq) + 2 * V + 2 * E + loraWidth);
  return { weights, gradients, optimizer, activations, total: weights + gradients + optimizer + activations };
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
