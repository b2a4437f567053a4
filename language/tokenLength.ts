// "Is this example longer than maxTokens GPT-2 tokens?" at validation speed. Two ideas:
// - Most records are decided without tokenizing: byte-level BPE gives at most one token per UTF-8 byte
//   and at least one per 128 bytes (GPT-2's longest token); fewer than one per byte, surely, where
//   neighbouring bytes merge (surelyMergedUtf8, surelyMergedAscii: a few of merges.txt's lines, no BPE).
// - The rest are counted, not encoded: GPT-2 splits text into pre-tokens (its regex) and applies BPE
//   merges inside each one, so the count is the sum of per-pre-token counts, and those are cached by
//   pre-token (words repeat). Only merges.txt is needed (no vocabulary, no tokenizer object), and
//   counting stops as soon as the limit is passed. Whole-text counts are cached too.
// The counts equal gpt2Tokenizer().encode(text).length (tested on varied text).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gpt2TokenizerDir } from './gpt2Files';

/** The longest GPT-2 token is 128 bytes long. */
export const GPT2_MAX_TOKEN_BYTES = 128;

const PRE_TOKEN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const WORD_CACHE_LIMIT = 200_000;
const TEXT_CACHE_LIMIT = 2_000;
const TEXT_CACHE_MIN_CHARS = 8192;

let merges: MergeRanks | undefined;
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

/**
 * The rank of each merge ("a b", a line of merges.txt), looked up by its two halves: an open-addressing
 * table of line offsets into the file's bytes. A Map of 50,000 strings took ~20 ms to build and as much
 * again in garbage collection, on every thread that counts tokens, where counting needs the ranks of
 * only the few distinct words of a dataset. The halves are strings of bytesToUnicode's characters (all
 * below U+0800): they are compared with the file's UTF-8 bytes as they are encoded.
 */
class MergeRanks {
  private readonly start: Int32Array;
  private readonly length: Int32Array;
  private readonly rank: Int32Array;
  private readonly hash: Int32Array;
  private readonly mask: number;

  constructor(private readonly bytes: Uint8Array) {
    // Sized for lines of 8 bytes or more (GPT-2's average is 9), larger where they are shorter.
    let table: MergeTable | undefined;
    for (let bits = Math.max(4, 32 - Math.clz32(bytes.length >> 2)); !table; bits++) table = mergeTable(bytes, bits);
    ({ start: this.start, length: this.length, rank: this.rank, hash: this.hash } = table);
    this.mask = this.start.length - 1;
  }

  /** The rank of the merge `a b`, or undefined. */
  get(a: string, b: string): number | undefined {
    const n = utf8Bytes(a) + 1 + utf8Bytes(b);
    const h = hashUtf8(b, Math.imul(hashUtf8(a, FNV_BASIS) ^ 32, FNV_PRIME));
    for (let slot = (h ^ (h >>> 15)) & this.mask; ; slot = (slot + 1) & this.mask) {
      const len = this.length[slot];
      if (len === 0) return undefined;
      if (len !== n || this.hash[slot] !== h) continue;
      const s = this.start[slot];
      const mid = matchUtf8(this.bytes, s, a);
      if (mid >= 0 && this.bytes[mid] === 32 && matchUtf8(this.bytes, mid + 1, b) === s + n) return this.rank[slot];
    }
  }
}

interface MergeTable {
  start: Int32Array;
  /** 0: an empty slot (empty lines are not merges). */
  length: Int32Array;
  rank: Int32Array;
  hash: Int32Array;
}

/**
 * The table of merges.txt's lines with 2^bits slots, or undefined when they fill more than half of it.
 * One pass over the bytes, hashing as it goes, in one function: it runs once per thread, mostly before
 * the JIT has compiled it, where every call and property access costs.
 */
function mergeTable(bytes: Uint8Array, bits: number): MergeTable | undefined {
  const size = 1 << bits;
  const mask = size - 1;
  const start = new Int32Array(size);
  const length = new Int32Array(size);
  const rank = new Int32Array(size);
  const hash = new Int32Array(size);
  const n = bytes.length;
  let used = 0;
  let next = 0;
  let s = 0;
  let h = FNV_BASIS;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? bytes[i] : 10;
    if (c !== 10) {
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    // As split('\n') saw the lines: '' and '#version' lines are not merges; a '\r' stays in its line.
    const len = i - s;
    if (len > 0 && !(bytes[s] === 0x23 && startsWithVersion(bytes, s, i))) {
      let slot = (h ^ (h >>> 15)) & mask;
      for (;;) {
        if (length[slot] === 0) {
          if (++used * 2 > size) return undefined;
          start[slot] = s;
          length[slot] = len;
          hash[slot] = h;
          rank[slot] = next++;
          break;
        }
        if (length[slot] === len && hash[slot] === h) {
          const at = start[slot];
          let k = 0;
          while (k < len && bytes[at + k] === bytes[s + k]) k++;
          // A line seen before takes the later rank, as Map.set did.
          if (k === len) {
            rank[slot] = next++;
            break;
          }
        }
        slot = (slot + 1) & mask;
      }
    }
    s = i + 1;
    h = FNV_BASIS;
  }
  return { start, length, rank, hash };
}

