// The Llama / Qwen2 / Qwen3 families through the engine: `finetune params` on the presets prints
// transformers' and PEFT's counts (LoRA's default targets are the family's, q_proj and v_proj), an unknown
// architecture names every supported one, `finetune eval` on a fixture folder of each variant (sharded
// included) gives the PyTorch reference's loss, and a LoRA run on a tiny Llama trains the adapter only
// (an untied head stays frozen), lowers the loss and writes an adapter that evaluates back to the same loss.
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run as evalRun } from '../../cli/eval';
import { run as paramsRun } from '../../cli/params';
import { run as trainRun } from '../../cli/train';
import { initBackend } from '../../trainer/compute/backend';
import { loadModelFolder } from '../../trainer/formats/modelFolder';
import { modelFromWeights } from '../../trainer/loadModel';
import { parseTrainerEvent, type TrainerEvent } from '../../protocol/trainer';
import { captureStdout } from './captureStdout';
import { assertRelClose } from './tolerance';
import { fixtureWithTokenizer, textOf } from '../fixtures/llama/charTokenizer';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'llama');
const VARIANTS = ['llama-gqa', 'llama-untied', 'llama-bf16', 'llama-shards', 'llama3-rope', 'llama3-rope-parameters', 'qwen2-bias', 'qwen3-qk-norm'];
const TEXT_EVAL_IDS: number[][] = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'text-eval-ids.json'), 'utf8'));

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-llama-engine-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

before(async () => {
  await initBackend('wasm');
});

/** text-eval-ids.json as text records: each record's text is its ids but the final eos, which training appends. */
function textData(): string {
  const file = path.join(scratch, 'text-eval.jsonl');
  if (!fs.existsSync(file)) fs.writeFileSync(file, TEXT_EVAL_IDS.map((ids) => JSON.stringify({ text: textOf(ids.slice(0, -1)) })).join('\n') + '\n');
  return file;
}

async function evalJson(args: string[]): Promise<{ loss: number; tokens: number; examples: number }> {
  const { code, out } = await captureStdout(() => evalRun([...args, '--backend', 'wasm', '--json']));
  assert.equal(code, 0, out);
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('finetune params on the Llama-family presets', () => {
  const params = async (args: string[]) => {
    const { code, out } = await captureStdout(() => paramsRun(args));
    assert.equal(code, 0, out);
    return out;
  };

  test("SmolLM2-135M with LoRA's defaults prints PEFT's line (targets q_proj, v_proj)", async () => {
    const out = await params(['--model', 'smollm2-135m', '--strategy', 'lora']);
    assert.match(out, /^trainable params: 460,800 \|\| all params: 134,975,808 \|\| trainable%: 0\.3414$/m);
    assert.match(out, /targets q_proj,v_proj/);
  });

  test("totals are transformers' num_parameters: SmolLM2-135M 134,515,008, Qwen2.5-0.5B 494,032,768", async () => {
    const total = async (model: string) => JSON.parse(await params(['--model', model, '--strategy', 'full', '--json'])).total as number;
    assert.equal(await total('smollm2-135m'), 134_515_008);
    assert.equal(await total('qwen2.5-0.5b'), 494_032_768);
  });

  test('explicit targets are the family’s module names; GPT-2 keeps c_attn as its default', async () => {
    // q_proj, k_proj, v_proj on 30 layers: r·(576+576) + 2·r·(576+192) per layer.
    const out = await params(['--model', 'smollm2-135m', '--strategy', 'lora', '--lora-targets', 'q_proj,k_proj,v_proj', '--json']);
    assert.equal(JSON.parse(out).trainable, 30 * 8 * (1152 + 2 * 768));
    assert.match(await params(['--model', 'tiny', '--strategy', 'lora']), /targets c_attn\)/);
    await assert.rejects(
      captureStdout(() => paramsRun(['--model', 'smollm2-135m', '--strategy', 'lora', '--lora-targets', 'c_fc'])),
      /LoRA target module\(s\) 'c_fc' not found in the model \(Llama has q_proj, k_proj/,
    );
  });

  test('an unknown architecture is refused naming it and every supported architecture', async () => {
    const dir = fs.mkdtempSync(path.join(scratch, 'mistral-'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ architectures: ['MistralForCausalLM'], model_type: 'mistral' }));
    await assert.rejects(
      captureStdout(() => paramsRun(['--model', dir, '--strategy', 'full'])),
      (err: Error) => {
        assert.match(err.message, /architecture "MistralForCausalLM" is not supported/);
        for (const a of ['GPT2LMHeadModel', 'LlamaForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM']) assert.ok(err.message.includes(a), err.message);
        return true;
      },
    );
  });
});

