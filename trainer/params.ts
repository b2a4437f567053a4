// Parameter counts and a memory estimate, computed from the config alone (no tensors), so that
// `finetune params` answers instantly for GPT-2 small without its weights. The model's layout is its
// family's (ModelStructure, trainer/models/); what trains and what is added is the strategy's own
// answer (trainer/strategies/), so a new family or strategy is counted without a change here.
import { formatBytes, type LayerParams, type LayerRow, type MemoryEstimate, type ParameterBreakdown, type ParamGroup } from '../protocol/params';
import { modelStructure, type ModelConfig } from './models/registry';
import { strategyFor, type AnyStrategyConfig } from './strategies';
import { parameterTrains } from './strategies/strategy';

/**
 * The model's output head: the causal-LM head (tied to the token embedding, no parameters of its own),
 * or GPT2ForSequenceClassification's `score` layer [n_embd → numLabels] without bias, always trainable.
 */
export type HeadKind = 'lm' | { kind: 'classification'; numLabels: number };

export type { LayerParams, LayerRow, MemoryEstimate, ParameterBreakdown, ParamGroup };
/** The one byte formatter, in protocol/ so that the extension host formats without loading the trainer. */
export { formatBytes };

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
 *   activations = 4 · B · T · ( L · (A + 2·H·T) + 2·V + 2·E ) + LoRA inputs
 * Activations are what the backward pass keeps per token: A floats in each of L blocks
 * (blockActivationWidth, the family's own shapes), plus the attention scores and probabilities (2·H·T
 * per token: the attention core materialises both, for every query head); then the logits and their
 * softmax (2·V) and the embedding output and final norm (2·E). LoRA keeps its r-wide intermediate per
 * wrapped layer (r floats a token each). It is an estimate of the steady state, not of the allocator's peak.
 * With gradient checkpointing (models/checkpoint.ts) each block keeps only its input (E floats a token)
 * and one block at a time is recomputed with all its activations during the backward pass:
 *   activations = 4 · B · T · ( L · E + A + 2·H·T + 2·V + 2·E ) + LoRA inputs
 * (LoRA's intermediates still counted for every wrapped layer: an upper bound of a few floats a token).
 */
export function memoryEstimate(
  config: ModelConfig,
  strategy: AnyStrategyConfig,
  batch: number,
  seq: number,
  head: HeadKind = 'lm',
  gradientCheckpointing = false,
): MemoryEstimate {
  const p = parameterBreakdown(config, strategy, head);
  const structure = modelStructure(config);
  const { numLayers: L, hiddenSize: E, numHeads: H, vocabSize: V } = structure;
  const tokens = batch * seq;
  // What the strategy's modules keep per token (LoRA: r floats per wrapped layer).
  const loraWidth = strategyFor(strategy.strategy).added(structure, strategy).activationWidth;
  const weights = 4 * p.total;
  const gradients = 4 * p.trainable;
  const optimizer = 8 * p.trainable;
  const perBlock = blockActivationWidth(config) + 2 * H * seq;
  const blocks = gradientCheckpointing ? L * E + perBlock : L * perBlock;
  const activations = 4 * tokens * (blocks + 2 * V + 2 * E + loraWidth);
  return { weights, gradients, optimizer, activations, total: weights + gradients + optimizer + activations };
}

/**
 * Floats one block keeps per token for the backward pass, from the family's forward pass
 * (trainer/models/<family>/model.ts), the attention scores aside:
 * - GPT-2: 17·E — the block input, two layer-norm outputs, c_attn's q/k/v (3E), the merged attention
 *   output and its projection, the MLP's 4E hidden layer before and after gelu (8E) and its output.
 * - Llama, Qwen2, Qwen3 (E hidden, H query and K key/value heads of width D, I the MLP's width):
 *   5·E (the block input, input_layernorm, o_proj's output, post_attention_layernorm, down_proj's output)
 *   + q_proj, k_proj, v_proj (H·D + 2·K·D), q and k after RoPE (H·D + K·D), k and v repeated to the H
 *   query heads for the attention core, next to q (3·H·D), the merged attention output (H·D)
 *   + the SwiGLU MLP's gate and up projections, silu(gate) and the product (4·I)
 *   + Qwen3's per-head q/k RMSNorm outputs (H·D + K·D).
 *   That is 5·E + 6·H·D + 3·K·D + 4·I (+ H·D + K·D for Qwen3); SmolLM2-135M (E 576, H 9, K 3, D 64,
 *   I 1536): 2880 + 3456 + 576 + 6144 = 13,056, against 17·576 = 9,792 for a GPT-2 block of that width.
 */
export function blockActivationWidth(config: ModelConfig): number {
  if (!('modelType' in config)) return 17 * config.nEmbd;
  const { hiddenSize: E, numHeads: H, numKvHeads: K, headDim: D, intermediateSize: I } = config;
  const qkNorm = config.modelType === 'qwen3' ? H * D + K * D : 0;
  return 5 * E + 6 * H * D + 3 * K * D + 4 * I + qkNorm;
}

/**
 * The panel's per-layer rows, from the input side: the embeddings, each block (its base weights and what
 * the strategy adds), the family's final norm (GPT-2's ln_f, Llama's norm), then an untied LM head
 * (TinyLlama's, Llama-3.2's are tied) as a row of its own, which trains and freezes with the embeddings.
 * A tied head has no parameters of its own and no row; neither has the causal-LM head a classification run replaces.
 */
export function layerRows(config: ModelConfig, p: ParameterBreakdown): LayerRow[] {
  const structure = modelStructure(config);
  const row = (name: string) => p.groups.find((g) => g.name === name) ?? { total: 0, trainable: 0 };
  const edge = (name: string): LayerRow => ({ name, frozen: row(name).total - row(name).trainable, trainable: row(name).trainable, added: 0 });
  const finalNorm = structure.parameters.find((x) => x.part === 'finalNorm')?.group;
  const rows: LayerRow[] = [edge('embeddings')];
  for (const l of p.perLayer) rows.push({ name: `h.${l.layer}`, frozen: l.total - l.trainable, trainable: l.trainable, added: l.lora });
  if (finalNorm) rows.push(edge(finalNorm));
  if (structure.lmHead.total > 0 && p.groups.some((g) => g.name === structure.lmHead.name)) rows.push(edge(structure.lmHead.name));
  return rows;
}

/**
 * The model's shape as one string (family and every size that changes the work of a step), the key of
 * throughput measurements: two models with the same key train at the same speed on one machine.
 */
export function shapeKey(config: ModelConfig): string {
  if (!('modelType' in config)) return `gpt2 L${config.nLayer} E${config.nEmbd} H${config.nHead} V${config.vocabSize}`;
  const c = config;
  const bias = `${c.attentionBias ? 'attn-bias ' : ''}${c.mlpBias ? 'mlp-bias ' : ''}`;
  return `${c.modelType} L${c.numLayers} E${c.hiddenSize} H${c.numHeads} K${c.numKvHeads} D${c.headDim} I${c.intermediateSize} V${c.vocabSize} ${bias}${c.tieWordEmbeddings ? 'tied' : 'untied'}`;
}
