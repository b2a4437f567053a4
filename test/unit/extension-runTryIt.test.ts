// Try It's host side: which model a finished run's output loads, the prompt formatted with the run's
// template, the `finetune generate` arguments, and the child process, with a small script standing in
// for dist/cli.js (it answers like `generate --json`, fails, or hangs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatRecord } from '../../language/promptFormat';
import { isRunPanelWebviewMessage } from '../../protocol/panel';
import type { TrainerEvent } from '../../protocol/trainer';
import { formatTryItPrompt, generateArgs, parseGenerateOutput, runGenerate, tryItTarget, TryItSession } from '../../extension/training/tryIt';
import { recordedRun } from '../browser/fixtures/streams';
import { GENERATE_OPTIONS } from '../../cli/generate';
import { parseFlags } from '../../cli/usage';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ft-tryit-'));

/** A finished run's events with its output in `out` (holding `files`), trained on `format`. */
function finishedRun(out: string, files: string[], opts: { format?: string; status?: string; head?: string; seed?: number } = {}): TrainerEvent[] {
  fs.mkdirSync(out, { recursive: true });
  for (const f of files) fs.writeFileSync(path.join(out, f), '{}');
  return recordedRun({ strategy: 'lora', steps: 3 }).map((e) => {
    if (e.type === 'start')
      return {
        ...e,
        config: { ...e.config, model: 'tiny', seed: opts.seed ?? 7, head: (opts.head ?? 'lm') as 'lm', backend: 'cpu' as const },
        dataset: { ...e.dataset, format: opts.format ?? 'alpaca' },
      };
    if (e.type === 'done') return { ...e, status: (opts.status ?? 'completed') as 'completed', outputDir: out };
    return e;
  });
}

test('a full model output loads as the model; an adapter output (LoRA, adapter, prompt tuning) goes on the base model', () => {
  const dir = tmp();
  assert.deepEqual(tryItTarget(finishedRun(path.join(dir, 'full'), ['config.json', 'model.safetensors'])), {
    model: path.join(dir, 'full'),
    format: 'alpaca',
    modelSeed: 7,
    backend: 'cpu',
  });
  assert.deepEqual(
    tryItTarget(finishedRun(path.join(dir, 'lora'), ['adapter_config.json', 'adapter_model.safetensors'], { format: 'chat', status: 'early-stopped' })),
    {
      model: 'tiny',
      adapter: path.join(dir, 'lora'),
      format: 'chat',
      modelSeed: 7,
      backend: 'cpu',
    },
  );
});

test('Try It refuses unfinished, failed and classification-head runs, and outputs that are gone, saying why', () => {
  const dir = tmp();
  const events = finishedRun(path.join(dir, 'a'), ['model.safetensors']);
  const err = (r: ReturnType<typeof tryItTarget>) => ('error' in r ? r.error : '');
  assert.match(err(tryItTarget(events.filter((e) => e.type !== 'done'))), /has not finished/);
  assert.match(err(tryItTarget(finishedRun(path.join(dir, 'b'), ['model.safetensors'], { status: 'failed' }))), /failed/);
  assert.match(err(tryItTarget(finishedRun(path.join(dir, 'c'), ['model.safetensors'], { head: 'classification' }))), /classification head/);
  assert.match(err(tryItTarget(finishedRun(path.join(dir, 'd'), ['notes.txt']))), /neither a model/);
  fs.rmSync(path.join(dir, 'a'), { recursive: true });
  assert.match(err(tryItTarget(events)), /is missing/);
  // A resumed run that is going again has not finished, whatever its first segment said.
  const start = events.find((e) => e.type === 'start')!;
  assert.match(err(tryItTarget([...finishedRun(path.join(dir, 'e'), ['model.safetensors']), { ...start, resumedFrom: 2 }])), /has not finished/);
});

