// Bottleneck adapters (Houlsby et al. 2019): in every block, one after the attention output projection
// and one after the MLP output projection, each y = x + up(gelu_new(down(x))), inserted before the
// block's dropout and residual add. down: [n_embd → m], up: [m → n_embd], both with biases. The
// nonlinearity is GPT-2's own gelu_new. down ~ N(0, 0.02) as GPT-2 initialises its linears, up and both
// biases zero, so a fresh adapter is exactly the identity and training starts from the base model.
//
// Saved layout (a folder beside the run's config, loadable by `finetune eval/generate --adapter DIR`):
//   adapter_config.json       {"adapter_type": "bottleneck", "adapter_dim": m, "hidden_size": n_embd,
//                              "num_layers": L, "positions": ["after_attention", "after_mlp"],
//                              "nonlinearity": "gelu_new", "base_model_name_or_path": ...}
//   adapter_model.safetensors transformer.h.{i}.{attn,mlp}_adapter.{down,up}.{weight,bias}; weights in
//                             torch.nn.Linear's layout [out, in] (down.weight [m, n_embd], up.weight [n_embd, m]).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { GPT2Model, NamedTensor, SublayerHook } from './model';
import { geluNew, linear } from './ops';
import { readSafetensors, writeSafetensors } from './safetensors';
import type { StrategyConfig } from './strategy';

export const ADAPTER_POSITIONS = ['after_attention', 'after_mlp'] as const;
const SITES = [
  ['attn_adapter', 'attnHook'],
  ['mlp_adapter', 'mlpHook'],
] as const;

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

/** Adds the two adapters of every block to `model` (their variables join model.addedVariables). */
export function attachAdapters(model: GPT2Model, adapterDim: number, nextSeed: () => number): BottleneckAdapter[] {
  const d = model.config.nEmbd;
  const m = adapterDim;
  const out: BottleneckAdapter[] = [];
  model.blocks.forEach((block, i) => {
    for (const [site, hook] of SITES) {
      const a = new BottleneckAdapter(
        `transformer.h.${i}.${site}`,
        tf.variable(tf.randomNormal([d, m], 0, 0.02, 'float32', nextSeed()), true),
        tf.variable(tf.zeros([m]), true),
        tf.variable(tf.zeros([m, d]), true),
        tf.variable(tf.zeros([d]), true),
      );
      block[hook] = a;
      for (const [suffix, variable, decay] of a.variables()) model.addedVariables.push({ name: `${a.name}.${suffix}`, variable, decay });
      out.push(a);
    }
  });
  return out;
}

function adaptersOf(model: GPT2Model): BottleneckAdapter[] {
  const out: BottleneckAdapter[] = [];
  for (const block of model.blocks) for (const [, hook] of SITES) if (block[hook] instanceof BottleneckAdapter) out.push(block[hook] as BottleneckAdapter);
  return out;
}

/** The adapters' weights under their saved names, matrices as nn.Linear stores them ([out, in]). */
export function adapterStateDict(model: GPT2Model): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const a of adaptersOf(model)) {
    for (const [suffix, v] of a.variables()) {
      const t = v.shape.length === 2 ? tf.transpose(v) : v;
      out.set(`${a.name}.${suffix}`, { shape: [...t.shape], data: t.dataSync() as Float32Array });
      if (t !== v) t.dispose();
    }
  }
  return out;
}

/** Loads weights in adapterStateDict's layout; every adapter must be present with its exact shape. */
export function loadAdapterStateDict(model: GPT2Model, map: Map<string, { shape: readonly number[]; data: Float32Array }>): void {
  const adapters = adaptersOf(model);
  if (adapters.length === 0) throw new Error('this model has no bottleneck adapters (strategy is not adapter)');
  const used = new Set<string>();
  for (const a of adapters) {
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

export function saveBottleneckAdapter(model: GPT2Model, baseModelName: string, outDir: string): string[] {
  const s = model.strategy;
  if (s.strategy !== 'adapter') throw new Error(`saveBottleneckAdapter needs an adapter model (strategy is ${s.strategy})`);
  fs.mkdirSync(outDir, { recursive: true });
  const config = {
    adapter_type: 'bottleneck',
    adapter_dim: s.adapterDim,
    hidden_size: model.config.nEmbd,
    num_layers: model.config.nLayer,
    positions: [...ADAPTER_POSITIONS],
    nonlinearity: 'gelu_new',
    residual: true,
    base_model_name_or_path: baseModelName,
  };
  fs.writeFileSync(path.join(outDir, 'adapter_config.json'), JSON.stringify(config, null, 2) + '\n');
  writeSafetensors(path.join(outDir, 'adapter_model.safetensors'), adapterStateDict(model), { format: 'pt' });
  return ['adapter_config.json', 'adapter_model.safetensors'].map((f) => path.join(outDir, f));
}

export interface BottleneckAdapterFolder {
  strategy: Extract<StrategyConfig, { strategy: 'adapter' }>;
  weights: Map<string, NamedTensor>;
  baseModel: string | null;
}

export function loadBottleneckAdapter(dir: string): BottleneckAdapterFolder {
  const configFile = path.join(dir, 'adapter_config.json');
  const raw = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  if (raw.adapter_type !== 'bottleneck') throw new Error(`${configFile}: adapter_type ${JSON.stringify(raw.adapter_type)} is not "bottleneck"`);
  const m = raw.adapter_dim;
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 1)
    throw new Error(`${configFile}: adapter_dim must be a positive integer, got ${JSON.stringify(m)}`);
  if (raw.nonlinearity !== undefined && raw.nonlinearity !== 'gelu_new')
    throw new Error(`${configFile}: nonlinearity ${JSON.stringify(raw.nonlinearity)} is not supported (gelu_new)`);
  const weights = new Map<string, NamedTensor>();
  for (const [k, t] of readSafetensors(path.join(dir, 'adapter_model.safetensors'))) weights.set(k, { shape: t.shape, data: t.data });
  return {
    strategy: { strategy: 'adapter', adapterDim: m },
    weights,
    baseModel: typeof raw.base_model_name_or_path === 'string' ? raw.base_model_name_or_path : null,
  };
}
