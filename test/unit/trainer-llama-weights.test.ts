// The Llama family's checkpoints: model.safetensors or shards with model.safetensors.index.json,
// transformers' key names, every key and shape checked against the config from the headers alone (a
// missing shard, a key of the wrong shape, a missing or unexpected key: each a message naming it, with
// no tensor data read and nothing allocated), and the state dict written back in the checkpoint's layout.
import { after, before, describe, mock, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
// The module object itself (the namespace import is a read-only view of it): what mock.method can replace a function of.
import fsModule from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../trainer/compute/backend';
import { CheckpointError, listCheckpoint } from '../../trainer/formats/checkpoint';
import { readSafetensors, SafetensorsError, writeSafetensors } from '../../trainer/formats/safetensors';
import { fromHfConfig, type LlamaConfig } from '../../trainer/models/llama/config';
import { LlamaModel } from '../../trainer/models/llama/model';
import { LLAMA_FAMILIES } from '../../trainer/models/llama';
import { checkpointShapes, layerKey, llamaStructure, readLlamaWeights } from '../../trainer/models/llama/weights';
import { isUserError } from '../../trainer/userErrors';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'llama');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-llama-weights-'));
let dirs = 0;

const configOf = (dir: string): LlamaConfig => fromHfConfig(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')));

/** A copy of a fixture folder whose tensors (all of them, F32) `edit` may change before they are written in `shards` files. */
function variant(name: string, edit: (t: Map<string, { shape: number[]; data: Float32Array }>) => void, shards = 1): string {
  const src = path.join(FIXTURES, name);
  const dir = path.join(tmp, `${name}-${dirs++}`);
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(src, 'config.json'), path.join(dir, 'config.json'));
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const listing = listCheckpoint(src);
  for (const file of listing.files) for (const [k, t] of readSafetensors(path.join(src, file))) tensors.set(k, { shape: t.shape, data: t.data });
  edit(tensors);
  if (shards === 1) {
    writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
    return dir;
  }
  const keys = [...tensors.keys()];
  const per = Math.ceil(keys.length / shards);
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < shards; i++) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = new Map(keys.slice(i * per, (i + 1) * per).map((k) => [k, tensors.get(k)!]));
    writeSafetensors(path.join(dir, file), part);
    for (const k of part.keys()) weightMap[k] = file;
  }
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return dir;
}

/** The error reading `dir` throws, checking that no tensor data was read and no tensor allocated. */
function refusal(dir: string): string {
  const listingReads = (() => {
    const spy = mock.method(fsModule, 'readFileSync');
    try {
      listCheckpoint(dir);
    } catch {
      // The listing itself may be what fails.
    }
    const n = spy.mock.callCount();
    spy.mock.restore();
    return n;
  })();
  const config = configOf(dir);
  const spy = mock.method(fsModule, 'readFileSync');
  const before = tf.memory().numTensors;
  try {
    readLlamaWeights(config, dir);
  } catch (err) {
    // CheckpointError for what the config says, SafetensorsError for a file that is not valid safetensors.
    assert.ok(err instanceof CheckpointError || err instanceof SafetensorsError, `a CheckpointError or SafetensorsError, got ${String(err)}`);
    // Only what the listing reads (the index): no shard's data.
    assert.equal(spy.mock.callCount(), listingReads, 'tensor data was read before the check failed');
    assert.equal(tf.memory().numTensors, before);
    return err.message;
  } finally {
    spy.mock.restore();
  }
  assert.fail(`${dir} was accepted`);
}

