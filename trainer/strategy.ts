// What trains: the fine-tuning strategy, and which GPT-2 modules LoRA wraps. Free of TensorFlow.js so
// that `finetune params` and the extension's quick-pick can use it without loading a backend.
import { TrainConfigError } from '../protocol/trainer';
import type { GPT2Config } from './config';

export type StrategyConfig =
  | { strategy: 'full' }
  | { strategy: 'partial'; freezeLayers: number; freezeEmbeddings?: boolean }
  | { strategy: 'lora'; r: number; alpha: number; dropout: number; targets: string[] | 'all-linear' }
  /** Bottleneck adapters (trainer/adapter.ts) after attention and after the MLP of every block. */
  | { strategy: 'adapter'; adapterDim: number }
  /** Prompt tuning (trainer/promptTuning.ts): `virtualTokens` trained embeddings before the input; `promptInit` text or random. */
  | { strategy: 'prompt'; virtualTokens: number; promptInit?: string };

/** PEFT's LoraConfig defaults (r=8, lora_alpha=8, lora_dropout=0) with GPT-2's default target, c_attn. */
export const LORA_DEFAULTS = { r: 8, alpha: 8, dropout: 0, targets: ['c_attn'] as string[] };

/** The linear (Conv1D) modules of one GPT-2 block, in HF naming. */
export const BLOCK_LINEARS = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
export type BlockLinear = (typeof BLOCK_LINEARS)[number];

/** [in, out] of a block's Conv1D (HF stores its weight as [in, out]). */
export function linearShape(config: GPT2Config, kind: BlockLinear): { in: number; out: number } {
  const e = config.nEmbd;
  switch (kind) {
    case 'attn.c_attn':
      return { in: e, out: 3 * e };
    case 'attn.c_proj':
      return { in: e, out: e };
    case 'mlp.c_fc':
      return { in: e, out: 4 * e };
    case 'mlp.c_proj':
      return { in: 4 * e, out: e };
  }
}

export interface LoraTarget {
  layer: number;
  kind: BlockLinear;
  /** HF module name, e.g. `transformer.h.0.attn.c_attn`. */
  module: string;
}

/**
 * The modules LoRA wraps, matched like PEFT matches a list of `target_modules`: a module is wrapped
 * when its full name equals a target or ends with `.` + target (so `c_proj` means both the attention
 * and the MLP projection, `attn.c_proj` only the first). `all-linear` is every Conv1D except the LM head.
 */
export function loraTargets(config: GPT2Config, targets: string[] | 'all-linear'): LoraTarget[] {
  const all: LoraTarget[] = [];
  for (let layer = 0; layer < config.nLayer; layer++) {
    for (const kind of BLOCK_LINEARS) all.push({ layer, kind, module: `transformer.h.${layer}.${kind}` });
  }
  if (targets === 'all-linear') return all;
  if (targets.length === 0) throw new TrainConfigError('LoRA needs at least one target module');
  for (const t of targets) {
    if (t === 'lm_head' || t.endsWith('wte') || t.endsWith('wpe'))
      throw new TrainConfigError(`LoRA target '${t}' is not supported: LoRA wraps the blocks' linear layers (c_attn, c_proj, c_fc)`);
  }
  const matches = (module: string) => targets.some((t) => module === t || module.endsWith('.' + t));
  const picked = all.filter((m) => matches(m.module));
  const unmatched = targets.filter((t) => !all.some((m) => m.module === t || m.module.endsWith('.' + t)));
  if (unmatched.length > 0) {
    throw new TrainConfigError(
      `LoRA target module(s) ${unmatched.map((t) => `'${t}'`).join(', ')} not found in the model (GPT-2 has c_attn, c_proj, c_fc, or use all-linear)`,
    );
  }
  return picked;
}

