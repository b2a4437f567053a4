// `finetune export --to trl`: a LoRA, a multi-task and a classification run become TRL + Accelerate jobs
// whose YAML keys all exist in the pinned TRL 1.9.0 / transformers / Accelerate 1.14.0 sources (the lists
// in test/fixtures/export/trl-keys.json, read from those sources by make_trl_keys.py), whose launch.sh
// and train.py are valid bash and Python, and whose data rows are `finetune preview --json`'s entries in
// the run's own split. What cannot be exported is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportRun } from '../../cli/export';
import { run as preview } from '../../cli/preview';
import { splitEval } from '../../trainer/data';
import { ExportError, splitBatch, type ClusterTarget } from '../../trainer/export/trlJob';
import { yamlNumber } from '../../trainer/export/yaml';
import { captureStdout } from './captureStdout';

const samples = path.join(__dirname, '../../samples');
const keys = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/export/trl-keys.json'), 'utf8')) as {
  lists: Record<string, { version: string; file: string; commit: string; keys: string[] }>;
};
const list = (...names: string[]) => new Set(names.flatMap((n) => keys.lists[n].keys));
// trl sft parses sft_config.yaml into these four dataclasses (trl/scripts/sft.py make_parser); SFTConfig
// extends TRL's _BaseConfig, which extends transformers' TrainingArguments.
const SFT_KEYS = list('SFTConfig', '_BaseConfig', 'TrainingArguments', 'ModelConfig', 'ScriptArguments', 'DatasetMixtureConfig');
const ACCELERATE_KEYS = list('accelerate.ClusterConfig');

const DDP: ClusterTarget = { gpus: 1, nodes: 1, sharding: 'ddp', mixedPrecision: 'bf16', accelerator: 'H100' };

/** The exporter's YAML read back: every `key: value` (values are JSON flow scalars/lists), nested sections as objects. */
function readYaml(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let section: Record<string, unknown> | undefined;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const nested = /^ {2}([A-Za-z_]\w*): (.+)$/.exec(line);
    if (nested && section) {
      section[nested[1]] = JSON.parse(nested[2]);
      continue;
    }
    const top = /^([A-Za-z_]\w*):(?: (.+))?$/.exec(line);
    assert.ok(top, `not a YAML mapping line: ${line}`);
    if (top[2] === undefined) out[top[1]] = section = {};
    else {
      out[top[1]] = JSON.parse(top[2]);
      section = undefined;
    }
  }
  return out;
}

function runFolder(settings: Record<string, unknown>): { dir: string; run: string; job: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-export-'));
  const run = path.join(dir, 'run');
  fs.mkdirSync(run);
  fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify({ model: 'gpt2', out: run, ...settings }));
  return { dir, run, job: path.join(dir, 'job') };
}

