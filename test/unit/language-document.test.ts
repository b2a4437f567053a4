import { test } from 'node:test';
import { PerformanceObserver } from 'node:perf_hooks';
import assert from 'node:assert/strict';
import { DatasetDocument, validateText } from '../../language/datasetDocument';

function run(doc: DatasetDocument) {
  while (!doc.step(1000));
  return doc.diagnostics();
}

function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOL = [
  '{"instruction":"Translate to French","input":"Hello","output":"Bonjour"}',
  '{"instruction":"Summarize","output":"Short."}',
  '{"instruction":"Summarize","response":"Short."}',
  '{"prompt":"a","completion":"b"}',
  '{"prompt":"c","completion":"d"}',
  '{"text":"x","label":"pos"}',
  '{"instruction":"a","output":"b","task":"t1"}',
  '{"instruction":"a", "output": 3}',
  '{"instruction":"a"',
  '',
  '[]',
  '{"messages":[{"role":"User","content":"hi"},{"role":"assistant","content":"yo"}]}',
];

test('incremental edits give the same diagnostics and format as a full validation', () => {
  const rand = prng(99);
  const pick = () => POOL[Math.floor(rand() * POOL.length)];
  const lines = Array.from({ length: 40 }, pick);
  const doc = new DatasetDocument({});
  doc.setText(lines.join('\n'));
  run(doc);
  for (let k = 0; k < 300; k++) {
    const start = Math.floor(rand() * (lines.length + 1));
    const del = Math.floor(rand() * 3);
    const add = Array.from({ length: Math.floor(rand() * 3) }, pick);
    lines.splice(start, del, ...add);
    doc.replaceLines(start, del, add);
    // Sometimes validate only partly before the next edit.
    if (rand() < 0.3) doc.step(0);
    else {
      const incremental = run(doc);
      const full = validateText(lines.join('\n'));
      assert.deepEqual(incremental, full.diagnostics, `after edit ${k}`);
      assert.equal(doc.format, full.format);
      assert.equal(doc.lineCount, lines.length);
    }
  }
  assert.deepEqual(run(doc), validateText(lines.join('\n')).diagnostics);
});

test('an edit re-parses only the changed line', () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `{"instruction":"q${i}","output":"a${i}"}`);
  const doc = new DatasetDocument({});
  doc.setText(lines.join('\n'));
  run(doc);
  const before = doc.recordAt(10);
  const other = doc.recordAt(500);
  doc.replaceLines(500, 1, ['{"instruction":"changed","output":"x"}']);
  run(doc);
  assert.equal(doc.recordAt(10), before, 'unchanged lines keep their parsed record');
  assert.notEqual(doc.recordAt(500), other);
  assert.deepEqual(doc.recordAt(500), { instruction: 'changed', output: 'x' });
});

test('setOptions re-checks against the new options', () => {
  const doc = new DatasetDocument({});
  doc.setText('{"instruction":"a","output":"b"}\n{"instruction":"c","output":"d"}');
  assert.deepEqual(run(doc), []);
  doc.setOptions({ format: 'text' });
  assert.deepEqual(
    run(doc).map((d) => d.code),
    ['format-mismatch', 'format-mismatch'],
  );
  assert.equal(doc.format, 'text');
  assert.throws(() => doc.setOptions({ template: 'nope' }), /unknown prompt template/);
});

interface Timed<T> {
  value: T;
  start: number;
  wall: number;
  cpu: number;
}

/** Wall and CPU milliseconds of fn (CPU time is what the step costs; wall time also counts other processes). */
function timed<T>(fn: () => T): Timed<T> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, start: t0, wall, cpu: (c.user + c.system) / 1000 };
}

test('step(40) on a 100,000-line file never blocks much longer than its budget', async () => {
  // Garbage-collection pauses, by their place on performance.now()'s clock: a major collection of a heap
  // holding 100,000 analysed lines can land in any step, and it is not the step's work.
  const gc: { start: number; end: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.push({ start: e.startTime, end: e.startTime + e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const lines = Array.from({ length: 100_000 }, (_, i) =>
    i % 1000 === 7 ? `{"instruction":"q${i}","response":"a"}` : `{"instruction":"Question number ${i}?","input":"context ${i % 97}","output":"Answer ${i}."}`,
  );
  // The first check of a format loads its schema modules on demand: once per process, and under tsx it
  // includes transpiling them, which the bundled extension never does. A small document pays for it here.
  const warm = new DatasetDocument({});
  warm.setText(lines.slice(0, 10).join('\n'));
  while (!warm.step(Infinity));
  const doc = new DatasetDocument({});
  const set = timed(() => doc.setText(lines.join('\n')));
  const steps: Timed<boolean>[] = [];
  for (;;) {
    const s = timed(() => doc.step(40));
    steps.push(s);
    if (s.value) break;
  }
  const diag = timed(() => doc.diagnostics());
  assert.equal(diag.value.filter((d) => d.code === 'missing-field').length, 100);
  // One edit, then the re-validation.
  doc.replaceLines(50_000, 1, ['{"instruction":"edited","output":"x"}']);
  const editSteps: Timed<boolean>[] = [];
  for (;;) {
    const s = timed(() => doc.step(40));
    editSteps.push(s);
    if (s.value) break;
  }
  await new Promise((resolve) => setTimeout(resolve, 50)); // the observer's entries arrive asynchronously
  observer.disconnect();
  const worst = (xs: Timed<boolean>[], k: 'wall' | 'cpu') => Math.max(...xs.map((x) => x[k]));
  console.log(
    `100k lines: setText ${set.wall.toFixed(1)} ms; ${steps.length} steps, worst wall ${worst(steps, 'wall').toFixed(1)} ms / cpu ${worst(steps, 'cpu').toFixed(1)} ms; ` +
      `diagnostics() ${diag.wall.toFixed(1)} ms; after one edit: ${editSteps.length} step(s), worst wall ${worst(editSteps, 'wall').toFixed(1)} ms / cpu ${worst(editSteps, 'cpu').toFixed(1)} ms; ` +
      `${gc.length} GC pauses`,
  );
  // ~50 ms is the goal. What is bounded is the step's own work, which Node 20 cannot read directly: it is
  // at most the wall time less the GC pauses within it (the wall time also counts other processes on a
  // loaded machine) and at most the process's CPU time (which also counts the parallel GC threads).
  const pauses = (s: Timed<boolean>) => gc.reduce((a, g) => a + Math.max(0, Math.min(g.end, s.start + s.wall) - Math.max(g.start, s.start)), 0);
  const work = (xs: Timed<boolean>[]) => Math.max(...xs.map((s) => Math.min(s.wall - pauses(s), s.cpu)));
  assert.ok(work(steps) < 150, `worst step ${work(steps)} ms of its own work`);
  assert.ok(work(editSteps) < 150, `worst step after an edit ${work(editSteps)} ms of its own work`);
});
