// AdamW (Loshchilov & Hutter; PyTorch's torch.optim.AdamW update) over the model's trainable variables,
// global gradient-norm clipping (torch.nn.utils.clip_grad_norm_) and gradient accumulation.
// State exists only for the variables handed in, so frozen weights cost no optimizer memory. tfjs's own
// optimizers key their slots by position and have no decoupled weight decay, hence this small one.
import * as tf from '@tensorflow/tfjs-core';
import { fusedKernels } from './compute/fused';
import { adamwUpdate } from './compute/ops';

export interface TrainableVariable {
  /** Hugging Face name of the weight. */
  name: string;
  variable: tf.Variable;
  /** Decoupled weight decay applies (false for biases, LayerNorm weights). */
  decay: boolean;
}

export interface AdamWOptions {
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/** A non-trainable zero variable shaped like `like` (tf.variable keeps its initial tensor alive otherwise). */
function zeroSlot(like: tf.Tensor): tf.Variable {
  const zeros = tf.zerosLike(like);
  const slot = tf.variable(zeros, false);
  zeros.dispose();
  return slot;
}

export class AdamW {
  private readonly moments: { m: tf.Variable; v: tf.Variable }[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  /** Updates applied so far (PyTorch's `step` state). */
  stepCount = 0;

  constructor(
    readonly variables: readonly TrainableVariable[],
    options: AdamWOptions,
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay;
    this.moments = variables.map(({ variable }) => ({ m: zeroSlot(variable), v: zeroSlot(variable) }));
  }

  /** One update with `grads[i]` for `variables[i]`; the caller keeps ownership of the gradients. */
  applyGradients(grads: readonly tf.Tensor[], lr: number): void {
    if (grads.length !== this.variables.length) throw new Error(`AdamW: ${grads.length} gradients for ${this.variables.length} variables`);
    this.stepCount += 1;
    const t = this.stepCount;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const stepSize = lr / (1 - b1 ** t);
    const sqrtBias2 = Math.sqrt(1 - b2 ** t);
    const attrs = { beta1: b1, beta2: b2, stepSize, sqrtBias2, epsilon: this.epsilon, decayFactor: 1 };
    // One variable at a time, each in its own tidy: a step never holds more than one weight's temporaries.
    this.variables.forEach(({ variable, decay }, i) => {
      const { m, v } = this.moments[i];
      // PyTorch: p *= 1 - lr*wd; p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
      attrs.decayFactor = decay && this.weightDecay > 0 ? 1 - lr * this.weightDecay : 1;
      const [w1, m1, v1] = adamwUpdate(variable, grads[i], m, v, attrs);
      m.assign(m1);
      v.assign(v1);
      variable.assign(w1);
      tf.dispose([w1, m1, v1]);
    });
  }

  /** The moment tensors, for reading them asynchronously before exportState (see trainer/deviceRead). */
  stateTensors(): tf.Tensor[] {
    return this.moments.flatMap(({ m, v }) => [m, v]);
  }

  /** The moments by `<name>.exp_avg` / `<name>.exp_avg_sq` (PyTorch's names), for checkpoints. */
  exportState(): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    this.variables.forEach(({ name }, i) => {
      const { m, v } = this.moments[i];
      out.set(`${name}.exp_avg`, { shape: m.shape, data: m.dataSync() as Float32Array });
      out.set(`${name}.exp_avg_sq`, { shape: v.shape, data: v.dataSync() as Float32Array });
    });
    return out;
  }

  /** Restores what exportState wrote; every trainable variable must be present with its shape. */
  loadState(state: Map<string, { shape: readonly number[]; data: Float32Array }>, stepCount: number): void {
    this.variables.forEach(({ name, variable }, i) => {
      for (const [suffix, slot] of [
        ['exp_avg', this.moments[i].m],
        ['exp_avg_sq', this.moments[i].v],
      ] as const) {
        const saved = state.get(`${name}.${suffix}`);
        if (!saved) throw new Error(`optimizer state has no ${name}.${suffix}`);
        if (saved.shape.join(',') !== variable.shape.join(','))
          throw new Error(`optimizer state ${name}.${suffix} has shape [${saved.shape}], expected [${variable.shape}]`);
        const value = tf.tensor(saved.data, variable.shape, 'float32');
        slot.assign(value);
        value.dispose();
      }
    });
    this.stepCount = stepCount;
  }