function readJsonl(file: string): Record<string, unknown>[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

async function previewJson(data: string, extra: string[] = []): Promise<{ line: number; ids?: number[]; labels?: number[] }[]> {
  const { code, out } = await captureStdout(() => preview(['--data', data, '--model', 'gpt2', '--json', ...extra]));
  assert.equal(code, 0);
  return JSON.parse(out).records;
}

function assertKeysExist(file: string, allowed: Set<string>, where: string): Record<string, unknown> {
  const yaml = readYaml(fs.readFileSync(file, 'utf8'));
  const unknown = Object.keys(yaml).filter((k) => !allowed.has(k));
  assert.deepEqual(unknown, [], `${path.basename(file)} keys missing from ${where}`);
  return yaml;
}

function checkScripts(job: string): void {
  execFileSync('bash', ['-n', path.join(job, 'launch.sh')]);
  assert.ok((fs.statSync(path.join(job, 'launch.sh')).mode & 0o111) !== 0, 'launch.sh is executable');
  if (fs.existsSync(path.join(job, 'train.py'))) {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-pyc-'));
    execFileSync('python3', ['-m', 'py_compile', path.join(job, 'train.py')], { env: { ...process.env, PYTHONPYCACHEPREFIX: cache } });
  }
}

test("a LoRA run exports to trl sft: every YAML key exists in the pinned TRL/transformers/Accelerate sources, LoRA under ModelConfig names, data = preview --json in the run's split", async () => {
  const data = path.join(samples, 'alpaca.jsonl');
  const { run, job } = runFolder({
    data,
    strategy: 'lora',
    loraR: 4,
    loraAlpha: 16,
    loraDropout: 0.1,
    evalFraction: 0.2,
    batchSize: 4,
    gradAccum: 2,
    lr: 3e-4,
    seed: 7,
  });
  const result = await exportRun(run, job, { ...DDP, gpus: 4, nodes: 2, sharding: 'zero3' });
  assert.equal(result.entry, 'trl sft');
  assert.ok(!fs.existsSync(path.join(job, 'train.py')), 'trl sft needs no train.py');

  const sft = assertKeysExist(path.join(job, 'sft_config.yaml'), SFT_KEYS, 'TRL 1.9.0 SFTConfig/ModelConfig/ScriptArguments + TrainingArguments');
  // The run's LoRA, not TRL's defaults (r 16, alpha 32, dropout 0.05); the masks applied, nothing re-tokenized.
  assert.deepEqual([sft.use_peft, sft.lora_r, sft.lora_alpha, sft.lora_dropout, sft.lora_target_modules], [true, 4, 16, 0.1, ['c_attn']]);
  assert.equal(sft.completion_only_loss, true);
  assert.equal(sft.packing, false);
  assert.equal(sft.learning_rate, 3e-4);
  assert.equal(sft.seed, 7);
  // 4 × 2 = 8 records a step over 8 GPUs: 1 each, no accumulation.
  assert.deepEqual([sft.per_device_train_batch_size, sft.gradient_accumulation_steps], [1, 1]);
  assert.equal(sft.eval_strategy, 'epoch');

  const acc = assertKeysExist(path.join(job, 'accelerate_config.yaml'), ACCELERATE_KEYS, 'Accelerate 1.14.0 ClusterConfig');
  assert.deepEqual([acc.distributed_type, acc.num_machines, acc.num_processes, acc.mixed_precision], ['DEEPSPEED', 2, 8, 'bf16']);
  const ds = acc.deepspeed_config as Record<string, unknown>;
  assert.deepEqual(
    Object.keys(ds).filter((k) => !keys.lists['accelerate.deepspeed_config'].keys.includes(k)),
    [],
  );
  assert.equal(ds.zero_stage, 3);
  assert.equal(ds.gradient_accumulation_steps, sft.gradient_accumulation_steps);
  checkScripts(job);
  assert.match(
    fs.readFileSync(path.join(job, 'launch.sh'), 'utf8'),
    /accelerate launch --config_file accelerate_config\.yaml[\s\S]*-m trl\.scripts\.sft --config sft_config\.yaml/,
  );
  // launch.sh runs `accelerate launch` with the node's rank and the rendezvous address, and refuses another GPU count.
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-bin-'));
  fs.writeFileSync(path.join(bin, 'accelerate'), '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  const argv = execFileSync('bash', [path.join(job, 'launch.sh')], { env: { ...env, NODE_RANK: '1', MASTER_ADDR: '10.0.0.2' }, encoding: 'utf8' }).trim();
  assert.equal(
    argv,
    'launch --config_file accelerate_config.yaml --num_machines 2 --num_processes 8 --machine_rank 1 --main_process_ip 10.0.0.2 --main_process_port 29500 -m trl.scripts.sft --config sft_config.yaml',
  );
  assert.throws(
    () => execFileSync('bash', [path.join(job, 'launch.sh')], { env: { ...env, NUM_NODES: '1' }, stdio: 'pipe' }),
    /exported for 2 node\(s\) x 4 GPU/,
  );
  assert.match(fs.readFileSync(path.join(job, 'requirements.txt'), 'utf8'), /^trl==1\.9\.0$/m);
  assert.match(fs.readFileSync(path.join(job, 'README.md'), 'utf8'), /has not been run there/);

  // The rows are preview's entries: input_ids = ids, completion_mask = (labels != -100); train + eval
  // are the run's split (the trainer's splitEval over the records), each in file order.
  const entries = await previewJson(data);
  const train = readJsonl(path.join(job, 'data/train.jsonl'));
  const evalRows = readJsonl(path.join(job, 'data/eval.jsonl'));
  const expected = entries.map((e) => ({ input_ids: e.ids, completion_mask: e.labels!.map((l) => (l === -100 ? 0 : 1)) }));
  const split = splitEval(expected, 0.2, 7);
  assert.equal(evalRows.length, Math.round(entries.length * 0.2));
  assert.deepEqual(train, split.train);
  assert.deepEqual(evalRows, split.eval);
});

test("FSDP writes only fsdp_config keys Accelerate 1.14.0 knows, with the family's block class and a full state dict", async () => {
  const { run, job } = runFolder({ data: path.join(samples, 'completion.jsonl'), strategy: 'full', batchSize: 2, evalFraction: 0 });
  await exportRun(run, job, { ...DDP, gpus: 2, sharding: 'fsdp', mixedPrecision: 'fp16' });
  const acc = assertKeysExist(path.join(job, 'accelerate_config.yaml'), ACCELERATE_KEYS, 'Accelerate ClusterConfig');
  const fsdp = acc.fsdp_config as Record<string, unknown>;
  assert.deepEqual(
    Object.keys(fsdp).filter((k) => !keys.lists['accelerate.fsdp_config'].keys.includes(k)),
    [],
  );
  assert.equal(fsdp.fsdp_transformer_layer_cls_to_wrap, 'GPT2Block');
  assert.equal(fsdp.fsdp_state_dict_type, 'FULL_STATE_DICT');
  const sft = assertKeysExist(path.join(job, 'sft_config.yaml'), SFT_KEYS, 'TRL');
  assert.deepEqual([sft.use_peft, sft.fp16, sft.bf16], [false, true, false]);
  assert.ok(!fs.existsSync(path.join(job, 'data/eval.jsonl')), 'no eval split, no eval file');
  assert.equal(sft.eval_strategy, 'no');
});

test('a multi-task run exports a train.py that applies α_t per task; rows carry task ids; the YAML keys still all exist', async () => {
  const data = path.join(samples, 'multitask.jsonl');
  const { run, job } = runFolder({ data, strategy: 'lora', taskWeights: { translate: 2, summarize: 0.5 }, batchSize: 4, evalFraction: 0 });
  const result = await exportRun(run, job, DDP);
  assert.equal(result.entry, 'train.py');
  assertKeysExist(path.join(job, 'sft_config.yaml'), SFT_KEYS, 'TRL');
  checkScripts(job);
  const script = fs.readFileSync(path.join(job, 'train.py'), 'utf8');
  const jobJson = JSON.parse(/JOB_JSON = r'''([\s\S]*?)'''/.exec(script)![1]) as { tasks: string[]; taskWeights: number[] };
  const rows = readJsonl(path.join(job, 'data/train.jsonl'));
  const lines = fs
    .readFileSync(data, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { task: string });
  // Each row's task_id names its record's task, and that task's α_t is the run's weight.
  assert.deepEqual(
    rows.map((r) => jobJson.tasks[r.task_id as number]),
    lines.map((l) => l.task),
  );
  for (const [i, t] of jobJson.tasks.entries()) assert.equal(jobJson.taskWeights[i], ({ translate: 2, summarize: 0.5 } as Record<string, number>)[t] ?? 1);
  assert.match(script, /class TaskWeightedSFTTrainer\(SFTTrainer\)/);
  assert.match(script, /loss = loss \+ alpha \* \(token_loss \* rows\)\.sum\(\) \/ count/);
  assert.match(fs.readFileSync(path.join(job, 'launch.sh'), 'utf8'), /train\.py --config sft_config\.yaml/);
  // The rows are still exactly preview's.
  const entries = await previewJson(data);
  assert.deepEqual(
    rows.map((r) => r.input_ids),
    entries.map((e) => e.ids),
  );
});

test('a classification run exports a train.py over AutoModelForSequenceClassification with the labels numbered as the run numbers them', async () => {
  const data = path.join(samples, 'classification.jsonl');
  const { run, job } = runFolder({ data, strategy: 'lora', head: 'classification', evalFraction: 0.25, batchSize: 4 });
  const result = await exportRun(run, job, DDP);
  assert.equal(result.entry, 'train.py');
  assertKeysExist(path.join(job, 'sft_config.yaml'), SFT_KEYS, 'TRL');
  checkScripts(job);
  const script = fs.readFileSync(path.join(job, 'train.py'), 'utf8');
  const jobJson = JSON.parse(/JOB_JSON = r'''([\s\S]*?)'''/.exec(script)![1]) as { labels: string[] };
  assert.deepEqual(jobJson.labels, ['negative', 'neutral', 'positive']);
  const rows = [...readJsonl(path.join(job, 'data/train.jsonl')), ...readJsonl(path.join(job, 'data/eval.jsonl'))];
  assert.equal(rows.length, 24);
  const records = fs
    .readFileSync(data, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { label: string });
  assert.deepEqual(rows.map((r) => jobJson.labels[r.label as number]).sort(), records.map((r) => r.label).sort());
  assert.ok(rows.every((r) => Array.isArray(r.input_ids) && !('completion_mask' in r)));
});

test('what cannot be exported is refused by name: bottleneck adapters, the tiny preset, a batch that does not split, a foreign --out folder', async () => {
  const data = path.join(samples, 'alpaca.jsonl');
  await assert.rejects(
    exportRun(runFolder({ data, strategy: 'adapter' }).run, path.join(os.tmpdir(), 'never'), DDP),
    /bottleneck adapters.*cannot be exported/,
  );
  const tiny = runFolder({ data, strategy: 'full', model: 'tiny' });
  await assert.rejects(exportRun(tiny.run, tiny.job, DDP), /`tiny` preset/);
  assert.throws(
    () => splitBatch(4, 1, 3),
    (e: Error) => e instanceof ExportError && /cannot be split evenly over 3 GPU/.test(e.message),
  );
  assert.deepEqual(splitBatch(4, 2, 2), { perDevice: 4, gradAccum: 1 });
  assert.deepEqual(splitBatch(8, 1, 2), { perDevice: 4, gradAccum: 1 });
  const lora = runFolder({ data, strategy: 'lora' });
  fs.mkdirSync(lora.job);
  fs.writeFileSync(path.join(lora.job, 'notes.txt'), 'mine');
  await assert.rejects(exportRun(lora.run, lora.job, DDP), /holds files no export wrote \(notes\.txt\)/);
  assert.equal(fs.readFileSync(path.join(lora.job, 'notes.txt'), 'utf8'), 'mine');
});

test('YAML numbers are spelled so that PyYAML (YAML 1.1) reads them back as numbers', () => {
  // YAML 1.1's float: a dot, and an exponent with a sign (`2e-05` would be a string there).
  const yaml11Float = /^[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?$/;
  for (const n of [2e-5, 1e-8, 0.9, -2.5e-7, 1e21]) assert.match(yamlNumber(n), yaml11Float, String(n));
  assert.equal(yamlNumber(3), '3');
  for (const n of [2e-5, 1e-8, 0.9, -2.5e-7, 1e21]) assert.equal(Number(yamlNumber(n)), n);
});

// Debian's python3-torch (the project's PyTorch reference, reference/README.md); CI has none, so there
// the maths of train.py is covered by the JOB checks above and this test is skipped.
const torchPython = '/usr/bin/python3';
const hasTorch = (() => {
  try {
    execFileSync(torchPython, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test("train.py's own code, run with PyTorch on a toy model: the loss is Σ_t α_t·L_t and partial freezing freezes the first N blocks and the embeddings", {
  skip: hasTorch ? false : `no PyTorch at ${torchPython}`,
}, async () => {
  const { run, job } = runFolder({
    data: path.join(samples, 'multitask.jsonl'),
    strategy: 'partial',
    freezeLayers: 3,
    freezeEmbeddings: true,
    evalFraction: 0,
    taskWeights: { translate: 2, summarize: 0.5 },
  });
  await exportRun(run, job, DDP);
  const out = execFileSync(torchPython, [path.join(__dirname, '../fixtures/export/check_train_py.py'), path.join(job, 'train.py')], { encoding: 'utf8' });
  const report = JSON.parse(out) as { frozen: boolean[]; embeddingsTrain: boolean[]; columns: string[] };
  // The toy model has 4 blocks; the run freezes 3 and the embeddings.
  assert.deepEqual(report.frozen, [true, true, true, false]);
  assert.deepEqual(report.embeddingsTrain, [false, false]);
});