const FNV_BASIS = 0x811c9dc5 | 0;
const FNV_PRIME = 16777619;

function startsWithVersion(b: Uint8Array, s: number, e: number): boolean {
  const v = '#version';
  if (e - s < v.length) return false;
  for (let k = 0; k < v.length; k++) if (b[s + k] !== v.charCodeAt(k)) return false;
  return true;
}

/** UTF-8 length of a string of characters below U+0800. */
function utf8Bytes(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) n++;
  return n;
}

/** FNV-1a, from `h`, of the UTF-8 bytes of a string of characters below U+0800. */
function hashUtf8(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) h = Math.imul(h ^ c, FNV_PRIME);
    else h = Math.imul(Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME) ^ (0x80 | (c & 0x3f)), FNV_PRIME);
  }
  return h;
}

/** The index after `s`'s UTF-8 bytes when b holds them at `at`, else -1 (characters below U+0800). */
function matchUtf8(b: Uint8Array, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (b[at++] !== c) return -1;
    } else if (b[at++] !== (0xc0 | (c >> 6)) || b[at++] !== (0x80 | (c & 0x3f))) return -1;
  }
  return at;
}

let mergesBytes: Buffer | undefined;

/** merges.txt's bytes (read once). */
function mergesFile(): Buffer {
  if (!mergesBytes) {
    const dir = gpt2TokenizerDir();
    const file = fs.existsSync(path.join(dir, 'merges.txt')) ? 'merges.txt' : 'vocab.bpe';
    mergesBytes = fs.readFileSync(path.join(dir, file));
    byteChar = bytesToUnicode();
  }
  return mergesBytes;
}

function load(): MergeRanks {
  merges ??= new MergeRanks(mergesFile());
  return merges;
}

let spaceMerges: Uint8Array | undefined;

/** spaceMerges[x] is 1 when a space merges with the ASCII character x, which is not white space (pairMergeTable); 0 for bytes 128-255. */
function spaceMergeTable(): Uint8Array {
  if (!spaceMerges) {
    const pairs = pairMergeTable();
    spaceMerges = new Uint8Array(256);
    for (let x = 0; x < 0x80; x++) if (ASCII_CLASS[x] !== SPACE) spaceMerges[x] = pairs[32 * 128 + x];
  }
  return spaceMerges;
}

/**
 * merges.txt's first bytes, where its most frequent merges are: pairMergeTable reads only these (GPT-2's
 * merges of a space with each printable ASCII character all come in its first 86 KB).
 */
const PAIR_MERGES_BYTES = 128 * 1024;
let pairMerges: Uint8Array | undefined;

/**
 * pairMerges[x * 128 + y] is 1 when the ASCII bytes x and y merge: a line "x y" of merges.txt in its
 * first PAIR_MERGES_BYTES (a subset of the pairs only weakens the bounds that use them), found without
 * the merge table.
 */
function pairMergeTable(): Uint8Array {
  if (!pairMerges) {
    const bytes = mergesFile();
    const byteOf = new Map(byteChar!.map((c, x) => [c, x]));
    const merged = new Uint8Array(128 * 128);
    for (const line of bytes.toString('utf8', 0, Math.min(bytes.length, PAIR_MERGES_BYTES)).split('\n')) {
      if (line.length !== 3 || line[1] !== ' ') continue;
      const x = byteOf.get(line[0]);
      const y = byteOf.get(line[2]);
      if (x !== undefined && y !== undefined && x < 0x80 && y < 0x80) merged[x * 128 + y] = 1;
    }
    pairMerges = merged;
  }
  return pairMerges;
}

/**
 * surelyMergedUtf8 for ASCII text, larger. In a pre-token BPE leaves no two neighbouring symbols that
 * merge, so of two neighbouring bytes that merge (pairMergeTable) one at least ends up in a token of
 * two bytes or more; k such pairs that share no byte need tokens that save ceil(k/2) at least (a token
 * of l bytes saves l - 1 and touches at most l/2 + 1 of them). The pairs are counted in runs of bytes
 * that are surely one pre-token (a space and the character after it; two neighbours of one class,
 * letters, digits or other, letters not right after an apostrophe, which may end a contraction such as
 * 's); a pre-token holds at most one run with such pairs, but b[s, e) may be a piece of a text whose
 * pre-tokens go on past its ends: the runs at either end count floor(k/2). Stops once it reaches `enough`.
 */
