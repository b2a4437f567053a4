// Hostile inputs, generated: FIFOs, directories where files are expected, absurd model configs, names
// that are JavaScript's own (`constructor`, `__proto__`, `toString`), paths with spaces, quotes, `$()`
// and a leading `-`. `train` and `validate` run in this process through the CLI's commands against each,
// and every case must end with a clear message (no stack trace for a user error) within its time limit,
// leaving every file that existed before it in place with the same bytes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { toHfConfig, presetConfig } from '../../trainer/models/gpt2/config';
import { UsageError } from '../../cli/usage';
import { initBackend } from '../../trainer/compute/backend';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const posix = process.platform !== 'win32';

// ---------------------------------------------------------------------------------------------------
// Running a command as cli/main.ts does (its messages, its exit codes), with stdout and stderr captured.

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

async function finetune(name: 'train' | 'validate', args: string[]): Promise<CliResult> {
  const command = require(`../../cli/${name}`) as { run(args: string[]): Promise<number> };
  const out: string[] = [];
  const err: string[] = [];
  const streams = [process.stdout, process.stderr] as const;
  const writes = streams.map((s) => s.write.bind(s));
  // Only text is captured: node's test runner talks to its parent through stdout in binary frames.
  streams.forEach((s, i) => {
    s.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'string') return (writes[i] as (...a: unknown[]) => boolean)(chunk, ...rest);
      (i === 0 ? out : err).push(chunk);
      return true;
    }) as typeof s.write;
  });
  const t0 = Date.now();
  let code: number;
  try {
    code = await command.run(args);
  } catch (e) {
    // cli/main.ts: usage errors exit 2, anything else 1, with the message (never the stack).
    err.push(`finetune ${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    code = e instanceof UsageError ? 2 : 1;
  } finally {
    streams.forEach((s, i) => (s.write = writes[i] as typeof s.write));
  }
  return { code, stdout: out.join(''), stderr: err.join(''), ms: Date.now() - t0 };
}

/** The trainer's error events (JSON lines on stdout). */
function errorEvents(stdout: string): { message: string; stack?: string }[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; message: string; stack?: string })
    .filter((e) => e.type === 'error');
}

// ---------------------------------------------------------------------------------------------------
// What existed before a case: every path under root, with its kind and (for files) its sha256.

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        out.set(p, 'dir');
        walk(p);
      } else if (e.isFile()) out.set(p, 'file ' + createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
      else out.set(p, e.isFIFO() ? 'fifo' : 'other'); // never read: a FIFO would block the test itself
    }
  };
  walk(dir);
  return out;
}

function assertNothingLost(before: Map<string, string>, label: string): void {
  const now = snapshot(root);
  const lost = [...before].filter(([p, v]) => now.get(p) !== v).map(([p, v]) => `${path.relative(root, p)}: ${v} -> ${now.get(p) ?? 'gone'}`);
  assert.deepEqual(lost, [], `${label}: files changed or removed`);
}

const STACK = /\n\s+at \S.*:\d+:\d+\)?/;

interface Case {
  name: string;
  command: 'train' | 'validate';
  args: () => string[];
  /** Expected exit code, and a pattern the message (stderr, or the trainer's error event) must match. */
  code: number;
  message?: RegExp;
  /** Set for a case that needs another fix: it runs, and is reported as todo while it fails. */
  todo?: string;
  /** Per-case time limit in ms (default 8 s; a blocked read would otherwise hang the file). */
  limit?: number;
  posixOnly?: boolean;
}

// ---------------------------------------------------------------------------------------------------
// The inputs.

const p = (...names: string[]) => path.join(root, ...names);
const alpaca = (n: number, extra: (i: number) => object = () => ({})) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ instruction: `Say ${i}`, output: `word ${i}`, ...extra(i) })).join('\n') + '\n';
const TINY = ['--model', 'tiny', '--max-steps', '1', '--batch-size', '2', '--eval-fraction', '0', '--backend', 'wasm'];
let outCount = 0;
/** A fresh run folder path (inside root, so that the snapshot covers what a run might destroy). */
const freshOut = () => p('runs', `run-${++outCount}`);

before(() => {
  fs.mkdirSync(p('runs'));
  fs.writeFileSync(p('data.jsonl'), alpaca(4));
  // Odd names: spaces, quotes, $(), a leading '-'.
  fs.mkdirSync(p('-dir with space'));
  fs.writeFileSync(p('-dir with space', `a'b "c" $(touch pwned).jsonl`), alpaca(4));
  fs.writeFileSync(p('-lead.jsonl'), alpaca(4));
  fs.mkdirSync(p('a-directory.jsonl'));
  // Absurd model configs (a hub download is untrusted): a billion layers, a product beyond any machine.
  for (const [name, patch] of [
    ['billion-layers', { n_layer: 1_000_000_000 }],
    ['huge-product', { n_layer: 1024, n_embd: 8192, n_head: 64 }],
    ['fractional', { n_embd: 63.5 }],
  ] as const) {
    fs.mkdirSync(p('models', name), { recursive: true });
    fs.writeFileSync(p('models', name, 'config.json'), JSON.stringify({ ...toHfConfig(presetConfig('tiny')), ...patch }));
    fs.writeFileSync(p('models', name, 'model.safetensors'), 'never read');
  }
  // JavaScript's own names as tasks, labels and keys.
  const tasks = ['constructor', '__proto__', 'toString', 'normal'];
  fs.writeFileSync(
    p('proto-tasks.jsonl'),
    alpaca(8, (i) => ({ task: tasks[i % 4] })),
  );
  fs.writeFileSync(
    p('proto-labels.jsonl'),
    ['__proto__', 'constructor', 'toString', 'hasOwnProperty']
      .flatMap((label) => [0, 1].map((i) => JSON.stringify({ text: `text ${label} ${i}`, label })))
      .join('\n') + '\n',
  );
  fs.writeFileSync(
    p('proto-keys.jsonl'),
    [
      '{"instruction":"a","output":"b","__proto__":"x"}',
      '{"instruction":"a","output":"b","constructor":{}}',
      '{"instruction":"a","output":"c","toString":1}',
    ].join('\n') + '\n',
  );
  fs.writeFileSync(p('redos.schema.json'), JSON.stringify({ type: 'object', properties: { output: { type: 'string', pattern: '^(a+)+$' } } }));
  fs.writeFileSync(p('redos.jsonl'), JSON.stringify({ instruction: 'x', output: 'a'.repeat(40) + '!' }) + '\n');
  // A folder holding the user's files where a run wants to write: the dataset as events.jsonl.
  fs.mkdirSync(p('owned'));
  fs.writeFileSync(p('owned', 'events.jsonl'), alpaca(4));
  fs.writeFileSync(p('owned', 'run.json'), '{"mine": true}\n');
  if (posix) for (const name of ['fifo.jsonl', 'fifo-config.json', 'fifo.schema.json']) execFileSync('mkfifo', [p(name)]);
  if (posix) {
    fs.mkdirSync(p('models', 'fifo-config'), { recursive: true });
    execFileSync('mkfifo', [p('models', 'fifo-config', 'config.json')]);
  }
});

