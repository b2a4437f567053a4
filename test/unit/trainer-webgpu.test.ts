// The training loop on the webgpu backend (Dawn). Without a GPU it runs on Mesa's llvmpipe through
// OpenGL ES (FINETUNE_WEBGPU_SOFTWARE=1): the loop must read its results asynchronously (webgpu has no
// synchronous read in Node), and train, evaluate and checkpoint with wasm's per-step losses.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DoneEvent, TrainerEvent } from '../../protocol/trainer';
import { parseTrainArgs } from '../../trainer/runConfig';
import { initBackend } from '../../trainer/compute/backend';
import { presetConfig } from '../../trainer/models/gpt2/config';
import { loadModelFolder } from '../../trainer/formats/modelFolder';
import { EventWriter } from '../../trainer/runFolder';
import { readSafetensors } from '../../trainer/formats/safetensors';
import { train } from '../../trainer/train';
import { adamDrift, assertAllAbsClose, assertRelClose, gpt2Sums, reordered } from './tolerance';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-webgpu-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** What Dawn needs for its OpenGL ES adapter on Debian/Ubuntu (llvmpipe when there is no GPU). */
const GL_PACKAGES = 'libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri';

async function run(args: string[]): Promise<{ events: TrainerEvent[]; done: DoneEvent }> {
  const writer = new EventWriter();
  const events: TrainerEvent[] = [];
  writer.onEvent((e) => events.push(e));
  const done = await train(parseTrainArgs(args), { writer });
  return { events, done };
}

