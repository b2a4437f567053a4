// Parameter counts must agree exactly with Hugging Face and PEFT for GPT-2 small; `finetune params`
// prints them in the chapter's and PEFT's forms.
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { baseParameterCount, checkFitsInMemory, fromHfConfig, ModelConfigError, presetConfig, toHfConfig } from '../../trainer/models/gpt2/config';
import { loadModelFolder } from '../../trainer/formats/modelFolder';
import { memoryEstimate, parameterBreakdown } from '../../trainer/params';
import { modelStructure } from '../../trainer/models/registry';
import { loraTargets } from '../../trainer/strategies/lora';
import type { StrategyConfig } from '../../trainer/strategies/strategy';
import { run } from '../../cli/params';
import { UsageError } from '../../cli/usage';
import { captureStdout } from './captureStdout';

const gpt2 = presetConfig('gpt2');
const lora = (targets: string[] | 'all-linear', r = 8): StrategyConfig => ({ strategy: 'lora', r, alpha: 8, dropout: 0, targets });

const capture = (args: string[]) => captureStdout(() => run(args));

describe('parameter breakdown', () => {
  test('GPT-2 small has 124,439,808 parameters, all trainable in full fine-tuning', () => {
    const p = parameterBreakdown(gpt2, { strategy: 'full' });
    assert.equal(p.total, 124_439_808);
    assert.equal(p.trainable, 124_439_808);
    assert.equal(p.frozen, 0);
    assert.equal(p.line, 'trainable params: 124,439,808 || all params: 124,439,808 || trainable%: 100.0000');
    assert.equal(p.chapterLine, 'Trainable: 124439808, Total: 124439808, Ratio: 100.00%');
    assert.equal(p.groups.find((g) => g.name === 'embeddings')!.total, 50257 * 768 + 1024 * 768);
    assert.equal(p.groups.find((g) => g.name === 'h.0.attn')!.total, 768 * 2304 + 2304 + 768 * 768 + 768);
    assert.equal(p.perLayer.length, 12);
    assert.equal(p.perLayer[0].total, 7_087_872);
  });

  test("LoRA r=8 on c_attn matches PEFT's print_trainable_parameters exactly", () => {
    const p = parameterBreakdown(gpt2, lora(['c_attn']));
    assert.equal(p.line, 'trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364');
    assert.equal(p.trainable, 294_912);
    assert.equal(p.frozen, 124_439_808);
    assert.equal(p.chapterLine, 'Trainable: 294912, Total: 124734720, Ratio: 0.24%');
    assert.deepEqual(
      p.groups.find((g) => g.name === 'lora'),
      { name: 'lora', total: 294_912, trainable: 294_912 },
    );
    assert.equal(p.perLayer[3].lora, 8 * (768 + 2304));
  });

  test('all-linear wraps c_attn, both c_proj and c_fc (not the LM head): 1,179,648 trainable', () => {
    assert.equal(parameterBreakdown(gpt2, lora('all-linear')).trainable, 1_179_648);
    assert.equal(parameterBreakdown(gpt2, lora(['c_attn', 'c_proj', 'c_fc'])).trainable, 1_179_648);
  });

  test('targets match like PEFT: by name suffix', () => {
    const names = (t: string[]) => loraTargets(modelStructure(presetConfig('tiny')), t).map((m) => m.module);
    assert.deepEqual(names(['c_proj']), [
      'transformer.h.0.attn.c_proj',
      'transformer.h.0.mlp.c_proj',
      'transformer.h.1.attn.c_proj',
      'transformer.h.1.mlp.c_proj',
    ]);
    assert.deepEqual(names(['attn.c_proj']), ['transformer.h.0.attn.c_proj', 'transformer.h.1.attn.c_proj']);
    assert.deepEqual(names(['h.1.mlp.c_fc']), ['transformer.h.1.mlp.c_fc']);
    assert.throws(() => names(['q_proj']), /'q_proj' not found in the model/);
    assert.throws(() => names(['lm_head']), /'lm_head' is not supported/);
    // "proj" is not a suffix after a dot: PEFT would not match it either.
    assert.throws(() => names(['proj']), /'proj' not found/);
  });

  test('partial freezes the first N blocks, and the embeddings only when asked', () => {
    const p = parameterBreakdown(gpt2, { strategy: 'partial', freezeLayers: 10 });
    assert.equal(p.trainable, 124_439_808 - 10 * 7_087_872);
    const q = parameterBreakdown(gpt2, { strategy: 'partial', freezeLayers: 10, freezeEmbeddings: true });
    assert.equal(q.trainable, 124_439_808 - 10 * 7_087_872 - (50257 + 1024) * 768);
    assert.deepEqual(
      q.perLayer.map((l) => l.frozen),
      [...Array(10).fill(true), false, false],
    );
    assert.throws(() => parameterBreakdown(gpt2, { strategy: 'partial', freezeLayers: 13 }), /--freeze-layers must be an integer from 0 to 12/);
  });

  test('distilgpt2 is GPT-2 with 6 blocks', () => {
    assert.equal(parameterBreakdown(presetConfig('distilgpt2'), { strategy: 'full' }).total, 81_912_576);
  });

  test('the memory estimate follows the documented formula', () => {
    const cfg = presetConfig('tiny');
    const m = memoryEstimate(cfg, { strategy: 'full' }, 4, 32);
    const p = parameterBreakdown(cfg, { strategy: 'full' });
    assert.equal(m.weights, 4 * p.total);
    assert.equal(m.gradients, 4 * p.total);
    assert.equal(m.optimizer, 8 * p.total);
    assert.equal(m.activations, 4 * 4 * 32 * (2 * (17 * 64 + 2 * 2 * 32) + 2 * 50257 + 2 * 64));
    assert.equal(m.total, m.weights + m.gradients + m.optimizer + m.activations);
    const l = memoryEstimate(cfg, lora(['c_attn']), 4, 32);
    assert.equal(l.gradients, 4 * 2 * 8 * (64 + 192));
    assert.ok(l.optimizer < m.optimizer / 100);
  });
});

