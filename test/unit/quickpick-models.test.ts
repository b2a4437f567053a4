// The quick pick's model list for the Llama families and GPT-2: which cached models are offered (read
// without TensorFlow.js by trainer/models/architectures.ts, which must agree with the trainer's family
// registry), their parameter counts, and the trainer's survey (`finetune params --survey`) that says,
// per strategy, whether a run fits in memory; plus the params fixes (the length the estimate assumes,
// Llama's activation shapes, the untied head's own per-layer row).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { modelChoices, modelFolderInfo, parameterCountText, scanCachedModels, withSurvey } from '../../extension/training/fineTuneChoices';
import { run as runParams, survey } from '../../cli/params';
import { run as runBench } from '../../cli/bench';
import { memoryFit } from '../../trainer/memoryGuard';
import { knownArchitectures, summarizeHfConfig } from '../../trainer/models/architectures';
import { LLAMA_PRESETS, llamaPresetConfig, type LlamaPresetName } from '../../trainer/models/llama/config';
import { presetConfig } from '../../trainer/models/gpt2/config';
import { familyForHfConfig, modelConfigFromHf, supportedArchitectures } from '../../trainer/models/registry';
import { blockActivationWidth, layerRows, memoryEstimate, parameterBreakdown } from '../../trainer/params';
import { parseBenchOutput } from '../../extension/training/timeEstimate';
import { groupsByKind, normalizeLayer } from '../../webview/common/runModel';
import { captureStdout } from './captureStdout';

const fixtures = path.join(__dirname, '../fixtures/llama');
const readConfig = (name: string) => JSON.parse(fs.readFileSync(path.join(fixtures, name, 'config.json'), 'utf8')) as Record<string, unknown>;

/** A Hugging Face cache folder with one snapshot per repo: `files` name -> contents. */
function fakeCache(repos: Record<string, Record<string, string>>): string {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-qp-cache-'));
  for (const [repo, files] of Object.entries(repos)) {
    const snap = path.join(cache, `models--${repo.replace('/', '--')}`, 'snapshots', 'a'.repeat(40));
    fs.mkdirSync(snap, { recursive: true });
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(snap, name), text);
  }
  return cache;
}

test('the cache lists a Llama and a Qwen3 with family and parameter count; BERT is listed last as unsupported, in the trainer’s words', () => {
  const bert = { architectures: ['BertForMaskedLM'], model_type: 'bert' };
  const cache = fakeCache({
    'someone/llama-gqa': { 'config.json': JSON.stringify(readConfig('llama-gqa')), 'model.safetensors': 'x' },
    // A sharded checkpoint has an index instead of model.safetensors.
    'someone/qwen3-small': { 'config.json': JSON.stringify(readConfig('qwen3-qk-norm')), 'model.safetensors.index.json': '{}' },
    'google-bert/bert-base-uncased': { 'config.json': JSON.stringify(bert), 'model.safetensors': 'x' },
    'someone/config-only': { 'config.json': JSON.stringify(readConfig('llama-gqa')) },
  });
  const { models, unsupported } = scanCachedModels(cache);
  const llamaTotal = parameterBreakdown(modelConfigFromHf(readConfig('llama-gqa')), { strategy: 'full' }).total;
  const qwenTotal = parameterBreakdown(modelConfigFromHf(readConfig('qwen3-qk-norm')), { strategy: 'full' }).total;
  assert.deepEqual(
    models.map((m) => [m.repoId, m.family, m.parameters, m.nLayer]),
    [
      ['someone/llama-gqa', 'Llama', llamaTotal, 2],
      ['someone/qwen3-small', 'Qwen3', qwenTotal, 2],
    ],
  );
  assert.equal(unsupported.length, 1);
  assert.equal(unsupported[0].repoId, 'google-bert/bert-base-uncased');
  // The registry's own message: the host's tfjs-free reading refuses exactly what the trainer refuses.
  assert.throws(
    () => familyForHfConfig(bert),
    (err: Error) => err.message === `config.json: ${unsupported[0].reason}`,
  );
  const items = modelChoices(models, unsupported);
  assert.deepEqual(
    items.map((i) => i.kind),
    ['cached', 'cached', 'preset', 'preset', 'preset', ...Object.keys(LLAMA_PRESETS).map(() => 'preset'), 'browse', 'hub', 'unsupported'],
  );
  assert.equal(items.at(-1)!.model, undefined, 'an unsupported model cannot become a run');
  assert.equal(items[0].description, `Hugging Face cache · Llama, ${parameterCountText(llamaTotal)} parameters`);
});

test('with an empty cache the first item, the one Enter takes, is still the offline tiny preset', () => {
  const { models, unsupported } = scanCachedModels(fakeCache({}));
  assert.equal(modelChoices(models, unsupported)[0].model, 'tiny');
});

