// Gradients of a scalar with respect to variables, freeing memory as the backward pass goes
// (docs/ARCHITECTURE.md "Memory"). tfjs's own engine.gradients keeps, until the whole backward pass
// is over, every tensor a node saved for its gradient (the forward's activations) and the gradient of
// every intermediate tensor: at GPT-2 small's shape that was 2.3 GB more than the step needs. This is
// the same walk over the same tape (tfjs's getFilteredNodesXToY, reverse order, the same accumulation),
// except that once a node's gradient has run, its outputs' gradients and its saved tensors are
// disposed: no node earlier in the tape can read them (PyTorch frees its graph the same way).
import * as tf from '@tensorflow/tfjs-core';
// Not re-exported by tfjs-core's index: the tape filter engine.gradients itself uses.
import { getFilteredNodesXToY } from '@tensorflow/tfjs-core/dist/tape';

interface TapeNode {
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T>(name: string, f: () => T): T;
}

/**
 * d f() / d x for each of `xs` (null where f does not depend on x), and f()'s value. Like
 * tf.variableGrads over an explicit list, returning the gradients in the list's order.
 */
export function gradientsFreeingAsItGoes(f: () => tf.Scalar, xs: readonly tf.Variable[]): { value: tf.Scalar; grads: (tf.Tensor | null)[] } {
  const engine = tf.engine() as unknown as EngineInternals;
  const y = engine.scopedRun(
    () => engine.startTape(),
    () => engine.endTape(),
    () => engine.tidy('forward', f),
  );
  if (!(y instanceof tf.Tensor) || y.rank !== 0) throw new Error('the loss function must return a scalar tensor');
  const tape = getFilteredNodesXToY(engine.state.activeTape as never, xs as unknown as tf.Tensor[], y) as unknown as TapeNode[];
  const grads = engine.tidy('backward', () => {
    const acc = new Map<number, tf.Tensor>([[y.id, tf.onesLike(y)]]);
    const outermost = engine.state.gradientDepth === 0;
    // A gradient function may hand back one tensor for two inputs (or its own dy): dispose a gradient
    // only once no entry of the map holds it any more.
    const release = (t: tf.Tensor | undefined) => {
      if (!t) return;
      for (const held of acc.values()) if (held === t) return;
      t.dispose();
    };
    for (let i = tape.length - 1; i >= 0; i--) {
      const node = tape[i];
      const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
      if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
      // The whole gradient in one tidy: a custom gradient computes its results eagerly, and the
      // temporaries it made on the way would otherwise live until the backward pass ends.
      const names = Object.keys(node.inputs);
      const gradient = node.gradient;
      const dxs = engine.tidy(`grad ${node.kernelName}`, () => {
        const inputGradients = gradient(dys);
        return names.map((inputName) => {
          if (!(inputName in inputGradients)) throw new Error(`Cannot backprop through input ${inputName} of ${node.kernelName}.`);
          return inputGradients[inputName]();
        });
      });
      for (const [k, inputName] of names.entries()) {
        const dx = dxs[k];
        const x = node.inputs[inputName];
        if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}: the gradient of input ${inputName} has dtype ${dx.dtype}`);
        if (!tf.util.arraysEqual(dx.shape, x.shape))
          throw new Error(`Error in gradient for op ${node.kernelName}: the gradient of input '${inputName}' has shape [${dx.shape}], the input [${x.shape}]`);
        const current = acc.get(x.id);
        if (current === undefined) acc.set(x.id, dx);
        else {
          acc.set(x.id, tf.add(current, dx));
          release(current);
          release(dx);
        }
      }
      // Spent: the gradients of this node's outputs and what it saved for its own gradient.
      for (const o of node.outputs) {
        const g = acc.get(o.id);
        acc.delete(o.id);
        release(g);
      }
      if (outermost) for (const t of node.saved ?? []) t.dispose();
    }
    return xs.map((x) => acc.get(x.id) ?? null);
  });
  if (engine.state.gradientDepth === 0) {
    // The rest of the tape (nodes off the path from xs to y) as engine.gradients leaves it.
    for (const node of engine.state.activeTape ?? []) for (const t of node.saved ?? []) t.dispose();
    engine.state.activeTape = null;
  }
  return { value: y, grads };
}
