// LoRA (Hu et al. 2021): y = base(x) + (α/r)·dropout(x)·Aᵀ·Bᵀ with the base linear frozen, A [r, in]
// initialised like PEFT (kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in)) and B [out, r] zero, so
// training starts exactly at the base model. As PEFT's LoraLayer, a LoraLinear holds the base module
// and takes its place in the model's module map. A and B are kept transposed (Aᵀ [in, r], Bᵀ [r, out])
// because that makes both products untransposed; PEFT's layout is produced on save. The scaling α/r is
// applied in this one place.
//
// Saved as PEFT saves it (PeftModel.from_pretrained loads it): adapter_config.json (peft_type LORA) +
// adapter_model.safetensors with base_model.model.<module>.lora_A.weight [r, in] and lora_B.weight [out, r].
import * as tf from '@tensorflow/tfjs-core';
import { STRATEGY_SPECS, TrainConfigError } from '../../protocol/options';
import { linear } from '../compute/ops';
import { readAdapterFolder } from '../formats/adapterFolder';
import { ModelFileError } from '../formats/modelFolder';
import type { CausalLM, ForwardContext, LinearInfo, LinearModule, ModelStructure, NamedTensor } from '../models/model';
import type { TrainableVariable } from '../optimizer';
import { TRAINS_NONE, type AdapterFolderCodec, type Attachment, type Strategy, type StrategyConfig } from './strategy';

export type LoraConfig = Extract<StrategyConfig, { strategy: 'lora' }>;

export interface LoraOptions {
  r: number;
  alpha: number;
  dropout: number;
  seed: number;
}

/** PEFT's key for a LoRA tensor of `module` (`transformer.h.0.attn.c_attn`). */
export const peftKey = (module: string, which: 'lora_A' | 'lora_B') => `base_model.model.${module}.${which}.weight`;

export class LoraLinear implements LinearModule {
  /** Aᵀ: [in, r]. */
  readonly aT: tf.Variable<tf.Rank.R2>;
  /** Bᵀ: [r, out]. */
  readonly bT: tf.Variable<tf.Rank.R2>;
  /** α / r, applied in this one place. */
  readonly scaling: number;
  readonly r: number;
  readonly dropout: number;

  constructor(
    /** HF module name, e.g. `transformer.h.0.attn.c_attn`. */
    readonly module: string,
    /** The frozen linear this one wraps. */
    readonly base: LinearModule,
    opts: LoraOptions,
  ) {
    const [inDim, outDim] = base.weight.shape;
    this.r = opts.r;
    this.dropout = opts.dropout;
    this.scaling = opts.alpha / opts.r;
    const bound = 1 / Math.sqrt(inDim);
    // tf.variable copies its initial value: tidy disposes the temporaries.
    this.aT = tf.tidy(() => tf.variable(tf.randomUniform([inDim, opts.r], -bound, bound, 'float32', opts.seed), true));
    this.bT = tf.tidy(() => tf.variable(tf.zeros([opts.r, outDim]), true));
  }

  get weight(): tf.Variable {
    return this.base.weight;
  }

  get bias(): tf.Variable | null {
    return this.base.bias;
  }

  /** x [N, in] -> [N, out]. A training pass draws a dropout seed whether or not dropout is on, so the masks after it stay where they were. */
  forward(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    const dropoutSeed = ctx.training ? ctx.nextSeed() : undefined;
    const base = this.base.forward(x, ctx);
    const input = ctx.training && this.dropout > 0 ? (tf.dropout(x, this.dropout, undefined, dropoutSeed) as tf.Tensor2D) : x;
    // Scale the r-wide intermediate rather than the out-wide update: same product, a far smaller tensor.
    const update = linear(tf.mul(linear(input, this.aT, null), this.scaling) as tf.Tensor2D, this.bT, null);
    return tf.add(base, update);
  }

  /** W0 + (α/r)·(B·A)ᵀ in the [in, out] layout: the weight a merged model carries. */
  mergedWeight(): tf.Tensor2D {
    return tf.tidy(() => tf.add(this.weight, tf.mul(tf.matMul(this.aT, this.bT), this.scaling)));
  }

