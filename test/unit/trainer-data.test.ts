import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gpt2Tokenizer } from '../../language/tokenizer';
import { DatasetError, epochBatches, evalBatches, loadDataset, padBatch, splitEval, toTrainingExample, type TrainingExample } from '../../trainer/data';

// Every folder a test writes lives here and is removed when the file's tests end.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-tests-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('labels are the next tokens where the loss mask is on, -1 elsewhere, and the last input is dropped', () => {
  // prompt [10, 11, 12], target [20, 21], eos 99: loss on 20, 21, 99
  const e = toTrainingExample([10, 11, 12, 20, 21, 99], [false, false, false, true, true, true], 100)!;
  assert.deepEqual(e.inputIds, [10, 11, 12, 20, 21]);
  assert.deepEqual(e.labels, [-1, -1, 20, 21, 99]);
  assert.equal(e.lossTokens, 3);
});

test('a text record takes the loss on every next token, with nothing added in front', () => {
  const e = toTrainingExample([5, 6, 7, 99], [true, true, true, true], 100)!;
  assert.deepEqual(e.inputIds, [5, 6, 7]);
  assert.deepEqual(e.labels, [6, 7, 99]);
});

test('truncation keeps maxLength tokens, and an example left without a loss token is dropped', () => {
  const e = toTrainingExample([1, 2, 3, 4, 5, 6], [false, false, true, true, true, true], 4)!;
  assert.deepEqual(e.inputIds, [1, 2, 3]);
  assert.deepEqual(e.labels, [-1, 3, 4]);
  assert.equal(toTrainingExample([1, 2, 3, 4, 5, 6], [false, false, false, false, true, true], 4), undefined);
});

const ex = (n: number, line = 0, task?: string): TrainingExample => ({
  line,
  task,
  inputIds: Array.from({ length: n }, (_, i) => 100 + i),
  labels: Array.from({ length: n }, (_, i) => (i === 0 ? -1 : 200 + i)),
  lossTokens: n - 1,
});

test('padding goes to the right with attention 0 and label -1, and counts only real tokens', () => {
  const b = padBatch([ex(2), ex(4)], 7);
  assert.equal(b.length, 4);
  assert.deepEqual(Array.from(b.inputIds), [100, 101, 7, 7, 100, 101, 102, 103]);
  assert.deepEqual(Array.from(b.labels), [-1, 201, -1, -1, -1, 201, 202, 203]);
  assert.deepEqual(Array.from(b.attentionMask), [1, 1, 0, 0, 1, 1, 1, 1]);
  assert.equal(b.tokens, 6);
  assert.equal(b.lossTokens, 4);
  assert.deepEqual(b.rowLossTokens, [1, 3]);
});

test('shuffled batches cover every example once, group similar lengths, and repeat with the seed', () => {
  const lengths = Array.from({ length: 40 }, (_, i) => 1 + ((i * 37) % 40));
  const a = epochBatches(lengths, 4, { shuffle: true, seed: 3, epoch: 0 });
  assert.deepEqual(
    a.flat().sort((x, y) => x - y),
    lengths.map((_, i) => i),
  );
  assert.deepEqual(epochBatches(lengths, 4, { shuffle: true, seed: 3, epoch: 0 }), a);
  assert.notDeepEqual(epochBatches(lengths, 4, { shuffle: true, seed: 3, epoch: 1 }), a);
  assert.notDeepEqual(epochBatches(lengths, 4, { shuffle: true, seed: 4, epoch: 0 }), a);
  // grouping by length: padding waste is far below that of file-order batches
  const waste = (batches: number[][]) =>
    batches.reduce((s, b) => s + b.length * Math.max(...b.map((i) => lengths[i])) - b.reduce((t, i) => t + lengths[i], 0), 0);
  const inOrder = epochBatches(lengths, 4, { shuffle: false, seed: 3, epoch: 0 });
  assert.ok(waste(a) < waste(inOrder) / 4, `${waste(a)} vs ${waste(inOrder)}`);
});

