// `npm run bench:validate`: throughput of `bin/finetune validate` (the built dist/, start-up included)
// next to a plain Python per-line checker (json.loads + key and type checks), on the same generated
// 100 MB alpaca file, in the same run. Not a test: it prints MB/s and the ratio.
//   node scripts/bench-validate.mjs [--mb 100] [--keep]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const mb = Number(args[args.indexOf('--mb') + 1] ?? 100) || 100;
const keep = args.includes('--keep');
const cli = process.env.BENCH_CLI ?? path.join(root, 'bin', 'finetune');
// BENCH_CLI: another build of the CLI to time (same arguments).
if (!process.env.BENCH_CLI && (!fs.existsSync(path.join(root, 'dist', 'cli.js')) || !fs.existsSync(path.join(root, 'dist', 'validate.worker.js')))) {
  console.error('dist/ is not built: run `npm run build` first');
  process.exit(2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-validate-'));
const file = path.join(dir, 'alpaca.jsonl');

// Deterministic, varied records in the chapter's style (translate, summarize, sentiment, questions).
let seed = 42;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
const words = 'the a model data learns from examples of text and produces answers that follow instructions with care while keeping meaning clear across many languages tasks'.split(' ');
const sentence = (n) => Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]).join(' ');
const kinds = [
  () => ({ instruction: 'Translate the following English text to French.', input: sentence(12 + Math.floor(rand() * 20)), output: sentence(14 + Math.floor(rand() * 20)) }),
  () => ({ instruction: 'Summarize the following paragraph in one sentence.', input: sentence(60 + Math.floor(rand() * 60)), output: sentence(15 + Math.floor(rand() * 10)) }),
  () => ({ instruction: 'Classify the sentiment of this review as positive, negative or neutral.', input: sentence(20 + Math.floor(rand() * 30)), output: ['positive', 'negative', 'neutral'][Math.floor(rand() * 3)] }),
  () => ({ instruction: `Answer the question: what is ${sentence(4)}?`, output: sentence(20 + Math.floor(rand() * 40)) }),
];
const target = mb * 1024 * 1024;
const fd = fs.openSync(file, 'w');
let written = 0;
let records = 0;
let batch = [];
while (written < target) {
  const line = JSON.stringify(kinds[Math.floor(rand() * kinds.length)]()) + '\n';
  batch.push(line);
  written += Buffer.byteLength(line);
  records++;
  if (batch.length === 10000) {
    fs.writeSync(fd, batch.join(''));
    batch = [];
  }
}
fs.writeSync(fd, batch.join(''));
fs.closeSync(fd);
const bytes = fs.statSync(file).size;
const sizeMb = bytes / 1024 / 1024;
console.log(`generated ${file}: ${sizeMb.toFixed(1)} MB, ${records} records`);

const python = path.join(dir, 'check.py');
fs.writeFileSync(
  python,
  `import json, sys
errors = 0
records = 0
with open(sys.argv[1], 'rb') as f:
    for raw in f:
        line = raw.decode('utf-8').strip()
        if not line:
            continue
        records += 1
        try:
            r = json.loads(line)
        except ValueError:
            errors += 1
            continue
        if not isinstance(r, dict):
            errors += 1
            continue
        for k in ('instruction', 'output'):
            if not isinstance(r.get(k), str) or not r[k].strip():
                errors += 1
        if 'input' in r and not isinstance(r['input'], str):
            errors += 1
print(records, errors)
`,
);

function time(cmd, argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 30 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw r.error;
  return { s, status: r.status, out: r.stdout.toString() };
}

// Warm the page cache so that both read the file from memory.
fs.readFileSync(file);
const runs = [];
for (let i = 0; i < 2; i++) {
  const node = time(process.execPath, [cli, 'validate', file, '--json']);
  if (node.status !== 0) {
    console.error(`finetune validate exited ${node.status}: ${node.out.slice(0, 500)}`);
    process.exit(1);
  }
  const py = time('python3', [python, file]);
  runs.push({ node: node.s, py: py.s });
}
const nodeBest = Math.min(...runs.map((r) => r.node));
const pyBest = Math.min(...runs.map((r) => r.py));
console.log(`bin/finetune validate --json: ${nodeBest.toFixed(2)} s, ${(sizeMb / nodeBest).toFixed(1)} MB/s (best of ${runs.length}, start-up included)`);
console.log(`python3 json.loads checker:   ${pyBest.toFixed(2)} s, ${(sizeMb / pyBest).toFixed(1)} MB/s`);
console.log(`ratio: ${(pyBest / nodeBest).toFixed(2)}x (target >= 5x); cores: ${os.availableParallelism?.() ?? os.cpus().length}; load average: ${os.loadavg()[0].toFixed(1)} (other processes share the cores)`);
if (keep) console.log(`kept ${dir}`);
else fs.rmSync(dir, { recursive: true, force: true });