  /** PEFT's tensors: lora_A.weight [r, in] and lora_B.weight [out, r]. */
  peftTensors(): { a: NamedTensor; b: NamedTensor } {
    return tf.tidy(() => {
      const a = tf.transpose(this.aT);
      const b = tf.transpose(this.bT);
      return { a: { shape: a.shape, data: a.dataSync() as Float32Array }, b: { shape: b.shape, data: b.dataSync() as Float32Array } };
    });
  }

  /** Loads PEFT's lora_A [r, in] and lora_B [out, r]; shapes must match this layer. */
  loadPeft(a: { shape: readonly number[]; data: Float32Array }, b: { shape: readonly number[]; data: Float32Array }): void {
    const [inDim, outDim] = this.weight.shape;
    const want = (name: string, got: readonly number[], shape: number[]) => {
      if (got.length !== 2 || got[0] !== shape[0] || got[1] !== shape[1]) {
        throw new Error(`${this.module}.${name}: shape [${got.join(', ')}] does not match [${shape.join(', ')}] (r=${this.r})`);
      }
    };
    want('lora_A.weight', a.shape, [this.r, inDim]);
    want('lora_B.weight', b.shape, [outDim, this.r]);
    tf.tidy(() => {
      this.aT.assign(tf.transpose(tf.tensor2d(a.data, [this.r, inDim])));
      this.bT.assign(tf.transpose(tf.tensor2d(b.data, [outDim, this.r])));
    });
  }

  dispose(): void {
    this.aT.dispose();
    this.bT.dispose();
  }
}

/** Whether module `name` is one of `targets`, as PEFT matches a list of `target_modules`: equal, or ending with `.` + target. */
const matchesTarget = (name: string, targets: readonly string[]) => targets.some((t) => name === t || name.endsWith('.' + t));

export type LoraTargets = LoraConfig['targets'];

/** `default` as the family's own list (PEFT's target_modules for the model type); anything else as given. */
export function familyTargets(structure: ModelStructure, targets: LoraTargets): string[] | 'all-linear' {
  return targets === 'default' ? [...structure.defaultLoraTargets] : targets;
}

/**
 * The modules LoRA wraps, matched like PEFT matches a list of `target_modules`: a module is wrapped
 * when its full name equals a target or ends with `.` + target (so GPT-2's `c_proj` means both the
 * attention and the MLP projection, `attn.c_proj` only the first). `all-linear` is every block linear
 * (PEFT's all-linear: every linear but the output head), `default` the family's own list.
 */
export function loraTargets(structure: ModelStructure, given: LoraTargets): (LinearInfo & { module: string })[] {
  const all = structure.linears.map((l) => ({ ...l, module: l.name }));
  const targets = familyTargets(structure, given);
  if (targets === 'all-linear') return all;
  const names = structure.linearSuffixes.join(', ');
  if (targets.length === 0) throw new TrainConfigError('LoRA needs at least one target module');
  for (const t of targets) {
    if (structure.nonLinearModules.some((m) => (m === 'lm_head' ? t === m : t.endsWith(m))))
      throw new TrainConfigError(`LoRA target '${t}' is not supported: LoRA wraps the blocks' linear layers (${names})`);
  }
  const unmatched = targets.filter((t) => !all.some((m) => matchesTarget(m.module, [t])));
  if (unmatched.length > 0) {
    throw new TrainConfigError(
      `LoRA target module(s) ${unmatched.map((t) => `'${t}'`).join(', ')} not found in the model (${structure.familyName} has ${names}; or use all-linear, or default: ${structure.defaultLoraTargets.join(',')})`,
    );
  }
  return all.filter((m) => matchesTarget(m.module, targets));
}

/** Parses `--lora-targets` (`c_attn,c_proj`, `all-linear` or `default`). */
export function parseLoraTargets(text: string): LoraTargets {
  const trimmed = text.trim();
  if (trimmed === 'all-linear' || trimmed === 'default') return trimmed;
  const list = trimmed
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (list.length === 0) throw new TrainConfigError(`--lora-targets is empty`);
  return list;
}

