// Every strategy on the Llama-family fixtures through the real `finetune train` path (cli/train.ts): full,
// partial (frozen layers and embeddings unchanged byte for byte), LoRA on PEFT's module names (the family
// default q_proj,v_proj, an explicit list, all-linear, --merge), bottleneck adapters, prompt tuning and a
// classification head. Each run takes a few steps; its loss must be finite and fall, and its output folder
// must evaluate back (`finetune eval`) to the run's own final eval loss. Then LoRA parity with PEFT: the
// adapters of test/fixtures/llama/lora/ (trained by the project, make-lora.sh) give the PyTorch reference's
// loss with the adapter applied as PEFT's lora.Linear applies it (reference/llama_ref.py lora-eval).
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { run as evalRun } from '../../cli/eval';
import { run as paramsRun } from '../../cli/params';
import { run as trainRun } from '../../cli/train';
import { parseTrainerEvent, type TrainerEvent } from '../../protocol/trainer';
import { initBackend } from '../../trainer/compute/backend';
import { loadModelFolder } from '../../trainer/formats/modelFolder';
import { readSafetensors } from '../../trainer/formats/safetensors';
import { ClassificationHead } from '../../trainer/heads/classification';
import { modelFromWeights } from '../../trainer/loadModel';
import { fromHfConfig, hasQkNorm, type LlamaConfig } from '../../trainer/models/llama/config';
import { readAdapter, type StrategyConfig } from '../../trainer/strategies';
import { ADAPTERS } from '../fixtures/llama/make-lora';
import { captureStdout } from './captureStdout';
import { assertAllClose, assertRelClose, reordered } from './tolerance';
import { FIXTURE_EOS, fixtureWithTokenizer, textOf } from '../fixtures/llama/charTokenizer';
import { batchLoss } from './batchLoss';
import { TEST_BACKEND } from './testBackend';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'llama');
/** The fixtures' eos_token_id (config.json), the test tokenizer's eos. */
const EOS = FIXTURE_EOS;
/** The fixtures' shape (make.sh): hidden 64, 2 layers. */
const HIDDEN = 64;
const LAYERS = 2;

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-llama-strategies-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

before(async () => {
  await initBackend(TEST_BACKEND);
});

