// Activation checkpointing per block (PyTorch's torch.utils.checkpoint, what HF's
// gradient_checkpointing_enable turns on): the forward pass keeps only each block's input, and the
// backward pass recomputes the block, with the tape on, to get its gradients. This trades one more
// forward per block for the activations of all blocks but one.
//
// It rests on how tfjs runs a custom gradient: tf.customGrad's forward runs as one kernel (the engine's
// kernelDepth is raised, so none of its inner ops is taped) inside a tidy that frees everything but the
// output and what it saves; the gradient function runs in the backward pass with no tape active, so it
// can start a tape of its own. That nested tf gradient call replaces the engine's tape (it starts one
// with `activeTape = []` whenever no gradient is being recorded, and clears it when done) while the
// outer backward pass still needs its own to free the forward's saved tensors: the outer tape is put back.
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM, ForwardContext, ModelBlock } from './model';

/**
 * The variables a block's forward reads that are trainable now: its own parameters plus whatever a
 * strategy put in its linear modules (LoRA's A and B, found through the wrapper's fields) and its
 * sublayer hooks (adapters). Found by walking the modules' fields (a few levels deep, stopping at
 * tensors), so no strategy is named here. A variable found that the block does not read costs only a
 * zero gradient, added to its real one: the result stays exact.
 */
export function blockTrainableVariables(model: CausalLM, block: ModelBlock): tf.Variable[] {
  const found = new Set<tf.Variable>(block.parameters());
  const seen = new Set<object>();
  const walk = (value: unknown, depth: number) => {
    if (value === null || typeof value !== 'object' || seen.has(value)) return;
    seen.add(value);
    if (value instanceof tf.Variable) {
      found.add(value);
      return;
    }
    if (value instanceof tf.Tensor || depth === 0) return;
    for (const field of Object.values(value)) walk(field, depth - 1);
  };
  const prefix = `${block.name}.`;
  for (const [name, module] of model.namedLinears()) if (name.startsWith(prefix)) walk(module, 3);
  for (const hook of Object.values(block.hooks)) walk(hook, 3);
  return [...found].filter((v) => v.trainable);
}

/** The context's tensors (the mask bias, RoPE's tables) by field. */
function contextTensors<C extends ForwardContext>(ctx: C): [keyof C, tf.Tensor][] {
  return (Object.entries(ctx) as [keyof C, unknown][]).filter((e): e is [keyof C, tf.Tensor] => e[1] instanceof tf.Tensor);
}

/**
 * `fn(x, ctx)` for x [N, E], keeping only x for the backward pass. `params` are the trainable variables
 * `fn` reads (blockTrainableVariables): they are the custom gradient's inputs, so each gets its cotangent.
 * The context's tensors are made in the forward scope, which frees them before the backward pass: they
 * are saved with x (no gradient, they are constants) and the recomputation reads the saved copies. It
 * also resets the model's dropout counter to its value before the forward, so it draws the same masks,
 * and leaves the counter where it found it.
 */
export function checkpointed<C extends ForwardContext>(
  model: CausalLM,
  fn: (x: tf.Tensor2D, ctx: C) => tf.Tensor2D,
  x: tf.Tensor2D,
  ctx: C,
  params: readonly tf.Variable[],
): tf.Tensor2D {
  const counterBefore = model.dropoutCounter;
  const constants = contextTensors(ctx);
  const op = tf.customGrad(((...args: (tf.Tensor | ((t: tf.Tensor[]) => void))[]) => {
    const save = args[args.length - 1] as (t: tf.Tensor[]) => void;
    const input = args[0] as tf.Tensor2D;
    save([input, ...constants.map(([, t]) => t)]);
    const value = fn(input, ctx);
    const counterAfter = model.dropoutCounter;
    return {
      value,
      gradFunc: (dy: tf.Tensor, [savedInput, ...savedConstants]: tf.Tensor[]) => {
        const savedCtx = { ...ctx };
        constants.forEach(([key], i) => {
          (savedCtx as Record<keyof C, unknown>)[key] = savedConstants[i];
        });
        const counterNow = model.dropoutCounter;
        model.dropoutCounter = counterBefore;
        try {
          // allowNoGradients: a variable the block reads only through a frozen path gets zeros.
          const engine = tf.engine();
          const outerTape = engine.state.activeTape;
          let result: { value: tf.Tensor; grads: (tf.Tensor | undefined)[] };
          try {
            result = engine.gradients(() => fn(savedInput as tf.Tensor2D, savedCtx), [savedInput, ...params], dy as tf.Tensor2D, true);
          } finally {
            engine.state.activeTape = outerTape;
          }
          const { value: recomputed, grads } = result;
          if (model.dropoutCounter !== counterAfter) throw new Error('gradient checkpointing: the recomputed block drew a different number of dropout masks');
          recomputed.dispose();
          return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? savedInput : params[i - 1]));
        } finally {
          model.dropoutCounter = counterNow;
        }
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, ...params) as tf.Tensor2D;
}

/**
 * The blocks' loop of a forward pass: each block through `checkpointed` where the model's
 * `gradientCheckpointing` is on and the pass trains (inference keeps no activations to save).
 */
export function forwardBlocks<B extends ModelBlock, C extends ForwardContext>(
  model: CausalLM,
  blocks: readonly B[],
  x: tf.Tensor2D,
  ctx: C,
  forward: (block: B, h: tf.Tensor2D, ctx: C) => tf.Tensor2D,
): tf.Tensor2D {
  let h = x;
  for (const block of blocks) {
    const run = (input: tf.Tensor2D, c: C) => forward(block, input, c);
    h = ctx.training && model.gradientCheckpointing ? checkpointed(model, run, h, ctx, blockTrainableVariables(model, block)) : run(h, ctx);
  }
  return h;
}
