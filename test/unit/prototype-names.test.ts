// Names that are JavaScript's own (`constructor`, `__proto__`, `toString`, `hasOwnProperty`) used as task
// names, field names, roles, labels and run.json keys: every path that keys something by a user's string
// must treat them as ordinary strings (issue 9, part 4).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validateText } from '../../language/datasetDocument';
import { validateFile } from '../../language/validateFile';
import { computeStatistics } from '../../language/preview';
import type { DatasetDiagnostic } from '../../language/types';
import type { DoneEvent, EvalEvent, StartEvent, StepEvent, TrainerEvent } from '../../protocol/trainer';
import { parseTrainArgs, parseTrainFlags, readConfigFile } from '../../trainer/runConfig';
import { EventWriter } from '../../trainer/runFolder';
import { train } from '../../trainer/train';
import { assignLabels, labelMapping } from '../../trainer/heads/classification';
import { resolveModel } from '../../trainer/hub';
import { execFileSync } from 'node:child_process';
import { RunModel } from '../../webview/common/runModel';
import { applyToLine } from './language-testing';

const NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-proto-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A message or quick fix that shows Object.prototype leaking through a lookup. */
const LEAK = /\[object Object\]|native code|function /;

function assertNoLeak(ds: DatasetDiagnostic[], where: string): void {
  for (const d of ds) {
    assert.doesNotMatch(d.message, LEAK, `${where}: ${d.message}`);
    for (const f of d.fixes ?? []) assert.doesNotMatch(f.title, LEAK, `${where}: ${f.title}`);
  }
}

test('validate: a field named like an Object.prototype member is an unknown field with no rename fix, and its removal leaves valid JSON', () => {
  const base = ['{"instruction":"a","output":"b"}', '{"instruction":"c","output":"d"}', '{"instruction":"e","output":"f"}'];
  for (const name of NAMES) {
    for (const line of [`{"instruction":"x","output":"y","${name}":"z"}`, `{"instruction":"x","${name}":"z"}`]) {
      const ds = validateText([...base, line].join('\n') + '\n').diagnostics.filter((d) => d.line === 3);
      assertNoLeak(ds, line);
      const unknown = ds.filter((d) => d.code === 'unknown-field');
      assert.equal(unknown.length, 1, `${line}: ${JSON.stringify(ds)}`);
      assert.equal(line.slice(unknown[0].column, unknown[0].endColumn), JSON.stringify(name));
      assert.ok(!unknown[0].fixes?.some((f) => f.preferred), `${line}: no preferred fix renames '${name}'`);
      for (const d of ds) {
        for (const f of d.fixes ?? []) {
          const fixed = applyToLine(
            line,
            f.edits.map((e) => ({ ...e, line: 0, endLine: 0 })),
          );
          const parsed = JSON.parse(fixed) as Record<string, unknown>;
          assert.ok(!Object.hasOwn(parsed, name), `${f.title} removes '${name}': ${fixed}`);
        }
      }
    }
  }
});

test('validate: a chat role or message key named like an Object.prototype member gets no made-up fix', () => {
  for (const name of NAMES) {
    const roleLine = JSON.stringify({
      messages: [
        { role: name, content: 'hi' },
        { role: 'assistant', content: 'hello' },
      ],
    });
    const role = validateText(roleLine + '\n').diagnostics;
    assertNoLeak(role, roleLine);
    const unknownRole = role.find((d) => d.code === 'unknown-role');
    assert.ok(unknownRole, roleLine);
    assert.deepEqual(unknownRole.fixes ?? [], [], `${roleLine}: ${JSON.stringify(unknownRole.fixes)}`);
    const keyLine = `{"messages":[{"role":"user","${name}":"hi"},{"role":"assistant","content":"hello"}]}`;
    const key = validateText(keyLine + '\n').diagnostics;
    assertNoLeak(key, keyLine);
    assert.ok(key.some((d) => d.code === 'missing-content') && key.some((d) => d.code === 'unknown-field'), JSON.stringify(key));
  }
});

const classificationLines = (labels: string[], perLabel: number, task = (l: string) => l) =>
  labels.flatMap((l, i) => Array.from({ length: perLabel }, (_, k) => JSON.stringify({ text: `example ${i} ${k} ${l}`, label: l, task: task(l) })));

