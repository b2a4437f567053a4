// `npm run bench:validate`: throughput of `bin/finetune validate` (the built dist/, start-up included)
// next to a plain Python per-line checker (json.loads + key and type checks), on the same generated
// 100 MB alpaca file, in the same run. Not a test: it prints MB/s and the ratio.
//   node scripts/bench-validate.mjs [--mb 100] [--rounds 3] [--keep]
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
const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
const words =
  'the a model data learns from examples of text and produces answers that follow instructions with care while keeping meaning clear across many languages tasks'.split(
    ' ',
  );
const sentence = (n) => Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]).join(' ');
const kinds = [
  () => ({
    instruction: 'Translate the following English text to French.',
    input: sentence(12 + Math.floor(rand() * 20)),
    output: sentence(14 + Math.floor(rand() * 20)),
  }),
  () => ({
    instruction: 'Summarize the following paragraph in one sentence.',
    input: sentence(60 + Math.floor(rand() * 60)),
    output: sentence(15 + Math.floor(rand() * 10)),
  }),
  () => ({
    instruction: 'Classify the sentiment of this review as positive, negative or neutral.',
    input: sentence(20 + Math.floor(rand() * 30)),
    output: ['positive', 'negative', 'neutral'][Math.floor(rand() * 3)],
  }),
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

// The Python checker: what one would write by hand, line by line in text mode, with the checks of the
// alpaca schema (object; instruction and output non-empty strings; input an optional string; task an
// optional non-empty string; no other keys). The system python3 (Debian's), not a shim on PATH.
const python = path.join(dir, 'check.py');
fs.writeFileSync(
  python,
  `import json, sys
ALLOWED = {'instruction', 'input', 'output', 'task'}
errors = 0
records = 0
with open(sys.argv[1], encoding='utf-8') as f:
    for line in f:
        line = line.strip()
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
        if 'task' in r and (not isinstance(r['task'], str) or not r['task'].strip()):
            errors += 1
        if not ALLOWED.issuperset(r):
            errors += 1
print(records, errors)
`,
);
const pythonBin = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

// The ceiling of any JSON-parsing validator on one core: read, decode, split and JSON.parse every line.
const ceiling = path.join(dir, 'parse-loop.cjs');
fs.writeFileSync(
  ceiling,
  `const fs = require('fs');
const fd = fs.openSync(process.argv[2], 'r');
const buf = Buffer.allocUnsafe(4 << 20);
const dec = new TextDecoder('utf-8', { fatal: true });
let carry = '', records = 0, pos = 0;
for (;;) {
  const n = fs.readSync(fd, buf, 0, buf.length, pos);
  if (!n) break;
  pos += n;
  const t = carry + dec.decode(buf.subarray(0, n), { stream: true });
  let s = 0;
  for (let e = t.indexOf('\\n', s); e !== -1; s = e + 1, e = t.indexOf('\\n', s)) if (typeof JSON.parse(t.slice(s, e)).instruction === 'string') records++;
  carry = t.slice(s);
}
console.log(records);
`,
);

// Wall time, and CPU time (user + sys of the process and its threads) where GNU time is installed:
// other processes may share the cores, and CPU time is what they cannot inflate much.
const gnuTime = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
function time(cmd, argv) {
  const cpuFile = path.join(dir, 'cpu.txt');
  const [bin, args] = gnuTime ? [gnuTime, ['-f', '%U %S', '-o', cpuFile, cmd, ...argv]] : [cmd, argv];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(bin, args, { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 30 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw r.error;
  let cpu;
  if (gnuTime && fs.existsSync(cpuFile)) {
    const [u, sy] = fs.readFileSync(cpuFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
    cpu = u + sy;
  }
  return { s, cpu, status: r.status, out: r.stdout.toString() };
}

// Warm the page cache so that all read the file from memory; run them back to back, several times, and
// keep each one's best.
fs.readFileSync(file);
const rounds = Number(args[args.indexOf('--rounds') + 1] ?? 3) || 3;
const runs = { node: [], py: [], ceiling: [] };
for (let i = 0; i < rounds; i++) {
  const node = time(process.execPath, [cli, 'validate', file, '--json']);
  if (node.status !== 0) {
    console.error(`finetune validate exited ${node.status}: ${node.out.slice(0, 500)}`);
    process.exit(1);
  }
  const py = time(pythonBin, [python, file]);
  if (py.status !== 0 || py.out.trim() !== `${records} 0`) {
    console.error(`the Python checker failed (${py.status}): ${py.out.slice(0, 200)}`);
    process.exit(1);
  }
  runs.node.push(node);
  runs.py.push(py);
  runs.ceiling.push(time(process.execPath, [ceiling, file]));
}
const best = (rs) => ({ s: Math.min(...rs.map((r) => r.s)), cpu: rs[0].cpu === undefined ? undefined : Math.min(...rs.map((r) => r.cpu)) });
const [n, p, c] = [best(runs.node), best(runs.py), best(runs.ceiling)];
const line = (label, r) =>
  `${label.padEnd(38)} ${r.s.toFixed(2)} s, ${(sizeMb / r.s).toFixed(1).padStart(6)} MB/s` +
  (r.cpu === undefined ? '' : `; CPU ${r.cpu.toFixed(2)} s, ${(sizeMb / r.cpu).toFixed(1).padStart(6)} MB/s of CPU`);
console.log(`best of ${rounds}, start-up included:`);
console.log(line('bin/finetune validate --json', n));
console.log(line(`python3 json.loads checker (${pythonBin})`, p));
console.log(line('node JSON.parse loop (ceiling)', c));
console.log(
  `ratio: ${(p.s / n.s).toFixed(2)}x wall` +
    (n.cpu === undefined ? '' : `, ${(p.cpu / n.cpu).toFixed(2)}x CPU`) +
    ` (issue 14's target: >= 1.0x wall, with the duplicate and token-length checks the Python checker does not do); cores: ${os.availableParallelism?.() ?? os.cpus().length}; load average: ${os.loadavg()[0].toFixed(1)} (other processes share the cores)`,
);
if (keep) console.log(`kept ${dir}`);
else fs.rmSync(dir, { recursive: true, force: true });