export function surelyMergedAscii(b: Uint8Array, s: number, e: number, enough = Infinity): number {
  const merged = pairMergeTable();
  let saved = 0;
  /** Pairs that share no byte in the current run, the start of the last one, whether the run starts at s. */
  let k = 0;
  let taken = s - 2;
  let first = true;
  for (let i = s; i < e - 1 && saved < enough; i++) {
    const x = b[i];
    const y = b[i + 1];
    const cls = ASCII_CLASS[x];
    const linked = x === 32 ? ASCII_CLASS[y] !== SPACE : cls !== SPACE && cls === ASCII_CLASS[y] && !(cls === LETTER && mayEndContraction(b, s, i));
    if (!linked) {
      saved += first ? k >> 1 : (k + 1) >> 1;
      k = 0;
      first = false;
    } else if (i >= taken + 2 && merged[x * 128 + y]) {
      k++;
      taken = i;
    }
  }
  return saved + (k >> 1);
}

/** Whether the letter b[i] may end a contraction ('s 't 'm 'd 're 've 'll: the letter after it starts a pre-token). */
function mayEndContraction(b: Uint8Array, s: number, i: number): boolean {
  if (i === s || b[i - 1] === 39) return true;
  return ASCII_CLASS[b[i - 1]] === LETTER && (i - 2 < s || b[i - 2] === 39);
}

/**
 * How many tokens fewer than its UTF-8 bytes GPT-2 surely gives the text b[s, e): one for each space
 * followed by a character that it merges with (spaceMergeTable). Such a space always starts a pre-token
 * together with that character (' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'), a pre-token holds one
 * such pair at most, and BPE merges a pre-token at least once when two of its neighbouring symbols
 * merge: so bytes minus this bounds the token count from above, without BPE. A text counted in pieces
 * bounds it too (a pair across two pieces is just not subtracted). Counting may stop once it reaches
 * `enough`.
 */
export function surelyMergedUtf8(b: Uint8Array, s: number, e: number, enough = Infinity): number {
  const merged = spaceMergeTable();
  let n = 0;
  let i = s;
  // Branch-free (spaces come at random), in blocks between the checks against `enough`.
  while (i < e - 1 && n < enough) {
    const stop = Math.min(e - 1, i + 64);
    for (; i < stop; i++) n += merged[b[i + 1]] & (((b[i] ^ 32) - 1) >>> 31);
  }
  return n;
}

/** surelyMergedUtf8 of a string's UTF-8 bytes. */
export function surelyMerged(text: string, enough = Infinity): number {
  const merged = spaceMergeTable();
  let n = 0;
  for (let i = text.indexOf(' '); i !== -1 && i + 1 < text.length && n < enough; i = text.indexOf(' ', i + 1)) {
    const c = text.charCodeAt(i + 1);
    if (c < 0x80) n += merged[c];
  }
  return n;
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
    let bestAt = -1;
    for (let i = 0; i < symbols.length - 1; i++) {
      const rank = r.get(symbols[i], symbols[i + 1]);
      if (rank !== undefined && rank < best) {
        best = rank;
        bestAt = i;
      }
    }
    if (best === Infinity) break;
    const a = symbols[bestAt];
    const b = symbols[bestAt + 1];
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

/** The count of the pre-token b[start, end), whose sampleHash is h. */
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
    // The common pre-token, an ASCII run of one class with an optional leading space, is found in one
    // tight loop; the others go through utf8PreTokenEnd.
    const c = b[i];
    if (c < 0x80 && c !== 39) {
      const r = c === 32 && i + 1 < end ? i + 1 : i;
      const first = b[r];
      const cls = first < 0x80 ? ASCII_CLASS[first] : SPACE;
      if (cls !== SPACE) {
        let j = r + 1;
        while (j < end && ASCII_CLASS[b[j]] === cls) j++; // undefined for non-ASCII bytes
        if (j === end || b[j] < 0x80) {
          count += byteWordCount(b, i, j, sampleHash(b, i, j));
          i = j;
          continue;
        }
      }
    }
    const j = utf8PreTokenEnd(b, i, end);
    count += byteWordCount(b, i, j, sampleHash(b, i, j));
    i = j;
  }
  return count;
}

/**
 * A hash of the pre-token b[s, e) (not empty) from its length and a few of its bytes, not all of them:
 * hashing every byte cost more than the rest of counting, and byteWordCount compares the bytes anyway.
 */
function sampleHash(b: Uint8Array, s: number, e: number): number {
  const n = e - s;
  let h = Math.imul(n ^ (b[s] << 8) ^ (b[e - 1] << 16) ^ (b[s + (n >> 1)] << 24), 0x9e3779b1);
  if (n > 3) h = Math.imul(h ^ b[s + 1] ^ (b[e - 2] << 8) ^ (b[s + (n >> 2)] << 16) ^ (b[e - 1 - (n >> 2)] << 24), 0x85ebca6b);
  return h ^ (h >>> 13);
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