test('--no-shuffle keeps file order, with a short last batch', () => {
  assert.deepEqual(epochBatches([3, 1, 2, 5, 4], 2, { shuffle: false, seed: 1, epoch: 0 }), [[0, 1], [2, 3], [4]]);
  assert.deepEqual(evalBatches([3, 1, 2, 5, 4], 2), [[3, 4], [0, 2], [1]]);
});

test('the eval split is seeded, disjoint, and holds out round(n * fraction)', () => {
  const items = Array.from({ length: 20 }, (_, i) => i);
  const a = splitEval(items, 0.25, 7);
  assert.equal(a.eval.length, 5);
  assert.equal(a.train.length, 15);
  assert.deepEqual(
    [...a.train, ...a.eval].sort((x, y) => x - y),
    items,
  );
  assert.deepEqual(splitEval(items, 0.25, 7), a);
  assert.notDeepEqual(splitEval(items, 0.25, 8).eval, a.eval);
  assert.equal(splitEval(items, 0, 7).eval.length, 0);
  assert.equal(splitEval([1, 2], 0.01, 7).eval.length, 1);
});

function tmpFile(lines: string[]): string {
  const dir = fs.mkdtempSync(path.join(scratch, 'ft-data-'));
  const file = path.join(dir, 'train.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const tokenizer = gpt2Tokenizer();
const opts = { tokenizer, maxLength: 64, trainOnPrompt: false, skipInvalid: false };

test('alpaca records are formatted by language/ and the loss is on the response and end-of-text only', async () => {
  const file = tmpFile([JSON.stringify({ instruction: 'Say hi', input: '', output: 'Hello world' })]);
  const d = await loadDataset(file, opts);
  assert.equal(d.format, 'alpaca');
  const [e] = d.examples;
  const targetIds = [...tokenizer.encode('Hello world'), tokenizer.eosId];
  assert.deepEqual(
    e.labels.filter((l) => l !== -1),
    targetIds,
  );
  assert.equal(e.lossTokens, targetIds.length);
  const all = (await loadDataset(file, { ...opts, trainOnPrompt: true })).examples[0];
  assert.equal(all.lossTokens, all.inputIds.length);
});

test('text records: every next token counts, ending with end-of-text', async () => {
  const file = tmpFile([JSON.stringify({ text: 'Hello world, again' })]);
  const [e] = (await loadDataset(file, opts)).examples;
  const ids = [...tokenizer.encode('Hello world, again'), tokenizer.eosId];
  assert.deepEqual(e.inputIds, ids.slice(0, -1));
  assert.deepEqual(e.labels, ids.slice(1));
});

test('invalid records stop loading with the validator messages unless skipped with a count', async () => {
  const file = tmpFile([JSON.stringify({ instruction: 'a', output: 'b' }), '{"instruction": "broken", ', JSON.stringify({ instruction: 'c', output: 'd' })]);
  await assert.rejects(
    () => loadDataset(file, opts),
    (e: Error) =>
      e instanceof DatasetError && /1 invalid record/.test(e.message) && /train\.jsonl:2:\d+: invalid-json/.test(e.message) && /--skip-invalid/.test(e.message),
  );
  const d = await loadDataset(file, { ...opts, skipInvalid: true });
  assert.equal(d.skippedInvalid, 1);
  assert.deepEqual(
    d.examples.map((e) => e.line),
    [0, 2],
  );
});

// A text that exercises every branch of GPT-2's pre-tokenizer: contractions, letters and digits of many
// scripts, marks, symbols, runs of spaces and newlines, emoji, and <|endoftext|> written in the text.
function varied(length: number, seed: number): string {
  const pieces = [
    'the',
    'Model',
    "don't",
    "it's",
    "we'll",
    "'re",
    "'",
    '42',
    '3.14',
    '١٢٣',
    'héllo',
    'e\u0301',
    '日本語',
    'Ωmega',
    '😀',
    '👍🏽',
    'x\n',
    '\n\n',
    ' ',
    '   ',
    '\t',
    '<|endoftext|>',
    '<|endof',
    'co-op',
    '--',
    '...',
    'ÃÂ',
    'aaaaaaaaaaaa',
    '\u00a0',
    '_',
  ];
  let s = '';
  let x = seed;
  while (s.length < length) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s += pieces[(x >>> 8) % pieces.length] + ((x >>> 20) % 3 === 0 ? ' ' : '');
  }
  return s;
}

test('only what can be kept is tokenized, and the kept ids are exactly those of tokenizing the whole record', () => {
  const tok = gpt2Tokenizer();
  for (let k = 0; k < 60; k++) {
    const text = varied(1000 + 97 * k, k + 1);
    const whole = tok.encode(text);
    for (const limit of [0, 1, 7, 64, 255, whole.length - 1, whole.length, whole.length + 5]) {
      const up = tok.encodeUpTo(text, limit);
      if (whole.length <= limit) assert.deepEqual(up, whole, `limit ${limit} ≥ ${whole.length} tokens`);
      else {
        assert.ok(up.length > limit, `more than ${limit} returned`);
        assert.deepEqual(up.slice(0, limit), whole.slice(0, limit), `seed ${k}, limit ${limit}`);
      }
    }
  }
});

test('train reads a 2 MB record in well under two seconds, with the examples that tokenizing it whole gives', async () => {
  const dir = fs.mkdtempSync(path.join(scratch, 'ft-long-'));
  const tok = gpt2Tokenizer();
  const maxLength = 256;
  const { formatRecord } = await import('../../language/promptFormat');
  const shapes = (long: string): Record<string, string>[] => [
    { instruction: 'Summarize.', input: long, output: 'Short.' },
    { instruction: 'Continue.', output: long },
    { text: 'short ' + long },
  ];
  const load = async (r: Record<string, string>, i: number) => {
    const file = path.join(dir, `long-${i}-${JSON.stringify(r).length}.jsonl`);
    // A short record beside it, so that a long prompt without a target token left is dropped, not fatal.
    const short = i === 2 ? { text: 'tiny text' } : { instruction: 'Hi.', output: 'Hello.' };
    fs.writeFileSync(file, JSON.stringify(r) + '\n' + JSON.stringify(short) + '\n');
    return loadDataset(file, { tokenizer: tok, maxLength, trainOnPrompt: i === 2, skipInvalid: false });
  };
  // Time: the whole 2 MB took seconds to tokenize; a prefix takes milliseconds.
  for (const [i, r] of shapes(varied(2_000_000, 7)).entries()) {
    const t0 = performance.now();
    const loaded = await load(r, i);
    const ms = performance.now() - t0;
    assert.ok(ms < 2000, `record ${i}: ${ms.toFixed(0)} ms`);
    assert.equal(loaded.truncated, 1);
  }
  // Ids: what loading gave before (the whole prompt and target tokenized, then cut), on 150 kB records.
  for (const [i, r] of shapes(varied(150_000, 11)).entries()) {
    const loaded = await load(r, i);
    const f = formatRecord(r, i === 2 ? 'text' : 'alpaca');
    const promptIds = f.prompt ? tok.encode(f.prompt) : [];
    const ids = [...promptIds, ...(f.target ? tok.encode(f.target) : []), tok.eosId];
    const expected = toTrainingExample(
      ids,
      ids.map((_, t) => i === 2 || t >= promptIds.length),
      maxLength,
    );
    assert.equal(loaded.truncated, 1);
    if (expected) assert.deepEqual(loaded.examples[0], expected);
    else assert.deepEqual([loaded.droppedEmpty, loaded.examples.map((e) => e.line)], [1, [1]]);
  }
});
