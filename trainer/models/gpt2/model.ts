// GPT-2 (Radford et al. 2019) as Hugging Face's GPT2LMHeadModel computes it: token + position
// embeddings, pre-LayerNorm blocks of causal self-attention and a gelu_new MLP, a final LayerNorm and
// an LM head tied to the token embedding. Weights keep HF's names and layouts (weights.ts), so loading
// and saving is a name map. The arithmetic lives in compute/ops.ts. This file knows no fine-tuning
// strategy: it shows its linears, blocks and embeddings through the CausalLM interface (../model.ts)
// and every parameter is built trainable; a strategy freezes and attaches afterwards.
import * as tf from '@tensorflow/tfjs-core';
import { attentionMaskBias, causalSelfAttention, crossEntropy, geluNew, layerNorm, linear, tiedLmHead } from '../../compute/ops';
import type { CausalLM, ForwardContext, LinearModule, ModelBlock, ModelDims, NamedTensor, SublayerHook, SublayerSite, WeightMap } from '../model';
import { forwardBlocks } from '../checkpoint';
import { dropPrefix, embedWithPrefix, modelInput } from '../inputs';
import { cachedAttention, decodeStepWith, KvCache, splitHeads } from '../kvCache';
import { checkFitsInMemory, validateConfig, type GPT2Config } from './config';
import { BLOCK_LINEARS, blockKey, canonicalKey, expectedKeys, expectedShape, isIgnoredCheckpointKey, linearShape, type BlockLinear } from './weights';

/** A parameter; built trainable, frozen later by setting `trainable` (ops.ts then treats it as a constant). */
function param(value: tf.Tensor): tf.Variable {
  const v = tf.variable(value, true);
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

/** HF's Conv1D: weight [in, out], bias [out]. */
class Conv1D implements LinearModule {
  constructor(
    readonly weight: tf.Variable,
    readonly bias: tf.Variable,
  ) {}
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return linear(x, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D);
  }
}

class Block implements ModelBlock {
  readonly hooks: Partial<Record<SublayerSite, SublayerHook>> = {};
  readonly name: string;
  constructor(
    readonly layer: number,
    readonly ln1: LayerNormParams,
    readonly ln2: LayerNormParams,
    /** The block's own Conv1Ds; the forward pass goes through `modules`, where a wrapper may stand in for one. */
    readonly convs: Record<BlockLinear, Conv1D>,
    private readonly modules: Map<string, LinearModule>,
    readonly nHead: number,
    readonly dropout: number,
  ) {
    this.name = `transformer.h.${layer}`;
  }

  private linear(kind: BlockLinear): LinearModule {
    return this.modules.get(blockKey(this.layer, kind))!;
  }

  parameters(): tf.Variable[] {
    const out = [this.ln1.weight, this.ln1.bias, this.ln2.weight, this.ln2.bias];
    for (const kind of BLOCK_LINEARS) out.push(this.convs[kind].weight, this.convs[kind].bias);
    return out;
  }

  forward(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    const drop = (t: tf.Tensor2D) => (ctx.training && this.dropout > 0 ? (tf.dropout(t, this.dropout, undefined, ctx.nextSeed()) as tf.Tensor2D) : t);
    const qkv = this.linear('attn.c_attn').forward(this.ln1.forward(x), ctx);
    const attnDropout = ctx.training && this.dropout > 0 ? (p: tf.Tensor) => tf.dropout(p, this.dropout, undefined, ctx.nextSeed()) : undefined;
    const attn = causalSelfAttention(qkv, ctx.batch, ctx.seq, this.nHead, ctx.maskBias, attnDropout);
    const hook = (f: SublayerHook | undefined, t: tf.Tensor2D) => (f ? f.forward(t) : t);
    const h = tf.add(x, drop(hook(this.hooks.attention, this.linear('attn.c_proj').forward(attn, ctx)))) as tf.Tensor2D;
    const mlp = geluNew(this.linear('mlp.c_fc').forward(this.ln2.forward(h), ctx)) as tf.Tensor2D;
    return tf.add(h, drop(hook(this.hooks.mlp, this.linear('mlp.c_proj').forward(mlp, ctx)))) as tf.Tensor2D;
  }

