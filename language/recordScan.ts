// The clean-record fast path of file validation. Most lines of a real dataset are flat JSON objects of
// string values that pass their format's checks; for those, building the record with JSON.parse, running
// ajv and computing a fingerprint from the object costs far more than needed. `RecordScanner.scan` reads
// such a line straight from its (already UTF-8-validated) bytes in one pass: strict JSON syntax of a flat
// object of strings, keys among the formats' own keys, each at most once, and the format's schema
// (required keys, no other keys, non-empty strings), the fingerprint (the same number recordFingerprint
// gives the parsed record) and the too-long check (token counting only when neither the byte length
// nor the token bounds of tokenLength's surelyMerged* functions can decide). Anything else (other value
// types, nesting, unknown or escaped keys, repeated keys, surrogate escapes, which may be lone, any
// problem at all) makes it return false, and the caller runs the full path (analyzeLine + checkLine),
// which finds and locates the problem. So this path never reports anything; it only proves lines clean.
import type { DatasetFormat } from './types';
import { DATASET_FORMATS } from './types';
import { FORMAT_KEYS, FORMAT_SCHEMAS, bestFormat } from './formats';
import { FpTag, OBJECT_A, OBJECT_B, finishFingerprint, fpAsciiBytes, fpString, lanes, memberA, memberB } from './recordHash';
import { formatRecord } from './promptFormat';
import { exceedsTokenLimit, exceedsTokenLimitUtf8, surelyMerged, surelyMergedAscii, surelyMergedUtf8 } from './tokenLength';

/** The keys the scanner knows: every format's own keys and `task` (at most 20: key sets are bit masks). */
const KEYS: readonly string[] = [...new Set([...DATASET_FORMATS.flatMap((f) => [...FORMAT_KEYS[f].required, ...FORMAT_KEYS[f].optional]), 'task'])].slice(
  0,
  20,
);
const KEY_BYTES = KEYS.map((k) => Buffer.from(k, 'latin1'));
/** Key ids by the key's length (a key is looked up among those of its length only). */
const KEYS_OF_LENGTH: number[][] = [];
KEYS.forEach((k, id) => {
  KEYS_OF_LENGTH[k.length] ??= [];
  KEYS_OF_LENGTH[k.length].push(id);
});
const KEY_A = new Int32Array(KEYS.length);
const KEY_B = new Int32Array(KEYS.length);
KEYS.forEach((k, id) => {
  fpString(k, FpTag.Key);
  KEY_A[id] = lanes[0];
  KEY_B[id] = lanes[1];
});
const TASK = KEYS.indexOf('task');
const LABEL = KEYS.indexOf('label');

/** Bytes that end the plain run of a string: '"', '\\', control characters, non-ASCII. */
const STOP = new Uint8Array(256).map((_, c) => (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x80 ? 1 : 0));
/** Characters allowed after a backslash, other than 'u'. */
const ESCAPE = new Uint8Array(256).map((_, c) => ('"\\/bfnrt'.includes(String.fromCharCode(c)) ? 1 : 0));
const HEX = new Uint8Array(256).map((_, c) => (/[0-9a-fA-F]/.test(String.fromCharCode(c)) ? 1 : 0));
/** The second hex digit of a surrogate's escape (\uD8xx-\uDFxx). */
const SURROGATE_SECOND = new Uint8Array(256).map((_, c) => (/[89a-fA-F]/.test(String.fromCharCode(c)) ? 1 : 0));
const NOT_BLANK = /\S/u;

/** What a format's JSON Schema asks of a flat record of strings, as key bit masks; undefined when it asks more. */
interface FastFormat {
  allowed: number;
  required: number;
  nonEmpty: number;
  /** UTF-8 bytes that the prompt template adds to the record's strings (Infinity: not a constant). */
  overhead: number;
}

const SCHEMA_KEYWORDS = new Set(['$schema', '$id', 'title', 'description', 'type', 'required', 'properties', 'additionalProperties']);
const PROPERTY_KEYWORDS = new Set(['type', 'pattern', 'description']);