test("the prompt goes through the run's template exactly as training formatted records; a JSON record is taken as one", () => {
  assert.equal(formatTryItPrompt('Name three colours.', 'alpaca'), formatRecord({ instruction: 'Name three colours.' }, 'alpaca').prompt);
  assert.match(formatTryItPrompt('Name three colours.', 'alpaca'), /### Instruction:\nName three colours\.\n\n### Response:\n$/);
  const withInput = formatTryItPrompt('{"instruction": "Translate.", "input": "Bonjour"}', 'alpaca');
  assert.match(withInput, /### Input:\nBonjour\n\n### Response:\n$/);
  assert.equal(formatTryItPrompt('Hi!', 'chat'), '<|user|>\nHi!\n<|assistant|>\n');
  assert.equal(formatTryItPrompt('2 + 2 =', 'completion'), '2 + 2 =');
  assert.equal(formatTryItPrompt('Great phone.', 'classification'), '### Text:\nGreat phone.\n\n### Label:\n');
  assert.equal(formatTryItPrompt('Once upon a time', 'text'), 'Once upon a time');
  assert.equal(formatTryItPrompt('{not json', 'alpaca'), formatRecord({ instruction: '{not json' }, 'alpaca').prompt);
});

test("generate arguments: model, adapter, the formatted prompt, the request's numbers, the tiny seed and JSON output", () => {
  const target = { model: 'tiny', adapter: '/r/output', format: 'alpaca', modelSeed: 7, backend: 'cpu' };
  assert.deepEqual(generateArgs(target, 'P', { prompt: 'p', maxNewTokens: 12, temperature: 0.5 }, 99), [
    'generate',
    '--model=tiny',
    '--adapter=/r/output',
    '--prompt=P',
    '--max-new-tokens=12',
    '--temperature=0.5',
    '--seed=99',
    '--model-seed=7',
    '--backend=cpu',
    '--json',
  ]);
  assert.deepEqual(generateArgs({ model: '/r/output', format: 'text', modelSeed: 42 }, 'P', { prompt: 'p', maxNewTokens: 1, temperature: 0 }).slice(0, 2), [
    'generate',
    '--model=/r/output',
  ]);
  assert.equal(parseGenerateOutput('loading…\n{"text":" red, green","tokens":[1],"stopReason":"eos"}\n'), ' red, green');
  assert.equal(parseGenerateOutput('plain text\n'), 'plain text');
});

test('a Try It prompt (or model path) that starts with "-" reaches finetune generate as the value, not as an option', () => {
  const target = { model: '-odd-model', format: 'text', modelSeed: 42 };
  for (const prompt of ['-x', '--help', '--json', '- a list\n- of items', '--prompt=inner', '']) {
    const args = generateArgs(target, prompt, { prompt, maxNewTokens: 3, temperature: 0 });
    assert.equal(args[0], 'generate');
    const { values } = parseFlags(args.slice(1), GENERATE_OPTIONS);
    assert.equal(values.prompt, prompt);
    assert.equal(values.model, '-odd-model');
    assert.equal(values.json, true);
  }
});

test("the webview's tryIt is checked before the host acts on it", () => {
  assert.ok(isRunPanelWebviewMessage({ type: 'tryIt', prompt: 'x', maxNewTokens: 64, temperature: 0.7 }));
  assert.ok(isRunPanelWebviewMessage({ type: 'resume' }));
  assert.ok(!isRunPanelWebviewMessage({ type: 'tryIt', prompt: 'x', maxNewTokens: 0, temperature: 0.7 }));
  assert.ok(!isRunPanelWebviewMessage({ type: 'tryIt', prompt: 'x', maxNewTokens: 2.5, temperature: 0.7 }));
  assert.ok(!isRunPanelWebviewMessage({ type: 'tryIt', prompt: 'x', maxNewTokens: 5, temperature: -1 }));
  assert.ok(!isRunPanelWebviewMessage({ type: 'tryIt', prompt: 42, maxNewTokens: 5, temperature: 0 }));
  assert.ok(!isRunPanelWebviewMessage({ type: 'tryIt', prompt: 'x'.repeat(20_001), maxNewTokens: 5, temperature: 0 }));
});

/** A stand-in for dist/cli.js: `generate … --json` echoes its arguments; FAKE_MODE=fail / hang misbehave. */
function fakeCli(): string {
  const file = path.join(tmp(), 'cli.js');
  fs.writeFileSync(
    file,
    `
const args = process.argv.slice(2);
const mode = process.env.FAKE_MODE;
if (mode === 'hang') setInterval(() => {}, 1000);
else if (mode === 'fail') { process.stderr.write('loading tiny\\nfinetune generate: ' + args[args.indexOf('--adapter') + 1] + ' has no adapter_config.json\\n'); process.exit(1); }
else {
  const get = (f) => { const joined = args.find((a) => a.startsWith(f + '=')); return joined !== undefined ? joined.slice(f.length + 1) : args[args.indexOf(f) + 1]; };
  process.stderr.write('loading model\\n');
  process.stdout.write(JSON.stringify({ text: '[' + get('--prompt') + '|' + get('--max-new-tokens') + '|' + get('--temperature') + '|' + get('--model') + '|' + process.env.ELECTRON_RUN_AS_NODE + '|' + args[0] + ']', tokens: [1] }) + '\\n');
}
`,
  );
  return file;
}

test("a generation runs in a child process and its JSON answer comes back; failures carry the child's message", async () => {
  const cli = fakeCli();
  const ok = runGenerate({ cliPath: cli, args: ['generate', '--prompt', 'hi', '--max-new-tokens', '3', '--temperature', '0', '--model', 'm'] });
  assert.equal((await ok.result).text, '[hi|3|0|m|1|generate]');
  const failed = runGenerate({ cliPath: cli, args: ['generate', '--adapter', '/x'], env: { ...process.env, FAKE_MODE: 'fail' } });
  await assert.rejects(failed.result, /finetune generate: \/x has no adapter_config\.json/);
  const hung = runGenerate({ cliPath: cli, args: ['generate'], env: { ...process.env, FAKE_MODE: 'hang' }, timeoutMs: 300 });
  await assert.rejects(hung.result, /longer than/);
  await assert.rejects(runGenerate({ cliPath: path.join(tmp(), 'missing.js'), args: [] }).result, /missing/);
});

test("a panel's Try It session answers tryItResult with the formatted prompt, or tryItError; a newer request replaces one in flight", async () => {
  const runDir = tmp();
  const events = finishedRun(path.join(runDir, 'output'), ['adapter_config.json']);
  fs.writeFileSync(path.join(runDir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const session = new TryItSession(runDir, { cliPath: fakeCli() });
  const formatted = formatRecord({ instruction: 'Say hi' }, 'alpaca').prompt;
  assert.deepEqual(await session.handle({ prompt: 'Say hi', maxNewTokens: 5, temperature: 0 }), {
    type: 'tryItResult',
    text: `[${formatted}|5|0|tiny|1|generate]`,
    prompt: formatted,
  });
  assert.deepEqual(await session.handle({ prompt: '  ', maxNewTokens: 5, temperature: 0 }), { type: 'tryItError', message: 'Type a prompt first.' });

  const slow = new TryItSession(runDir, { cliPath: fakeCli(), env: { ...process.env, FAKE_MODE: 'hang' }, timeoutMs: 5000 });
  const first = slow.handle({ prompt: 'a', maxNewTokens: 5, temperature: 0 });
  await new Promise((r) => setTimeout(r, 100));
  const second = slow.handle({ prompt: 'b', maxNewTokens: 5, temperature: 0 });
  assert.equal(await first, undefined, 'the replaced request gets no answer');
  slow.dispose();
  assert.equal(await second, undefined, 'closing the panel kills the generation');

  fs.writeFileSync(
    path.join(runDir, 'events.jsonl'),
    events
      .filter((e) => e.type !== 'done')
      .map((e) => JSON.stringify(e))
      .join('\n') + '\n',
  );
  const refused = await session.handle({ prompt: 'x', maxNewTokens: 5, temperature: 0 });
  assert.equal(refused?.type, 'tryItError');
});

test("Try It's top-k and top-p reach finetune generate, and its answer carries the generator's speed line", async () => {
  const target = { model: 'tiny', format: 'text', modelSeed: 7 };
  const args = generateArgs(target, 'P', { prompt: 'p', maxNewTokens: 4, temperature: 0.8, topK: 40, topP: 0.9 }, 3);
  const { values } = parseFlags(args.slice(1), GENERATE_OPTIONS);
  assert.equal(values['top-k'], '40');
  assert.equal(values['top-p'], '0.9');
  assert.ok(isRunPanelWebviewMessage({ type: 'tryIt', prompt: 'x', maxNewTokens: 5, temperature: 1, topK: 40, topP: 0.9 }));
  assert.ok(!isRunPanelWebviewMessage({ type: 'tryIt', prompt: 'x', maxNewTokens: 5, temperature: 1, topP: 1.5 }));
  assert.ok(!isRunPanelWebviewMessage({ type: 'tryIt', prompt: 'x', maxNewTokens: 5, temperature: 1, topK: -1 }));

  const runDir = tmp();
  const events = finishedRun(path.join(runDir, 'output'), ['adapter_config.json']);
  fs.writeFileSync(path.join(runDir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const cli = path.join(tmp(), 'cli.js');
  const result = {
    text: ' red',
    tokens: [1, 2, 3],
    prompt: 'p',
    promptTokens: 5,
    stopReason: 'max-tokens',
    prefillMs: 12.4,
    decodeMs: 40,
    tokensPerSecond: 50,
  };
  fs.writeFileSync(cli, `process.stdout.write(${JSON.stringify(JSON.stringify(result))} + '\\n');\n`);
  const reply = await new TryItSession(runDir, { cliPath: cli }).handle({ prompt: 'Say hi', maxNewTokens: 3, temperature: 0 });
  assert.equal(reply?.type, 'tryItResult');
  assert.equal((reply as { speed?: string }).speed, '3 tokens; 5-token prompt prefilled in 12 ms, decoding at 50.0 tokens/s');
});
