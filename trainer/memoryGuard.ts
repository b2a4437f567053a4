// Refuses, before the first step, a run whose tensors cannot fit in the wasm backend's 4 GiB heap or, on the
// native backend, in the machine's memory, and turns the wasm module's own out-of-memory abort (a bare
// "Aborted()") into the same advice when it happens anyway.
import * as os from 'node:os';
import { formatBytes, type MemoryEstimate } from './params';

/** WebAssembly's 32-bit linear memory: tfjs-backend-wasm grows its heap up to 4 GiB and then aborts. */
export const WASM_HEAP_LIMIT_BYTES = 4 * 2 ** 30;

/**
 * How much wasm heap a training step really takes, per byte of params.ts's estimate, measured on this
 * project's wasm backend (tfjs 4.22, native BLAS matMul addon on; heap = the wasm memory's byteLength after
 * 3 optimizer steps, which only grows, so it is the step's high-water mark):
 *
 *   shape (layers/embd/heads/vocab, seq x batch)  strategy  estimate MiB (w / grad+opt / act)  heap MiB  projected  outcome
 *   1/768/12/50257, 128x1                          full      756 (175 / 524 / 58)               3032      2801       fits
 *   2/768/12/50257, 128x1                          full      872 (202 / 605 / 66)               3439      3213       fits
 *   3/768/12/50257, 128x1                          full      988 (229 / 686 / 73)               3841      3625       fits
 *   4/768/12/50257, 128x1                          full      1104 (256 / 767 / 81)              4096      4037       fits (heap at its limit)
 *   8/768/12/50257, 128x1                          full      1569 (364 / 1092 / 113)            -         5684       Aborted()
 *   6/768/12/4096, 128x1                           full      750 (175 / 524 / 52)               2787      2780       fits
 *   12/768/12/4096, 128x1                          full      1447 (337 / 1011 / 99)             -         5251       Aborted()
 *   12/768/12/50257, 128x1 (GPT-2 small)           full      2033 (472 / 1416 / 144)            -         7332       Aborted() (RSS 4.1 GB)
 *   4/256/4/50257, 128x1                           full      305 (61 / 184 / 60)                986       1198       fits
 *   12/768/12/50257, 128x1 (GPT-2 small)           lora r8   621 (473 / 3 / 144)                1108      1117       fits (RSS 1,142 MiB)
 *   12/768/12/50257, 256x2 (GPT-2 small)           lora r8   1126 (474 / 3 / 650)               2879      2910       fits
 *   12/768/12/50257, 256x3 (GPT-2 small)           lora r8   1451 (474 / 3 / 974)               4079      4063       fits (just)
 *   12/768/12/50257, 256x4 (GPT-2 small)           lora r8   1776 (474 / 3 / 1299)              -         5216       Aborted()
 *   (lora r8 on c_attn; positions = max(seq, 128) as `bench` builds them; 2 cores, Node 20.)
 *
 * The Llama family with its own activation shapes (params.ts blockActivationWidth), SmolLM2-135M's shape
 * (30 layers, 576 wide, 9 query / 3 key-value heads, MLP 1536, vocab 49152, tied), random weights, lora r8
 * on q_proj,v_proj; same measurement (3 steps, wasm heap byteLength):
 *
 *   layers, seq x batch   strategy  estimate MiB (w / grad+opt / act)  heap MiB  projected  outcome
 *   30, 128x1             lora r8   794 (515 / 5 / 274)                 1444      1626       fits
 *   30, 256x1             lora r8   1135 (515 / 5 / 615)                2604      2838       fits
 *   30, 128x2             lora r8   1068 (515 / 5 / 548)                2418      2598       fits
 *   30, 320x1             lora r8   1331 (515 / 5 / 811)                3200      3533       fits
 *   30, 384x1             lora r8   1544 (515 / 5 / 1024)               3906      4289       fits (refused: projected over 4 GiB)
 *   30, 512x1             lora r8   2022 (515 / 5 / 1502)               -         5987       Aborted()
 *   4, 128x1              full      727 (162 / 486 / 79)                2643      2696       fits
 *   8, 64x1               full      916 (216 / 648 / 52)                3466      3368       fits
 *   Qwen2.5-0.5B, 32x1    lora r8   2020 (1887 / 6 / 127)               2309      2481       fits
 *
 * The same factors project Llama-family steps within -3% (full) to +13% (LoRA, where the activations
 * dominate): the count keeps every tensor of the block's forward that its backward reads, and tfjs frees
 * some of them earlier (RoPE and the GQA repeat save nothing for their gradients), so the guard errs on
 * the side of refusing: the 384x1 run above fitted in 95% of the heap but is refused.
 *
 * Weights sit in the heap once (factor 1). The other factors were fitted so that every run above is
 * classified as it behaved: each byte of the estimate's gradients + AdamW moments costs ~4.4 bytes of heap
 * at the peak, each byte of kept activations ~3.55, plus ~100 MiB fixed. The estimate counts each tensor
 * once; within a step the heap also holds the gradients of activations on the way back, logits-sized
 * cross-entropy temporaries, the embedding gradient summed from two paths (gather and the tied LM head),
 * the copies made by gradient clipping and the update, and the allocator's fragmentation (not profiled
 * per tensor). The heap's byteLength overshoots the real need by up to one growth step, so small runs
 * peak up to ~8% above their projection (far from the limit); both boundary runs (4-layer full, LoRA
 * 256x3) sit within 2% of the limit. A run projected just under the limit can therefore still abort;
 * explainWasmAbort turns that abort into the same advice.
 */
