// GPT-2 (Radford et al. 2019) as Hugging Face's GPT2LMHeadModel computes it: token + position
// embeddings, pre-LayerNorm blocks of causal self-attention and a gelu_new MLP, a final LayerNorm and
// an LM head tied to the token embedding. Weights keep HF's names and layouts (Conv1D weights are
// [in, out]) so loading and saving is a name map, written out below. The arithmetic lives in ops.ts.
import * as tf from '@tensorflow/tfjs-core';
import { checkFitsInMemory, validateConfig, type GPT2Config } from './config';
import { attachAdapters } from './adapter';
import { LoraLinear } from './lora';
import { attachPromptEmbeddings } from './promptTuning';
import { attentionMaskBias, causalSelfAttention, crossEntropy, geluNew, layerNorm, linear, tiedLmHead } from './ops';
import {
  BLOCK_LINEARS,
  blockFrozen,
  embeddingsFrozen,
  finalNormFrozen,
  loraTargets,
  validateStrategy,
  type BlockLinear,
  type StrategyConfig,
} from './strategy';

export type { StrategyConfig } from './strategy';

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** Weights by HF name (with or without `transformer.`): a Float32Array, or one with its shape. */
export type WeightMap = Map<string, Float32Array | { shape?: readonly number[]; data: Float32Array }>;

export interface TrainableVariable {
  /** HF name (`transformer.h.0.attn.c_attn.weight`) or PEFT key for LoRA weights. */
  name: string;
  variable: tf.Variable;
  /** Whether AdamW's weight decay applies: matrices yes; biases and LayerNorm parameters no. */
  decay: boolean;
}

/** What a forward pass needs besides the activations. */
interface ForwardContext {
  batch: number;
  seq: number;
  maskBias: tf.Tensor;
  training: boolean;
  /** A fresh seed for each dropout mask, derived from the model's seed. */
  nextSeed: () => number;
}

/** A parameter, trainable or frozen; frozen ones are non-trainable variables, which ops.ts treats as constants. */
function param(value: tf.Tensor, trainable: boolean): tf.Variable {
  const v = tf.variable(value, trainable);
  value.dispose();
  return v;
}

class LayerNormParams {
  constructor(
    readonly weight: tf.Variable,
    readonly bias: tf.Variable,
    readonly eps: number,
  ) {}
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return layerNorm(x, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D, this.eps);
  }
}

/** HF's Conv1D: weight [in, out], bias [out]; optionally wrapped by LoRA. */
class Conv1D {
  lora?: LoraLinear;
  constructor(
    readonly weight: tf.Variable,
    readonly bias: tf.Variable,
  ) {}
  forward(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    if (this.lora) return this.lora.apply(x, ctx.training, ctx.training ? ctx.nextSeed() : undefined);
    return linear(x, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D);
  }
}

/** A module inserted on a sublayer's output before the residual add (bottleneck adapters, adapter.ts). */
export interface SublayerHook {
  forward(x: tf.Tensor2D): tf.Tensor2D;
}

class Block {
  readonly linears: Record<BlockLinear, Conv1D>;
  /** Applied to the attention / MLP output before dropout and the residual add. */
  attnHook?: SublayerHook;
  mlpHook?: SublayerHook;
  constructor(
    readonly ln1: LayerNormParams,
    readonly ln2: LayerNormParams,
    linears: Record<BlockLinear, Conv1D>,
    readonly nHead: number,
    readonly dropout: number,
  ) {
    this.linears = linears;
  }

  forward(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    const drop = (t: tf.Tensor2D) => (ctx.training && this.dropout > 0 ? (tf.dropout(t, this.dropout, undefined, ctx.nextSeed()) as tf.Tensor2D) : t);
    const qkv = this.linears['attn.c_attn'].forward(this.ln1.forward(x), ctx);
    const attnDropout = ctx.training && this.dropout > 0 ? (p: tf.Tensor) => tf.dropout(p, this.dropout, undefined, ctx.nextSeed()) : undefined;
    const attn = causalSelfAttention(qkv, ctx.batch, ctx.seq, this.nHead, ctx.maskBias, attnDropout);
    const hook = (f: SublayerHook | undefined, t: tf.Tensor2D) => (f ? f.forward(t) : t);
    const h = tf.add(x, drop(hook(this.attnHook, this.linears['attn.c_proj'].forward(attn, ctx)))) as tf.Tensor2D;
    const mlp = geluNew(this.linears['mlp.c_fc'].forward(this.ln2.forward(h), ctx)) as tf.Tensor2D;
    return tf.add(h, drop(hook(this.mlpHook, this.linears['mlp.c_proj'].forward(mlp, ctx)))) as tf.Tensor2D;
  }
}