function fastFormat(format: DatasetFormat, template: string | undefined): FastFormat | undefined {
  const schema = FORMAT_SCHEMAS[format] as {
    type?: unknown;
    required?: string[];
    properties?: Record<string, Record<string, unknown>>;
    additionalProperties?: unknown;
  };
  if (schema.type !== 'object' || schema.additionalProperties !== false || !Object.keys(schema).every((k) => SCHEMA_KEYWORDS.has(k))) return undefined;
  let allowed = 0;
  let nonEmpty = 0;
  let required = 0;
  for (const [key, p] of Object.entries(schema.properties ?? {})) {
    const id = KEYS.indexOf(key);
    if (id < 0) continue; // records with it take the full path
    if (!Object.keys(p).every((k) => PROPERTY_KEYWORDS.has(k))) return undefined;
    const types = Array.isArray(p.type) ? p.type : [p.type];
    if (!types.includes('string')) return undefined;
    if (p.pattern !== undefined && p.pattern !== '\\S') return undefined;
    allowed |= 1 << id;
    if (p.pattern === '\\S') nonEmpty |= 1 << id;
  }
  for (const key of schema.required ?? []) {
    const id = KEYS.indexOf(key);
    if (id < 0 || !(allowed & (1 << id))) return undefined;
    required |= 1 << id;
  }
  return { allowed, required, nonEmpty, overhead: templateOverhead(format, template, allowed) };
}

/**
 * The most UTF-8 bytes formatRecord adds around a record's strings, found by formatting every record of
 * '' and 'x' values; the template must also be linear (each string appears at most once) for this to be
 * a bound, which 'xx' checks.
 */
function templateOverhead(format: DatasetFormat, template: string | undefined, allowed: number): number {
  const keys = KEYS.filter((_, id) => allowed & (1 << id));
  const size = (r: Record<string, string>) => {
    const f = formatRecord(r, format, { template });
    return Buffer.byteLength(f.prompt) + Buffer.byteLength(f.target);
  };
  let overhead = 0;
  for (let combo = 0; combo < 1 << keys.length; combo++) {
    const r: Record<string, string> = {};
    let xs = 0;
    keys.forEach((k, i) => {
      r[k] = combo & (1 << i) ? 'x' : '';
      if (combo & (1 << i)) xs++;
    });
    overhead = Math.max(overhead, size(r) - xs);
  }
  const one = size(Object.fromEntries(keys.map((k) => [k, 'x'])));
  const two = size(Object.fromEntries(keys.map((k) => [k, 'xx'])));
  return two - one > keys.length ? Infinity : overhead;
}

export interface ScanOptions {
  /** The format set by the user; records of another best format take the full path. */
  forced?: DatasetFormat;
  maxTokens: number;
  template?: string;
}

/** bestFormat of a record with exactly these known keys. */
const bestByMask = new Map<number, DatasetFormat | undefined>();
let lastMask = -1;
let lastBest: DatasetFormat | undefined;
function bestOf(mask: number): DatasetFormat | undefined {
  // Records come in runs of one shape: the last one answers without a Map lookup.
  if (mask === lastMask) return lastBest;
  let best = bestByMask.get(mask);
  if (best === undefined && !bestByMask.has(mask)) {
    const r: Record<string, string> = {};
    KEYS.forEach((k, id) => {
      if (mask & (1 << id)) r[k] = '';
    });
    best = bestFormat(r).format;
    bestByMask.set(mask, best);
  }
  lastMask = mask;
  lastBest = best;
  return best;
}

export class RecordScanner {
  private readonly fast = new Map<DatasetFormat, FastFormat | undefined>();
  private lastFormat: DatasetFormat | undefined;
  private lastFast: FastFormat | undefined;
  private buf: Buffer = Buffer.alloc(0);
  /** The same bytes as 32-bit words, when aligned: strings are skipped four bytes at a time. */
  private words: Int32Array | undefined;
  private readonly start = new Int32Array(KEYS.length);
  private readonly end = new Int32Array(KEYS.length);
  /** Decoded values of strings with escapes or non-ASCII characters (undefined: plain ASCII). */
  private readonly decoded: (string | undefined)[] = new Array(KEYS.length).fill(undefined);
  /** Strings with escapes: their JSON text is not their UTF-8 bytes. */
  private escaped = 0;
  private mask = 0;
  /** After a successful scan: the record's best format, and its fingerprint. */
  best: DatasetFormat = 'alpaca';
  fingerprint = 0;

  /** By format, keys present and keys with '' values. */
  private readonly layouts = new Map<number, Layout | undefined>();
  private promptBytes = Buffer.alloc(4096);
  private targetBytes = Buffer.alloc(4096);

  constructor(private readonly options: ScanOptions) {}