export const HEAP_FACTORS = { weights: 1.0, trainableState: 4.4, activations: 3.55 } as const;
/** The heap before any model tensor (16 MiB measured) plus the fitted fixed part of a step (~100 MiB). */
export const HEAP_BASE_BYTES = 116 * 2 ** 20;

/**
 * Peak RSS of a whole `finetune bench` process on the native backend per byte of params.ts's estimate,
 * fitted to these runs (peak RSS as getrusage reports it, the same as `/usr/bin/time -f %M`; 2 optimizer
 * steps after 2 warm-up steps; tfjs 4.22, Node 20, 2 cores):
 *
 *   shape, seq x batch        strategy   estimate MiB (w / grad+opt / act)  peak RSS MiB  projected
 *   GPT-2 small, 128x4        full       2476 (475 / 1424 / 577)            3310          3267
 *   GPT-2 small, 256x2        full       2548 (475 / 1424 / 649)            3422          3360
 *   GPT-2 small, 128x4        lora r8    1057 (476 / 3 / 578)               1421          1367
 *   GPT-2 small, 256x4        lora r8    1778 (476 / 3 / 1299)              2307          2303
 *   4/256/4/4096, 128x8       full       183 (16 / 49 / 118)                402           375
 *   SmolLM2-135M, 128x2       full       2600 (513 / 1539 / 547)            3326          3424
 *   SmolLM2-135M, 128x2       lora r8    1068 (515 / 5 / 548)               1358          1373
 *   Qwen2.5-0.5B, 128x1       lora r8    2432 (1887 / 6 / 539)              2641          2734
 *   (GPT-2 lora r8 on c_attn, the Llama family's on q_proj,v_proj; a least-squares fit, within ±8%.)
 *
 * Weights are held once (no copy: the native backend's tensors are plain arrays). Each byte of
 * gradients + AdamW moments costs ~1.3 bytes at the peak (the update's three new arrays of the largest
 * weight, the embedding gradient summed from its two paths) and each byte of kept activations ~1.3 (the
 * gradients flowing back next to them; trainer/compute/gradients.ts frees both as the backward pass goes).
 * The fixed part is Node, the bundle and the pool of freed buffers the backend reuses
 * (trainer/compute/nativeBackend.ts, at most 1 GiB, mostly logits-sized).
 */
export const NATIVE_RSS_FACTORS = { weights: 1.0, trainableState: 1.34, activations: 1.3 } as const;
export const NATIVE_RSS_BASE_BYTES = 136 * 2 ** 20;

/** Expected peak RSS of a training step on the native backend. */
export function projectedNativeRssBytes(estimate: MemoryEstimate): number {
  return project(estimate, NATIVE_RSS_BASE_BYTES, NATIVE_RSS_FACTORS);
}

/** What a step needs at its peak on `backend`: wasm heap, native RSS, or (elsewhere) the tensors alone. */
export function projectedPeakBytes(estimate: MemoryEstimate, backend: string): number {
  if (backend === 'wasm') return projectedHeapBytes(estimate);
  if (backend === 'native') return projectedNativeRssBytes(estimate);
  return estimate.total;
}

export type MemoryCheck =
  | { ok: true; projectedBytes: number; limitBytes: number | null }
  | { ok: false; message: string; projectedBytes: number; limitBytes: number };

/** Flag names in the advice: `train` calls them --batch-size/--max-length, `bench` --batch/--seq. */
export interface AdviceFlags {
  batch: string;
  length: string;
}
const TRAIN_FLAGS: AdviceFlags = { batch: '--batch-size', length: '--max-length' };

/** The heap limit of a tfjs backend, or null where tensors live in ordinary process memory. */
export function heapLimitBytes(backend: string): number | null {
  return backend === 'wasm' ? WASM_HEAP_LIMIT_BYTES : null;
}

/** Expected wasm heap high-water mark of a training step, from the estimate and the measured factors. */
export function projectedHeapBytes(estimate: MemoryEstimate): number {
  return project(estimate, HEAP_BASE_BYTES, HEAP_FACTORS);
}

/** base + each part of the estimate times its factor (the gradients and AdamW moments share one). */
function project(e: MemoryEstimate, base: number, f: { weights: number; trainableState: number; activations: number }): number {
  return base + f.weights * e.weights + f.trainableState * (e.gradients + e.optimizer) + f.activations * e.activations;
}

