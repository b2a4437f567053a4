// Llama, Qwen2 and Qwen3 as transformers' LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM compute
// them: token embeddings, pre-RMSNorm decoder layers of grouped-query self-attention with rotary
// position embeddings (Qwen3: per-head q/k RMSNorm before the rotation; Qwen2: q/k/v biases) and a
// SwiGLU MLP, a final RMSNorm and an LM head tied to the embedding or its own. Every size and bias comes
// from the config (config.ts); the arithmetic is ops.ts's and compute/ops.ts's. Weights keep transformers'
// names; nn.Linear's [out, in] is transposed on load and save to the [in, out] every LinearModule has.
// This file knows no fine-tuning strategy: it shows its linears, blocks and embeddings through the
// CausalLM interface (../model.ts), every parameter built trainable.
import * as tf from '@tensorflow/tfjs-core';
import { attentionMaskBias, causalSelfAttention, crossEntropy, linear, tiedLmHead } from '../../compute/ops';
import type { CausalLM, ForwardContext, LinearModule, ModelBlock, ModelDims, NamedTensor, SublayerHook, SublayerSite, WeightMap } from '../model';
import { forwardBlocks } from '../checkpoint';
import { dropPrefix, embedWithPrefix, modelInput } from '../inputs';
import { cachedAttention, decodeStepWith, KvCache, splitHeads } from '../kvCache';
import { checkFitsInMemory, hasQkNorm, LAYER_LINEARS, type LayerLinear, type LlamaConfig, linearHasBias, linearShape, validateConfig } from './config';
import { repeatKv, rmsNorm, rope, ropeInvFreq, ropeTables, swiglu } from './ops';
import { checkCheckpointShapes, checkpointShapes, EMBED_KEY, FINAL_NORM_KEY, LM_HEAD_KEY, layerKey } from './weights';

/** A parameter; built trainable, frozen later by setting `trainable` (the ops then treat it as a constant). */
function param(value: tf.Tensor): tf.Variable {
  const v = tf.variable(value, true);
  value.dispose();
  return v;
}

/** rows × cols row-major -> its transpose (nn.Linear's [out, in] <-> the compute's [in, out]). */
export function transposeData(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  return out;
}

class RMSNorm {
  constructor(
    readonly weight: tf.Variable,
    readonly eps: number,
  ) {}
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return rmsNorm(x, this.weight as tf.Tensor1D, this.eps);
  }
}

/** nn.Linear, its weight held as [in, out]. */
class Linear implements LinearModule {
  constructor(
    readonly weight: tf.Variable,
    readonly bias: tf.Variable | null,
  ) {}
  forward(x: tf.Tensor2D): tf.Tensor2D {
    return linear(x, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D | null);
  }
}

/** What every layer's forward pass shares: the RoPE tables of this sequence length. */
interface LayerContext extends ForwardContext {
  cos: tf.Tensor2D;
  sin: tf.Tensor2D;
}

class DecoderLayer implements ModelBlock {
  readonly hooks: Partial<Record<SublayerSite, SublayerHook>> = {};
  readonly name: string;
  constructor(
    readonly layer: number,
    readonly config: LlamaConfig,
    readonly inputNorm: RMSNorm,
    readonly postNorm: RMSNorm,
    /** The layer's own linears; the forward pass goes through `modules`, where a wrapper may stand in for one. */
    readonly linears: Record<LayerLinear, Linear>,
    readonly qkNorm: { q: RMSNorm; k: RMSNorm } | null,
    private readonly modules: Map<string, LinearModule>,
  ) {
    this.name = `model.layers.${layer}`;
  }

  private linear(kind: LayerLinear): LinearModule {
    return this.modules.get(layerKey(this.layer, kind))!;
  }

