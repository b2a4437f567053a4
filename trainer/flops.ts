// Training FLOPs per token and model FLOPs utilisation (MFU), counted as nanoGPT's `estimate_mfu` counts
// them (PaLM's appendix B): 6·N for the forward and backward matrix products over the weights (2 FLOPs
// per multiply-add, backward twice the forward) plus 12·L·(H·Q)·T for the attention scores and their
// weighted sum over T positions. N is every parameter but the position embeddings (a lookup, no
// product), a tied head counted once, an untied one in full. The figure depends on the shape only, not
// on what trains: LoRA and partial runs skip the weight gradients of frozen weights (up to a third of
// the products), so their MFU reads as if they did a full step's work. One formula for every strategy
// keeps the MFU of two runs of one shape in the ratio of their tokens/s.
import type { ModelConfig } from './models/registry';
import { modelStructure } from './models/registry';

/** The parts of a shape the count needs. */
export interface FlopShape {
  /** N: every parameter except the position embeddings. */
  parameters: number;
  layers: number;
  /** H·Q: attention heads times head width (GPT-2's n_embd; Qwen3's heads·head_dim, wider than hidden_size). */
  attentionWidth: number;
}

/** N, L and H·Q of `config`'s model (the base model: what a strategy adds is not counted). */
export function flopShape(config: ModelConfig): FlopShape {
  const structure = modelStructure(config);
  const all = structure.parameters.reduce((sum, p) => sum + p.size, 0) + structure.lmHead.total;
  // GPT-2 learns a position table (wpe); the Llama family rotates q and k instead and has none.
  const isGpt2 = !('modelType' in config);
  const positions = isGpt2 ? config.nPositions * config.nEmbd : 0;
  return {
    parameters: all - positions,
    layers: structure.numLayers,
    attentionWidth: isGpt2 ? config.nEmbd : config.numHeads * config.headDim,
  };
}

/** Training FLOPs per token at sequence length `seq`: 6·N + 12·L·(H·Q)·T. */
export function flopsPerToken(config: ModelConfig, seq: number): number {
  if (!Number.isInteger(seq) || seq < 1) throw new RangeError(`sequence length must be a positive integer, got ${seq}`);
  const { parameters, layers, attentionWidth } = flopShape(config);
  return 6 * parameters + 12 * layers * attentionWidth * seq;
}

/** Achieved FLOP/s over the peak, a fraction (0–1 on a sound peak); null when the peak is not known. */
export function modelFlopsUtilisation(flopsPerTokenValue: number, tokensPerSec: number, peakGflops: number | null): number | null {
  if (peakGflops === null || !(peakGflops > 0)) return null;
  return (flopsPerTokenValue * tokensPerSec) / (peakGflops * 1e9);
}
