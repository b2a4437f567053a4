// Bottleneck adapters (Houlsby et al. 2019): in every block, one after the attention output projection
// and one after the MLP output projection, each y = x + up(gelu_new(down(x))), inserted on the block's
// sublayer hooks, before its dropout and residual add. down: [hidden → m], up: [m → hidden], both with
// biases. The nonlinearity is GPT-2's own gelu_new. down ~ N(0, 0.02) as GPT-2 initialises its linears,
// up and both biases zero, so a fresh adapter is exactly the identity and training starts from the base.
//
// Saved layout (loadable by `finetune eval/generate --adapter DIR`):
//   adapter_config.json       {"adapter_type": "bottleneck", "adapter_dim": m, "hidden_size": n_embd,
//                              "num_layers": L, "positions": ["after_attention", "after_mlp"],
//                              "nonlinearity": "gelu_new", "base_model_name_or_path": ...}
//   adapter_model.safetensors <block>.{attn,mlp}_adapter.{down,up}.{weight,bias}; weights in
//                             torch.nn.Linear's layout [out, in] (down.weight [m, n_embd], up.weight [n_embd, m]).
import * as tf from '@tensorflow/tfjs-core';
import { STRATEGY_SPECS, TRAIN_DEFAULTS, TrainConfigError } from '../../protocol/options';
import { geluNew, linear } from '../compute/ops';
import { ModelFileError } from '../formats/modelFolder';
import type { CausalLM, NamedTensor, SublayerHook, SublayerSite } from '../models/model';
import type { TrainableVariable } from '../optimizer';
import { adapterParamsPerBlock, TRAINS_NONE, type AdapterFolderCodec, type Attachment, type Strategy, type StrategyConfig } from './strategy';

type AdapterConfig = Extract<StrategyConfig, { strategy: 'adapter' }>;

export const ADAPTER_POSITIONS = ['after_attention', 'after_mlp'] as const;
/** Each sublayer hook and the adapter's name there. */
const SITES: readonly [SublayerSite, string][] = [
  ['attention', 'attn_adapter'],
  ['mlp', 'mlp_adapter'],
];

export class BottleneckAdapter implements SublayerHook {
  constructor(
    /** `transformer.h.0.attn_adapter` */
    readonly name: string,
    /** [d, m] (in, out), the layout ops.linear multiplies by. */
    readonly down: tf.Variable,
    readonly downBias: tf.Variable,
    readonly up: tf.Variable,
    readonly upBias: tf.Variable,
  ) {}

  forward(x: tf.Tensor2D): tf.Tensor2D {
    const h = geluNew(linear(x, this.down as tf.Tensor2D, this.downBias as tf.Tensor1D)) as tf.Tensor2D;
    return tf.add(x, linear(h, this.up as tf.Tensor2D, this.upBias as tf.Tensor1D)) as tf.Tensor2D;
  }

  /** name suffix -> variable, in the order the optimizer sees them. */
  variables(): [string, tf.Variable, boolean][] {
    return [
      ['down.weight', this.down, true],
      ['down.bias', this.downBias, false],
      ['up.weight', this.up, true],
      ['up.bias', this.upBias, false],
    ];
  }
}

class AdapterAttachment implements Attachment {
  readonly variables: TrainableVariable[];
  constructor(readonly adapters: BottleneckAdapter[]) {
    this.variables = adapters.flatMap((a) => a.variables().map(([suffix, variable, decay]) => ({ name: `${a.name}.${suffix}`, variable, decay })));
  }

  /** The adapters' weights under their saved names, matrices as nn.Linear stores them ([out, in]). */
  stateDict(): Map<string, NamedTensor> {
    const out = new Map<string, NamedTensor>();
    for (const a of this.adapters) {
      for (const [suffix, v] of a.variables()) {
        const t = v.shape.length === 2 ? tf.transpose(v) : v;
        out.set(`${a.name}.${suffix}`, { shape: [...t.shape], data: t.dataSync() as Float32Array });
        if (t !== v) t.dispose();
      }
    }
    return out;
  }