const cases: Case[] = [
  // FIFOs and directories where a file is expected.
  {
    name: 'train --data FIFO',
    command: 'train',
    args: () => ['--data', p('fifo.jsonl'), '--out', freshOut(), ...TINY],
    code: 1,
    message: /is a FIFO \(named pipe\), not a regular file/,
    posixOnly: true,
  },
  {
    name: 'train --eval-data FIFO',
    command: 'train',
    args: () => [
      '--data',
      p('data.jsonl'),
      ...TINY.filter((a, i, all) => a !== '--eval-fraction' && all[i - 1] !== '--eval-fraction'),
      '--eval-data',
      p('fifo.jsonl'),
      '--out',
      freshOut(),
    ],
    code: 1,
    message: /is a FIFO \(named pipe\), not a regular file/,
    posixOnly: true,
  },
  {
    name: 'train --config FIFO',
    command: 'train',
    args: () => ['--config', p('fifo-config.json')],
    code: 2,
    message: /config .*fifo-config\.json is a FIFO/,
    posixOnly: true,
  },
  {
    name: 'train --model folder whose config.json is a FIFO',
    command: 'train',
    args: () => ['--data', p('data.jsonl'), '--out', freshOut(), ...TINY, '--model', p('models', 'fifo-config')],
    code: 1,
    message: /config\.json is a FIFO/,
    posixOnly: true,
  },
  {
    name: 'train --data directory',
    command: 'train',
    args: () => ['--data', p('a-directory.jsonl'), '--out', freshOut(), ...TINY],
    code: 1,
    message: /a-directory\.jsonl is a directory, not a regular file/,
  },
  { name: 'train --config directory', command: 'train', args: () => ['--config', p('runs')], code: 2, message: /is a directory, not a regular file/ },
  {
    name: 'validate FIFO',
    command: 'validate',
    args: () => [p('fifo.jsonl')],
    code: 2,
    message: /is a FIFO \(named pipe\), not a regular file/,
    posixOnly: true,
  },
  {
    name: 'validate --schema FIFO',
    command: 'validate',
    args: () => [p('data.jsonl'), '--schema', p('fifo.schema.json')],
    code: 2,
    message: /schema .* is a FIFO/,
    posixOnly: true,
  },
  { name: 'validate directory', command: 'validate', args: () => [p('a-directory.jsonl')], code: 2, message: /is a directory, not a regular file/ },
  // Absurd configs: refused at once, naming the field, before a weight is read.
  {
    name: 'train on a config with n_layer 1e9',
    command: 'train',
    args: () => ['--data', p('data.jsonl'), '--out', freshOut(), ...TINY, '--model', p('models', 'billion-layers')],
    code: 1,
    message: /n_layer 1000000000 is implausibly large/,
  },
  {
    name: 'train on a config beyond the machine',
    command: 'train',
    args: () => ['--data', p('data.jsonl'), '--out', freshOut(), ...TINY, '--model', p('models', 'huge-product')],
    code: 1,
    message: /more than this machine's memory/,
  },
  {
    name: 'train on a config with a fractional size',
    command: 'train',
    args: () => ['--data', p('data.jsonl'), '--out', freshOut(), ...TINY, '--model', p('models', 'fractional')],
    code: 1,
    message: /n_embd must be a positive integer, got 63\.5/,
  },
  // A runaway pattern in the user's schema.
  {
    name: 'validate --schema with ^(a+)+$',
    command: 'validate',
    args: () => [p('redos.jsonl'), '--schema', p('redos.schema.json'), '--json'],
    code: 1,
    message: /schema-timeout/,
    limit: 15_000,
  },
  // Odd paths: spaces, quotes, $(), a leading '-'.
  { name: 'validate a path with spaces, quotes and $()', command: 'validate', args: () => [p('-dir with space', `a'b "c" $(touch pwned).jsonl`)], code: 0 },
  {
    name: 'train on a path with spaces, quotes and $()',
    command: 'train',
    args: () => ['--data', p('-dir with space', `a'b "c" $(touch pwned).jsonl`), '--out', p('runs', `out 'x' $(y)`), ...TINY],
    code: 0,
  },
  {
    name: 'train --data with a leading - as its own argument',
    command: 'train',
    args: () => ['--data', '-lead.jsonl', '--out', freshOut(), ...TINY],
    code: 2,
    message: /argument is ambiguous/,
  },
  { name: 'train --data=-… (a leading - given with =)', command: 'train', args: () => [`--data=${p('-lead.jsonl')}`, '--out', freshOut(), ...TINY], code: 0 },
  // Names that are JavaScript's own.
  {
    name: 'validate records keyed __proto__ / constructor / toString',
    command: 'validate',
    args: () => [p('proto-keys.jsonl'), '--json'],
    code: 0,
    message: /^(?![\s\S]*\[object Object\])/,
  },
  { name: 'validate tasks named constructor / __proto__ / toString', command: 'validate', args: () => [p('proto-tasks.jsonl')], code: 0 },
  {
    name: 'train with tasks constructor / __proto__ / toString and --task-weights',
    command: 'train',
    args: () => ['--data', p('proto-tasks.jsonl'), '--out', freshOut(), ...TINY, '--task-weights', 'normal=1,__proto__=2'],
    code: 0,
  },
  {
    name: 'train a classification head on labels __proto__ / constructor / toString',
    command: 'train',
    args: () => ['--data', p('proto-labels.jsonl'), '--out', freshOut(), ...TINY, '--head', 'classification'],
    code: 0,
  },
  // A run must not write over the user's files.
  {
    name: "train --out a folder whose events.jsonl is the user's",
    command: 'train',
    args: () => ['--data', p('owned', 'events.jsonl'), '--out', p('owned'), ...TINY],
    code: 1,
    message: /owned.*another --out/,
  },
];