function advice(flags: AdviceFlags, backend = 'wasm'): string {
  return (
    `To train anyway: train a small part of the model (--strategy lora, adapter or prompt: no gradients or optimizer state for the frozen weights), ` +
    `lower ${flags.batch} or ${flags.length} (activations grow with both), ` +
    (backend === 'native'
      ? ''
      : `use --backend native (no heap limit: the process's own memory, every core; its addon is built by \`npm run build:native\`), `) +
    `or --gradient-checkpointing (recomputes each block instead of keeping its activations)`
  );
}

function breakdown(e: MemoryEstimate): string {
  return `weights ${formatBytes(e.weights)}, gradients ${formatBytes(e.gradients)}, optimizer ${formatBytes(e.optimizer)}, activations ${formatBytes(e.activations)}`;
}

/**
 * Whether training with this memory estimate fits the backend: wasm against its 4 GiB heap, native
 * against the machine's memory (a run projected past it would swap for hours or be killed). The other
 * backends' memory is not modelled (a GPU's own, libtensorflow's allocator), so they always pass.
 */
export function checkMemoryFits(
  estimate: MemoryEstimate,
  backend: string,
  flags: AdviceFlags = TRAIN_FLAGS,
  machineBytes: number = os.totalmem(),
): MemoryCheck {
  if (backend === 'native') {
    const projected = projectedNativeRssBytes(estimate);
    if (projected <= machineBytes) return { ok: true, projectedBytes: projected, limitBytes: machineBytes };
    return {
      ok: false,
      projectedBytes: projected,
      limitBytes: machineBytes,
      message:
        `this run does not fit in this machine's memory: estimated ${formatBytes(estimate.total)} of tensors (${breakdown(estimate)}), ` +
        `about ${formatBytes(projected)} at the peak of a step, but the machine has ${formatBytes(machineBytes)}. ${advice(flags, backend)}.`,
    };
  }
  const limit = heapLimitBytes(backend);
  const projected = projectedHeapBytes(estimate);
  if (limit === null || projected <= limit) return { ok: true, projectedBytes: projected, limitBytes: limit };
  return {
    ok: false,
    projectedBytes: projected,
    limitBytes: limit,
    message:
      `this run does not fit in the ${backend} backend's memory: estimated ${formatBytes(estimate.total)} of tensors (${breakdown(estimate)}), ` +
      `about ${formatBytes(projected)} of heap at the peak of a step, but WebAssembly's heap is limited to ${formatBytes(limit)}. ${advice(flags)}.`,
  };
}

/**
 * Whether a run of this estimate fits on this machine, the quick pick's flag per strategy: on wasm the
 * guard's own test (checkMemoryFits: the projected heap against the 4 GiB limit); on the backends
 * without a heap limit the estimate's tensors against the machine's memory, which they share with
 * everything else (so a run that passes may still swap, and one that fails cannot run without it).
 */
export function memoryFit(
  estimate: MemoryEstimate,
  backend: string,
  machineBytes: number = os.totalmem(),
): { fits: boolean; neededBytes: number; limitBytes: number } {
  const heapLimit = heapLimitBytes(backend);
  const neededBytes = projectedPeakBytes(estimate, backend);
  const limitBytes = heapLimit ?? machineBytes;
  return { fits: neededBytes <= limitBytes, neededBytes, limitBytes };
}

/** The error the wasm module throws when its heap is exhausted or corrupted (emscripten's abort). */
export function isWasmAbort(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    (err.name === 'RuntimeError' || err instanceof WebAssembly.RuntimeError) &&
    /^Aborted\(|memory access out of bounds|Cannot enlarge memory|Out of memory|OOM/i.test(err.message)
  );
}

/** Raised in place of a wasm abort; the module is unusable afterwards, so the run must end. */
export class WasmOutOfMemoryError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'WasmOutOfMemoryError';
  }
}

/**
 * A wasm abort becomes a WasmOutOfMemoryError naming the estimate, the limit and what to do; any other
 * error is returned unchanged. Use as `catch (err) { throw explainWasmAbort(err, estimate) }`.
 */
export function explainWasmAbort(err: unknown, estimate?: MemoryEstimate, flags: AdviceFlags = TRAIN_FLAGS): unknown {
  if (!isWasmAbort(err)) return err;
  const what = estimate
    ? `estimated ${formatBytes(estimate.total)} of tensors (${breakdown(estimate)}), about ${formatBytes(projectedHeapBytes(estimate))} of heap at the peak of a step`
    : 'the tensors of this run';
  return new WasmOutOfMemoryError(
    `the wasm backend ran out of memory (${(err as Error).message.split('.')[0]}): ${what}, but WebAssembly's heap is limited to ${formatBytes(WASM_HEAP_LIMIT_BYTES)}. ${advice(flags)}.`,
    err,
  );
}