/** HF name of a block parameter, e.g. `transformer.h.3.mlp.c_fc.weight`. */
const blockKey = (layer: number, rest: string) => `transformer.h.${layer}.${rest}`;
/** PEFT's key for a LoRA tensor of `module` (`transformer.h.0.attn.c_attn`). */
export const peftKey = (module: string, which: 'lora_A' | 'lora_B') => `base_model.model.${module}.${which}.weight`;

/** Keys a HF checkpoint may carry that are not parameters: causal-mask buffers and the tied head. */
export function isIgnoredCheckpointKey(key: string): boolean {
  return /(^|\.)attn\.(bias|masked_bias)$/.test(key) || key === 'lm_head.weight';
}

/** `wte.weight` -> `transformer.wte.weight`; keys already prefixed are kept. */
export function canonicalKey(key: string): string {
  return key.startsWith('transformer.') || key === 'lm_head.weight' ? key : `transformer.${key}`;
}

export class GPT2Model {
  readonly wte: tf.Variable;
  readonly wpe: tf.Variable;
  readonly blocks: Block[];
  readonly lnF: LayerNormParams;
  readonly loraLayers: LoraLinear[] = [];
  /** Trainable weights other strategies add (adapters, prompt embeddings): trained, disposed with the model. */
  readonly addedVariables: TrainableVariable[] = [];
  /** Prompt tuning: [N, E] embeddings put before every input's token embeddings (promptTuning.ts). */
  promptEmbeddings?: tf.Variable;
  /** Dropout masks drawn so far; each mask's seed derives from it, so resetting it replays the same masks. */
  dropoutCounter = 0;