/** Parses `--lora-targets` (`c_attn,c_proj` or `all-linear`). */
export function parseLoraTargets(text: string): string[] | 'all-linear' {
  const trimmed = text.trim();
  if (trimmed === 'all-linear') return 'all-linear';
  const list = trimmed
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (list.length === 0) throw new TrainConfigError(`--lora-targets is empty`);
  return list;
}

/** Throws a TrainConfigError (the settings are the user's to change) unless the strategy fits the model. */
export function validateStrategy(config: GPT2Config, s: StrategyConfig): StrategyConfig {
  switch (s.strategy) {
    case 'full':
      return s;
    case 'partial':
      if (!Number.isInteger(s.freezeLayers) || s.freezeLayers < 0 || s.freezeLayers > config.nLayer) {
        throw new TrainConfigError(`--freeze-layers must be an integer from 0 to ${config.nLayer} (the model's layer count), got ${s.freezeLayers}`);
      }
      return s;
    case 'lora':
      if (!Number.isInteger(s.r) || s.r < 1) throw new TrainConfigError(`--lora-r must be a positive integer, got ${s.r}`);
      if (!(s.alpha > 0)) throw new TrainConfigError(`--lora-alpha must be positive, got ${s.alpha}`);
      if (!(s.dropout >= 0 && s.dropout < 1)) throw new TrainConfigError(`--lora-dropout must be in [0, 1), got ${s.dropout}`);
      for (const t of loraTargets(config, s.targets)) {
        // B·A of rank r on an in×out weight: beyond min(in, out) the extra rank is only memory and time.
        const { in: i, out: o } = linearShape(config, t.kind);
        if (s.r > Math.min(i, o)) {
          throw new TrainConfigError(
            `--lora-r ${s.r} is larger than the ${t.kind} weights it adapts (${i}×${o}): a LoRA update B·A cannot have a rank above ${Math.min(i, o)}; use --lora-r ${Math.min(i, o)} or less, or --strategy full`,
          );
        }
      }
      return s;
    case 'adapter':
      if (!Number.isInteger(s.adapterDim) || s.adapterDim < 1) throw new TrainConfigError(`--adapter-dim must be a positive integer, got ${s.adapterDim}`);
      return s;
    case 'prompt':
      if (!Number.isInteger(s.virtualTokens) || s.virtualTokens < 1)
        throw new TrainConfigError(`--virtual-tokens must be a positive integer, got ${s.virtualTokens}`);
      if (s.virtualTokens >= config.nPositions)
        throw new TrainConfigError(`--virtual-tokens ${s.virtualTokens} leaves no room for the input in the model's context of ${config.nPositions}`);
      return s;
    default:
      throw new TrainConfigError(`unknown strategy '${(s as { strategy: string }).strategy}' (full, partial, lora, adapter or prompt)`);
  }
}

/** Whether block `layer` is frozen (its weights get no gradient). */
export function blockFrozen(s: StrategyConfig, layer: number): boolean {
  return baseFrozen(s) || (s.strategy === 'partial' && layer < s.freezeLayers);
}

/** Whether the token and position embeddings (and so the tied head) are frozen. */
export function embeddingsFrozen(s: StrategyConfig): boolean {
  return baseFrozen(s) || (s.strategy === 'partial' && s.freezeEmbeddings === true);
}

/** Whether the final layer norm is frozen: under LoRA, adapters and prompt tuning (partial freezes blocks, not ln_f). */
export function finalNormFrozen(s: StrategyConfig): boolean {
  return baseFrozen(s);
}

/** LoRA, adapters and prompt tuning train only what they add: the whole base model is frozen. */
export function baseFrozen(s: StrategyConfig): boolean {
  return s.strategy === 'lora' || s.strategy === 'adapter' || s.strategy === 'prompt';
}

/** Parameters of the bottleneck adapters of one block: two adapters of down [d→m] + up [m→d] with biases. */
export function adapterParamsPerBlock(nEmbd: number, adapterDim: number): number {
  return 2 * (2 * nEmbd * adapterDim + adapterDim + nEmbd);
}