describe('finetune eval on a folder of each variant matches the PyTorch reference', () => {
  for (const name of VARIANTS) {
    test(name, async () => {
      const want = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'expected-eval-text.json'), 'utf8'));
      const got = await evalJson(['--model', fixtureWithTokenizer(name, scratch), '--data', textData()]);
      assert.equal(got.tokens, want.tokens);
      assert.equal(got.examples, want.examples);
      // The bound (1e-4 relative); the parity tests hold the forward pass to float32 reordering.
      assertRelClose(got.loss, want.loss, 1e-4, `${name}: eval loss`);
    });
  }
});

describe('LoRA on a Llama-family model', () => {
  test('an untied head and the embeddings stay frozen; only lora_A / lora_B train', () => {
    const { config, weights } = loadModelFolder(path.join(FIXTURES, 'qwen2-bias'));
    const model = modelFromWeights(config, weights, { strategy: 'lora', r: 4, alpha: 8, dropout: 0, targets: ['q_proj', 'v_proj'] }, 0);
    try {
      const names = model.trainableVariables().map((v) => v.name);
      assert.equal(names.length, 2 * 2 * 2);
      assert.ok(
        names.every((n) => /\.lora_[AB]\.weight$/.test(n)),
        names.join(', '),
      );
    } finally {
      model.dispose();
    }
  });

  test('trains a tiny Llama: the loss falls, and the adapter evaluates back to the run’s final eval loss', async () => {
    const model = fixtureWithTokenizer('llama-untied', scratch);
    const data = path.join(scratch, 'train.jsonl');
    const rows = Array.from({ length: 8 }, (_, i) => ({ text: textOf([10 + i, 20, 30, 40, 50, 60, 70, 80 + i]) }));
    fs.writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = path.join(scratch, 'lora-run');
    const { code, out: stdout } = await captureStdout(() =>
      trainRun([
        '--data',
        data,
        '--eval-data',
        data,
        '--model',
        model,
        '--strategy',
        'lora',
        '--lora-r',
        '4',
        '--lr',
        '0.01',
        '--max-steps',
        '6',
        '--batch-size',
        '8',
        '--out',
        out,
        '--backend',
        'wasm',
      ]),
    );
    assert.equal(code, 0, stdout);
    const events = stdout
      .trim()
      .split('\n')
      .map((l) => parseTrainerEvent(l))
      .filter((e): e is TrainerEvent => e !== undefined);
    const steps = events.flatMap((e) => (e.type === 'step' ? [e.loss] : []));
    assert.equal(steps.length, 6);
    assert.ok(
      steps.every((l) => Number.isFinite(l)),
      String(steps),
    );
    assert.ok(steps.at(-1)! < steps[0], `loss did not fall: ${steps.join(', ')}`);
    const params = events.find((e) => e.type === 'params');
    assert.ok(params?.type === 'params' && params.trainable === 2 * (4 * (64 + 128) + 4 * (64 + 128)), JSON.stringify(params));
    // The per-layer rows run from the embeddings to Llama's final norm and the untied head, all frozen.
    assert.deepEqual(params.perLayer?.at(-2), { name: 'norm', frozen: 64, trainable: 0, added: 0 });
    assert.deepEqual(params.perLayer?.at(-1), { name: 'lm_head', frozen: 256 * 64, trainable: 0, added: 0 });
    assert.deepEqual(params.perLayer?.[0], { name: 'embeddings', frozen: 256 * 64, trainable: 0, added: 0 });
    const done = events.at(-1)!;
    assert.ok(done.type === 'done' && done.status === 'completed', JSON.stringify(done));
    const adapterDir = path.join(out, 'output');
    const config = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8'));
    assert.deepEqual(config.target_modules, ['q_proj', 'v_proj']);
    const final = events.filter((e) => e.type === 'eval').at(-1);
    assert.ok(final?.type === 'eval');
    const again = await evalJson(['--model', model, '--adapter', adapterDir, '--data', data]);
    assertRelClose(again.loss, final.loss, 1e-5, 'eval loss of the saved adapter vs the run');
  });
});