  /** The layer's parameters in state-dict order. */
  named(): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [];
    const add = (kind: LayerLinear) => {
      out.push([layerKey(this.layer, `${kind}.weight`), this.linears[kind].weight]);
      const b = this.linears[kind].bias;
      if (b) out.push([layerKey(this.layer, `${kind}.bias`), b]);
    };
    for (const kind of LAYER_LINEARS.slice(0, 4)) add(kind);
    if (this.qkNorm) {
      out.push(
        [layerKey(this.layer, 'self_attn.q_norm.weight'), this.qkNorm.q.weight],
        [layerKey(this.layer, 'self_attn.k_norm.weight'), this.qkNorm.k.weight],
      );
    }
    for (const kind of LAYER_LINEARS.slice(4)) add(kind);
    out.push(
      [layerKey(this.layer, 'input_layernorm.weight'), this.inputNorm.weight],
      [layerKey(this.layer, 'post_attention_layernorm.weight'), this.postNorm.weight],
    );
    return out;
  }

  parameters(): tf.Variable[] {
    return this.named().map(([, v]) => v);
  }

  forward(x: tf.Tensor2D, ctx: LayerContext): tf.Tensor2D {
    const c = this.config;
    const { batch, seq } = ctx;
    const n = batch * seq;
    const h = this.inputNorm.forward(x);
    let q = this.linear('self_attn.q_proj').forward(h, ctx);
    let k = this.linear('self_attn.k_proj').forward(h, ctx);
    const v = this.linear('self_attn.v_proj').forward(h, ctx);
    if (this.qkNorm) {
      // Qwen3: RMSNorm of each head's vector over head_dim, before the rotation.
      q = tf.reshape(this.qkNorm.q.forward(tf.reshape(q, [n * c.numHeads, c.headDim])), [n, c.numHeads * c.headDim]);
      k = tf.reshape(this.qkNorm.k.forward(tf.reshape(k, [n * c.numKvHeads, c.headDim])), [n, c.numKvHeads * c.headDim]);
    }
    q = rope(q, batch, seq, c.numHeads, ctx.cos, ctx.sin);
    k = rope(k, batch, seq, c.numKvHeads, ctx.cos, ctx.sin);
    const nRep = c.numHeads / c.numKvHeads;
    // The shared attention core takes q, k, v side by side with equal head counts: GQA repeats k and v first.
    const qkv = tf.concat([q, repeatKv(k, c.numKvHeads, nRep), repeatKv(v, c.numKvHeads, nRep)], 1) as tf.Tensor2D;
    const dropout = ctx.training && c.attentionDropout > 0 ? (p: tf.Tensor) => tf.dropout(p, c.attentionDropout, undefined, ctx.nextSeed()) : undefined;
    const attn = causalSelfAttention(qkv, batch, seq, c.numHeads, ctx.maskBias, dropout);
    const hook = (f: SublayerHook | undefined, t: tf.Tensor2D) => (f ? f.forward(t) : t);
    const afterAttn = tf.add(x, hook(this.hooks.attention, this.linear('self_attn.o_proj').forward(attn, ctx))) as tf.Tensor2D;
    const h2 = this.postNorm.forward(afterAttn);
    const gated = swiglu(this.linear('mlp.gate_proj').forward(h2, ctx), this.linear('mlp.up_proj').forward(h2, ctx));
    return tf.add(afterAttn, hook(this.hooks.mlp, this.linear('mlp.down_proj').forward(gated, ctx))) as tf.Tensor2D;
  }

  /**
   * forward() for x [n, E], the next n positions of one sequence (ctx's cos and sin are their absolute
   * positions' rows): the rotated keys and the values join `cache` with their kv heads only, and the
   * attention reads every cached position (`bias`: decodeMaskBias). The same modules and hooks in the
   * same order as forward(), which the cached-decoding tests hold it to.
   */
  decode(x: tf.Tensor2D, ctx: LayerContext, cache: KvCache, bias: tf.Tensor2D | null): tf.Tensor2D {
    const c = this.config;
    const n = x.shape[0];
    const h = this.inputNorm.forward(x);
    let q = this.linear('self_attn.q_proj').forward(h, ctx);
    let k = this.linear('self_attn.k_proj').forward(h, ctx);
    const v = this.linear('self_attn.v_proj').forward(h, ctx);
    if (this.qkNorm) {
      q = tf.reshape(this.qkNorm.q.forward(tf.reshape(q, [n * c.numHeads, c.headDim])), [n, c.numHeads * c.headDim]);
      k = tf.reshape(this.qkNorm.k.forward(tf.reshape(k, [n * c.numKvHeads, c.headDim])), [n, c.numKvHeads * c.headDim]);
    }
    q = rope(q, 1, n, c.numHeads, ctx.cos, ctx.sin);
    k = rope(k, 1, n, c.numKvHeads, ctx.cos, ctx.sin);
    const cached = cache.append(this.layer, splitHeads(k, c.numKvHeads), splitHeads(v, c.numKvHeads));
    const attn = cachedAttention(q, cached.k, cached.v, c.numHeads, bias);
    const hook = (f: SublayerHook | undefined, t: tf.Tensor2D) => (f ? f.forward(t) : t);
    const afterAttn = tf.add(x, hook(this.hooks.attention, this.linear('self_attn.o_proj').forward(attn, ctx))) as tf.Tensor2D;
    const h2 = this.postNorm.forward(afterAttn);
    const gated = swiglu(this.linear('mlp.gate_proj').forward(h2, ctx), this.linear('mlp.up_proj').forward(h2, ctx));
    return tf.add(afterAttn, hook(this.hooks.mlp, this.linear('mlp.down_proj').forward(gated, ctx))) as tf.Tensor2D;
  }
}

