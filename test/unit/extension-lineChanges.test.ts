import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineChangeAccumulator, type ContentChange } from '../../extension/dataset/lineChanges';

/** Applies a change to a line array the way an editor does (range in the current text). */
function apply(lines: string[], c: ContentChange): string[] {
  const { start, end } = c.range;
  const before = lines[start.line].slice(0, start.character);
  const after = lines[end.line].slice(end.character);
  const replaced = (before + c.text + after).split('\n');
  return [...lines.slice(0, start.line), ...replaced, ...lines.slice(end.line + 1)];
}

function change(sl: number, sc: number, el: number, ec: number, text: string): ContentChange {
  return { range: { start: { line: sl, character: sc }, end: { line: el, character: ec } }, text };
}

/** The old document with the accumulator's replacement applied, reading new lines from the final document. */
function replay(original: string[], final: string[], acc: LineChangeAccumulator): string[] {
  const r = acc.take();
  if (!r) return original;
  return [...original.slice(0, r.start), ...final.slice(r.start, r.start + r.insertCount), ...original.slice(r.start + r.deleteCount)];
}

test('a single-line edit replaces exactly that line', () => {
  const acc = new LineChangeAccumulator();
  acc.add(change(2, 3, 2, 5, 'xy'));
  assert.deepEqual(acc.take(), { start: 2, deleteCount: 1, insertCount: 1 });
  assert.equal(acc.take(), undefined, 'take() resets');
});

test('pasting lines grows the replacement and deleting lines shrinks it', () => {
  const acc = new LineChangeAccumulator();
  acc.add(change(1, 0, 1, 0, 'a\nb\n'));
  assert.deepEqual(acc.take(), { start: 1, deleteCount: 1, insertCount: 3 });
  acc.add(change(1, 4, 4, 0, ''));
  assert.deepEqual(acc.take(), { start: 1, deleteCount: 4, insertCount: 1 });
});

test('a burst of random edits folds into one replacement that reproduces the final text', () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pieces = ['', 'x', '{"a":1}', '\n', 'q\nr', '\n\n', 'long text\nwith\nthree'];
  for (let round = 0; round < 400; round++) {
    const original = Array.from({ length: 1 + rand(12) }, (_, i) => `line ${i} ${'z'.repeat(rand(6))}`);
    let current = original;
    const acc = new LineChangeAccumulator();
    const edits = 1 + rand(6);
    for (let k = 0; k < edits; k++) {
      const sl = rand(current.length);
      const el = sl + rand(Math.min(3, current.length - sl));
      const sc = rand(current[sl].length + 1);
      const ec = el === sl ? sc + rand(current[sl].length - sc + 1) : rand(current[el].length + 1);
      const c = change(sl, sc, el, ec, pieces[rand(pieces.length)]);
      current = apply(current, c);
      acc.add(c);
    }
    assert.deepEqual(replay(original, current, acc), current, `round ${round}`);
  }
});

test('multi-cursor changes reported bottom-up (as VS Code does) replay correctly', () => {
  const original = ['a', 'b', 'c', 'd', 'e'];
  const changes = [change(4, 1, 4, 1, '!\nnew'), change(1, 0, 1, 1, 'B')];
  let current = original;
  const acc = new LineChangeAccumulator();
  for (const c of changes) {
    current = apply(current, c);
    acc.add(c);
  }
  assert.deepEqual(current, ['a', 'B', 'c', 'd', 'e!', 'new']);
  assert.deepEqual(replay(original, current, acc), current);
});