  /**
   * The too-long check counted on bytes: the prompt and target are assembled as UTF-8 from the template's
   * pieces and the values (the line's own bytes where no escapes). False: too long, or no layout.
   */
  private fitsTokens(b: Buffer, format: DatasetFormat, mask: number): boolean {
    let empty = 0;
    for (let m = mask; m; m &= m - 1) {
      const id = 31 - Math.clz32(m & -m);
      const d = this.decoded[id];
      if (this.start[id] === this.end[id]) empty |= 1 << id;
      // A blank value may switch templates (alpaca without input): only '' is laid out here.
      else if (d !== undefined ? !NOT_BLANK.test(d) : !hasNonSpace(b, this.start[id], this.end[id])) return false;
    }
    const key = DATASET_FORMATS.indexOf(format) * 2 ** 40 + mask * 2 ** 20 + empty;
    let layout = this.layouts.get(key);
    if (layout === undefined && !this.layouts.has(key)) {
      layout = layoutOf(format, this.options.template, mask, empty);
      this.layouts.set(key, layout);
    }
    if (!layout) return false;
    // Most records that the line's length cannot decide, this bound does, without assembling or counting.
    if (this.fitsBound(b, layout)) return true;
    const pn = this.assemble(b, layout.prompt, true);
    const tn = this.assemble(b, layout.target, false);
    return !exceedsTokenLimitUtf8(this.promptBytes, pn, this.targetBytes, tn, this.options.maxTokens);
  }

  /**
   * Whether the prompt and target surely fit: their UTF-8 bytes (a token each at most) less the merges
   * that surelyMergedUtf8 finds, value by value, are within the limit; where they are not, less the
   * merges that surelyMergedAscii finds in plain ASCII values (slower, and rarely needed). Each stops as
   * soon as enough are found.
   */
  private fitsBound(b: Buffer, layout: Layout): boolean {
    let bytes = layout.literalBytes;
    for (const id of layout.values) bytes += this.escaped & (1 << id) ? Buffer.byteLength(this.decoded[id]!) : this.end[id] - this.start[id];
    const over = bytes + 1 - this.options.maxTokens;
    let excess = over - layout.literalMerged;
    for (let k = 0; k < layout.values.length && excess > 0; k++) excess -= this.merged(b, layout.values[k], excess, false);
    if (excess <= 0) return true;
    excess = over - layout.literalMergedAscii;
    for (let k = 0; k < layout.values.length && excess > 0; k++) excess -= this.merged(b, layout.values[k], excess, true);
    return excess <= 0;
  }

  /** The merges surely made in the value of key `id` (up to `enough`): surelyMergedAscii's where `ascii` and it is plain ASCII. */
  private merged(b: Buffer, id: number, enough: number, ascii: boolean): number {
    if (this.escaped & (1 << id)) return surelyMerged(this.decoded[id]!, enough);
    if (ascii && this.decoded[id] === undefined) return surelyMergedAscii(b, this.start[id], this.end[id], enough);
    return surelyMergedUtf8(b, this.start[id], this.end[id], enough);
  }

  private assemble(b: Buffer, pieces: Piece[], prompt: boolean): number {
    let n = 0;
    for (const p of pieces) n += typeof p !== 'number' ? p.length : this.escaped & (1 << p) ? Buffer.byteLength(this.decoded[p]!) : this.end[p] - this.start[p];
    let out = prompt ? this.promptBytes : this.targetBytes;
    if (out.length < n) {
      out = Buffer.alloc(Math.max(n, out.length * 2));
      if (prompt) this.promptBytes = out;
      else this.targetBytes = out;
    }
    let at = 0;
    for (const p of pieces) {
      if (typeof p === 'number') {
        if (this.escaped & (1 << p)) at += (out as Buffer).write(this.decoded[p]!, at);
        else at += b.copy(out, at, this.start[p], this.end[p]);
      } else {
        out.set(p, at);
        at += p.length;
      }
    }
    return n;
  }

  private fastFor(format: DatasetFormat): FastFormat | undefined {
    // Records come in runs of one format: the last one answers without a Map lookup.
    if (format === this.lastFormat) return this.lastFast;
    if (!this.fast.has(format)) this.fast.set(format, fastFormat(format, this.options.template));
    this.lastFormat = format;
    this.lastFast = this.fast.get(format);
    return this.lastFast;
  }

  /** A string value of the last scanned record (undefined when it has no such key). */
  value(key: string): string | undefined {
    return this.valueOf(KEYS.indexOf(key));
  }

  private valueOf(id: number): string | undefined {
    if (id < 0 || !(this.mask & (1 << id))) return undefined;
    return this.decoded[id] ?? this.buf.toString('latin1', this.start[id], this.end[id]);
  }

  get task(): string | undefined {
    return this.valueOf(TASK);
  }

  get label(): string | undefined {
    return this.valueOf(LABEL);
  }