/** Eight short text records over distinct ids: small enough that a few steps visibly lower the loss. */
function textData(): string {
  const file = path.join(scratch, 'train.jsonl');
  if (!fs.existsSync(file)) {
    const rows = Array.from({ length: 8 }, (_, i) => ({ text: textOf([10 + i, 20, 30, 40, 50, 60, 70, 80 + i]) }));
    fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
  return file;
}

/** Labelled texts whose label is told by their first id (3 labels), for the classification head. */
function classificationData(): string {
  const file = path.join(scratch, 'labels.jsonl');
  if (!fs.existsSync(file)) {
    const labels = ['alpha', 'beta', 'gamma'];
    const rows = Array.from({ length: 9 }, (_, i) => ({ text: textOf([100 + (i % 3), 30 + i, 40, 50 + (i % 4)]), label: labels[i % 3] }));
    fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
  return file;
}

interface Run {
  events: TrainerEvent[];
  steps: number[];
  finalEval: number;
  output: string;
}

/** Trains `model` on `data` for `steps` steps (batch 8) and evaluates on the same data after the last step. */
async function train(model: string, data: string, name: string, extra: string[], steps = 4): Promise<Run> {
  const out = path.join(scratch, name);
  const { code, out: stdout } = await captureStdout(() =>
    trainRun([
      ...['--data', data, '--eval-data', data, '--model', model, '--out', out, '--backend', 'wasm'],
      ...['--max-steps', String(steps), '--batch-size', '8', '--seed', '3', ...extra],
    ]),
  );
  assert.equal(code, 0, stdout);
  const events = stdout
    .trim()
    .split('\n')
    .map((l) => parseTrainerEvent(l))
    .filter((e): e is TrainerEvent => e !== undefined);
  const done = events.at(-1);
  assert.ok(done?.type === 'done' && done.status === 'completed', JSON.stringify(done));
  const losses = events.flatMap((e) => (e.type === 'step' ? [e.loss] : []));
  assert.equal(losses.length, steps);
  assert.ok(
    losses.every((l) => Number.isFinite(l)),
    String(losses),
  );
  const final = events.filter((e) => e.type === 'eval').at(-1);
  assert.ok(final?.type === 'eval', 'the run evaluates after its last step');
  return { events, steps: losses, finalEval: final.loss, output: path.join(out, 'output') };
}

async function evalJson(args: string[]): Promise<{ loss: number; tokens: number; examples: number; accuracy?: number }> {
  const { code, out } = await captureStdout(() => evalRun([...args, '--backend', 'wasm', '--batch-size', '8', '--json']));
  assert.equal(code, 0, out);
  return JSON.parse(out.trim().split('\n').pop()!);
}

/** Each text record is 8 ids and the eos: 8 input positions and 8 loss tokens, 64 in a batch of 8. */
const POSITIONS = 8;
const LOSS_TOKENS = 8 * 8;

/**
 * The run's final eval and `finetune eval` of its output compute one forward pass over the same batch
 * with the same weights (or with LoRA merged into them: W0·x + s·B·(A·x) and (W0 + s·B·A)·x round apart
 * by the sums of the LoRA product), so they agree to the reordering bound of the fixture's forward pass
 * (forwardSums below, as the parity test bounds it).
 */
function reloadTolerance(fixture: string, lora = { r: 0, wrapped: 0 }): number {
  const c = fromHfConfig(JSON.parse(fs.readFileSync(path.join(FIXTURES, fixture, 'config.json'), 'utf8')), fixture);
  return reordered(forwardSums(c, POSITIONS, LOSS_TOKENS, lora.r, lora.wrapped));
}

const lossFell = (r: Run) => assert.ok(r.steps.at(-1)! < r.steps[0], `loss did not fall: ${r.steps.join(', ')}`);

/** The PEFT adapter folder of a LoRA run: its config and the keys of its weights. */
const peftFolder = (dir: string) => ({
  config: JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')),
  keys: [...readSafetensors(path.join(dir, 'adapter_model.safetensors')).keys()].sort(),
});
const loraKeys = (modules: string[]) =>
  Array.from({ length: LAYERS }, (_, n) => modules.flatMap((m) => ['A', 'B'].map((w) => `base_model.model.model.layers.${n}.${m}.lora_${w}.weight`)))
    .flat()
    .sort();
/** Whether two tensors of safetensors files hold the same bytes. */
const sameBytes = (a: { data: Float32Array }, b: { data: Float32Array }) =>
  Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));