  /** A randomly initialised GPT-2 (HF's init: N(0, 0.02), residual projections N(0, 0.02/√(2L)), LayerNorm 1/0). */
  constructor(
    readonly config: GPT2Config,
    readonly strategy: StrategyConfig,
    readonly seed: number,
    weights?: Map<string, NamedTensor>,
  ) {
    // Sizes first: a shape that cannot be held must fail here, not after minutes of allocating.
    validateConfig(config);
    checkFitsInMemory(config, 'model');
    validateStrategy(config, strategy);
    const { nEmbd: e, nLayer, vocabSize, nPositions } = config;
    let seedCounter = 0;
    const nextInitSeed = () => seed * 1000 + ++seedCounter;
    const get = (key: string, shape: number[], init: () => tf.Tensor): tf.Tensor => {
      if (!weights) return init();
      const w = weights.get(key);
      if (!w) throw new Error(`missing weight '${key}'`);
      if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`weight '${key}' has shape [${w.shape.join(', ')}], expected [${shape.join(', ')}] for this config`);
      }
      return tf.tensor(w.data, shape);
    };
    const normal = (shape: number[], std: number) => () => tf.randomNormal(shape, 0, std, 'float32', nextInitSeed());
    const zeros = (shape: number[]) => () => tf.zeros(shape);
    const ones = (shape: number[]) => () => tf.ones(shape);
    const embTrain = !embeddingsFrozen(strategy);
    this.wte = param(get('transformer.wte.weight', [vocabSize, e], normal([vocabSize, e], 0.02)), embTrain);
    this.wpe = param(get('transformer.wpe.weight', [nPositions, e], normal([nPositions, e], 0.02)), embTrain);
    const projStd = 0.02 / Math.sqrt(2 * nLayer);
    this.blocks = [];
    for (let i = 0; i < nLayer; i++) {
      const train = !blockFrozen(strategy, i);
      const ln = (name: string) =>
        new LayerNormParams(
          param(get(blockKey(i, `${name}.weight`), [e], ones([e])), train),
          param(get(blockKey(i, `${name}.bias`), [e], zeros([e])), train),
          config.layerNormEpsilon,
        );
      const conv = (name: BlockLinear, inDim: number, outDim: number) =>
        new Conv1D(
          param(get(blockKey(i, `${name}.weight`), [inDim, outDim], normal([inDim, outDim], name.endsWith('c_proj') ? projStd : 0.02)), train),
          param(get(blockKey(i, `${name}.bias`), [outDim], zeros([outDim])), train),
        );
      const ln1 = ln('ln_1');
      const linears = {
        'attn.c_attn': conv('attn.c_attn', e, 3 * e),
        'attn.c_proj': conv('attn.c_proj', e, e),
        'mlp.c_fc': conv('mlp.c_fc', e, 4 * e),
        'mlp.c_proj': conv('mlp.c_proj', 4 * e, e),
      };
      this.blocks.push(new Block(ln1, ln('ln_2'), linears, config.nHead, config.dropout));
    }
    const fTrain = !finalNormFrozen(strategy);
    this.lnF = new LayerNormParams(
      param(get('transformer.ln_f.weight', [e], ones([e])), fTrain),
      param(get('transformer.ln_f.bias', [e], zeros([e])), fTrain),
      config.layerNormEpsilon,
    );
    if (strategy.strategy === 'lora') {
      for (const t of loraTargets(config, strategy.targets)) {
        const conv = this.blocks[t.layer].linears[t.kind];
        conv.lora = new LoraLinear(t.module, conv.weight as tf.Tensor2D, conv.bias as tf.Tensor1D, {
          r: strategy.r,
          alpha: strategy.alpha,
          dropout: strategy.dropout,
          seed: nextInitSeed(),
        });
        this.loraLayers.push(conv.lora);
      }
    }
    if (strategy.strategy === 'adapter') attachAdapters(this, strategy.adapterDim, nextInitSeed);
    if (strategy.strategy === 'prompt') attachPromptEmbeddings(this, strategy.virtualTokens, nextInitSeed());
  }

  /**
   * A model holding `weights` (HF names, with or without `transformer.`; mask buffers and a tied
   * lm_head.weight are ignored). Every parameter must be present with its exact shape.
   */
  static fromWeights(config: GPT2Config, weights: WeightMap, strategy: StrategyConfig, seed: number): GPT2Model {
    // expectedKeys builds a dozen strings per layer: bound the layer count before it does.
    validateConfig(config);
    const expected = new Set(expectedKeys(config));
    const normalized = new Map<string, NamedTensor>();
    for (const [rawKey, value] of weights) {
      if (isIgnoredCheckpointKey(rawKey)) continue;
      const key = canonicalKey(rawKey);
      if (!expected.has(key)) throw new Error(`unexpected weight '${rawKey}': not a parameter of a ${config.nLayer}-layer GPT-2`);
      const data = value instanceof Float32Array ? value : value.data;
      const shape = value instanceof Float32Array ? undefined : value.shape;
      normalized.set(key, { shape: shape ? [...shape] : expectedShape(config, key), data });
    }
    const missing = [...expected].filter((k) => !normalized.has(k));
    if (missing.length > 0)
      throw new Error(`missing weight(s): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`);
    return new GPT2Model(config, strategy, seed, normalized);
  }

  private nextDropoutSeed(): number {
    return this.seed * 7919 + ++this.dropoutCounter;
  }

  /**
   * Final hidden states [B·T, E] of the input positions. With prompt embeddings the sequence the blocks
   * see is [virtual tokens, input] (positions 0…N+T−1, mask 1 on the virtual tokens, as PEFT's prompt
   * tuning does); only the input positions' states are returned.
   */
  hidden(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const [batch, inputSeq] = inputIds.shape;
    const virtual = this.promptEmbeddings ? this.promptEmbeddings.shape[0] : 0;
    const seq = inputSeq + virtual;
    if (virtual > 0) attentionMask = tf.concat([tf.ones([batch, virtual]), attentionMask], 1) as tf.Tensor2D;
    if (seq > this.config.nPositions) throw new Error(`sequence length ${seq} exceeds the model's context (${this.config.nPositions})`);
    // An id past the vocabulary would read outside the embedding matrix on wasm: refuse it here.
    const idValues = inputIds.dataSync();
    for (let i = 0; i < idValues.length; i++) {
      if (!(idValues[i] >= 0 && idValues[i] < this.config.vocabSize))
        throw new Error(`token id ${idValues[i]} is outside the model's vocabulary (${this.config.vocabSize} tokens)`);
    }
    const e = this.config.nEmbd;
    const ctx: ForwardContext = {
      batch,
      seq,
      maskBias: attentionMaskBias(attentionMask),
      training,
      nextSeed: () => this.nextDropoutSeed(),
    };
    let tok = tf.reshape(tf.gather(this.wte, tf.reshape(inputIds, [batch * inputSeq])), [batch, inputSeq, e]);
    if (this.promptEmbeddings) tok = tf.concat([tf.tile(tf.expandDims(this.promptEmbeddings, 0), [batch, 1, 1]), tok], 1);
    const pos = tf.slice(this.wpe, [0, 0], [seq, e]);
    let x = tf.reshape(tf.add(tok, pos), [batch * seq, e]) as tf.Tensor2D;
    if (training && this.config.dropout > 0) x = tf.dropout(x, this.config.dropout, undefined, ctx.nextSeed()) as tf.Tensor2D;
    for (const block of this.blocks) x = block.forward(x, ctx);
    if (virtual > 0) x = tf.reshape(tf.slice(tf.reshape(x, [batch, seq, e]), [0, virtual, 0], [batch, inputSeq, e]), [batch * inputSeq, e]) as tf.Tensor2D;
    return this.lnF.forward(x);
  }

  /** Logits [B, T, V]; no dropout. */
  logits(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, seq] = inputIds.shape;
      return tf.reshape(tiedLmHead(this.hidden(inputIds, attentionMask, false), this.wte as tf.Tensor2D), [batch, seq, this.config.vocabSize]);
    });
  }

  /**
   * Cross-entropy per position [B, T]: labels[b, t] is the token to predict after position t (already
   * shifted), −1 where no loss is taken (0 there). Dropout is on when `training`.
   */
  tokenLoss(inputIds: tf.Tensor2D, labels: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const [batch, seq] = inputIds.shape;
    const logits = tiedLmHead(this.hidden(inputIds, attentionMask, training), this.wte as tf.Tensor2D);
    return tf.reshape(crossEntropy(logits, tf.reshape(labels, [batch * seq]) as tf.Tensor1D), [batch, seq]);
  }

  /** The variables the optimizer updates; frozen weights are not among them. */
  trainableVariables(): TrainableVariable[] {
    const out: TrainableVariable[] = [];
    for (const [name, v] of this.namedParameters()) if (v.trainable) out.push({ name, variable: v, decay: name.endsWith('.weight') && v.shape.length >= 2 });
    for (const l of this.loraLayers) {
      out.push({ name: peftKey(l.module, 'lora_A'), variable: l.aT, decay: true });
      out.push({ name: peftKey(l.module, 'lora_B'), variable: l.bT, decay: true });
    }
    out.push(...this.addedVariables);
    return out;
  }

  /** Base parameters by HF name (LoRA's own not included). */
  namedParameters(): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [
      ['transformer.wte.weight', this.wte],
      ['transformer.wpe.weight', this.wpe],
    ];
    this.blocks.forEach((b, i) => {
      out.push([blockKey(i, 'ln_1.weight'), b.ln1.weight], [blockKey(i, 'ln_1.bias'), b.ln1.bias]);
      for (const kind of BLOCK_LINEARS) {
        if (kind === 'mlp.c_fc') out.push([blockKey(i, 'ln_2.weight'), b.ln2.weight], [blockKey(i, 'ln_2.bias'), b.ln2.bias]);
        out.push([blockKey(i, `${kind}.weight`), b.linears[kind].weight], [blockKey(i, `${kind}.bias`), b.linears[kind].bias]);
      }
    });
    out.push(['transformer.ln_f.weight', this.lnF.weight], ['transformer.ln_f.bias', this.lnF.bias]);
    return out;
  }

  /**
   * GPT2LMHeadModel's state dict (keys with `transformer.`, tied lm_head omitted). With `merged`, each
   * LoRA-wrapped weight is W0 + (α/r)·(B·A)ᵀ, so the result loads as a plain full model.
   */
  hfStateDict(opts: { merged?: boolean } = {}): Map<string, NamedTensor> {
    const merged = new Map<string, LoraLinear>();
    if (opts.merged) for (const l of this.loraLayers) merged.set(`${l.module}.weight`, l);
    const out = new Map<string, NamedTensor>();
    for (const [name, v] of this.namedParameters()) {
      const lora = merged.get(name);
      if (lora) {
        const w = lora.mergedWeight();
        out.set(name, { shape: w.shape, data: w.dataSync() as Float32Array });
        w.dispose();
      } else {
        out.set(name, { shape: v.shape, data: v.dataSync() as Float32Array });
      }
    }
    return out;
  }

  /** LoRA weights with PEFT's keys and layouts: lora_A [r, in], lora_B [out, r]. */
  loraStateDict(): Map<string, NamedTensor> {
    const out = new Map<string, NamedTensor>();
    for (const l of this.loraLayers) {
      const { a, b } = l.peftTensors();
      out.set(peftKey(l.module, 'lora_A'), a);
      out.set(peftKey(l.module, 'lora_B'), b);
    }
    return out;
  }

  /** Loads PEFT LoRA weights (keys as loraStateDict writes them; `.default.` adapter names accepted). */
  loadLoraStateDict(map: Map<string, { shape: readonly number[]; data: Float32Array }>): void {
    if (this.loraLayers.length === 0) throw new Error('this model has no LoRA layers (strategy is not lora)');
    const byKey = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const [k, v] of map) byKey.set(k.replace(/\.(lora_[AB])\.default\.weight$/, '.$1.weight'), v);
    const used = new Set<string>();
    for (const l of this.loraLayers) {
      const ka = peftKey(l.module, 'lora_A');
      const kb = peftKey(l.module, 'lora_B');
      const a = byKey.get(ka);
      const b = byKey.get(kb);
      if (!a || !b) throw new Error(`adapter has no weights for ${l.module} (expected ${ka} and ${kb})`);
      l.loadPeft(a, b);
      used.add(ka).add(kb);
    }
    const extra = [...byKey.keys()].filter((k) => !used.has(k));
    if (extra.length > 0)
      throw new Error(`adapter weight(s) for modules this model does not wrap: ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}`);
  }

  dispose(): void {
    for (const [, v] of this.namedParameters()) v.dispose();
    for (const l of this.loraLayers) l.dispose();
    for (const v of this.addedVariables) v.variable.dispose();
  }
}

