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

/** Classes of non-ASCII code points (0: not yet looked up), as GPT-2's regex sees them (u flag). */
const codePointClass = new Uint8Array(0x110000);
const U_LETTER = /^\p{L}$/u;
const U_NUMBER = /^\p{N}$/u;
const U_SPACE = /^\s$/u;
/** Byte length of the character that the last classAt call read. */
let charBytes = 1;

/** The class (LETTER, DIGIT, SPACE, OTHER) of the UTF-8 character at b[i] (valid UTF-8). */
function classAt(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) {
    charBytes = 1;
    return ASCII_CLASS[c];
  }
  let cp: number;
  if (c < 0xe0) {
    cp = ((c & 0x1f) << 6) | (b[i + 1] & 0x3f);
    charBytes = 2;
  } else if (c < 0xf0) {
    cp = ((c & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f);
    charBytes = 3;
  } else {
    cp = ((c & 0x07) << 18) | ((b[i + 1] & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f);
    charBytes = 4;
  }
  let cls = codePointClass[cp];
  if (cls === 0) {
    const ch = String.fromCodePoint(cp);
    cls = U_LETTER.test(ch) ? LETTER : U_NUMBER.test(ch) ? DIGIT : U_SPACE.test(ch) ? SPACE : OTHER;
    codePointClass[cp] = cls;
  }
  return cls;
}

/**
 * The end of the pre-token starting at b[i] in UTF-8 text b[i, n): GPT-2's regex ('s|'t|'re|'ve|'m|'ll|'d|
 * ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+), as asciiPreTokenEnd does it for ASCII text.
 */
function utf8PreTokenEnd(b: Uint8Array, i: number, n: number): number {
  const c = b[i];
  if (c === 39 && i + 1 < n) {
    const a = b[i + 1];
    if (a === 115 || a === 116 || a === 109 || a === 100) return i + 2; // 's 't 'm 'd
    if (i + 2 < n) {
      const d = b[i + 2];
      if ((a === 114 && d === 101) || (a === 118 && d === 101) || (a === 108 && d === 108)) return i + 3; // 're 've 'll
    }
  }
  let start = i;
  let cls = classAt(b, i);
  if (c === 32 && i + 1 < n) {
    const next = classAt(b, i + 1);
    if (next !== SPACE) {
      start = i + 1;
      cls = next;
    } else charBytes = 1;
  }
  if (cls !== SPACE) {
    let j = start + charBytes;
    while (j < n && classAt(b, j) === cls) j += charBytes;
    return j;
  }
  // \s+(?!\S) | \s+: a run of white space, less its last character when more text follows.
  let j = i + charBytes;
  let last = i;
  let chars = 1;
  while (j < n && classAt(b, j) === SPACE) {
    last = j;
    j += charBytes;
    chars++;
  }
  if (j === n || chars === 1) return j;
  return last;
}

/** Word counts of byte pre-tokens: open addressing by hash, words' bytes kept in an arena and compared. */
const BYTE_TABLE_BITS = 16;
const BYTE_TABLE_SIZE = 1 << BYTE_TABLE_BITS;
const byteTableStart = new Int32Array(BYTE_TABLE_SIZE);
const byteTableLength = new Int32Array(BYTE_TABLE_SIZE); // 0: empty slot
const byteTableHash = new Int32Array(BYTE_TABLE_SIZE);
const byteTableCount = new Int32Array(BYTE_TABLE_SIZE);
const byteArena = new Uint8Array(1 << 20);
let byteArenaUsed = 0;
let byteTableUsed = 0;

/** The count of the pre-token b[start, end), whose FNV-1a hash is h. */
function byteWordCount(b: Uint8Array, start: number, end: number, h: number): number {
  const len = end - start;
  let slot = (h ^ (h >>> BYTE_TABLE_BITS)) & (BYTE_TABLE_SIZE - 1);
  for (;;) {
    const l = byteTableLength[slot];
    if (l === 0) break;
    if (byteTableHash[slot] === h && l === len) {
      const at = byteTableStart[slot];
      let k = 0;
      while (k < len && byteArena[at + k] === b[start + k]) k++;
      if (k === len) return byteTableCount[slot];
    }
    slot = (slot + 1) & (BYTE_TABLE_SIZE - 1);
  }
  const count = wordCount(Buffer.from(b.buffer, b.byteOffset + start, len).toString('utf8'));
  if (len > byteArena.length) return count;
  if (byteTableUsed > BYTE_TABLE_SIZE / 2 || byteArenaUsed + len > byteArena.length) {
    byteTableLength.fill(0);
    byteTableUsed = 0;
    byteArenaUsed = 0;
    slot = (h ^ (h >>> BYTE_TABLE_BITS)) & (BYTE_TABLE_SIZE - 1);
  }
  byteArena.set(b.subarray(start, end), byteArenaUsed);
  byteTableStart[slot] = byteArenaUsed;
  byteTableLength[slot] = len;
  byteTableHash[slot] = h;
  byteTableCount[slot] = count;
  byteArenaUsed += len;
  byteTableUsed++;
  return count;
}

/**
 * countTokensUpTo of the text whose UTF-8 bytes are b[start, end) (valid UTF-8): the same count, the
 * same early stop once past `limit` (validation's fast path counts from a line's bytes, without strings).
 */
export function countUtf8TokensUpTo(b: Uint8Array, start: number, end: number, limit = Infinity): number {
  let count = 0;
  let i = start;
  while (i < end && count <= limit) {
    // The common pre-token, an ASCII run of one class with an optional leading space, is found and
    // hashed in one pass; the others go through utf8PreTokenEnd.
    const c = b[i];
    if (c < 0x80 && c !== 39) {
      let r = i;
      let h = 0x811c9dc5 | 0;
      if (c === 32 && i + 1 < end) {
        h = Math.imul(h ^ 32, 16777619);
        r = i + 1;
      }
      const first = b[r];
      const cls = first < 0x80 ? ASCII_CLASS[first] : SPACE;
      if (cls !== SPACE) {
        h = Math.imul(h ^ first, 16777619);
        let j = r + 1;
        for (; j < end; j++) {
          const x = b[j];
          if (ASCII_CLASS[x] !== cls) break; // undefined for non-ASCII bytes
          h = Math.imul(h ^ x, 16777619);
        }
        if (j === end || b[j] < 0x80) {
          count += byteWordCount(b, i, j, h);
          i = j;
          continue;
        }
      }
    }
    const j = utf8PreTokenEnd(b, i, end);
    let h = 0x811c9dc5 | 0;
    for (let k = i; k < j; k++) h = Math.imul(h ^ b[k], 16777619);
    count += byteWordCount(b, i, j, h);
    i = j;
  }
  return count;
}

/** exceedsTokenLimit for a prompt and target given as UTF-8 bytes (prompt p[0, pn), target t[0, tn)). */
export function exceedsTokenLimitUtf8(p: Uint8Array, pn: number, t: Uint8Array, tn: number, maxTokens: number): boolean {
  if (pn + tn + 1 <= maxTokens) return false;
  const lower = Math.ceil(pn / GPT2_MAX_TOKEN_BYTES) + Math.ceil(tn / GPT2_MAX_TOKEN_BYTES) + 1;
  if (lower > maxTokens) return true;
  const budget = maxTokens - 1;
  const pc = countUtf8TokensUpTo(p, 0, pn, budget);
  if (pc > budget) return true;
  return countUtf8TokensUpTo(t, 0, tn, budget - pc) > budget - pc;
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