before(async () => {
  await initBackend('wasm');
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('checkpoint layouts', () => {
  test('two shards through model.safetensors.index.json hold every key once, as one file would', () => {
    const dir = path.join(FIXTURES, 'llama-shards');
    const listing = listCheckpoint(dir);
    assert.deepEqual(listing.files, ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const c = configOf(dir);
    assert.deepEqual([...listing.entries.keys()].sort(), [...checkpointShapes(c).keys()].sort());
    const single = variant('llama-shards', () => {});
    const a = readLlamaWeights(c, dir);
    const b = readLlamaWeights(c, single);
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [k, t] of a) assert.deepEqual(t.data, b.get(k)!.data, k);
  });

  test('F16 and BF16 weights are widened to float32 exactly (F16 values survive the round trip to F32)', () => {
    for (const name of ['llama-bf16', 'llama-untied']) {
      const dir = path.join(FIXTURES, name);
      const dtypes = new Set([...listCheckpoint(dir).entries.values()].map((e) => e.dtype));
      assert.deepEqual([...dtypes], [name === 'llama-bf16' ? 'BF16' : 'F16']);
      const widened = readLlamaWeights(configOf(dir), dir);
      const f32 = readLlamaWeights(
        configOf(dir),
        variant(name, () => {}),
      );
      for (const [k, t] of widened) assert.deepEqual(t.data, f32.get(k)!.data, k);
    }
  });

  test('the state dict is the checkpoint: transformers names, nn.Linear [out, in], biases, an untied head', () => {
    const dir = path.join(FIXTURES, 'llama-untied');
    const c = configOf(dir);
    const weights = readLlamaWeights(c, dir);
    const model = LlamaModel.fromWeights(c, weights, 0);
    const sd = model.stateDict();
    assert.deepEqual([...sd.keys()], [...checkpointShapes(c).keys()]);
    for (const [k, t] of sd) {
      assert.deepEqual(t.shape, weights.get(k)!.shape, k);
      assert.deepEqual(t.data, weights.get(k)!.data, k);
    }
    // The compute holds q_proj as [in, out]: hidden 64 in, 4 heads × head_dim 32 out.
    const q = model.namedLinears().get(layerKey(0, 'self_attn.q_proj'))!;
    assert.deepEqual(q.weight.shape, [64, 128]);
    assert.deepEqual(q.bias?.shape, [128]);
    assert.deepEqual(model.headParameters()[0].shape, [256, 64]);
    model.dispose();
  });

  test('a tied checkpoint may carry lm_head.weight (ignored) and rotary inv_freq buffers (skipped)', () => {
    const dir = variant('llama-gqa', (t) => {
      t.set('lm_head.weight', { shape: [256, 64], data: new Float32Array(256 * 64) });
      t.set(layerKey(0, 'self_attn.rotary_emb.inv_freq'), { shape: [8], data: new Float32Array(8) });
    });
    const weights = readLlamaWeights(configOf(dir), dir);
    assert.ok(!weights.has('lm_head.weight'));
    assert.equal(weights.size, checkpointShapes(configOf(dir)).size);
  });
});

describe('a checkpoint that does not match its config is refused, naming the key, before anything is read', () => {
  test('a key of the wrong shape (in the second shard) names the key, its shape and the expected one', () => {
    const key = layerKey(1, 'self_attn.k_proj.weight');
    const dir = variant('llama-gqa', (t) => t.set(key, { shape: [64, 64], data: new Float32Array(64 * 64) }), 2);
    assert.match(
      refusal(dir),
      new RegExp(
        `weight '${key.replace(/\./g, '\\.')}' has shape \\[64, 64\\], expected \\[32, 64\\] for this config \\(.*num_key_value_heads 2, head_dim 16\\)`,
      ),
    );
  });

  test('a missing shard names the shard and the index', () => {
    const dir = variant('llama-gqa', () => {}, 2);
    fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
    assert.match(refusal(dir), /model\.safetensors\.index\.json lists shard\(s\) missing from .*: model-00002-of-00002\.safetensors/);
  });

  test('an index naming a path outside the folder, or a shard without the key it is assigned', () => {
    const outside = variant('llama-gqa', () => {}, 2);
    const index = path.join(outside, 'model.safetensors.index.json');
    const json = JSON.parse(fs.readFileSync(index, 'utf8'));
    json.weight_map['model.norm.weight'] = '../model.safetensors';
    fs.writeFileSync(index, JSON.stringify(json));
    assert.match(refusal(outside), /weight_map\['model\.norm\.weight'\] is "\.\.\/model\.safetensors", not a file name in the model folder/);
    const wrong = variant('llama-gqa', () => {}, 2);
    const index2 = path.join(wrong, 'model.safetensors.index.json');
    const json2 = JSON.parse(fs.readFileSync(index2, 'utf8'));
    json2.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors';
    fs.writeFileSync(index2, JSON.stringify(json2));
    assert.match(refusal(wrong), /'model\.norm\.weight' is assigned to model-00001-of-00002\.safetensors, which does not hold it/);
  });

  test('missing keys, an untied head missing, an unexpected bias or q_norm', () => {
    assert.match(refusal(variant('llama-gqa', (t) => t.delete('model.norm.weight'))), /missing weight\(s\) of a 2-layer llama model: model\.norm\.weight/);
    assert.match(
      refusal(variant('llama-untied', (t) => t.delete('lm_head.weight'))),
      /missing weight\(s\).*lm_head\.weight \(config\.json says tie_word_embeddings false/,
    );
    const bias = layerKey(0, 'self_attn.q_proj.bias');
    assert.match(
      refusal(variant('llama-gqa', (t) => t.set(bias, { shape: [64], data: new Float32Array(64) }))),
      /unexpected weight 'model\.layers\.0\.self_attn\.q_proj\.bias'.*attention_bias/,
    );
    const qNorm = layerKey(0, 'self_attn.q_norm.weight');
    assert.match(refusal(variant('llama-gqa', (t) => t.set(qNorm, { shape: [16], data: new Float32Array(16) }))), /q_norm \/ k_norm are Qwen3 weights/);
  });

  test('a truncated shard is refused from its header alone, naming the file', () => {
    const dir = variant('llama-gqa', () => {}, 2);
    const shard = path.join(dir, 'model-00002-of-00002.safetensors');
    fs.truncateSync(shard, fs.statSync(shard).size - 4);
    assert.match(
      refusal(dir),
      /model-00002-of-00002\.safetensors: tensor '.*': data_offsets end at \d+ but the data section holds \d+ bytes; the file is truncated/,
    );
  });

  test('the refusals are user errors: their message alone reaches the error event and the CLI', () => {
    assert.ok(isUserError(new CheckpointError('x')));
  });

  test('a folder without weights says which files it looked for', () => {
    const dir = path.join(tmp, 'empty');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(FIXTURES, 'llama-gqa', 'config.json'), path.join(dir, 'config.json'));
    assert.match(refusal(dir), /has no model\.safetensors or model\.safetensors\.index\.json/);
  });

  test('fromWeights checks every shape before allocating a tensor', () => {
    const c = configOf(path.join(FIXTURES, 'llama-gqa'));
    const weights = readLlamaWeights(c, path.join(FIXTURES, 'llama-gqa'));
    const key = layerKey(1, 'mlp.down_proj.weight');
    weights.set(key, { shape: [128, 64], data: weights.get(key)!.data });
    const before = tf.memory().numTensors;
    assert.throws(
      () => LlamaModel.fromWeights(c, weights, 0),
      new RegExp(`weight '${key.replace(/\./g, '\\.')}' has shape \\[128, 64\\], expected \\[64, 128\\]`),
    );
    assert.equal(tf.memory().numTensors, before);
  });
});

describe("the layout from the config alone is the model's", () => {
  test('each family: parameter names, sizes and order, the head, and the linears LoRA may target', () => {
    for (const family of LLAMA_FAMILIES) {
      const c = { ...configOf(path.join(FIXTURES, 'llama-untied')), modelType: family.modelType as LlamaConfig['modelType'] };
      const model = family.build(c, 1);
      const structure = llamaStructure(c);
      const named = model.namedParameters();
      const size = (v: tf.Variable) => v.shape.reduce((a, b) => a * b, 1);
      // The head is the breakdown's own row (it trains with the embeddings), not one of `parameters`.
      assert.deepEqual(
        structure.parameters.map((p) => [p.name, p.size]),
        named.filter(([n]) => n !== 'lm_head.weight').map(([n, v]) => [n, size(v)]),
        family.modelType,
      );
      assert.equal(structure.lmHead.total, 256 * 64);
      const linears = model.namedLinears();
      assert.deepEqual(
        structure.linears.map((l) => [l.name, l.in, l.out]),
        [...linears].map(([n, m]) => [n, ...m.weight.shape]),
      );
      assert.equal(family.architectures[0], { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' }[family.modelType]);
      model.dispose();
    }
  });
});