  /** The bytes that the next scans read lines of (a chunk). */
  setBytes(bytes: Uint8Array): void {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.words = bytes.byteOffset % 4 === 0 ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2) : undefined;
  }

  /**
   * Whether bytes[s, e) of the setBytes bytes (one line, no line break, valid UTF-8) is a clean record of
   * the format it is filed under (the forced format, else its best format): nothing to report about it on its own.
   */
  scan(s: number, e: number): boolean {
    return this.scanLine(s, e) === e;
  }

  /**
   * scan of the line that starts at s (valid UTF-8 up to e, the end of the bytes), without knowing
   * where it ends: the index of its '\n' (or e) when it is a clean record, else -1. A line break
   * stops the scan wherever it comes, as the end of the line would (it is a control character, which
   * no JSON token holds), so the caller need not look for it first in the lines that are clean.
   */
  scanLine(s: number, e: number): number {
    const b = this.buf;
    let i = s;
    while (i < e && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0d)) i++;
    if (i >= e || b[i] !== 0x7b) return -1;
    i++;
    while (i < e && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0d)) i++;
    let mask = 0;
    let complex = 0;
    let escaped = 0;
    let fa = OBJECT_A;
    let fb = OBJECT_B;
    for (;;) {
      if (i >= e || b[i] !== 0x22) return -1;
      // A key: plain ASCII and one the scanner knows.
      const ks = i + 1;
      let j = ks;
      while (STOP[b[j]] === 0) j++;
      if (j >= e || b[j] !== 0x22) return -1;
      const id = keyId(b, ks, j);
      if (id < 0) return -1;
      const bit = 1 << id;
      if (mask & bit) return -1; // a repeated key: JSON.parse keeps the last, ajv never sees the first
      mask |= bit;
      i = j + 1;
      while (i < e && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0d)) i++;
      if (i >= e || b[i] !== 0x3a) return -1;
      i++;
      while (i < e && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0d)) i++;
      if (i >= e || b[i] !== 0x22) return -1;
      // A string value. A line break, '\r' and the end of the bytes (reads past it give undefined) all stop the plain run.
      const vs = i + 1;
      j = vs;
      let plain = true;
      let escapes = false;
      for (;;) {
        j = plainRunEnd(b, this.words, j);
        if (j >= e) return -1;
        const c = b[j];
        if (c === 0x22) break;
        plain = false;
        if (c === 0x5c) {
          escapes = true;
          const x = b[j + 1];
          if (x === 0x75) {
            if (j + 5 >= e || !HEX[b[j + 2]] || !HEX[b[j + 3]] || !HEX[b[j + 4]] || !HEX[b[j + 5]]) return -1;
            // A surrogate escape (\uD800-\uDFFF) may be lone, which the full path warns about.
            if ((b[j + 2] | 0x20) === 0x64 && SURROGATE_SECOND[b[j + 3]]) return -1;
            j += 6;
          } else if (j + 1 < e && ESCAPE[x]) j += 2;
          else return -1;
        } else if (c < 0x20) return -1;
        else j++; // non-ASCII: the chunk is valid UTF-8
      }
      this.start[id] = vs;
      this.end[id] = j;
      if (plain) {
        this.decoded[id] = undefined;
        fpAsciiBytes(b, vs, j, FpTag.String);
      } else {
        const v = escapes ? (JSON.parse(b.toString('utf8', vs - 1, j + 1)) as string) : b.toString('utf8', vs, j);
        this.decoded[id] = v;
        complex |= bit;
        if (escapes) escaped |= bit;
        fpString(v, FpTag.String);
      }
      fa = memberA(fa, KEY_A[id]);
      fb = memberB(fb, KEY_B[id]);
      i = j + 1;
      while (i < e && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0d)) i++;
      if (i >= e) return -1;
      if (b[i] === 0x2c) {
        i++;
        while (i < e && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0d)) i++;
        continue;
      }
      if (b[i] !== 0x7d) return -1;
      i++;
      while (i < e && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0d)) i++;
      if (i < e && b[i] !== 0x0a) return -1;
      break;
    }
    this.mask = mask;
    this.escaped = escaped;

    const best = bestOf(mask);
    if (best === undefined) return -1;
    const forced = this.options.forced;
    if (forced !== undefined && forced !== best) return -1;
    const format = forced ?? best;
    const ff = this.fastFor(format);
    if (!ff || mask & ~ff.allowed || (mask & ff.required) !== ff.required) return -1;
    for (let m = mask & ff.nonEmpty; m; m &= m - 1) {
      const id = 31 - Math.clz32(m & -m);
      const d = complex & (1 << id) ? this.decoded[id] : undefined;
      if (d !== undefined ? !NOT_BLANK.test(d) : !hasNonSpace(b, this.start[id], this.end[id])) return -1;
    }
    // Strings hold at most as many UTF-8 bytes as their JSON text, and a token is at least a byte.
    const maxTokens = this.options.maxTokens;
    if (i - s + ff.overhead + 1 > maxTokens && !this.fitsTokens(b, format, mask)) {
      const r: Record<string, string> = {};
      for (let m = mask; m; m &= m - 1) {
        const id = 31 - Math.clz32(m & -m);
        r[KEYS[id]] = this.valueOf(id)!;
      }
      const f = formatRecord(r, format, { template: this.options.template });
      if (exceedsTokenLimit(f.prompt, f.target, maxTokens)) return -1;
    }
    this.best = best;
    this.fingerprint = finishFingerprint(fa, fb);
    return i;
  }
}

