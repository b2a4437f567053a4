// Parameter counts and a memory estimate, computed from the config alone (no tensors), so that
// `finetune params` answers instantly for GPT-2 small without its weights.
import { validateConfig, type GPT2Config } from './config';
import {
  adapterParamsPerBlock,
  type BLOCK_LINEARS,
  blockFrozen,
  embeddingsFrozen,
  finalNormFrozen,
  linearShape,
  loraTargets,
  validateStrategy,
  type StrategyConfig,
} from './strategy';

/**
 * The model's output head: the causal-LM head (tied to the token embedding, no parameters of its own),
 * or GPT2ForSequenceClassification's `score` layer [n_embd → numLabels] without bias, always trainable.
 */
export type HeadKind = 'lm' | { kind: 'classification'; numLabels: number };

export interface ParamGroup {
  name: string;
  total: number;
  trainable: number;
}

export interface LayerParams {
  layer: number;
  /** Base weights of the block (attention, MLP, norms). */
  total: number;
  trainable: number;
  frozen: boolean;
  /** Parameters the strategy adds to this block (LoRA, bottleneck adapters; all trainable). */
  lora: number;
}

export interface ParameterBreakdown {
  /** Every parameter, LoRA's added ones included (PEFT's "all params"). */
  total: number;
  trainable: number;
  frozen: number;
  /** trainable / total, a fraction in [0, 1]. */
  ratio: number;
  /** PEFT's `print_trainable_parameters` line, e.g. `trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364`. */
  line: string;
  /** The chapter's line, e.g. `Trainable: 294912, Total: 124734720, Ratio: 0.24%` (plain integers, as the chapter prints them). */
  chapterLine: string;
  groups: ParamGroup[];
  perLayer: LayerParams[];
}

/** 1234567 -> "1,234,567", as Python's `{:,}` prints it. */
export function withCommas(n: number): string {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Parameters of one block's Conv1D (weight [in, out] + bias [out]). */
function linearParams(config: GPT2Config, kind: (typeof BLOCK_LINEARS)[number]): number {
  const { in: i, out: o } = linearShape(config, kind);
  return i * o + o;
}

export function parameterBreakdown(config: GPT2Config, strategy: StrategyConfig, head: HeadKind = 'lm'): ParameterBreakdown {
  if (head !== 'lm' && !(head.kind === 'classification' && Number.isInteger(head.numLabels) && head.numLabels >= 2)) {
    throw new Error(`a classification head needs an integer number of labels of at least 2, got ${JSON.stringify(head)}`);
  }
  // The per-layer rows below are one per block: the shape is bounded before they are built.
  validateConfig(config);
  validateStrategy(config, strategy);
  const e = config.nEmbd;
  const groups: ParamGroup[] = [];
  const perLayer: LayerParams[] = [];
  const embFrozen = embeddingsFrozen(strategy);
  const emb = config.vocabSize * e + config.nPositions * e;
  groups.push({ name: 'embeddings', total: emb, trainable: embFrozen ? 0 : emb });

  const lora = strategy.strategy === 'lora' ? loraTargets(config, strategy.targets) : [];
  const loraPerLayer = new Array<number>(config.nLayer).fill(0);
  if (strategy.strategy === 'lora') {
    for (const t of lora) {
      const { in: i, out: o } = linearShape(config, t.kind);
      loraPerLayer[t.layer] += strategy.r * (i + o); // A [r, in] + B [out, r]
    }
  }
  if (strategy.strategy === 'adapter') loraPerLayer.fill(adapterParamsPerBlock(e, strategy.adapterDim));
  for (let layer = 0; layer < config.nLayer; layer++) {
    const frozen = blockFrozen(strategy, layer);
    const attn = linearParams(config, 'attn.c_attn') + linearParams(config, 'attn.c_proj');
    const mlp = linearParams(config, 'mlp.c_fc') + linearParams(config, 'mlp.c_proj');
    const norms = 4 * e;
    for (const [part, n] of [
      ['attn', attn],
      ['mlp', mlp],
      ['norms', norms],
    ] as const) {
      groups.push({ name: `h.${layer}.${part}`, total: n, trainable: frozen ? 0 : n });
    }
    const total = attn + mlp + norms;
    perLayer.push({ layer, total, trainable: frozen ? 0 : total, frozen, lora: loraPerLayer[layer] });
  }
  const lnF = 2 * e;
  groups.push({ name: 'ln_f', total: lnF, trainable: finalNormFrozen(strategy) ? 0 : lnF });
  // The LM head shares wte's matrix: no parameters of its own (HF and PEFT count it once).
  if (head === 'lm') groups.push({ name: 'lm_head (tied to wte)', total: 0, trainable: 0 });
  else groups.push({ name: 'score (classification head)', total: e * head.numLabels, trainable: e * head.numLabels });
  const loraTotal = loraPerLayer.reduce((a, b) => a + b, 0);
  if (strategy.strategy === 'lora') groups.push({ name: 'lora', total: loraTotal, trainable: loraTotal });
  if (strategy.strategy === 'adapter') groups.push({ name: 'adapters', total: loraTotal, trainable: loraTotal });
  if (strategy.strategy === 'prompt')
    groups.push({ name: 'prompt (virtual tokens)', total: strategy.virtualTokens * e, trainable: strategy.virtualTokens * e });

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

export interface MemoryEstimate {
  weights: number;
  gradients: number;
  optimizer: number;
  activations: number;
  total: number;
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
export function memoryEstimate(config: GPT2Config, strategy: StrategyConfig, batch: number, seq: number, head: HeadKind = 'lm'): MemoryEstimate {
  const p = parameterBreakdown(config, strategy, head);
  const { nLayer: L, nEmbd: E, nHead: H, vocabSize: V } = config;
  const tokens = batch * seq;
  const loraWidth = strategy.strategy === 'lora' ? loraTargets(config, strategy.targets).length * strategy.r : 0;
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