describe('config.json', () => {
  test('reads HF config names and writes them back', () => {
    const c = fromHfConfig({
      model_type: 'gpt2',
      vocab_size: 100,
      n_positions: 64,
      n_embd: 32,
      n_layer: 2,
      n_head: 4,
      layer_norm_epsilon: 1e-6,
      resid_pdrop: 0.2,
      eos_token_id: 99,
    });
    assert.deepEqual(c, { vocabSize: 100, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 4, layerNormEpsilon: 1e-6, dropout: 0.2, eosTokenId: 99 });
    assert.deepEqual(fromHfConfig(toHfConfig(gpt2)), gpt2);
  });

  test('unsupported or broken configs name the field', () => {
    const base = { vocab_size: 100, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 4 };
    assert.throws(() => fromHfConfig({ ...base, model_type: 'llama' }), /model_type 'llama' is not supported/);
    assert.throws(() => fromHfConfig({ ...base, n_head: 5 }), /n_embd \(32\) must be divisible by n_head \(5\)/);
    assert.throws(() => fromHfConfig({ ...base, n_layer: undefined }), /missing n_layer/);
    assert.throws(() => fromHfConfig({ ...base, vocab_size: '100' }), /vocab_size must be a positive integer/);
    assert.throws(() => fromHfConfig({ ...base, activation_function: 'relu' }), /activation_function 'relu'/);
    assert.throws(() => fromHfConfig([]), /not a JSON object/);
  });
});