test('a workspace folder of the Llama family is a model folder for Browse…; a folder without weights is not one', () => {
  assert.deepEqual(modelFolderInfo(path.join(fixtures, 'llama-untied')), {
    nLayer: 2,
    family: 'Llama',
    parameters: parameterBreakdown(modelConfigFromHf(readConfig('llama-untied')), { strategy: 'full' }).total,
  });
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-qp-folder-'));
  fs.writeFileSync(path.join(empty, 'config.json'), JSON.stringify(readConfig('llama-gqa')));
  assert.equal(modelFolderInfo(empty), undefined);
});

test('closed-form parameter counts equal the trainer’s breakdown for every preset (SmolLM2-135M 134,515,008; Qwen2.5-0.5B 494,032,768)', () => {
  for (const name of Object.keys(LLAMA_PRESETS) as LlamaPresetName[]) {
    const summary = summarizeHfConfig(LLAMA_PRESETS[name].hfConfig);
    assert.ok(!('unsupported' in summary), name);
    assert.equal(summary.parameters, parameterBreakdown(llamaPresetConfig(name), { strategy: 'full' }).total, name);
  }
  const count = (name: LlamaPresetName) => (summarizeHfConfig(LLAMA_PRESETS[name].hfConfig) as { parameters: number }).parameters;
  assert.equal(count('smollm2-135m'), 134_515_008);
  assert.equal(count('qwen2.5-0.5b'), 494_032_768);
  const gpt2 = presetConfig('gpt2');
  assert.equal(
    (summarizeHfConfig({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 }) as { parameters: number })
      .parameters,
    parameterBreakdown(gpt2, { strategy: 'full' }).total,
  );
  assert.deepEqual(knownArchitectures(), supportedArchitectures(), 'one list of architectures on both sides');
});

test('the survey says per strategy whether a run fits: on cpu the estimate against the machine’s memory, on wasm the projected heap', async () => {
  const model = path.join(fixtures, 'llama-untied');
  const config = modelConfigFromHf(readConfig('llama-untied'));
  const full = memoryEstimate(config, { strategy: 'full' }, 2, 32);
  // A machine with room for the LoRA run but not the full one.
  const machine = full.total - 1;
  const result = await survey({ models: [{ model, batchSize: 2, maxLength: 32 }], backend: 'cpu', strategies: ['full', 'lora'] }, machine);
  assert.equal(result.backend, 'cpu');
  const [m] = result.models;
  assert.ok(!('error' in m), JSON.stringify(m));
  assert.equal(m.parameters, parameterBreakdown(config, { strategy: 'full' }).total);
  assert.equal(m.seq, 32);
  const byName = Object.fromEntries(m.strategies.map((s) => [s.strategy, s]));
  assert.deepEqual(byName.full.memory, full);
  assert.deepEqual([byName.full.fits, byName.full.neededBytes, byName.full.limitBytes], [false, full.total, machine]);
  assert.equal(byName.lora.fits, true);
  assert.ok(byName.lora.neededBytes < machine);
  // wasm: the guard's own projection against its 4 GiB, whatever the machine has.
  const wasm = memoryFit(full, 'wasm', 1);
  assert.deepEqual(wasm, { fits: true, neededBytes: wasm.neededBytes, limitBytes: 4 * 2 ** 30 });
  assert.ok(wasm.neededBytes > full.total, 'the heap projection is above the estimate');
});

test('the survey counts the trained tokens of a dataset with the model’s tokenizer, and a model it cannot read has its error', async () => {
  const data = path.join(__dirname, '../../samples/alpaca.jsonl');
  const result = await survey({ models: [{ model: 'tiny', batchSize: 4, maxLength: 128 }], backend: 'cpu', data, strategies: ['full'] });
  const [m] = result.models;
  assert.ok(!('error' in m) && m.trainTokens !== undefined && m.trainExamples !== undefined, JSON.stringify(m));
  // The samples' records are shorter than 128 tokens: the estimate's length is the longest one.
  assert.ok(m.seq < 128 && m.seq > 10, String(m.seq));
  assert.ok(m.trainTokens > m.trainExamples * 10 && m.trainTokens <= m.trainExamples * m.seq);
  const bad = await survey({ models: [{ model: path.join(os.tmpdir(), 'no-such-model-folder'), batchSize: 1 }], backend: 'cpu', strategies: ['full'] });
  assert.ok('error' in bad.models[0]);
  const items = withSurvey(modelChoices([]), result);
  assert.match(items[0].detail!, / · every strategy fits in memory at batch 4 × \d+ tokens \(cpu\)$/);
  // A machine with no room: the item says so, at the length it assumed.
  const none = withSurvey(modelChoices([]), await survey({ models: [{ model: 'gpt2', batchSize: 8, maxLength: 256 }], backend: 'cpu' }, 1));
  assert.match(
    none.find((i) => i.model === 'gpt2')!.detail!,
    /^no strategy fits in memory at batch 8 × 256 tokens \(shorter examples or a smaller batch need less\) \(cpu\)$/,
  );
});