export class LlamaModel implements CausalLM {
  readonly family: string;
  readonly dims: ModelDims;
  readonly embedTokens: tf.Variable;
  /** The untied head [V, E] (lm_head.weight's own layout), or null when it is embed_tokens. */
  readonly lmHead: tf.Variable | null;
  readonly blocks: DecoderLayer[];
  readonly norm: RMSNorm;
  readonly embeddings: { tokens: tf.Variable };
  inputPrefix?: tf.Tensor2D;
  dropoutCounter = 0;
  gradientCheckpointing = false;
  private initSeeds = 0;
  private readonly modules = new Map<string, LinearModule>();
  private readonly invFreq: Float32Array;
  private tables?: { seq: number; cos: Float32Array; sin: Float32Array };
  /** Decoding's RoPE rows for positions 0…seq−1, grown as the cache grows. */
  private decodeTables?: { seq: number; cos: Float32Array; sin: Float32Array };

  /**
   * A randomly initialised model (transformers' _init_weights: every linear and the embedding
   * N(0, initializer_range), biases 0, norm gains 1), or one holding `weights` (checkpoint names and
   * layouts, already checked by fromWeights).
   */
  constructor(
    readonly config: LlamaConfig,
    readonly seed: number,
    weights?: Map<string, NamedTensor>,
  ) {
    // Sizes first: a shape that cannot be held must fail here, not after minutes of allocating.
    validateConfig(config);
    checkFitsInMemory(config, 'model');
    this.family = config.modelType;
    const e = config.hiddenSize;
    this.dims = { vocabSize: config.vocabSize, maxPositions: config.maxPositions, hiddenSize: e, numLayers: config.numLayers, numHeads: config.numHeads };
    this.invFreq = ropeInvFreq(config.headDim, config.ropeTheta, config.rope);
    const std = config.initializerRange;
    const stored = (key: string) => {
      const w = weights?.get(key);
      if (weights && !w) throw new Error(`missing weight '${key}'`);
      return w;
    };
    const vector = (key: string, size: number, fill: 0 | 1) => {
      const w = stored(key);
      return param(w ? tf.tensor1d(w.data) : fill === 1 ? tf.ones([size]) : tf.zeros([size]));
    };
    const matrix = (key: string, rows: number, cols: number) => {
      const w = stored(key);
      return param(w ? tf.tensor2d(w.data, [rows, cols]) : tf.randomNormal([rows, cols], 0, std, 'float32', this.nextInitSeed()));
    };
    this.embedTokens = matrix(EMBED_KEY, config.vocabSize, e);
    this.embeddings = { tokens: this.embedTokens };
    this.blocks = [];
    for (let i = 0; i < config.numLayers; i++) {
      const lin = (kind: LayerLinear) => {
        const { in: inDim, out: outDim } = linearShape(config, kind);
        const key = layerKey(i, `${kind}.weight`);
        const w = stored(key);
        const weight = param(
          w ? tf.tensor2d(transposeData(w.data, outDim, inDim), [inDim, outDim]) : tf.randomNormal([inDim, outDim], 0, std, 'float32', this.nextInitSeed()),
        );
        const bias = linearHasBias(config, kind) ? vector(layerKey(i, `${kind}.bias`), outDim, 0) : null;
        return new Linear(weight, bias);
      };
      const linears = {} as Record<LayerLinear, Linear>;
      for (const kind of LAYER_LINEARS.slice(0, 4)) linears[kind] = lin(kind);
      const qkNorm = hasQkNorm(config)
        ? {
            q: new RMSNorm(vector(layerKey(i, 'self_attn.q_norm.weight'), config.headDim, 1), config.rmsNormEps),
            k: new RMSNorm(vector(layerKey(i, 'self_attn.k_norm.weight'), config.headDim, 1), config.rmsNormEps),
          }
        : null;
      for (const kind of LAYER_LINEARS.slice(4)) linears[kind] = lin(kind);
      for (const kind of LAYER_LINEARS) this.modules.set(layerKey(i, kind), linears[kind]);
      const inputNorm = new RMSNorm(vector(layerKey(i, 'input_layernorm.weight'), e, 1), config.rmsNormEps);
      const postNorm = new RMSNorm(vector(layerKey(i, 'post_attention_layernorm.weight'), e, 1), config.rmsNormEps);
      this.blocks.push(new DecoderLayer(i, config, inputNorm, postNorm, linears, qkNorm, this.modules));
    }
    this.norm = new RMSNorm(vector(FINAL_NORM_KEY, e, 1), config.rmsNormEps);
    this.lmHead = config.tieWordEmbeddings ? null : matrix(LM_HEAD_KEY, config.vocabSize, e);
  }