test('validate (editor and streaming paths) and statistics count tasks and labels named like Object.prototype members', async () => {
  const labels = [...NAMES, 'normal'];
  // `normal` is the big label: every other one is rare, and each task has 2 records (fewer than 5).
  const lines = [...classificationLines(NAMES, 2), ...classificationLines(['normal'], 12)];
  const text = lines.join('\n') + '\n';
  const file = path.join(scratch, 'labels.jsonl');
  fs.writeFileSync(file, text);
  const fromText = validateText(text).diagnostics;
  const fromFile = (await validateFile(file, { workers: 1 })).diagnostics;
  for (const [where, ds] of [
    ['validateText', fromText],
    ['validateFile', fromFile],
  ] as const) {
    assertNoLeak(ds, where);
    const fewTasks = ds.filter((d) => d.code === 'few-task-examples').map((d) => d.message);
    const rare = ds.filter((d) => d.code === 'label-imbalance').map((d) => d.message);
    for (const name of NAMES) {
      assert.ok(fewTasks.includes(`task '${name}' has only 2 examples (fewer than 5)`), `${where}: ${JSON.stringify(fewTasks)}`);
      assert.ok(
        rare.some((m) => m.startsWith(`label '${name}' has 2 examples`)),
        `${where}: ${JSON.stringify(rare)}`,
      );
    }
  }
  const stats = computeStatistics(lines);
  for (const l of labels) {
    const n = l === 'normal' ? 12 : 2;
    assert.ok(Object.hasOwn(stats.byTask, l) && stats.byTask[l] === n, `byTask ${l}: ${JSON.stringify(stats.byTask)}`);
    assert.ok(Object.hasOwn(stats.byLabel, l) && stats.byLabel[l] === n, `byLabel ${l}: ${JSON.stringify(stats.byLabel)}`);
  }
  assert.deepEqual(Object.keys(stats.byTask).sort(), [...labels].sort());
});

test('run.json: keys named like Object.prototype members are reported as unknown settings', () => {
  for (const name of NAMES) {
    const file = path.join(scratch, `run-${name}.json`);
    fs.writeFileSync(file, `{"data": "d.jsonl", "${name}": 1}`);
    assert.throws(() => readConfigFile(file), new RegExp(`unknown setting "${name}"`), name);
  }
});

test('--task-weights: a task called __proto__ is a weight like any other, also read back from run.json', () => {
  const weights = parseTrainFlags(['--task-weights', '__proto__=2,constructor=0.5,a=1']).taskWeights!;
  assert.deepEqual(Object.entries(weights), [
    ['__proto__', 2],
    ['constructor', 0.5],
    ['a', 1],
  ]);
  const file = path.join(scratch, 'weights.json');
  fs.writeFileSync(file, JSON.stringify({ data: 'd.jsonl', model: 'tiny', out: 'o', taskWeights: weights }));
  assert.deepEqual(Object.entries(readConfigFile(file).taskWeights!), [
    ['__proto__', 2],
    ['constructor', 0.5],
    ['a', 1],
  ]);
});

async function runTrain(args: string[]): Promise<{ events: TrainerEvent[]; done: DoneEvent }> {
  const writer = new EventWriter();
  const events: TrainerEvent[] = [];
  writer.onEvent((e) => events.push(e));
  const done = await train(parseTrainArgs([...args, '--backend', 'wasm']), { writer });
  return { events, done };
}

const alpacaLines = (tasks: string[], perTask: number) =>
  tasks.flatMap((t) => Array.from({ length: perTask }, (_, k) => JSON.stringify({ instruction: `Say ${k} for ${t}.`, output: `${k} ${t}`, task: t })));

test('training: tasks `constructor` and `normal` with --task-weights normal=1 have a finite loss; __proto__=2 is applied and recorded', async () => {
  const dir = fs.mkdtempSync(path.join(scratch, 'tasks-'));
  const data = path.join(dir, 'train.jsonl');
  fs.writeFileSync(data, alpacaLines(['constructor', 'normal', '__proto__'], 3).join('\n') + '\n');
  const out = path.join(dir, 'run');
  const { events, done } = await runTrain([
    '--data',
    data,
    '--model',
    'tiny',
    '--out',
    out,
    '--max-steps',
    '1',
    '--batch-size',
    '9',
    '--eval-fraction',
    '0',
    '--task-weights',
    'normal=1,__proto__=2',
  ]);
  assert.equal(done.status, 'completed', JSON.stringify(events.filter((e) => e.type === 'error' || e.type === 'log')));
  const step = events.find((e): e is StepEvent => e.type === 'step')!;
  assert.ok(Number.isFinite(step.loss), `loss ${step.loss}`);
  assert.deepEqual(Object.keys(step.taskLosses!).sort(), ['__proto__', 'constructor', 'normal']);
  for (const v of Object.values(step.taskLosses!)) assert.ok(Number.isFinite(v));
  // The batch loss is Σ α_t·L_t: constructor (α 1) + normal (α 1) + __proto__ (α 2).
  const l = new Map(Object.entries(step.taskLosses!));
  const sum = l.get('constructor')! + l.get('normal')! + 2 * l.get('__proto__')!;
  assert.ok(Math.abs(step.loss - sum) < 1e-3 * step.loss, `${step.loss} vs ${JSON.stringify(step.taskLosses)}`);
  const start = events.find((e): e is StartEvent => e.type === 'start')!;
  assert.deepEqual(Object.entries(start.config.taskWeights!), [
    ['normal', 1],
    ['__proto__', 2],
  ]);
  const saved = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')) as { taskWeights: Record<string, number> };
  assert.deepEqual(Object.entries(saved.taskWeights), [
    ['normal', 1],
    ['__proto__', 2],
  ]);
  assert.ok(!events.some((e) => e.type === 'log' && /not in the training data/.test(e.message)), 'every weighted task is found');
});