class LoraAttachment implements Attachment {
  readonly variables: TrainableVariable[];
  constructor(readonly layers: LoraLinear[]) {
    this.variables = layers.flatMap((l) => [
      { name: peftKey(l.module, 'lora_A'), variable: l.aT, decay: true },
      { name: peftKey(l.module, 'lora_B'), variable: l.bT, decay: true },
    ]);
  }

  /** LoRA weights with PEFT's keys and layouts: lora_A [r, in], lora_B [out, r]. */
  stateDict(): Map<string, NamedTensor> {
    const out = new Map<string, NamedTensor>();
    for (const l of this.layers) {
      const { a, b } = l.peftTensors();
      out.set(peftKey(l.module, 'lora_A'), a);
      out.set(peftKey(l.module, 'lora_B'), b);
    }
    return out;
  }

  /** Loads PEFT LoRA weights (keys as stateDict writes them; `.default.` adapter names accepted). */
  loadStateDict(map: Map<string, { shape: readonly number[]; data: Float32Array }>): void {
    const byKey = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const [k, v] of map) byKey.set(k.replace(/\.(lora_[AB])\.default\.weight$/, '.$1.weight'), v);
    const used = new Set<string>();
    for (const l of this.layers) {
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
    for (const l of this.layers) l.dispose();
  }
}

/** The LoRA layers of a model tuned with LoRA, in the model's module order (empty for any other strategy). */
export function loraLayersOf(model: { readonly attachment: Attachment }): LoraLinear[] {
  return model.attachment instanceof LoraAttachment ? model.attachment.layers : [];
}

/**
 * PEFT's adapter_config.json and weights. The config lists only fields every PEFT release since 0.3
 * knows (older ones reject unknown keys); later fields such as use_dora default to what this adapter is.
 */
const loraFolder: AdapterFolderCodec<LoraConfig> = {
  label: 'LORA',
  recognizes: (raw) => raw.peft_type === 'LORA',
  config(s, structure, baseModel) {
    const targets = familyTargets(structure, s.targets);
    return {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: baseModel,
      r: s.r,
      lora_alpha: s.alpha,
      lora_dropout: s.dropout,
      // PEFT's names for the target modules: the suffixes as given, default and all-linear spelled out.
      target_modules: targets === 'all-linear' ? [...structure.linearSuffixes] : [...targets],
      bias: 'none',
      // GPT-2's Conv1D stores its weight [in, out]; Llama's nn.Linear [out, in], where PEFT wants false
      // (it warns and overrides true there).
      fan_in_fan_out: structure.familyName === 'GPT-2',
      inference_mode: true,
      init_lora_weights: true,
      modules_to_save: null,
      revision: null,
    };
  },
  read(raw, tensors, { configFile, weightsFile }) {
    const fail = (why: string): never => {
      throw new ModelFileError(`${configFile}: ${why}`);
    };
    if (raw.peft_type !== 'LORA') fail(`peft_type ${JSON.stringify(raw.peft_type)} is not supported (only LORA)`);
    if (raw.use_dora === true) fail('DoRA adapters (use_dora) are not supported');
    if (raw.use_rslora === true) fail('rsLoRA adapters (use_rslora) are not supported');
    for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
      const v = raw[key];
      if (v && typeof v === 'object' && Object.keys(v).length > 0) fail(`${key} is not supported (one r and lora_alpha for every layer)`);
    }
    if (raw.bias !== undefined && raw.bias !== 'none') fail(`bias '${String(raw.bias)}' is not supported (only 'none')`);
    const r = raw.r;
    const alpha = raw.lora_alpha ?? 8;
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) fail(`r must be a positive integer, got ${JSON.stringify(r)}`);
    if (typeof alpha !== 'number' || !(alpha > 0)) fail(`lora_alpha must be a positive number, got ${JSON.stringify(alpha)}`);
    const dropout = typeof raw.lora_dropout === 'number' ? raw.lora_dropout : 0;
    const weights = new Map<string, NamedTensor>();
    const modules = new Set<string>();
    for (const [key, t] of tensors) {
      const m = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(key);
      if (!m) throw new ModelFileError(`${weightsFile}: unexpected tensor '${key}' (expected base_model.model.<module>.lora_A/lora_B.weight)`);
      // PEFT wraps GPT2LMHeadModel, whose modules are under `transformer.`; a bare GPT2Model's are not.
      const module = /^(transformer|model)\./.test(m[1]) ? m[1] : `transformer.${m[1]}`;
      modules.add(module);
      weights.set(`base_model.model.${module}.lora_${m[2]}.weight`, t);
    }
    if (modules.size === 0) throw new ModelFileError(`${weightsFile} holds no LoRA weights`);
    // The targets are the exact modules the adapter holds weights for.
    return { strategy: { strategy: 'lora', r: r as number, alpha: alpha as number, dropout, targets: [...modules] }, weights };
  },
};