test('the survey’s bench flags build the same shape in `finetune bench`', async () => {
  const result = await survey({ models: [{ model: path.join(fixtures, 'llama-gqa'), batchSize: 1, maxLength: 8 }], backend: 'cpu', strategies: ['lora'] });
  const m = result.models[0];
  assert.ok(!('error' in m));
  assert.deepEqual(m.benchArgs, [
    '--family',
    'llama',
    '--layers',
    '2',
    '--hidden',
    '64',
    '--heads',
    '4',
    '--kv-heads',
    '2',
    '--head-dim',
    '16',
    '--intermediate',
    '128',
    '--vocab',
    '256',
  ]);
  const { code, out } = await captureStdout(() =>
    runBench([...m.benchArgs, '--strategy', 'lora', '--backend', 'cpu', '--batch', '1', '--seq', '8', '--steps', '1', '--json', '--peak-gflops', '1']),
  );
  assert.equal(code, 0);
  assert.ok(parseBenchOutput(out) > 0);
  assert.equal(JSON.parse(out).total, m.strategies[0].total, 'the benched model is the surveyed one');
});

test('Llama’s activations per block are 5E + 6HD + 3KD + 4I (Qwen3 adds its q/k norms), and the estimate uses them', () => {
  const smol = llamaPresetConfig('smollm2-135m');
  assert.equal(blockActivationWidth(smol), 5 * 576 + 6 * 9 * 64 + 3 * 3 * 64 + 4 * 1536);
  assert.equal(blockActivationWidth(smol), 13_056);
  const qwen3 = llamaPresetConfig('qwen3-0.6b');
  const { hiddenSize: E, numHeads: H, numKvHeads: K, headDim: D, intermediateSize: I } = qwen3;
  assert.equal(blockActivationWidth(qwen3), 5 * E + 6 * H * D + 3 * K * D + 4 * I + H * D + K * D);
  assert.equal(blockActivationWidth(presetConfig('gpt2')), 17 * 768, "GPT-2's count is unchanged");
  const [B, T] = [2, 64];
  const m = memoryEstimate(smol, { strategy: 'full' }, B, T);
  assert.equal(m.activations, 4 * B * T * (30 * (13_056 + 2 * 9 * T) + 2 * 49152 + 2 * 576));
});

test('an untied head has its own last per-layer row (lm_head), frozen under LoRA; a tied one has none', () => {
  const lora = { strategy: 'lora' as const, r: 8, alpha: 8, dropout: 0, targets: ['q_proj', 'v_proj'] };
  const tiny = llamaPresetConfig('tinyllama-1.1b');
  const rows = layerRows(tiny, parameterBreakdown(tiny, lora));
  assert.deepEqual(rows.at(-1), { name: 'lm_head', frozen: 32000 * 2048, trainable: 0, added: 0 });
  assert.equal(rows.at(-2)!.name, 'norm');
  assert.equal(rows.length, 1 + 22 + 2);
  const fullRows = layerRows(tiny, parameterBreakdown(tiny, { strategy: 'full' }));
  assert.deepEqual(fullRows.at(-1), { name: 'lm_head', frozen: 0, trainable: 32000 * 2048, added: 0 });
  const smol = llamaPresetConfig('smollm2-135m');
  assert.equal(layerRows(smol, parameterBreakdown(smol, lora)).at(-1)!.name, 'norm');
  assert.equal(layerRows(presetConfig('gpt2'), parameterBreakdown(presetConfig('gpt2'), { strategy: 'full' })).at(-1)!.name, 'ln_f');
});

test('`params` says which sequence length its memory estimate assumed and why', async () => {
  const byDefault = await captureStdout(() => runParams(['--model', 'smollm2-135m', '--strategy', 'lora']));
  // SmolLM2's context is 8,192; train's default length is TRL's 1,024.
  assert.match(byDefault.out, /Memory estimate \(float32, batch 8, sequence 1024\)/);
  assert.match(byDefault.out, /sequence 1024: train's default --max-length, at most 1,024/);
  const given = await captureStdout(() => runParams(['--model', 'smollm2-135m', '--strategy', 'lora', '--max-length', '256']));
  assert.match(given.out, /Memory estimate \(float32, batch 8, sequence 256\)/);
  assert.match(given.out, /\(sequence 256: --max-length\)/);
});

test("the panel's tables cover the Llama module kinds: attention, MLP and norms folded across blocks, the untied head and LoRA", () => {
  const tiny = llamaPresetConfig('tinyllama-1.1b');
  const p = parameterBreakdown(tiny, { strategy: 'lora', r: 8, alpha: 8, dropout: 0, targets: ['q_proj', 'v_proj'] });
  const kinds = groupsByKind(p.groups);
  assert.deepEqual(
    kinds.map((k) => k.name),
    ['embeddings', 'self_attn', 'mlp', 'norms', 'norm', 'lm_head', 'lora'],
  );
  assert.equal(
    kinds.reduce((a, k) => a + k.total, 0),
    p.total,
  );
  // The rows the params event carries are drawn as given, the head's included.
  const drawn = layerRows(tiny, p).map(normalizeLayer);
  assert.deepEqual(drawn.at(-1), { name: 'lm_head', frozen: 32000 * 2048, trainable: 0, added: 0 });
  assert.equal(
    drawn.reduce((a, l) => a + l!.frozen + l!.trainable + l!.added, 0),
    p.total,
    'every parameter is in one bar',
  );
});
