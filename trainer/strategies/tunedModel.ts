// A base model with a strategy applied (PEFT's PeftModel, made by get_peft_model): the strategy froze
// what does not train and attached its modules; this is what training, evaluation, generation and
// saving hold. It knows strategies only through the registry's Strategy interface.
import type * as tf from '@tensorflow/tfjs-core';
import { writeAdapterFolder } from '../formats/adapterFolder';
import type { CausalLM, NamedTensor } from '../models/model';
import type { ModelConfig } from '../models/registry';
import { familyOf } from '../models/registry';
import type { TrainableVariable } from '../optimizer';
import { strategyFor } from './index';
import type { AnyStrategyConfig, Attachment, Strategy, StrategyInitContext } from './strategy';

export class TunedModel {
  private constructor(
    readonly config: ModelConfig,
    readonly base: CausalLM,
    readonly strategy: AnyStrategyConfig,
    readonly impl: Strategy,
    readonly attachment: Attachment,
  ) {}

  /**
   * Freezes what `strategy` does not train and attaches its modules to `base` (validated before: see
   * loadModel.ts). The base model is disposed if attaching fails.
   */
  static apply(config: ModelConfig, base: CausalLM, strategy: AnyStrategyConfig): TunedModel {
    const impl = strategyFor(strategy.strategy);
    try {
      const plan = impl.trains(strategy);
      const freeze = (vars: tf.Variable[], trains: boolean) => {
        if (!trains) for (const v of vars) v.trainable = false;
      };
      freeze([base.embeddings.tokens, ...(base.embeddings.positions ? [base.embeddings.positions] : []), ...(base.headParameters?.() ?? [])], plan.embeddings);
      base.blocks.forEach((b, i) => freeze(b.parameters(), plan.block(i)));
      freeze(base.finalNormParameters(), plan.finalNorm);
      if (plan.parameter) {
        for (const [name, v] of base.namedParameters()) {
          const trains = plan.parameter(name);
          if (trains !== undefined) v.trainable = trains;
        }
      }
      return new TunedModel(config, base, strategy, impl, impl.attach(base, strategy));
    } catch (err) {
      base.dispose();
      throw err;
    }
  }

  get dropoutCounter(): number {
    return this.base.dropoutCounter;
  }

  set dropoutCounter(n: number) {
    this.base.dropoutCounter = n;
  }

  /** The trainable variables the strategy added (LoRA's A and B, adapters, prompt embeddings). */
  get addedVariables(): TrainableVariable[] {
    return this.attachment.variables;
  }

  /**
   * The variables the optimizer updates, frozen weights not among them: the base model's trainable
   * parameters in its order, then what the strategy added. Weight decay applies to matrices only.
   */
  trainableVariables(): TrainableVariable[] {
    const out: TrainableVariable[] = [];
    for (const [name, v] of this.base.namedParameters())
      if (v.trainable) out.push({ name, variable: v, decay: name.endsWith('.weight') && v.shape.length >= 2 });
    out.push(...this.attachment.variables);
    return out;
  }

  /** Base parameters by checkpoint name (the strategy's own not included). */
  namedParameters(): [string, tf.Variable][] {
    return this.base.namedParameters();
  }

  hiddenStates(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D {
    return this.base.hiddenStates(inputIds, attentionMask, training);
  }

  logits(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor3D {
    return this.base.logits(inputIds, attentionMask);
  }

  tokenLoss(inputIds: tf.Tensor2D, labels: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D {
    return this.base.tokenLoss(inputIds, labels, attentionMask, training);
  }

  /** The base model's checkpoint state dict; with `merged`, a mergeable strategy's update folded in (a plain full model). */
  hfStateDict(opts: { merged?: boolean } = {}): Map<string, NamedTensor> {
    return this.base.stateDict(opts);
  }

  /** The strategy's own weights, as its adapter folder holds them. */
  adapterStateDict(): Map<string, NamedTensor> {
    return this.attachment.stateDict();
  }

  /** Loads the strategy's own weights (an adapter folder's, readAdapter); every one must fit exactly. */
  loadAdapterState(weights: Map<string, { shape: readonly number[]; data: Float32Array }>): void {
    this.attachment.loadStateDict(weights);
  }

  /** A fresh run's initialisation that needs the tokenizer (prompt tuning's text init). */
  initialise(ctx: StrategyInitContext): void {
    this.impl.initialise?.(this.base, this.attachment, this.strategy, ctx);
  }

  dispose(): void {
    this.base.dispose();
    this.attachment.dispose();
  }
}

/** Writes the strategy's adapter folder (adapter_config.json + adapter_model.safetensors) into `dir`; returns the paths. */
export function saveAdapter(model: TunedModel, baseModelName: string, dir: string): string[] {
  const codec = model.impl.adapterFolder;
  if (!codec) throw new Error(`strategy '${model.strategy.strategy}' saves a full model, not an adapter folder`);
  const structure = familyOf(model.config).structure(model.config);
  return writeAdapterFolder(dir, codec.config(model.strategy, structure, baseModelName), model.adapterStateDict());
}
