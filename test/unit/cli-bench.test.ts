import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { benchModelConfig } from '../../cli/benchShape';
import type { LlamaConfig } from '../../trainer/models/llama/config';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-bench-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const main = path.join(__dirname, '../../cli/main.ts');
// The peak cache goes to the scratch folder, never the user's.
const finetune = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, XDG_CACHE_HOME: scratch } });

test('a preset gives its published shape and the size flags override it; the family comes from the preset', () => {
  const smol = benchModelConfig({ preset: 'smollm2-135m', layers: 2 }, 128) as LlamaConfig;
  assert.equal(smol.modelType, 'llama');
  assert.deepEqual(
    [smol.numLayers, smol.hiddenSize, smol.numHeads, smol.numKvHeads, smol.headDim, smol.intermediateSize, smol.vocabSize],
    [2, 576, 9, 3, 64, 1536, 49152],
  );
  assert.equal(smol.tieWordEmbeddings, true);
  // A new width without --head-dim takes hidden / heads, as a config.json without head_dim does.
  const narrow = benchModelConfig({ preset: 'smollm2-135m', hidden: 128, heads: 4, kvHeads: 2 }, 128) as LlamaConfig;
  assert.equal(narrow.headDim, 32);
  const qwen = benchModelConfig({ family: 'qwen3', headDim: 32, untied: true }, 64) as LlamaConfig;
  assert.deepEqual([qwen.modelType, qwen.numLayers, qwen.hiddenSize, qwen.headDim, qwen.tieWordEmbeddings], ['qwen3', 4, 256, 32, false]);
  assert.deepEqual(benchModelConfig({}, 128), { vocabSize: 4096, nPositions: 128, nEmbd: 256, nLayer: 4, nHead: 4, layerNormEpsilon: 1e-5, dropout: 0 });
});

test('bench refuses flags of the other family, a preset of another family and a sequence longer than the context', () => {
  assert.throws(() => benchModelConfig({ family: 'llama', embd: 64 }, 16), /--embd is not a llama size/);
  assert.throws(() => benchModelConfig({ preset: 'gpt2', kvHeads: 2 }, 16), /--kv-heads is not a gpt2 size/);
  assert.throws(() => benchModelConfig({ preset: 'qwen2.5-0.5b', family: 'llama' }, 16), /is a qwen2 model, not --family llama/);
  assert.throws(() => benchModelConfig({ preset: 'gpt2' }, 2048), /--seq 2048 is longer than the gpt2 context \(1024/);
  assert.throws(() => benchModelConfig({ family: 'llama', heads: 4, kvHeads: 3 }, 16), /multiple of num_key_value_heads/);
});

test('finetune bench --family llama --json: LoRA on the family default targets, FLOPs per token and MFU against the given peak', () => {
  const r = finetune(
    `bench --family llama --layers 1 --hidden 32 --heads 4 --kv-heads 2 --intermediate 64 --vocab 128 --seq 16 --batch 2 --steps 2 --strategy lora --lora-r 4 --backend wasm --peak-gflops 50 --json`.split(
      ' ',
    ),
  );
  assert.equal(r.status, 0, r.stderr);
  const b = JSON.parse(r.stdout);
  assert.equal(b.family, 'llama');
  // r=4 on q_proj [32→32] and v_proj [32→16]: 4·(32+32) + 4·(32+16)
  assert.equal(b.trainable, 448);
  // embed 128·32; q 32·32, k and v 32·16, o 32·32; gate, up, down 3·32·64; two norms; final norm
  const base = 128 * 32 + (32 * 32 + 2 * 32 * 16 + 32 * 32 + 3 * 32 * 64 + 2 * 32) + 32;
  assert.equal(b.total, base + 448);
  // 6·N (the base model, LoRA's few weights not counted) + 12·L·(H·Q)·T
  assert.equal(b.flopsPerToken, 6 * base + 12 * 1 * 32 * 16);
  assert.equal(b.peakGflops, 50);
  assert.equal(b.peakSource, 'given');
  assert.ok(Math.abs(b.mfu - (b.flopsPerToken * b.tokensPerSec) / 50e9) <= 1e-12 * b.mfu);
  assert.equal(fs.existsSync(path.join(scratch, 'finetune-studio')), false, 'a given peak is not cached');
  const bad = finetune(['bench', '--family', 'qwen2', '--embd', '64']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--embd is not a qwen2 size/);
});
