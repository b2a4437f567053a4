// A stand-in trainer for the run tests (extension-runProcess, extension-runManager): a plain node script
// speaking the real protocol, written to disk so that real processes run it.
import * as fs from 'node:fs';
import * as path from 'node:path';

// A stand-in trainer speaking the real protocol: events on stdout and in events.jsonl, `stop` over IPC.
// Its behaviour comes from argv, `--mode normal|ignore-stop|crash|silent-death|torn-death|env --steps N`, or from the
// run.json given with `--config` (its "model" is the mode, "maxSteps" the steps), as the run manager starts it.
export const FAKE_TRAINER = String.raw`
const fs = require('node:fs');
const { spawn } = require('node:child_process');
// Both '--name value' and '--name=value' (the run manager passes every value in the second form).
const flag = (name) => {
  const joined = process.argv.find((a) => a.startsWith(name + '='));
  if (joined !== undefined) return joined.slice(name.length + 1);
  return process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined;
};
const cfg = flag('--config') ? JSON.parse(fs.readFileSync(flag('--config'), 'utf8')) : {};
const mode = flag('--mode') ?? cfg.model ?? 'normal';
const steps = Number(flag('--steps') ?? cfg.maxSteps ?? 5);
const file = 'events.jsonl';
const emit = (e, toFile = true) => {
  const line = JSON.stringify({ time: Date.now(), ...e });
  if (toFile) fs.appendFileSync(file, line + '\n');
  // Two writes per line: the reader must join torn chunks.
  const cut = Math.floor(line.length / 2);
  process.stdout.write(line.slice(0, cut));
  process.stdout.write(line.slice(cut) + '\n');
};
let stopping = false;
process.on('message', (m) => { if (m && m.type === 'stop' && mode !== 'ignore-stop') stopping = true; });
process.on('SIGTERM', () => { if (mode !== 'ignore-stop') stopping = true; });
if (mode === 'ignore-stop') {
  // A grandchild in the same process group: killing the group must take it too.
  const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  emit({ type: 'log', level: 'info', message: 'grandchild ' + g.pid });
}
if (mode === 'env') {
  emit({ type: 'log', level: 'info', message: JSON.stringify({ electron: process.env.ELECTRON_RUN_AS_NODE, cwd: process.cwd(), connected: process.connected }) });
  emit({ type: 'done', status: 'completed', step: 0, elapsedSec: 0, outputFiles: [] });
  process.disconnect();
  return;
}
if (mode === 'crash') {
  emit({ type: 'error', message: 'config is broken: --lr must be greater than 0' }, false);
  process.exitCode = 2;
  process.disconnect();
  return;
}
process.stderr.write('trainer warming up\n');
emit({ type: 'start', config: { data: '/d/alpaca.jsonl', model: 'tiny', strategy: 'full' }, backend: 'cpu', device: 'fake', totalSteps: steps, stepsPerEpoch: steps,
  model: { vocabSize: 50257, nPositions: 256, nEmbd: 64, nLayer: 2, nHead: 2 }, dataset: { train: 18, eval: 2, skipped: 0, trainTokens: 900, evalTokens: 100, format: 'alpaca' } });
let step = 0;
const timer = setInterval(() => {
  if (stopping) {
    clearInterval(timer);
    emit({ type: 'done', status: 'stopped', step, elapsedSec: 0.1, outputFiles: ['model.safetensors'], outputDir: 'output', message: 'stopped at step ' + step });
    process.disconnect();
    return;
  }
  step++;
  emit({ type: 'step', step, epoch: step / steps, loss: 5 - step * 0.1, lr: 1e-3, gradNorm: 1, tokens: 10, lossTokens: 5, tokensPerSec: 100, elapsedSec: step * 0.05, etaSec: (steps - step) * 0.05 });
  if (mode === 'silent-death' && step === 2) process.kill(process.pid, 'SIGKILL');
  if (mode === 'torn-death' && step === 2) {
    // Killed half-way through writing a line of events.jsonl.
    fs.appendFileSync(file, JSON.stringify({ type: 'step', time: Date.now(), step: 3 }).slice(0, 15));
    process.kill(process.pid, 'SIGKILL');
  }
  if (step >= steps && mode !== 'ignore-stop') {
    clearInterval(timer);
    emit({ type: 'done', status: 'completed', step, elapsedSec: 0.3, outputFiles: ['model.safetensors'], outputDir: 'output' });
    process.disconnect();
  }
}, 40);
`;

/** Writes the script as `<dir>/<name>` and returns its path. */
export function writeFakeTrainer(dir: string, name = 'fake-trainer.js'): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, FAKE_TRAINER);
  return file;
}