/** Reads a PEFT LoRA adapter folder (the registry's readAdapter does any strategy's); anything this trainer cannot apply exactly is an error. */
export function loadPeftAdapter(dir: string): { strategy: LoraConfig; weights: Map<string, NamedTensor>; baseModel: string | null } {
  const files = readAdapterFolder(dir);
  const base = files.config.base_model_name_or_path;
  return { ...loraFolder.read(files.config, files.tensors, files), baseModel: typeof base === 'string' ? base : null };
}

export const loraStrategy: Strategy<LoraConfig> = {
  spec: STRATEGY_SPECS.lora,
  fromTrainConfig: (c) => ({ strategy: 'lora', r: c.loraR, alpha: c.loraAlpha, dropout: c.loraDropout, targets: c.loraTargets }),
  validate(structure, s) {
    if (!Number.isInteger(s.r) || s.r < 1) throw new TrainConfigError(`--lora-r must be a positive integer, got ${s.r}`);
    if (!(s.alpha > 0)) throw new TrainConfigError(`--lora-alpha must be positive, got ${s.alpha}`);
    if (!(s.dropout >= 0 && s.dropout < 1)) throw new TrainConfigError(`--lora-dropout must be in [0, 1), got ${s.dropout}`);
    for (const t of loraTargets(structure, s.targets)) {
      // B·A of rank r on an in×out weight: beyond min(in, out) the extra rank is only memory and time.
      if (s.r > Math.min(t.in, t.out)) {
        throw new TrainConfigError(
          `--lora-r ${s.r} is larger than the ${t.kind} weights it adapts (${t.in}×${t.out}): a LoRA update B·A cannot have a rank above ${Math.min(t.in, t.out)}; use --lora-r ${Math.min(t.in, t.out)} or less, or --strategy full`,
        );
      }
    }
  },
  trains: () => TRAINS_NONE,
  added(structure, s) {
    const targets = loraTargets(structure, s.targets);
    const perLayer = new Array<number>(structure.numLayers).fill(0);
    for (const t of targets) perLayer[t.layer] += s.r * (t.in + t.out); // A [r, in] + B [out, r]
    return { perLayer, group: { name: 'lora', total: perLayer.reduce((a, b) => a + b, 0) }, activationWidth: targets.length * s.r };
  },
  attach(model: CausalLM, s) {
    const layers: LoraLinear[] = [];
    // The registry's validateStrategy resolves `default` for the model (its family's list) before attaching.
    if (s.targets === 'default') throw new Error("LoRA targets 'default' are resolved for the model by validateStrategy before attach");
    const targets = s.targets;
    for (const [name, base] of model.namedLinears()) {
      if (targets !== 'all-linear' && !matchesTarget(name, targets)) continue;
      const l = new LoraLinear(name, base, { r: s.r, alpha: s.alpha, dropout: s.dropout, seed: model.nextInitSeed() });
      model.replaceLinear(name, l);
      layers.push(l);
    }
    return new LoraAttachment(layers);
  },
  adapterFolder: loraFolder,
  mergeable: true,
};