test("training on webgpu (llvmpipe without a GPU) gives wasm's per-step and eval losses for LM and classification runs, and writes checkpoints and outputs", async () => {
  const saved = process.env.FINETUNE_WEBGPU_SOFTWARE;
  process.env.FINETUNE_WEBGPU_SOFTWARE = '1';
  try {
    const data = path.join(scratch, 'train.jsonl');
    const colors = ['red', 'blue', 'green', 'yellow', 'purple', 'orange', 'black', 'white'];
    fs.writeFileSync(data, colors.map((c) => JSON.stringify({ instruction: `Name the color ${c}.`, output: `The color is ${c}.` })).join('\n') + '\n');
    const common = [
      '--data',
      data,
      '--model',
      'tiny',
      '--strategy',
      'full',
      '--max-steps',
      '3',
      '--batch-size',
      '3',
      '--lr',
      '1e-3',
      '--eval-fraction',
      '0.25',
      '--eval-every',
      '2',
      '--checkpoint-every',
      '2',
      '--seed',
      '5',
    ];

    // A classification head (partial strategy) too: its own eval (accuracy) and output reads.
    const clsData = path.join(scratch, 'cls.jsonl');
    const words = ['good', 'great', 'fine', 'bad', 'awful', 'poor', 'nice', 'sad'];
    fs.writeFileSync(clsData, words.map((w, i) => JSON.stringify({ text: `This is ${w}.`, label: i % 2 === 0 ? 'pos' : 'neg' })).join('\n') + '\n');
    const cls = [
      '--data',
      clsData,
      '--model',
      'tiny',
      '--head',
      'classification',
      '--strategy',
      'partial',
      '--freeze-layers',
      '1',
      '--max-steps',
      '2',
      '--batch-size',
      '4',
      '--lr',
      '1e-3',
      '--eval-fraction',
      '0.25',
    ];

    // Both wasm runs first: the process switches to webgpu once (Dawn is started once per process).
    const wasm = await run([...common, '--backend', 'wasm', '--out', path.join(scratch, 'wasm')]);
    assert.equal(wasm.done.status, 'completed', JSON.stringify(wasm.events.find((e) => e.type === 'error')));
    const clsWasm = await run([...cls, '--backend', 'wasm', '--out', path.join(scratch, 'cls-wasm')]);
    assert.equal(clsWasm.done.status, 'completed', JSON.stringify(clsWasm.events.find((e) => e.type === 'error')));
    const gpu = await run([...common, '--backend', 'webgpu', '--out', path.join(scratch, 'webgpu')]);
    // Not a skip: where Dawn finds no adapter at all, this test fails and says what to install.
    if (/webgpu' is not available/.test(gpu.done.message ?? '')) {
      assert.fail(`${gpu.done.message}. Without a GPU, webgpu needs Mesa's OpenGL ES: apt-get install ${GL_PACKAGES}`);
    }
    assert.equal(gpu.done.status, 'completed', JSON.stringify(gpu.events.find((e) => e.type === 'error')));
    const start = gpu.events.find((e) => e.type === 'start');
    assert.ok(start?.type === 'start' && start.backend === 'webgpu', `ran on ${start?.type === 'start' ? start.backend : '?'}`);

    // Losses and gradient norms: the same float32 computation in another order (webgpu's shaders, wasm's
    // kernels or OpenBLAS), so within the reordering bound of the tiny model's forward and backward pass.
    const tiny = presetConfig('tiny');
    const close = (what: string, got: number, want: number) => assertRelClose(got, want, reordered(gpt2Sums(tiny, 3 * 16, true)), `${what}: webgpu vs wasm`);
    const losses = (r: { events: TrainerEvent[] }, type: 'step' | 'eval') => r.events.flatMap((e) => (e.type === type ? [e.loss] : []));
    assert.equal(losses(gpu, 'step').length, 3);
    losses(gpu, 'step').forEach((l, i) => close(`step ${i + 1} loss`, l, losses(wasm, 'step')[i]));
    assert.equal(losses(gpu, 'eval').length, losses(wasm, 'eval').length);
    assert.ok(losses(gpu, 'eval').length >= 2);
    losses(gpu, 'eval').forEach((l, i) => close(`eval ${i + 1} loss`, l, losses(wasm, 'eval')[i]));
    const gradNorms = (r: { events: TrainerEvent[] }) => r.events.flatMap((e) => (e.type === 'step' ? [e.gradNorm] : []));
    gradNorms(gpu).forEach((g, i) => close(`step ${i + 1} grad norm`, g, gradNorms(wasm)[i]));

    // The checkpoint and the output were read back from the GPU: the saved weights match wasm's.
    assert.ok(gpu.events.some((e) => e.type === 'checkpoint' && e.step === 2));
    for (const dir of ['checkpoints/step-2', 'output']) {
      const a = loadModelFolder(path.join(scratch, 'webgpu', dir)).weights.get('transformer.h.1.mlp.c_proj.weight')!;
      const b = loadModelFolder(path.join(scratch, 'wasm', dir)).weights.get('transformer.h.1.mlp.c_proj.weight')!;
      // After k AdamW steps a weight can differ by up to 2·lr·k where a tiny gradient's sign differs.
      const steps = dir === 'output' ? 3 : 2;
      assertAllAbsClose(a.data, b.data, adamDrift(1e-3, steps), `${dir}: c_proj weights, webgpu vs wasm`);
    }

    const clsGpu = await run([...cls, '--backend', 'webgpu', '--out', path.join(scratch, 'cls-webgpu')]);
    assert.equal(clsGpu.done.status, 'completed', JSON.stringify(clsGpu.events.find((e) => e.type === 'error')));
    const pick = (r: { events: TrainerEvent[] }) =>
      r.events.flatMap((e) =>
        e.type === 'step' || e.type === 'eval' ? [{ type: e.type, loss: e.loss, accuracy: e.type === 'eval' ? e.accuracy : undefined }] : [],
      );
    const want = pick(clsWasm);
    const got = pick(clsGpu);
    assert.deepEqual(
      got.map((e) => e.type),
      ['step', 'step', 'eval'],
    );
    assert.deepEqual(
      got.map((e) => e.type),
      want.map((e) => e.type),
    );
    got.forEach((e, i) => {
      close(`classification ${e.type} ${i + 1} loss`, e.loss, want[i].loss);
      assert.equal(e.accuracy, want[i].accuracy);
    });
    const scoreOf = (dir: string) => readSafetensors(path.join(dir, 'model.safetensors')).get('score.weight');
    const [sg, sw] = [scoreOf(path.join(scratch, 'cls-webgpu', 'output')), scoreOf(path.join(scratch, 'cls-wasm', 'output'))];
    assert.ok(sg && sw, 'the classification output has score.weight');
    assertAllAbsClose(sg.data, sw.data, adamDrift(1e-3, 2), 'score.weight after 2 steps, webgpu vs wasm');
  } finally {
    if (saved === undefined) delete process.env.FINETUNE_WEBGPU_SOFTWARE;
    else process.env.FINETUNE_WEBGPU_SOFTWARE = saved;
    await initBackend('wasm');
  }
});