  /**
   * forward() without dropout for x [n, E], the next n positions of one sequence: their keys and values
   * join `cache` and the attention reads every cached position (`bias`: decodeMaskBias). The same
   * modules and hooks in the same order as forward(), which the cached-decoding tests hold it to.
   */
  decode(x: tf.Tensor2D, ctx: ForwardContext, cache: KvCache, bias: tf.Tensor2D | null): tf.Tensor2D {
    const [n, e] = x.shape;
    const qkv = this.linear('attn.c_attn').forward(this.ln1.forward(x), ctx);
    const part = (i: number) => tf.slice(qkv, [0, i * e], [n, e]) as tf.Tensor2D;
    const { k, v } = cache.append(this.layer, splitHeads(part(1), this.nHead), splitHeads(part(2), this.nHead));
    const attn = cachedAttention(part(0), k, v, this.nHead, bias);
    const hook = (f: SublayerHook | undefined, t: tf.Tensor2D) => (f ? f.forward(t) : t);
    const h = tf.add(x, hook(this.hooks.attention, this.linear('attn.c_proj').forward(attn, ctx))) as tf.Tensor2D;
    const mlp = geluNew(this.linear('mlp.c_fc').forward(this.ln2.forward(h), ctx)) as tf.Tensor2D;
    return tf.add(h, hook(this.hooks.mlp, this.linear('mlp.c_proj').forward(mlp, ctx))) as tf.Tensor2D;
  }
}

export class GPT2Model implements CausalLM {
  readonly family = 'gpt2';
  readonly dims: ModelDims;
  readonly wte: tf.Variable;
  readonly wpe: tf.Variable;
  readonly blocks: Block[];
  readonly lnF: LayerNormParams;
  readonly embeddings: { tokens: tf.Variable; positions: tf.Variable };
  inputPrefix?: tf.Tensor2D;
  dropoutCounter = 0;
  gradientCheckpointing = false;
  private initSeeds = 0;
  /** The module map the forward pass reads: every block linear by HF module name. */
  private readonly modules = new Map<string, LinearModule>();