  /**
   * A model holding `weights` (checkpoint names and layouts; rotary buffers and a tied model's saved
   * lm_head.weight are skipped). Every parameter must be present with its exact shape, checked before
   * anything is allocated.
   */
  static fromWeights(config: LlamaConfig, weights: WeightMap, seed: number): LlamaModel {
    // checkpointShapes builds a dozen strings per layer: bound the layer count before it does.
    validateConfig(config);
    const expected = checkpointShapes(config);
    const shapes = new Map<string, { shape: readonly number[] }>();
    for (const [key, value] of weights) {
      const data = value instanceof Float32Array ? value : value.data;
      const shape = value instanceof Float32Array ? undefined : value.shape;
      // A weight given without a shape is taken at the config's shape when its size agrees.
      const want = expected.get(key);
      const assumed = shape ?? (want && want.reduce((a, b) => a * b, 1) === data.length ? want : [data.length]);
      shapes.set(key, { shape: assumed });
    }
    const keep = checkCheckpointShapes(config, shapes, 'weights');
    const normalized = new Map<string, NamedTensor>();
    for (const [key, value] of weights) {
      if (!keep.has(key)) continue;
      const data = value instanceof Float32Array ? value : value.data;
      normalized.set(key, { shape: [...shapes.get(key)!.shape], data });
    }
    return new LlamaModel(config, seed, normalized);
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
    if (!this.modules.has(name)) throw new Error(`${this.family} has no linear module '${name}'`);
    this.modules.set(name, module);
  }

  finalNormParameters(): tf.Variable[] {
    return [this.norm.weight];
  }

  /** The untied LM head's parameters (none when tied): the head trains with the embeddings (ModelStructure.lmHead counts it so). */
  headParameters(): tf.Variable[] {
    return this.lmHead ? [this.lmHead] : [];
  }

  /** cos and sin of positions 0…seq−1, computed once per sequence length. */
  private ropeFor(seq: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
    if (this.tables?.seq !== seq) this.tables = { seq, ...ropeTables(this.invFreq, seq) };
    const d = this.config.headDim;
    return { cos: tf.tensor2d(this.tables.cos, [seq, d]), sin: tf.tensor2d(this.tables.sin, [seq, d]) };
  }

  /**
   * Final hidden states [B·T, E] of the input positions. With an input prefix the sequence the layers
   * see is [prefix, input] (positions 0…N+T−1, mask 1 on the prefix, as PEFT's prompt tuning does);
   * only the input positions' states are returned.
   */
  hiddenStates(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const prefix = this.inputPrefix;
    const input = modelInput(inputIds, attentionMask, prefix, { maxPositions: this.config.maxPositions, vocabSize: this.config.vocabSize });
    const { batch, seq } = input;
    const e = this.config.hiddenSize;
    const ctx: LayerContext = {
      batch,
      seq,
      maskBias: attentionMaskBias(input.attentionMask),
      training,
      nextSeed: () => this.nextDropoutSeed(),
      ...this.ropeFor(seq),
    };
    let h = tf.reshape(embedWithPrefix(this.embedTokens, inputIds, prefix, input), [batch * seq, e]) as tf.Tensor2D;
    h = forwardBlocks(this, this.blocks, h, ctx, (block, x, c) => block.forward(x, c));
    h = dropPrefix(h, input);
    return this.norm.forward(h);
  }