/** A formatted example as pieces: template text (ASCII bytes) or a key id whose value goes there. */
type Piece = Uint8Array | number;
interface Layout {
  prompt: Piece[];
  target: Piece[];
  /** The key ids of the values that the prompt and target hold. */
  values: number[];
  /** The template's own UTF-8 bytes, and the merges surelyMergedUtf8 and surelyMergedAscii find in them (piece by piece). */
  literalBytes: number;
  literalMerged: number;
  literalMergedAscii: number;
}

/** The first sentinel character: private-use code points that no template contains. */
const SENTINEL = 0xe000;

/**
 * Where formatRecord puts each value of a record with these keys (`empty`: the keys whose value is ''),
 * found by formatting a record of sentinel characters; undefined when the template is not ASCII or uses
 * a value other than verbatim and once.
 */
function layoutOf(format: DatasetFormat, template: string | undefined, mask: number, empty: number): Layout | undefined {
  const r: Record<string, string> = {};
  for (let id = 0; id < KEYS.length; id++) {
    if (mask & (1 << id)) r[KEYS[id]] = empty & (1 << id) ? '' : String.fromCharCode(SENTINEL + id);
  }
  const f = formatRecord(r, format, { template });
  const seen = new Set<number>();
  const split = (text: string): Piece[] | undefined => {
    const pieces: Piece[] = [];
    let lit = '';
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= SENTINEL && c < SENTINEL + KEYS.length) {
        const id = c - SENTINEL;
        if (seen.has(id)) return undefined;
        seen.add(id);
        if (lit) pieces.push(Buffer.from(lit, 'latin1'));
        lit = '';
        pieces.push(id);
      } else if (c > 0x7f) return undefined;
      else lit += text[i];
    }
    if (lit) pieces.push(Buffer.from(lit, 'latin1'));
    return pieces;
  };
  const prompt = split(f.prompt);
  const target = split(f.target);
  if (!prompt || !target) return undefined;
  let literalBytes = 0;
  let literalMerged = 0;
  let literalMergedAscii = 0;
  for (const p of [...prompt, ...target]) {
    if (typeof p === 'number') continue;
    literalBytes += p.length;
    literalMerged += surelyMergedUtf8(p, 0, p.length);
    literalMergedAscii += surelyMergedAscii(p, 0, p.length);
  }
  return { prompt, target, values: [...seen], literalBytes, literalMerged, literalMergedAscii };
}

/**
 * The index of the first byte at or after j that ends a plain run (STOP), which exists: every line is
 * followed by '\n' or the end of the buffer (reads past it give undefined, which stops too).
 * Whole aligned words are tested at once (SWAR): a byte >= 0x80, < 0x20, '"' or '\\' sets its top bit.
 */
function plainRunEnd(b: Uint8Array, words: Int32Array | undefined, j: number): number {
  if (words) {
    while ((j & 3) !== 0) {
      if (STOP[b[j]] !== 0) return j;
      j++;
    }
    let w = j >> 2;
    const n = words.length;
    while (w < n) {
      const x = words[w];
      const q = x ^ 0x22222222;
      const k = x ^ 0x5c5c5c5c;
      if (((x | ((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((k - 0x01010101) & ~k)) & 0x80808080) !== 0) break;
      w++;
    }
    j = w << 2;
  }
  while (STOP[b[j]] === 0) j++;
  return j;
}

function keyId(b: Uint8Array, s: number, e: number): number {
  const ids = KEYS_OF_LENGTH[e - s];
  if (ids === undefined) return -1;
  next: for (let c = 0; c < ids.length; c++) {
    const k = KEY_BYTES[ids[c]];
    for (let x = 0; x < k.length; x++) if (b[s + x] !== k[x]) continue next;
    return ids[c];
  }
  return -1;
}

/** A plain ASCII string (no control characters) has a non-whitespace character unless it is all spaces. */
function hasNonSpace(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (b[i] !== 0x20) return true;
  return false;
}