  /** Bytes of optimizer state (two float32 moments per trainable weight). */
  stateBytes(): number {
    return this.moments.reduce((sum, { m }) => sum + m.size * 8, 0);
  }

  dispose(): void {
    for (const { m, v } of this.moments) {
      m.dispose();
      v.dispose();
    }
  }
}

/**
 * The sum of squares of all gradients, left on the device so that the training step can read it
 * together with its losses in one asynchronous read (webgpu has no synchronous read in Node).
 */
export function squaredGlobalNorm(grads: readonly tf.Tensor[]): tf.Scalar {
  if (grads.length === 0) return tf.scalar(0);
  return tf.tidy(() => {
    // Each square in its own tidy: all of them at once would be a second copy of every gradient.
    const fused = fusedKernels();
    const squares = grads.map((g) => (fused ? fused.sumSquares(g) : tf.tidy(() => tf.sum(tf.square(g)))));
    // addN in groups of at most ADD_N_INPUTS: webgpu's AddN binds every input as a storage buffer, and
    // Dawn's compatibility mode allows 8 per stage. Left to right, so the sum is the same as one addN.
    let total = tf.addN(squares.slice(0, ADD_N_INPUTS));
    for (let i = ADD_N_INPUTS; i < squares.length; i += ADD_N_INPUTS - 1) total = tf.addN([total, ...squares.slice(i, i + ADD_N_INPUTS - 1)]);
    return total as tf.Scalar;
  });
}

const ADD_N_INPUTS = 7;

/** The L2 norm of all gradients together (a synchronous read; the training loop uses squaredGlobalNorm). */
export function globalNorm(grads: readonly tf.Tensor[]): number {
  if (grads.length === 0) return 0;
  const squared = squaredGlobalNorm(grads);
  const value = squared.dataSync()[0];
  squared.dispose();
  return Math.sqrt(value);
}

/**
 * Scales gradients so their global norm is at most `maxNorm` (same coefficient as PyTorch:
 * maxNorm / (norm + 1e-6), applied only when below 1). Returns new tensors or the same ones.
 */
export function clipByGlobalNorm(grads: tf.Tensor[], norm: number, maxNorm: number): tf.Tensor[] {
  if (!(maxNorm > 0)) return grads;
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return grads;
  return grads.map((g) => {
    const scaled = tf.mul(g, coef);
    g.dispose();
    return scaled;
  });
}

/** Sums gradients over micro-batches; `mean()` hands back their average and resets. */
export class GradientAccumulator {
  private sums: tf.Tensor[] | undefined;
  private count = 0;

  /** Takes ownership of `grads`. */
  add(grads: tf.Tensor[]): void {
    if (!this.sums) {
      this.sums = grads;
    } else {
      const previous = this.sums;
      this.sums = previous.map((s, i) => tf.add(s, grads[i]));
      previous.forEach((t) => t.dispose());
      grads.forEach((t) => t.dispose());
    }
    this.count += 1;
  }

  get microBatches(): number {
    return this.count;
  }

  /** The mean gradient, owned by the caller; undefined when nothing was added. */
  mean(): tf.Tensor[] | undefined {
    const sums = this.sums;
    const count = this.count;
    this.sums = undefined;
    this.count = 0;
    if (!sums) return undefined;
    if (count === 1) return sums;
    return sums.map((s) => {
      const m = tf.div(s, count);
      s.dispose();
      return m;
    });
  }

  dispose(): void {
    this.sums?.forEach((t) => t.dispose());
    this.sums = undefined;
    this.count = 0;
  }
}
