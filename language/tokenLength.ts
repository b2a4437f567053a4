// "Is this example longer than maxTokens GPT-2 tokens?" at validation speed. Two ideas:
// - Most records are decided without tokenizing: byte-level BPE gives at most one token per UTF-8 byte
//   and at least one per 128 bytes (GPT-2's longest token).
// - The rest are counted, not encoded: GPT-2 splits text into pre-tokens (its regex) and applies BPE
//   merges inside each one, so the count is the sum of per-pre-token counts, and those are cached by
//   pre-token (words repeat). Only merges.txt is needed (no vocabulary, no tokenizer object), and
//   counting stops as soon as the limit is passed. Whole-text counts are cached too.
// The counts equal gpt2Tokenizer().encode(text).length (tested on varied text).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gpt2TokenizerDir } from './tokenizer';

/** The longest GPT-2 token is 128 bytes long. */
export const GPT2_MAX_TOKEN_BYTES = 128;

const PRE_TOKEN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const WORD_CACHE_LIMIT = 200_000;
const TEXT_CACHE_LIMIT = 2_000;
const TEXT_CACHE_MIN_CHARS = 8192;

let ranks: Map<string, number> | undefined;
let byteChar: string[] | undefined;
const wordCache = new Map<string, number>();
/** text -> [count, exact]; not exact: counting stopped once count passed the limit of that call. */
const textCache = new Map<string, [number, boolean]>();

