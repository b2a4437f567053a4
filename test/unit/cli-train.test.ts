import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTrainerEvent } from '../../protocol/trainer';
import { presetConfig } from '../../trainer/models/gpt2/config';
import { assertRelClose, gpt2Sums, reordered } from './tolerance';

// Every folder a test writes lives here and is removed when the file's tests end.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-tests-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const main = path.join(__dirname, '../../cli/main.ts');
const finetune = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8', timeout: 120_000 });

function dataset(lines: object[]): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(scratch, 'ft-cli-'));
  const file = path.join(dir, 'data.jsonl');
  fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return { dir, file };
}

test('finetune train prints the event stream on stdout and writes the run folder', () => {
  const { dir, file } = dataset(['one', 'two', 'three', 'four'].map((w) => ({ instruction: `Repeat ${w}.`, output: w })));
  const out = path.join(dir, 'run');
  const r = finetune([
    'train',
    '--data',
    file,
    '--model',
    'tiny',
    '--strategy',
    'partial',
    '--freeze-layers',
    '1',
    '--out',
    out,
    '--max-steps',
    '2',
    '--batch-size',
    '2',
    '--eval-fraction',
    '0',
    '--backend',
    'wasm',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.ok(lines.every((l) => parseTrainerEvent(l) !== undefined));
  assert.deepEqual(fs.readFileSync(path.join(out, 'events.jsonl'), 'utf8').trim().split('\n'), lines);
  const done = parseTrainerEvent(lines.at(-1)!)!;
  assert.ok(done.type === 'done' && done.status === 'completed' && done.outputFiles.includes('model.safetensors'));
  const params = lines.map((l) => parseTrainerEvent(l)!).find((e) => e.type === 'params');
  assert.ok(params?.type === 'params' && params.trainable < params.total && params.frozen > 0);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')).freezeLayers, 1);
});

test('finetune train: bad flags exit 2 with a message; a dataset with errors exits 1 and names the line', () => {
  const bad = finetune(['train', '--data', 'x.jsonl', '--model', 'tiny', '--out', 'o', '--schedule', 'step']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--schedule must be one of constant, linear, cosine/);
  const { dir, file } = dataset([{ instruction: 'a', output: 'b' }, { instruction: 'c' }]);
  const r = finetune(['train', '--data', file, '--model', 'tiny', '--out', path.join(dir, 'run'), '--backend', 'wasm']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /data\.jsonl:2:\d+: missing-field/);
});

test('finetune eval --json: token-weighted loss that the batch size does not change', () => {
  const { file } = dataset([{ text: 'A short one.' }, { text: 'A somewhat longer text record, to make padding matter here.' }, { text: 'Third.' }]);
  const results = ['1', '3'].map((b) => {
    const r = finetune(['eval', '--model', 'tiny', '--data', file, '--json', '--batch-size', b, '--backend', 'wasm']);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { loss: number; tokens: number; examples: number };
  });
  assert.equal(results[0].examples, 3);
  assert.ok(results[0].tokens > 10);
  assert.equal(results[0].tokens, results[1].tokens);
  // Padding to the batch's longest record changes the products' shapes: the same sums in another order.
  assertRelClose(results[1].loss, results[0].loss, reordered(gpt2Sums(presetConfig('tiny'), 16)), 'eval loss, batch 3 vs 1');
  // a random GPT-2-vocabulary model is near ln(50257) ≈ 10.8
  assert.ok(results[0].loss > 9 && results[0].loss < 12.5);
});

test('finetune bench --json reports throughput, parameter counts and peak memory', () => {
  const r = finetune([
    'bench',
    '--layers',
    '1',
    '--embd',
    '32',
    '--heads',
    '2',
    '--vocab',
    '128',
    '--seq',
    '16',
    '--batch',
    '2',
    '--steps',
    '2',
    '--strategy',
    'lora',
    '--lora-r',
    '4',
    '--backend',
    'wasm',
    // A given peak: the test neither spends seconds measuring one nor writes the user's cache.
    '--peak-gflops',
    '50',
    '--json',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const b = JSON.parse(r.stdout);
  assert.equal(b.backend, 'wasm');
  assert.equal(b.peakGflops, 50);
  assert.ok(b.mfu > 0 && b.mfu < 1, `mfu ${b.mfu}`);
  assert.ok(b.tokensPerSec > 0 && b.stepSec > 0 && b.peakRssBytes > 10 * 2 ** 20);
  // LoRA r=4 on c_attn of one 32-wide block: 4·(32 + 96)
  assert.equal(b.trainable, 512);
  assert.equal(b.total, 128 * 32 + 128 * 32 + (32 * 96 + 96 + 32 * 32 + 32 + 32 * 128 + 128 + 128 * 32 + 32 + 4 * 32) + 2 * 32 + 512);
  const bad = finetune(['bench', '--embd', '30', '--heads', '4']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /divisible/);
});