  /** Loads weights in stateDict's layout; every adapter must be present with its exact shape. */
  loadStateDict(map: Map<string, { shape: readonly number[]; data: Float32Array }>): void {
    const used = new Set<string>();
    for (const a of this.adapters) {
      for (const [suffix, v] of a.variables()) {
        const key = `${a.name}.${suffix}`;
        const w = map.get(key);
        if (!w) throw new Error(`adapter weights have no '${key}'`);
        const want = v.shape.length === 2 ? [v.shape[1], v.shape[0]] : v.shape;
        if (w.shape.length !== want.length || w.shape.some((n, i) => n !== want[i]))
          throw new Error(`adapter weight '${key}' has shape [${w.shape.join(', ')}], expected [${want.join(', ')}]`);
        const t = tf.tensor(w.data, want);
        v.assign(v.shape.length === 2 ? tf.transpose(t) : t);
        t.dispose();
        used.add(key);
      }
    }
    const extra = [...map.keys()].filter((k) => !used.has(k));
    if (extra.length > 0) throw new Error(`adapter weight(s) this model has no place for: ${extra.slice(0, 3).join(', ')}`);
  }

  dispose(): void {
    for (const v of this.variables) v.variable.dispose();
  }
}

const adapterFolder: AdapterFolderCodec<AdapterConfig> = {
  label: 'adapter_type "bottleneck"',
  recognizes: (raw) => raw.adapter_type === 'bottleneck',
  config: (s, structure, baseModel) => ({
    adapter_type: 'bottleneck',
    adapter_dim: s.adapterDim,
    hidden_size: structure.hiddenSize,
    num_layers: structure.numLayers,
    positions: [...ADAPTER_POSITIONS],
    nonlinearity: 'gelu_new',
    residual: true,
    base_model_name_or_path: baseModel,
  }),
  read(raw, tensors, { configFile }) {
    if (raw.adapter_type !== 'bottleneck') throw new ModelFileError(`${configFile}: adapter_type ${JSON.stringify(raw.adapter_type)} is not "bottleneck"`);
    const m = raw.adapter_dim;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1)
      throw new ModelFileError(`${configFile}: adapter_dim must be a positive integer, got ${JSON.stringify(m)}`);
    if (raw.nonlinearity !== undefined && raw.nonlinearity !== 'gelu_new')
      throw new ModelFileError(`${configFile}: nonlinearity ${JSON.stringify(raw.nonlinearity)} is not supported (gelu_new)`);
    return { strategy: { strategy: 'adapter', adapterDim: m }, weights: tensors };
  },
};

export const adapterStrategy: Strategy<AdapterConfig> = {
  spec: STRATEGY_SPECS.adapter,
  fromTrainConfig: (c) => ({ strategy: 'adapter', adapterDim: c.adapterDim ?? TRAIN_DEFAULTS.adapterDim }),
  validate(_structure, s) {
    if (!Number.isInteger(s.adapterDim) || s.adapterDim < 1) throw new TrainConfigError(`--adapter-dim must be a positive integer, got ${s.adapterDim}`);
  },
  trains: () => TRAINS_NONE,
  added(structure, s) {
    const perLayer = new Array<number>(structure.numLayers).fill(adapterParamsPerBlock(structure.hiddenSize, s.adapterDim));
    return { perLayer, group: { name: 'adapters', total: perLayer.reduce((a, b) => a + b, 0) }, activationWidth: 0 };
  },
  /** The two adapters of every block, on its sublayer hooks; each down-projection draws one init seed, block by block. */
  attach(model: CausalLM, s) {
    const d = model.dims.hiddenSize;
    const m = s.adapterDim;
    const adapters: BottleneckAdapter[] = [];
    for (const block of model.blocks) {
      for (const [site, name] of SITES) {
        const a = new BottleneckAdapter(
          `${block.name}.${name}`,
          tf.variable(tf.randomNormal([d, m], 0, 0.02, 'float32', model.nextInitSeed()), true),
          tf.variable(tf.zeros([m]), true),
          tf.variable(tf.zeros([m, d]), true),
          tf.variable(tf.zeros([d]), true),
        );
        block.hooks[site] = a;
        adapters.push(a);
      }
    }
    return new AdapterAttachment(adapters);
  },
  adapterFolder,
};