/**
 * Were a regression to read a FIFO synchronously, this process would block where no test timeout can
 * fire. So a watchdog opens every FIFO for writing (and closes it: end of file) shortly after the case's
 * limit: a blocked read then returns, and the case fails on its time instead of hanging the run.
 */
function watchdog(limitMs: number): ChildProcess | undefined {
  if (!posix) return undefined;
  const fifos = [p('fifo.jsonl'), p('fifo-config.json'), p('fifo.schema.json'), p('models', 'fifo-config', 'config.json')];
  const script = `sleep ${Math.ceil(limitMs / 1000) + 1}; for f in "$@"; do timeout 1 sh -c ': > "$1"' _ "$f"; done`;
  const child = spawn('sh', ['-c', script, '_', ...fifos], { detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

function stopWatchdog(child: ChildProcess | undefined): void {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, 'SIGKILL'); // its own process group: the sleep goes too
  } catch {
    // already gone
  }
}

describe('hostile inputs', { concurrency: false }, () => {
  before(async () => {
    // The backend once, up front, so that no case pays for it inside its own time limit.
    await initBackend('wasm');
  });

  for (const c of cases) {
    const skip = c.posixOnly && !posix ? 'needs mkfifo' : false;
    test(c.name, { skip, todo: c.todo, timeout: c.limit ?? 8000 }, async () => {
      const before = snapshot(root);
      const dog = watchdog(c.limit ?? 8000);
      let r: CliResult;
      try {
        r = await finetune(c.command, c.args());
      } finally {
        stopWatchdog(dog);
      }
      // validate prints its findings on stdout; train its events (the error's message among them).
      const messages = [r.stderr, ...(c.command === 'validate' ? [r.stdout] : errorEvents(r.stdout).map((e) => e.message))].join('\n');
      assert.equal(r.code, c.code, `${c.name}: exit ${r.code}\n${messages}\n${r.stdout.slice(-2000)}`);
      if (c.code !== 0) {
        assert.ok(messages.trim() !== '', `${c.name}: no message`);
        // User errors come without a stack: neither in what is printed nor in the trainer's error event.
        assert.doesNotMatch(messages, STACK, `${c.name}: a stack trace`);
        assert.ok(
          errorEvents(r.stdout).every((e) => e.stack === undefined),
          `${c.name}: an error event with a stack`,
        );
      }
      if (c.message) assert.match(messages, c.message);
      if (c.command === 'train' && c.code === 0) {
        // Trained for real: a finite loss (a prototype lookup as a task weight made it NaN).
        const events = r.stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { type: string; status?: string; loss?: number });
        assert.equal(events.at(-1)?.status, 'completed');
        assert.ok(
          events.some((e) => e.type === 'step' && Number.isFinite(e.loss)),
          `${c.name}: no finite step loss`,
        );
      }
      assert.ok(r.ms < (c.limit ?? 8000), `${c.name}: ${r.ms} ms`);
      assertNothingLost(before, c.name);
      // `$(touch pwned)` never ran anywhere.
      assert.ok(!fs.existsSync(p('pwned')) && !fs.existsSync('pwned'));
    });
  }
});
