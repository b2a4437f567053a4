import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateText } from '../../language/datasetDocument';
import { findJsonSyntaxError } from '../../language/jsonSyntax';
import { analyzeLine } from '../../language/lineAnalysis';

const GOOD = '{"instruction":"Translate to French","input":"Hello","output":"Bonjour"}';
const GOOD2 = '{"instruction":"Name a color","output":"Blue"}';

function errorsOn(text: string, line: number) {
  return validateText(text).diagnostics.filter((d) => d.line === line && d.severity === 'error');
}

test('a 200,000-deep nested array is an error on its line, not a stack overflow', () => {
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  const ds = errorsOn([GOOD, deep, GOOD2].join('\n'), 1);
  assert.equal(ds.length, 1);
  assert.equal(ds[0].code, 'not-an-object');
  const unclosed = '['.repeat(200_000);
  const ds2 = errorsOn([GOOD, unclosed, GOOD2].join('\n'), 1);
  assert.deepEqual(
    ds2.map((d) => [d.code, d.column]),
    [['invalid-json', 200_000]],
  );
  const deepInObject = '{"instruction":"a","output":"b","extra":' + '['.repeat(200_000) + ']'.repeat(200_000) + '}';
  const r = validateText([GOOD, deepInObject].join('\n'));
  assert.deepEqual(
    r.diagnostics.map((d) => [d.line, d.code]),
    [[1, 'unknown-field']],
  );
});

test('a line cut in the middle is invalid-json at its end', () => {
  const cut = GOOD.slice(0, 40);
  const ds = errorsOn([GOOD2, cut].join('\n'), 1);
  assert.deepEqual(
    ds.map((d) => [d.code, d.column]),
    [['invalid-json', 40]],
  );
});

test('binary junk is an error on its line', () => {
  const junk = '\u0000\u0001\u00ff\ufffd\u0007PK\u0003\u0004';
  const ds = errorsOn([GOOD, junk, GOOD2].join('\n'), 1);
  assert.deepEqual(
    ds.map((d) => [d.code, d.column]),
    [['invalid-json', 0]],
  );
});

test('a UTF-8 BOM, CRLF line ends and a trailing newline are valid', () => {
  const r = validateText('\uFEFF' + [GOOD, GOOD2].join('\r\n') + '\r\n');
  assert.equal(r.format, 'alpaca');
  assert.equal(r.records, 2);
  assert.deepEqual(r.diagnostics, []);
});

test('a 5 MB record is valid (a too-long warning at most)', () => {
  const big = JSON.stringify({ instruction: 'Summarize', input: 'lorem ipsum '.repeat(450_000), output: 'short' });
  assert.ok(big.length > 5_000_000);
  const t0 = performance.now();
  const r = validateText([GOOD, big, GOOD2].join('\n'));
  const ms = performance.now() - t0;
  assert.deepEqual(
    r.diagnostics.map((d) => [d.line, d.code, d.severity]),
    [[1, 'too-long', 'warning']],
  );
  assert.ok(ms < 5000, `took ${ms} ms`);
});

/** A small seeded PRNG (mulberry32) so that failures reproduce. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SAMPLES = [
  GOOD,
  '{"messages":[{"role":"user","content":"Hi \\"there\\"\\n"},{"role":"assistant","content":"Hé \\u00e9"}],"task":"chat"}',
  '{"prompt":"1.5e10","completion":[1,-2.5e-3,true,false,null,{"a":{}}]}',
  '{"text":"x","label":0}',
];

test('fuzz: truncations and random mutations never throw, and the syntax checker agrees with JSON.parse', () => {
  const rand = prng(1234);
  const alphabet = '{}[]":,\\ \t0123456789-+.eEtrufalsn/\u0000\u001f\u00e9\ud83d\ude00\ufeffabc\'';
  let cases = 0;
  const t0 = performance.now();
  const checkOne = (line: string) => {
    cases++;
    let parses = true;
    try {
      JSON.parse(line);
    } catch {
      parses = false;
    }
    const err = findJsonSyntaxError(line);
    assert.equal(err === undefined, parses, `checker and JSON.parse disagree on ${JSON.stringify(line)}: ${err?.message}`);
    if (err) assert.ok(err.offset >= 0 && err.offset <= line.length && err.endOffset >= err.offset && err.endOffset <= line.length, JSON.stringify(line));
    analyzeLine(line); // must not throw
  };
  for (const s of SAMPLES) for (let i = 0; i <= s.length; i++) checkOne(s.slice(0, i));
  for (let k = 0; k < 3000; k++) {
    const s = SAMPLES[Math.floor(rand() * SAMPLES.length)];
    const chars = [...s];
    const edits = 1 + Math.floor(rand() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * (chars.length + 1));
      const r = rand();
      const c = alphabet[Math.floor(rand() * alphabet.length)];
      if (r < 0.4) chars.splice(at, 0, c);
      else if (r < 0.7) chars.splice(at, 1);
      else chars[at] = c;
    }
    checkOne(chars.join(''));
  }
  // Random bytes as text, as a file read with replacement characters would give.
  for (let k = 0; k < 1000; k++) {
    const n = Math.floor(rand() * 40);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(rand() * 256));
    checkOne(s);
  }
  // Whole documents of fuzzed lines validate without throwing.
  const lines: string[] = [];
  for (let k = 0; k < 500; k++) lines.push(SAMPLES[k % SAMPLES.length].slice(0, Math.floor(rand() * 80)));
  validateText(lines.join('\n'));
  assert.ok(cases > 4000);
  assert.ok(performance.now() - t0 < 20_000);
});