/** Every parameter key of a GPT2LMHeadModel of this config (with `transformer.`). */
export function expectedKeys(config: GPT2Config): string[] {
  const keys = ['transformer.wte.weight', 'transformer.wpe.weight'];
  for (let i = 0; i < config.nLayer; i++) {
    for (const n of ['ln_1', 'ln_2']) keys.push(blockKey(i, `${n}.weight`), blockKey(i, `${n}.bias`));
    for (const kind of BLOCK_LINEARS) keys.push(blockKey(i, `${kind}.weight`), blockKey(i, `${kind}.bias`));
  }
  keys.push('transformer.ln_f.weight', 'transformer.ln_f.bias');
  return keys;
}

/** The shape of parameter `key` in a model of this config. */
export function expectedShape(config: GPT2Config, key: string): number[] {
  const e = config.nEmbd;
  if (key === 'transformer.wte.weight') return [config.vocabSize, e];
  if (key === 'transformer.wpe.weight') return [config.nPositions, e];
  if (/ln_(1|2|f)\.(weight|bias)$/.test(key)) return [e];
  const m = /h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.(weight|bias)$/.exec(key);
  if (!m) throw new Error(`not a GPT-2 parameter: ${key}`);
  const out = { 'attn.c_attn': 3 * e, 'attn.c_proj': e, 'mlp.c_fc': 4 * e, 'mlp.c_proj': e }[m[1] as BlockLinear];
  const inDim = m[1] === 'mlp.c_proj' ? 4 * e : e;
  return m[2] === 'weight' ? [inDim, out] : [out];
}