test('classification head: labels `constructor`, `__proto__` and `toString` train and are saved in id2label / label2id', async () => {
  const dir = fs.mkdtempSync(path.join(scratch, 'labels-'));
  const data = path.join(dir, 'train.jsonl');
  const evalData = path.join(dir, 'eval.jsonl');
  const labels = ['constructor', '__proto__', 'toString'];
  fs.writeFileSync(data, classificationLines(labels, 2, () => 'only').join('\n') + '\n');
  fs.writeFileSync(evalData, classificationLines(labels, 1, () => 'only').join('\n') + '\n');
  const out = path.join(dir, 'run');
  const { events, done } = await runTrain([
    '--data',
    data,
    '--eval-data',
    evalData,
    '--model',
    'tiny',
    '--head',
    'classification',
    '--out',
    out,
    '--max-steps',
    '1',
    '--batch-size',
    '6',
  ]);
  assert.equal(done.status, 'completed', JSON.stringify(events.filter((e) => e.type === 'error')));
  const sorted = [...labels].sort();
  const config = JSON.parse(fs.readFileSync(path.join(out, 'output', 'config.json'), 'utf8')) as {
    id2label: Record<string, string>;
    label2id: Record<string, number>;
  };
  assert.deepEqual(
    Object.entries(config.id2label),
    sorted.map((l, i) => [String(i), l]),
  );
  assert.deepEqual(
    Object.entries(config.label2id),
    sorted.map((l, i) => [l, i]),
  );
  const ev = events.filter((e): e is EvalEvent => e.type === 'eval').at(-1)!;
  assert.deepEqual(Object.keys(ev.perClass!).sort(), sorted);
  for (const l of labels) assert.equal(ev.perClass![l].total, 1, `${l}: ${JSON.stringify(ev.perClass)}`);
  // A resumed run keeps its saved labels: a new label `toString` is refused, not given Object's method as its id.
  const example = { line: 0, inputIds: [1], labels: [-1], lossTokens: 1, labelText: 'toString' };
  assert.throws(() => assignLabels([example], labelMapping(['a', 'b'])), /label 'toString' is not among the training labels \(a, b\)/);
});

test('a model or command named like an Object.prototype member is looked up as a name', async () => {
  const cacheDir = fs.mkdtempSync(path.join(scratch, 'hub-'));
  for (const name of NAMES.filter((n) => n !== '__proto__')) {
    await assert.rejects(resolveModel(name, { cacheDir, offline: true }), (err: Error) => err.name === 'HubError' && err.message.includes(name), name);
  }
  const cli = path.join(__dirname, '..', '..', 'cli', 'main.ts');
  try {
    execFileSync(process.execPath, ['--import', 'tsx', cli, 'constructor'], { stdio: 'pipe' });
    assert.fail('finetune constructor must fail');
  } catch (err) {
    const e = err as { status: number; stderr: Buffer };
    assert.equal(e.status, 2);
    assert.match(e.stderr.toString(), /unknown command 'constructor'/);
  }
});

test('run panel model: per-task curves for tasks named like Object.prototype members', () => {
  const m = new RunModel(0);
  // As the panel receives them: parsed from events.jsonl lines, where `__proto__` is an own key.
  const line = (n: number, losses: string) =>
    `{"type":"step","time":${n},"step":${n},"epoch":0,"loss":1,"lr":1,"gradNorm":1,"tokens":1,"lossTokens":1,"tokensPerSec":1,"elapsedSec":1,"etaSec":1,"taskLosses":${losses}}`;
  m.apply([JSON.parse(line(1, '{"constructor":1.5,"__proto__":2.5}')), JSON.parse(line(2, '{"toString":3.5}'))]);
  assert.deepEqual(m.taskNames, ['constructor', '__proto__', 'toString']);
  const data = m.lossChartData('step');
  assert.deepEqual(
    data.slice(4).map((c) => Array.from(c as (number | null)[])),
    [
      [1.5, null],
      [2.5, null],
      [null, 3.5],
    ],
  );
});