/** GPT-2's reversible byte -> printable character map (bytes_to_unicode). */
function bytesToUnicode(): string[] {
  const table: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    table[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return table;
}

function load(): Map<string, number> {
  if (!ranks) {
    const dir = gpt2TokenizerDir();
    const file = fs.existsSync(path.join(dir, 'merges.txt')) ? 'merges.txt' : 'vocab.bpe';
    const lines = fs.readFileSync(path.join(dir, file), 'utf8').split('\n');
    ranks = new Map();
    let rank = 0;
    for (const l of lines) {
      if (l === '' || l.startsWith('#version')) continue;
      ranks.set(l, rank++);
    }
    byteChar = bytesToUnicode();
  }
  return ranks;
}

/**
 * Word counts of ASCII pre-tokens, looked up by position in the text: an open-addressing table keyed by a
 * hash computed while scanning, verified with startsWith, so that a hit allocates nothing.
 */
const TABLE_BITS = 16;
const TABLE_SIZE = 1 << TABLE_BITS;
const tableWords: (string | undefined)[] = new Array(TABLE_SIZE).fill(undefined);
const tableCounts = new Int32Array(TABLE_SIZE);
const tableHashes = new Int32Array(TABLE_SIZE);
let tableUsed = 0;

function asciiWordCount(text: string, start: number, end: number): number {
  let h = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  const len = end - start;
  let slot = (h ^ (h >>> TABLE_BITS)) & (TABLE_SIZE - 1);
  for (;;) {
    const w = tableWords[slot];
    if (w === undefined) break;
    if (tableHashes[slot] === h && w.length === len && text.startsWith(w, start)) return tableCounts[slot];
    slot = (slot + 1) & (TABLE_SIZE - 1);
  }
  const word = text.slice(start, end);
  const count = wordCount(word);
  if (tableUsed > TABLE_SIZE / 2) {
    tableWords.fill(undefined);
    tableUsed = 0;
    slot = (h ^ (h >>> TABLE_BITS)) & (TABLE_SIZE - 1);
  }
  tableWords[slot] = word;
  tableHashes[slot] = h;
  tableCounts[slot] = count;
  tableUsed++;
  return count;
}

/** BPE token count of one pre-token. */
function wordCount(word: string): number {
  const cached = wordCache.get(word);
  if (cached !== undefined) return cached;
  const r = load();
  const table = byteChar!;
  let symbols: string[] = [];
  let ascii = true;
  for (let i = 0; i < word.length; i++) {
    if (word.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) for (let i = 0; i < word.length; i++) symbols.push(table[word.charCodeAt(i)]);
  else for (const b of Buffer.from(word, 'utf8')) symbols.push(table[b]);
  while (symbols.length > 1) {
    let best = Infinity;
    let bestPair = '';
    for (let i = 0; i < symbols.length - 1; i++) {
      const pair = symbols[i] + ' ' + symbols[i + 1];
      const rank = r.get(pair);
      if (rank !== undefined && rank < best) {
        best = rank;
        bestPair = pair;
      }
    }
    if (best === Infinity) break;
    const [a, b] = bestPair.split(' ');
    const merged: string[] = [];
    for (let i = 0; i < symbols.length; i++) {
      if (i < symbols.length - 1 && symbols[i] === a && symbols[i + 1] === b) {
        merged.push(a + b);
        i++;
      } else merged.push(symbols[i]);
    }
    symbols = merged;
  }
  if (wordCache.size >= WORD_CACHE_LIMIT) wordCache.clear();
  wordCache.set(word, symbols.length);
  return symbols.length;
}

// ASCII character classes of GPT-2's pre-tokenizer regex.
const LETTER = 1;
const DIGIT = 2;
const SPACE = 3; // \s
const OTHER = 4;
const ASCII_CLASS = new Uint8Array(128).map((_, c) =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ? LETTER : c >= 48 && c <= 57 ? DIGIT : c === 32 || (c >= 9 && c <= 13) ? SPACE : OTHER,
);

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * The end of the pre-token starting at `i` in ASCII text: a hand-written equivalent of GPT-2's regex
 * ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+), several times faster.
 */
function asciiPreTokenEnd(text: string, i: number): number {
  const n = text.length;
  const c = text.charCodeAt(i);
  if (c === 39) {
    const a = text.charCodeAt(i + 1);
    if (a === 115 || a === 116 || a === 109 || a === 100) return i + 2; // 's 't 'm 'd
    const b = text.charCodeAt(i + 2);
    if ((a === 114 && b === 101) || (a === 118 && b === 101) || (a === 108 && b === 108)) return i + 3; // 're 've 'll
  }
  let start = i;
  let cls = ASCII_CLASS[c];
  if (c === 32 && i + 1 < n && ASCII_CLASS[text.charCodeAt(i + 1)] !== SPACE) {
    start = i + 1;
    cls = ASCII_CLASS[text.charCodeAt(start)];
  }
  if (cls !== SPACE) {
    let j = start + 1;
    while (j < n && ASCII_CLASS[text.charCodeAt(j)] === cls) j++;
    return j;
  }
  let j = i + 1;
  while (j < n && ASCII_CLASS[text.charCodeAt(j)] === SPACE) j++;
  if (j === n || j - i === 1) return j;
  return j - 1; // \s+(?!\S): leave the last space to start the next word
}

/** Calls `each` with every GPT-2 pre-token of `text` until it returns true. */
export function forEachPreToken(text: string, each: (preToken: string) => boolean): void {
  if (isAscii(text)) {
    for (let i = 0; i < text.length; ) {
      const j = asciiPreTokenEnd(text, i);
      if (each(text.slice(i, j))) return;
      i = j;
    }
    return;
  }
  PRE_TOKEN.lastIndex = 0;
  for (let m = PRE_TOKEN.exec(text); m; m = PRE_TOKEN.exec(text)) if (each(m[0])) return;
}

/** GPT-2 token count of `text` when it is <= limit, otherwise some count > limit. */
export function countTokensUpTo(text: string, limit = Infinity): number {
  if (text.length === 0) return 0;
  const hit = textCache.get(text);
  if (hit && (hit[1] || hit[0] > limit)) return hit[0];
  let count = 0;
  let end = 0;
  if (isAscii(text)) {
    // The common case, without the regex and without a callback per word.
    while (end < text.length && count <= limit) {
      const j = asciiPreTokenEnd(text, end);
      count += asciiWordCount(text, end, j);
      end = j;
    }
  } else {
    forEachPreToken(text, (w) => {
      count += wordCount(w);
      end += w.length;
      return count > limit;
    });
  }
  const exact = end >= text.length;
  // Short texts are cheap to count again (their words are cached); caching them would only churn memory.
  if (text.length >= TEXT_CACHE_MIN_CHARS) {
    if (textCache.size >= TEXT_CACHE_LIMIT) textCache.clear();
    textCache.set(text, [count, exact]);
  }
  return count;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Whether prompt + target + end-of-text is longer than maxTokens GPT-2 tokens (prompt and target are
 * tokenized separately, as tokenizeExample does). Counts tokens only when byte lengths cannot decide.
 */
export function exceedsTokenLimit(prompt: string, target: string, maxTokens: number): boolean {
  // Cheap upper bound first: at most 3 UTF-8 bytes per UTF-16 unit.
  if ((prompt.length + target.length) * 3 + 1 <= maxTokens) return false;
  const pb = utf8Length(prompt);
  const tb = utf8Length(target);
  if (pb + tb + 1 <= maxTokens) return false;
  const lower = Math.ceil(pb / GPT2_MAX_TOKEN_BYTES) + Math.ceil(tb / GPT2_MAX_TOKEN_BYTES) + 1;
  if (lower > maxTokens) return true;
  const budget = maxTokens - 1;
  const p = countTokensUpTo(prompt, budget);
  if (p > budget) return true;
  return countTokensUpTo(target, budget - p) > budget - p;
}