describe('absurd sizes in a config.json', () => {
  const base = { vocab_size: 100, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 4 };

  test('a size beyond any real model is refused at once, naming the field as config.json spells it', () => {
    const t0 = Date.now();
    assert.throws(
      () => fromHfConfig({ ...base, n_layer: 1_000_000_000 }),
      (e: Error) => e instanceof ModelConfigError && /n_layer 1000000000 is implausibly large/.test(e.message),
    );
    assert.throws(() => fromHfConfig({ ...base, num_hidden_layers: 5000, n_layer: undefined }), /num_hidden_layers 5000 is implausibly large/);
    assert.throws(() => fromHfConfig({ ...base, vocab_size: 1e15 }), /vocab_size 1000000000000000 is implausibly large/);
    assert.throws(() => fromHfConfig({ ...base, n_positions: 2.5 }), /n_positions must be a positive integer/);
    assert.throws(() => fromHfConfig({ ...base, n_embd: -32 }), /n_embd must be a positive integer/);
    // Each size within its limit, the product is not: refused by the parameter count it implies.
    assert.throws(() => fromHfConfig({ ...base, n_layer: 1024, n_embd: 65536, n_head: 1024 }), /makes 5\.28e\+13 parameters, more than the 1e\+12/);
    assert.ok(Date.now() - t0 < 1000);
  });

  test("the closed-form parameter count is the breakdown's total, and the breakdown refuses unbounded shapes", () => {
    for (const name of ['gpt2', 'distilgpt2', 'tiny'] as const)
      assert.equal(baseParameterCount(presetConfig(name)), parameterBreakdown(presetConfig(name), { strategy: 'full' }).total);
    // A shape that never went through config.json (bench flags): no per-layer rows for a billion layers.
    assert.throws(() => parameterBreakdown({ ...gpt2, nLayer: 1e9 }, { strategy: 'full' }), /n_layer 1000000000 is implausibly large/);
  });

  test("a model whose weights exceed the machine's memory is refused before its weights are read", () => {
    assert.throws(
      () => checkFitsInMemory(gpt2, 'config.json', 2 ** 28),
      /124,439,808 parameters, 0\.5 GiB in float32, more than this machine's memory \(0\.3 GiB\)/,
    );
    checkFitsInMemory(gpt2, 'config.json', 2 ** 30);
    // 1024 layers of n_embd 8192: 8.3e11 parameters, 3 TB of float32, on no machine this test runs on.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huge-'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...base, n_layer: 1024, n_embd: 8192, n_head: 64 }));
    fs.writeFileSync(path.join(dir, 'model.safetensors'), 'not read');
    assert.throws(
      () => loadModelFolder(dir),
      (e: Error) => e instanceof ModelConfigError && /more than this machine's memory/.test(e.message),
    );
    fs.rmSync(dir, { recursive: true });
  });

  test('finetune params on a config.json with n_layer 1e9 answers at once with the field', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'params-'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...toHfConfig(presetConfig('tiny')), n_layer: 1_000_000_000 }));
    const t0 = Date.now();
    await assert.rejects(run(['--model', dir]), /n_layer 1000000000 is implausibly large/);
    assert.ok(Date.now() - t0 < 1000);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('finetune params', () => {
  test("text output carries the chapter line and PEFT's line", async () => {
    const { code, out } = await capture(['--model', 'gpt2', '--strategy', 'lora']);
    assert.equal(code, 0);
    const lines = out.split('\n');
    assert.ok(lines.includes('Trainable: 294912, Total: 124734720, Ratio: 0.24%'), out);
    assert.ok(lines.includes('trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364'), out);
    assert.match(out, /Memory estimate \(float32, batch 8, sequence 1024\): weights 475\.8 MiB/);
  });

  test('--json prints {total, trainable, frozen, ratio, line, groups}', async () => {
    const { out } = await capture(['--model', 'gpt2', '--strategy', 'lora', '--lora-targets', 'all-linear', '--json']);
    const j = JSON.parse(out);
    assert.equal(j.total, 124_439_808 + 1_179_648);
    assert.equal(j.trainable, 1_179_648);
    assert.equal(j.frozen, 124_439_808);
    assert.equal(j.ratio, 1_179_648 / (124_439_808 + 1_179_648));
    assert.equal(j.line, 'trainable params: 1,179,648 || all params: 125,619,456 || trainable%: 0.9391');
    assert.ok(
      Array.isArray(j.groups) &&
        j.groups.every((g: { name: string; total: number; trainable: number }) => typeof g.name === 'string' && g.total >= g.trainable),
    );
  });

  test('a model folder is read from its config.json alone', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'params-'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(toHfConfig(presetConfig('distilgpt2'))));
    const { out } = await capture(['--model', dir, '--json']);
    assert.equal(JSON.parse(out).total, 81_912_576);
  });

  test('a repo id reads config.json from the Hugging Face cache only', async () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'hf-'));
    const snap = path.join(cache, 'models--someone--small-gpt2', 'snapshots', 'a'.repeat(40));
    fs.mkdirSync(snap, { recursive: true });
    fs.mkdirSync(path.join(cache, 'models--someone--small-gpt2', 'refs'));
    fs.writeFileSync(path.join(cache, 'models--someone--small-gpt2', 'refs', 'main'), 'a'.repeat(40));
    fs.writeFileSync(path.join(snap, 'config.json'), JSON.stringify(toHfConfig(presetConfig('distilgpt2'))));
    const saved = { cache: process.env.HF_HUB_CACHE, offline: process.env.HF_HUB_OFFLINE };
    process.env.HF_HUB_CACHE = cache;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      const { out } = await capture(['--model', 'someone/small-gpt2', '--json']);
      assert.equal(JSON.parse(out).total, 81_912_576);
      await assert.rejects(run(['--model', 'someone/absent']));
    } finally {
      for (const [k, v] of [
        ['HF_HUB_CACHE', saved.cache],
        ['HF_HUB_OFFLINE', saved.offline],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  test('usage errors: --head classification without --num-labels, misplaced flags, bad numbers, unknown model', async () => {
    await assert.rejects(
      run(['--model', 'gpt2', '--head', 'classification']),
      (e: Error) => e instanceof UsageError && /--head classification needs --num-labels N/.test(e.message),
    );
    await assert.rejects(run(['--model', 'gpt2', '--num-labels', '2']), /--num-labels only applies to --head classification/);
    await assert.rejects(run(['--model', 'gpt2', '--strategy', 'lora', '--adapter-dim', '4']), /--adapter-dim only applies to --strategy adapter/);
    await assert.rejects(run(['--model', 'gpt2', '--strategy', 'full', '--lora-r', '4']), /--lora-r only applies to --strategy lora/);
    await assert.rejects(run(['--model', 'gpt2', '--strategy', 'partial']), /needs --freeze-layers/);
    await assert.rejects(run(['--model', 'gpt2', '--strategy', 'lora', '--lora-r', 'x']), /--lora-r must be an integer/);
    await assert.rejects(run(['--model', 'gpt2', '--strategy', 'prefix']), /--strategy must be full, partial, lora, adapter or prompt/);
    await assert.rejects(run(['--model', '/nonexistent/model']), /neither a preset/);
    await assert.rejects(run([]), /--model is required/);
  });
});