  /** A randomly initialised GPT-2 (HF's init: N(0, 0.02), residual projections N(0, 0.02/√(2L)), LayerNorm 1/0). */
  constructor(
    readonly config: GPT2Config,
    readonly seed: number,
    weights?: Map<string, NamedTensor>,
  ) {
    // Sizes first: a shape that cannot be held must fail here, not after minutes of allocating.
    validateConfig(config);
    checkFitsInMemory(config, 'model');
    const { nEmbd: e, nLayer, vocabSize, nPositions } = config;
    this.dims = { vocabSize, maxPositions: nPositions, hiddenSize: e, numLayers: nLayer, numHeads: config.nHead };
    const get = (key: string, shape: number[], init: () => tf.Tensor): tf.Tensor => {
      if (!weights) return init();
      const w = weights.get(key);
      if (!w) throw new Error(`missing weight '${key}'`);
      if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`weight '${key}' has shape [${w.shape.join(', ')}], expected [${shape.join(', ')}] for this config`);
      }
      return tf.tensor(w.data, shape);
    };
    const normal = (shape: number[], std: number) => () => tf.randomNormal(shape, 0, std, 'float32', this.nextInitSeed());
    const zeros = (shape: number[]) => () => tf.zeros(shape);
    const ones = (shape: number[]) => () => tf.ones(shape);
    this.wte = param(get('transformer.wte.weight', [vocabSize, e], normal([vocabSize, e], 0.02)));
    this.wpe = param(get('transformer.wpe.weight', [nPositions, e], normal([nPositions, e], 0.02)));
    this.embeddings = { tokens: this.wte, positions: this.wpe };
    const projStd = 0.02 / Math.sqrt(2 * nLayer);
    this.blocks = [];
    for (let i = 0; i < nLayer; i++) {
      const ln = (name: string) =>
        new LayerNormParams(
          param(get(blockKey(i, `${name}.weight`), [e], ones([e]))),
          param(get(blockKey(i, `${name}.bias`), [e], zeros([e]))),
          config.layerNormEpsilon,
        );
      const conv = (name: BlockLinear) => {
        const { in: inDim, out: outDim } = linearShape(config, name);
        return new Conv1D(
          param(get(blockKey(i, `${name}.weight`), [inDim, outDim], normal([inDim, outDim], name.endsWith('c_proj') ? projStd : 0.02))),
          param(get(blockKey(i, `${name}.bias`), [outDim], zeros([outDim]))),
        );
      };
      const ln1 = ln('ln_1');
      const convs = { 'attn.c_attn': conv('attn.c_attn'), 'attn.c_proj': conv('attn.c_proj'), 'mlp.c_fc': conv('mlp.c_fc'), 'mlp.c_proj': conv('mlp.c_proj') };
      for (const kind of BLOCK_LINEARS) this.modules.set(blockKey(i, kind), convs[kind]);
      this.blocks.push(new Block(i, ln1, ln('ln_2'), convs, this.modules, config.nHead, config.dropout));
    }
    this.lnF = new LayerNormParams(
      param(get('transformer.ln_f.weight', [e], ones([e]))),
      param(get('transformer.ln_f.bias', [e], zeros([e]))),
      config.layerNormEpsilon,
    );
  }

  /**
   * A model holding `weights` (HF names, with or without `transformer.`; mask buffers and a tied
   * lm_head.weight are ignored). Every parameter must be present with its exact shape.
   */
  static fromWeights(config: GPT2Config, weights: WeightMap, seed: number): GPT2Model {
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
    return new GPT2Model(config, seed, normalized);
  }

  nextInitSeed(): number {
    return this.seed * 1000 + ++this.initSeeds;
  }

  private nextDropoutSeed(): number {
    return this.seed * 7919 + ++this.dropoutCounter;
  }

  namedLinears(): Map<string, LinearModule> {
    return new Map(this.modules);
  }

  replaceLinear(name: string, module: LinearModule): void {
    if (!this.modules.has(name)) throw new Error(`GPT-2 has no linear module '${name}'`);
    this.modules.set(name, module);
  }

  finalNormParameters(): tf.Variable[] {
    return [this.lnF.weight, this.lnF.bias];
  }

  /**
   * Final hidden states [B·T, E] of the input positions. With an input prefix the sequence the blocks
   * see is [prefix, input] (positions 0…N+T−1, mask 1 on the prefix, as PEFT's prompt tuning does);
   * only the input positions' states are returned.
   */
  hiddenStates(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const prefix = this.inputPrefix;
    const input = modelInput(inputIds, attentionMask, prefix, { maxPositions: this.config.nPositions, vocabSize: this.config.vocabSize });
    const { batch, seq } = input;
    const e = this.config.nEmbd;
    const ctx: ForwardContext = {
      batch,
      seq,
      maskBias: attentionMaskBias(input.attentionMask),
      training,
      nextSeed: () => this.nextDropoutSeed(),
    };
    const tok = embedWithPrefix(this.wte, inputIds, prefix, input);
    const pos = tf.slice(this.wpe, [0, 0], [seq, e]);
    let x = tf.reshape(tf.add(tok, pos), [batch * seq, e]) as tf.Tensor2D;
    if (training && this.config.dropout > 0) x = tf.dropout(x, this.config.dropout, undefined, ctx.nextSeed()) as tf.Tensor2D;
    x = forwardBlocks(this, this.blocks, x, ctx, (block, h, c) => block.forward(h, c));
    x = dropPrefix(x, input);
    return this.lnF.forward(x);
  }

  logits(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, seq] = inputIds.shape;
      return tf.reshape(tiedLmHead(this.hiddenStates(inputIds, attentionMask, false), this.wte as tf.Tensor2D), [batch, seq, this.config.vocabSize]);
    });
  }

  tokenLoss(inputIds: tf.Tensor2D, labels: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const [batch, seq] = inputIds.shape;
    const logits = tiedLmHead(this.hiddenStates(inputIds, attentionMask, training), this.wte as tf.Tensor2D);
    return tf.reshape(crossEntropy(logits, tf.reshape(labels, [batch * seq]) as tf.Tensor1D), [batch, seq]);
  }

  startCache(): KvCache {
    return new KvCache(this.config.nLayer, this.config.nPositions);
  }

  /**
   * The next ids' last logits [V] over `cache` (CausalLM.decodeStep): position embeddings from
   * cache.length on, the input prefix first on an empty cache, as hiddenStates lays them out.
   */
  decodeStep(ids: readonly number[], cache: KvCache): tf.Tensor1D {
    const { nEmbd: e, vocabSize } = this.config;
    return decodeStepWith(cache, ids, this.wte, this.inputPrefix, (embedded, { n, start, bias, maskBias }) => {
      const ctx: ForwardContext = { batch: 1, seq: n, maskBias, training: false, nextSeed: () => this.nextDropoutSeed() };
      let x = tf.add(embedded, tf.slice(this.wpe, [start, 0], [n, e])) as tf.Tensor2D;
      for (const block of this.blocks) x = block.decode(x, ctx, cache, bias);
      const last = this.lnF.forward(tf.slice(x, [n - 1, 0], [1, e]) as tf.Tensor2D);
      return tf.reshape(tiedLmHead(last, this.wte as tf.Tensor2D), [vocabSize]) as tf.Tensor1D;
    });
  }

  /** Parameters by HF name, in HF's order (a wrapper's own weights are not included). */
  namedParameters(): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [
      ['transformer.wte.weight', this.wte],
      ['transformer.wpe.weight', this.wpe],
    ];
    this.blocks.forEach((b, i) => {
      out.push([blockKey(i, 'ln_1.weight'), b.ln1.weight], [blockKey(i, 'ln_1.bias'), b.ln1.bias]);
      for (const kind of BLOCK_LINEARS) {
        if (kind === 'mlp.c_fc') out.push([blockKey(i, 'ln_2.weight'), b.ln2.weight], [blockKey(i, 'ln_2.bias'), b.ln2.bias]);
        out.push([blockKey(i, `${kind}.weight`), b.convs[kind].weight], [blockKey(i, `${kind}.bias`), b.convs[kind].bias]);
      }
    });
    out.push(['transformer.ln_f.weight', this.lnF.weight], ['transformer.ln_f.bias', this.lnF.bias]);
    return out;
  }

  /** GPT2LMHeadModel's state dict (keys with `transformer.`, tied lm_head omitted); Conv1D needs no transposes. */
  stateDict(opts: { merged?: boolean } = {}): Map<string, NamedTensor> {
    const merged = new Map<string, LinearModule>();
    if (opts.merged) for (const [name, m] of this.modules) if (m.mergedWeight) merged.set(`${name}.weight`, m);
    const out = new Map<string, NamedTensor>();
    for (const [name, v] of this.namedParameters()) {
      const module = merged.get(name);
      if (module) {
        const w = module.mergedWeight!();
        out.set(name, { shape: w.shape, data: w.dataSync() as Float32Array });
        w.dispose();
      } else {
        out.set(name, { shape: v.shape, data: v.dataSync() as Float32Array });
      }
    }
    return out;
  }

  dispose(): void {
    for (const [, v] of this.namedParameters()) v.dispose();
  }
}