const ATTENTION = ['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((m) => `self_attn.${m}`);
const MLP = ['gate_proj', 'up_proj', 'down_proj'].map((m) => `mlp.${m}`);

describe('every strategy trains a Llama-family model and its output loads back', () => {
  test('full: every weight trains; the HF folder (config architectures, safetensors, tokenizer) evaluates to the run’s loss', async () => {
    const model = fixtureWithTokenizer('llama-gqa', scratch);
    const r = await train(model, textData(), 'full', ['--strategy', 'full', '--lr', '0.003']);
    lossFell(r);
    const files = fs.readdirSync(r.output).sort();
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(files.includes(f), files.join(', '));
    const config = JSON.parse(fs.readFileSync(path.join(r.output, 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['LlamaForCausalLM']);
    const before = readSafetensors(path.join(model, 'model.safetensors'));
    for (const [key, t] of readSafetensors(path.join(r.output, 'model.safetensors'))) assert.ok(!sameBytes(t, before.get(key)!), `${key} did not train`);
    const again = await evalJson(['--model', r.output, '--data', textData()]);
    assertRelClose(again.loss, r.finalEval, reloadTolerance('llama-gqa'), 'full: eval of the output vs the run');
  });

  test('partial: the first layer and the embeddings (--freeze-embeddings) are unchanged byte for byte, the rest moved', async () => {
    const model = fixtureWithTokenizer('llama-gqa', scratch);
    const r = await train(model, textData(), 'partial', ['--strategy', 'partial', '--freeze-layers', '1', '--freeze-embeddings', '--lr', '0.003']);
    lossFell(r);
    const before = readSafetensors(path.join(model, 'model.safetensors'));
    const after = readSafetensors(path.join(r.output, 'model.safetensors'));
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [key, t] of after) {
      const frozen = key.startsWith('model.layers.0.') || key === 'model.embed_tokens.weight';
      assert.equal(sameBytes(t, before.get(key)!), frozen, `${key} ${frozen ? 'changed although frozen' : 'did not train'}`);
    }
    const again = await evalJson(['--model', r.output, '--data', textData()]);
    assertRelClose(again.loss, r.finalEval, reloadTolerance('llama-gqa'), 'partial: eval of the output vs the run');
  });

  test("LoRA with the family default: PEFT's keys on q_proj and v_proj, adapter_config naming the base, evaluates back", async () => {
    const model = fixtureWithTokenizer('llama-gqa', scratch);
    const r = await train(model, textData(), 'lora-default', ['--strategy', 'lora', '--lora-r', '4', '--lr', '0.01']);
    lossFell(r);
    const { config, keys } = peftFolder(r.output);
    assert.equal(config.peft_type, 'LORA');
    assert.equal(config.base_model_name_or_path, model);
    assert.deepEqual(config.target_modules, ['q_proj', 'v_proj']);
    // nn.Linear's weight is [out, in]: PEFT's fan_in_fan_out is false for it (true only for GPT-2's Conv1D).
    assert.equal(config.fan_in_fan_out, false);
    assert.deepEqual(keys, loraKeys(['self_attn.q_proj', 'self_attn.v_proj']));
    const again = await evalJson(['--model', model, '--adapter', r.output, '--data', textData()]);
    assertRelClose(again.loss, r.finalEval, reloadTolerance('llama-gqa'), 'lora: eval of the adapter vs the run');
  });

  test('LoRA on an explicit list of attention and MLP linears (Qwen3, q/k norms) wraps exactly those', async () => {
    const model = fixtureWithTokenizer('qwen3-qk-norm', scratch);
    const targets = ['k_proj', 'o_proj', 'gate_proj', 'down_proj'];
    const r = await train(model, textData(), 'lora-list', ['--strategy', 'lora', '--lora-r', '4', '--lora-targets', targets.join(','), '--lr', '0.01']);
    lossFell(r);
    const { config, keys } = peftFolder(r.output);
    assert.deepEqual(config.target_modules, targets);
    assert.deepEqual(keys, loraKeys(['self_attn.k_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.down_proj']));
    const again = await evalJson(['--model', model, '--adapter', r.output, '--data', textData()]);
    assertRelClose(again.loss, r.finalEval, reloadTolerance('qwen3-qk-norm'), 'lora list: eval of the adapter vs the run');
  });

  test('LoRA all-linear (Qwen2, untied head, biases): every block linear, never lm_head, as PEFT’s all-linear', async () => {
    const model = fixtureWithTokenizer('qwen2-bias', scratch);
    const r = await train(model, textData(), 'lora-all', ['--strategy', 'lora', '--lora-r', '4', '--lora-targets', 'all-linear', '--lr', '0.01']);
    lossFell(r);
    const { config, keys } = peftFolder(r.output);
    assert.deepEqual([...config.target_modules].sort(), ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    assert.deepEqual(keys, loraKeys([...ATTENTION, ...MLP]));
    const again = await evalJson(['--model', model, '--adapter', r.output, '--data', textData()]);
    assertRelClose(again.loss, r.finalEval, reloadTolerance('qwen2-bias'), 'lora all-linear: eval of the adapter vs the run');
  });

  test('LoRA --merge writes a plain Llama folder whose eval matches the unmerged run', async () => {
    const model = fixtureWithTokenizer('llama-untied', scratch);
    const r = await train(model, textData(), 'lora-merge', ['--strategy', 'lora', '--lora-r', '4', '--merge', '--lr', '0.01']);
    lossFell(r);
    const files = fs.readdirSync(r.output);
    assert.ok(files.includes('model.safetensors') && !files.includes('adapter_config.json'), files.join(', '));
    const keys = [...readSafetensors(path.join(r.output, 'model.safetensors')).keys()];
    assert.ok(keys.includes('lm_head.weight') && !keys.some((k) => k.includes('lora')), keys.join(', '));
    const again = await evalJson(['--model', r.output, '--data', textData()]);
    assertRelClose(again.loss, r.finalEval, reloadTolerance('llama-untied', { r: 4, wrapped: 2 }), 'lora --merge: eval of the merged model vs the run');
  });

  test('bottleneck adapters: two per decoder layer in the project’s adapter format, evaluated back through --adapter', async () => {
    const model = fixtureWithTokenizer('llama-gqa', scratch);
    const r = await train(model, textData(), 'adapter', ['--strategy', 'adapter', '--adapter-dim', '8', '--lr', '0.01']);
    lossFell(r);
    const { config, keys } = peftFolder(r.output);
    assert.equal(config.adapter_type, 'bottleneck');
    assert.equal(config.base_model_name_or_path, model);
    assert.equal(config.hidden_size, HIDDEN);
    const want = Array.from({ length: LAYERS }, (_, n) =>
      ['attn_adapter', 'mlp_adapter'].flatMap((a) => ['down.weight', 'down.bias', 'up.weight', 'up.bias'].map((w) => `model.layers.${n}.${a}.${w}`)),
    ).flat();
    assert.deepEqual(keys, want.sort());
    const again = await evalJson(['--model', model, '--adapter', r.output, '--data', textData()]);
    assertRelClose(again.loss, r.finalEval, reloadTolerance('llama-gqa'), 'adapter: eval vs the run');
  });

  test('prompt tuning: PEFT’s PROMPT_TUNING folder with prompt_embeddings [N, hidden], evaluated back', async () => {
    const model = fixtureWithTokenizer('qwen2-bias', scratch);
    const r = await train(model, textData(), 'prompt', ['--strategy', 'prompt', '--virtual-tokens', '4', '--prompt-init', textOf([20, 30, 40])]);
    lossFell(r);
    const { config, keys } = peftFolder(r.output);
    assert.equal(config.peft_type, 'PROMPT_TUNING');
    assert.equal(config.base_model_name_or_path, model);
    assert.equal(config.num_virtual_tokens, 4);
    assert.equal(config.token_dim, HIDDEN);
    assert.deepEqual(keys, ['prompt_embeddings']);
    const again = await evalJson(['--model', model, '--adapter', r.output, '--data', textData()]);
    assertRelClose(again.loss, r.finalEval, reloadTolerance('qwen2-bias'), 'prompt: eval vs the run');
  });

  test('classification head: LlamaForSequenceClassification folder (score without bias, pad_token_id), accuracy and loss reload', async () => {
    const model = fixtureWithTokenizer('llama-gqa', scratch);
    const data = classificationData();
    const r = await train(model, data, 'classify', ['--strategy', 'full', '--head', 'classification', '--lr', '0.003'], 6);
    lossFell(r);
    const config = JSON.parse(fs.readFileSync(path.join(r.output, 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['LlamaForSequenceClassification']);
    assert.deepEqual(config.id2label, { 0: 'alpha', 1: 'beta', 2: 'gamma' });
    assert.equal(config.pad_token_id, EOS);
    const weights = readSafetensors(path.join(r.output, 'model.safetensors'));
    assert.deepEqual(weights.get('score.weight')?.shape, [3, HIDDEN]);
    assert.ok(!weights.has('score.bias'));
    const again = await evalJson(['--model', r.output, '--data', data]);
    assertRelClose(again.loss, r.finalEval, reloadTolerance('llama-gqa'), 'classification: eval of the output vs the run');
  });
});

describe('LoRA with a classification head', () => {
  test('Qwen2: the output is a Qwen2ForSequenceClassification folder with LoRA merged, beside its PEFT adapter, evaluates back', async () => {
    const model = fixtureWithTokenizer('qwen2-bias', scratch);
    const data = classificationData();
    const r = await train(model, data, 'classify-lora', ['--strategy', 'lora', '--lora-r', '4', '--head', 'classification', '--lr', '0.01'], 6);
    lossFell(r);
    const config = JSON.parse(fs.readFileSync(path.join(r.output, 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['Qwen2ForSequenceClassification']);
    const { config: adapterConfig, keys } = peftFolder(r.output);
    assert.deepEqual(adapterConfig.target_modules, ['q_proj', 'v_proj']);
    assert.equal(keys.length, LAYERS * 2 * 2);
    const again = await evalJson(['--model', r.output, '--data', data]);
    assertRelClose(
      again.loss,
      r.finalEval,
      reloadTolerance('qwen2-bias', { r: 4, wrapped: 2 }),
      'classification with LoRA merged: eval of the output vs the run',
    );
  });
});

describe('the classification head reads the token transformers reads', () => {
  test('the rightmost token that is not pad_token_id (= eos): a text ending in eos is read at the token before it', () => {
    const { config, weights } = loadModelFolder(path.join(FIXTURES, 'llama-gqa'));
    const model = modelFromWeights(config, weights, { strategy: 'full' }, 0);
    const head = new ClassificationHead(HIDDEN, 3, 1, undefined, EOS);
    const maskOnly = new ClassificationHead(HIDDEN, 3, 1, { shape: [3, HIDDEN], data: transposed(head) });
    try {
      // Row 0 is [5, 7, eos] padded with eos; row 1 [5, 7, 9] padded; row 2 is eos alone.
      const rows = [
        [5, 7, EOS, EOS],
        [5, 7, 9, EOS],
        [EOS, EOS, EOS, EOS],
      ];
      const masks = [
        [1, 1, 1, 0],
        [1, 1, 1, 0],
        [1, 0, 0, 0],
      ];
      const got = tf.tidy(() => head.logits(model, tf.tensor2d(rows, [3, 4], 'int32'), tf.tensor2d(masks, [3, 4]), false).arraySync());
      const last = tf.tidy(() => maskOnly.logits(model, tf.tensor2d(rows, [3, 4], 'int32'), tf.tensor2d(masks, [3, 4]), false).arraySync());
      const at = (row: number, position: number) =>
        tf.tidy(() => {
          const ids = tf.tensor2d([rows[row].slice(0, position + 1)], [1, position + 1], 'int32');
          const h = tf.slice(model.hiddenStates(ids, tf.ones([1, position + 1]) as tf.Tensor2D, false), [position, 0], [1, HIDDEN]);
          return (tf.matMul(h, head.score) as tf.Tensor2D).arraySync()[0];
        });
      // Causal attention: the state at position p depends on tokens 0…p only, so it is computed on that prefix.
      assertAllCloseRows(got[0], at(0, 1), 'row ending in eos: the token before it');
      assertAllCloseRows(got[1], at(1, 2), 'row without eos: its last token');
      assertAllCloseRows(got[2], at(2, 0), 'only pad tokens: position 0');
      // Without the pad id the head reads the last position the mask covers: the eos of row 0.
      assertAllCloseRows(last[0], at(0, 2), 'mask only: the trailing eos');
    } finally {
      model.dispose();
      head.dispose();
      maskOnly.dispose();
    }
  });
});

/** The head's score as HF's score.weight [num_labels, hidden]. */
function transposed(head: ClassificationHead): Float32Array {
  return tf.tidy(() => tf.transpose(head.score).dataSync() as Float32Array);
}

/** A shorter sequence runs the same sums over fewer positions: within the forward pass's reordering bound. */
function assertAllCloseRows(got: number[], want: number[], what: string): void {
  assertAllClose(got, want, reloadTolerance('llama-gqa'), what);
}

describe("--lora-targets: the family's default is a value of its own, explicit names are the user's", () => {
  const params = async (args: string[]) => {
    const { code, out } = await captureStdout(() => paramsRun(args));
    assert.equal(code, 0, out);
    return out;
  };

  test('default resolves per family: GPT-2 c_attn, Llama q_proj,v_proj (given or left out)', async () => {
    const llama = path.join(FIXTURES, 'llama-gqa');
    assert.match(await params(['--model', 'tiny', '--strategy', 'lora']), /targets c_attn\)/);
    assert.match(await params(['--model', 'tiny', '--strategy', 'lora', '--lora-targets', 'default']), /targets c_attn\)/);
    assert.match(await params(['--model', llama, '--strategy', 'lora']), /targets q_proj,v_proj\)/);
    assert.match(await params(['--model', llama, '--strategy', 'lora', '--lora-targets', 'default']), /targets q_proj,v_proj\)/);
  });

  test("an explicit c_attn on a Llama is refused, naming the family's linears, in params and in train", async () => {
    const model = fixtureWithTokenizer('llama-gqa', scratch);
    const names =
      /'c_attn' not found in the model \(Llama has q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; or use all-linear, or default: q_proj,v_proj\)/;
    await assert.rejects(
      captureStdout(() => paramsRun(['--model', model, '--strategy', 'lora', '--lora-targets', 'c_attn'])),
      names,
    );
    const out = path.join(scratch, 'c_attn-refused');
    const { code, out: stdout } = await captureStdout(() =>
      trainRun(['--data', textData(), '--model', model, '--out', out, '--strategy', 'lora', '--lora-targets', 'c_attn', '--backend', 'wasm']),
    );
    assert.equal(code, 1);
    assert.match(stdout, names);
    assert.ok(!fs.existsSync(path.join(out, 'output')), 'no output is written');
  });

  test("'default' cannot be combined with module names", async () => {
    await assert.rejects(
      captureStdout(() => paramsRun(['--model', 'tiny', '--strategy', 'lora', '--lora-targets', 'default,c_proj'])),
      /'default' cannot be combined/,
    );
  });
});

/**
 * The sums of one forward pass of a Llama-family model over `positions` positions with LoRA of rank r on
 * `wrapped` linears per layer, for reordered(): the parity test's chain (trainer-llama-parity.test.ts: per
 * layer the two RMSNorms, q/k/v over the hidden size, o over heads·head_dim, Qwen3's q/k norms, the
 * scores over head_dim, softmax and values over the positions, gate/up over the hidden size and down over
 * the intermediate size; the final norm, the head, the log-sum-exp over the vocabulary, the mean over the
 * loss tokens), and for each wrapped linear LoRA's A·x (its input width, at most the larger of the hidden
 * and intermediate sizes) and B·(A·x) (r terms).
 */
function forwardSums(c: LlamaConfig, positions: number, lossTokens: number, r = 0, wrapped = 0): number[] {
  const e = c.hiddenSize;
  const lora = Array.from({ length: wrapped }, () => [Math.max(e, c.intermediateSize), r]).flat();
  const attention = [e, e, e, e, c.numHeads * c.headDim, ...(hasQkNorm(c) ? [c.headDim] : []), c.headDim, positions, positions];
  const layer = [...attention, e, e, e, c.intermediateSize, ...lora];
  return [...Array.from({ length: c.numLayers }, () => layer).flat(), e, e, c.vocabSize, lossTokens];
}

describe("LoRA adapters evaluate as PEFT applies them (the PyTorch reference's loss)", () => {
  const EVAL_IDS: number[][] = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'eval-ids.json'), 'utf8'));
  for (const [name, { base }] of Object.entries(ADAPTERS)) {
    test(`${name}: loss within float32 reordering of PyTorch's, and far from the base model's`, () => {
      const dir = path.join(FIXTURES, 'lora', name);
      const adapter = readAdapter(dir);
      const { config, weights } = loadModelFolder(path.join(FIXTURES, base));
      const model = modelFromWeights(config, weights, adapter.strategy, 0);
      try {
        model.loadAdapterState(adapter.weights);
        const got = batchLoss(model, EVAL_IDS);
        const want = JSON.parse(fs.readFileSync(path.join(dir, 'expected-eval.json'), 'utf8'));
        assert.equal(got.tokens, want.tokens);
        const lora = adapter.strategy as StrategyConfig & { strategy: 'lora'; targets: string[] };
        const c = config as LlamaConfig;
        const positions = Math.max(...EVAL_IDS.map((r) => r.length));
        const rel = reordered(forwardSums(c, positions, want.tokens, lora.r, lora.targets.length / c.numLayers));
        assertRelClose(got.loss, want.loss, rel, `${name}: loss with the adapter`);
        // The adapter matters: without it the loss is the base model's, many tolerances away.
        const without = JSON.parse(fs.readFileSync(path.join(FIXTURES, base, 'expected-eval.json'), 'utf8')).loss;
        assert.ok(Math.abs(without - want.loss) > 100 * rel * want.loss, `${name}: the adapter moves the loss only from ${without} to ${want.loss}`);
      } finally {
        model.dispose();
      }
    });
  }
});