  startCache(): KvCache {
    return new KvCache(this.config.numLayers, this.config.maxPositions);
  }

  /**
   * cos and sin [n, headDim] of positions start…start+n−1. A position's row does not depend on the
   * table's length (ropeTables), so one table, doubled when a step passes its end, serves every step.
   */
  private decodeRope(start: number, n: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
    const need = start + n;
    if (!this.decodeTables || this.decodeTables.seq < need) {
      const seq = Math.min(this.config.maxPositions, Math.max(need, 2 * (this.decodeTables?.seq ?? 0)));
      this.decodeTables = { seq, ...ropeTables(this.invFreq, seq) };
    }
    const d = this.config.headDim;
    const rows = (t: Float32Array) => tf.tensor2d(t.subarray(start * d, need * d), [n, d]);
    return { cos: rows(this.decodeTables.cos), sin: rows(this.decodeTables.sin) };
  }

  /**
   * The next ids' last logits [V] over `cache` (CausalLM.decodeStep): rotary positions from cache.length
   * on, the input prefix first on an empty cache, as hiddenStates lays them out.
   */
  decodeStep(ids: readonly number[], cache: KvCache): tf.Tensor1D {
    const { hiddenSize: e, vocabSize } = this.config;
    return decodeStepWith(cache, ids, this.embedTokens, this.inputPrefix, (embedded, { n, start, bias, maskBias }) => {
      const ctx: LayerContext = { batch: 1, seq: n, maskBias, training: false, nextSeed: () => this.nextDropoutSeed(), ...this.decodeRope(start, n) };
      let h = embedded;
      for (const block of this.blocks) h = block.decode(h, ctx, cache, bias);
      const last = this.norm.forward(tf.slice(h, [n - 1, 0], [1, e]) as tf.Tensor2D);
      return tf.reshape(this.head(last), [vocabSize]) as tf.Tensor1D;
    });
  }

  /** h·Wᵀ with W [V, E]: embed_tokens when tied, lm_head otherwise (both in that layout). */
  private head(h: tf.Tensor2D): tf.Tensor2D {
    return tiedLmHead(h, (this.lmHead ?? this.embedTokens) as tf.Tensor2D);
  }

  logits(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, seq] = inputIds.shape;
      return tf.reshape(this.head(this.hiddenStates(inputIds, attentionMask, false)), [batch, seq, this.config.vocabSize]);
    });
  }

  tokenLoss(inputIds: tf.Tensor2D, labels: tf.Tensor2D, attentionMask: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const [batch, seq] = inputIds.shape;
    const logits = this.head(this.hiddenStates(inputIds, attentionMask, training));
    return tf.reshape(crossEntropy(logits, tf.reshape(labels, [batch * seq]) as tf.Tensor1D), [batch, seq]);
  }

  /** Parameters by checkpoint name in the state dict's order (a wrapper's own weights are not included); linear weights are held [in, out]. */
  namedParameters(): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [[EMBED_KEY, this.embedTokens]];
    for (const b of this.blocks) out.push(...b.named());
    out.push([FINAL_NORM_KEY, this.norm.weight]);
    if (this.lmHead) out.push([LM_HEAD_KEY, this.lmHead]);
    return out;
  }

  /**
   * The checkpoint state dict: transformers' names, nn.Linear weights back in [out, in], a tied head
   * omitted. With `merged`, each linear that has a mergedWeight (LoRA) exports it instead.
   */
  stateDict(opts: { merged?: boolean } = {}): Map<string, NamedTensor> {
    const linearWeights = new Map<string, LinearModule>();
    for (const [name, m] of this.modules) linearWeights.set(`${name}.weight`, m);
    const out = new Map<string, NamedTensor>();
    for (const [name, v] of this.namedParameters()) {
      const module = linearWeights.get(name);
      if (!module) {
        out.set(name, { shape: v.shape, data: v.dataSync() as Float32Array });
        continue;
      }
      const w = opts.merged && module.mergedWeight ? module.mergedWeight() : v;
      const [inDim, outDim] = w.shape;
      out.set(name, { shape: [outDim, inDim], data: transposeData(w.dataSync() as Float32Array, inDim, outDim) });
      if (w !== v) w.dispose();
    }
    return out;
  }

  dispose(): void {
    for (const [, v] of this.namedParameters()) v.dispose();
  }
}
