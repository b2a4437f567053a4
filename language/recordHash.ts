// A 53-bit hash of a record's normalised content (object keys sorted, strings compared after JSON
// unescaping, whitespace between tokens ignored), so that duplicate detection keeps one number per
// record: memory grows with records, never with their size. Two different records collide with
// probability ~n²/2⁵⁴ (about 1 in 18,000 for a million records): good enough for a warning.

const MAX_DEPTH = 64;

class Hasher {
  h1 = 0xdeadbeef;
  h2 = 0x41c6ce57;

  add(s: string): void {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    // Length-delimit so that ["ab","c"] and ["a","bc"] differ.
    h1 = Math.imul(h1 ^ s.length, 2654435761);
    h2 = Math.imul(h2 ^ (s.length + 0x9e37), 1597334677);
    this.h1 = h1;
    this.h2 = h2;
  }

  /** Mixes in a sample of a long string's characters (no allocation): its length, both ends, and spaced ones. */
  addSample(s: string): void {
    let h1 = this.h1 ^ s.length;
    let h2 = this.h2 ^ s.length;
    const n = s.length;
    const step = n >> 3;
    // 4 characters at each end and 7 spaced ones: 15 in all.
    for (let k = 0; k < 15; k++) {
      const c = s.charCodeAt(k < 4 ? k : k < 8 ? n - 8 + k : (k - 7) * step);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    this.h1 = h1;
    this.h2 = h2;
  }

  value(): number {
    let h1 = this.h1;
    let h2 = this.h2;
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return 4294967296 * (2097151 & h2) + (h1 >>> 0);
  }
}

function addValue(h: Hasher, v: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  if (typeof v === 'string') {
    h.add('s');
    h.add(v);
  } else if (v === null || typeof v !== 'object') {
    h.add(typeof v === 'number' ? 'n' : 'b');
    h.add(String(v));
  } else if (Array.isArray(v)) {
    h.add('[');
    for (const x of v) if (!addValue(h, x, depth + 1)) return false;
    h.add(']');
  } else {
    h.add('{');
    const keys = Object.keys(v).sort();
    for (const k of keys) {
      h.add(k);
      if (!addValue(h, (v as Record<string, unknown>)[k], depth + 1)) return false;
    }
    h.add('}');
  }
  return true;
}

/** Hash of a parsed record; `lineText` is the fallback for records nested too deeply to walk. */
export function recordHash(record: unknown, lineText: string): number {
  const h = new Hasher();
  if (addValue(h, record, 0)) return h.value();
  const raw = new Hasher();
  raw.add('raw');
  raw.add(lineText.trim());
  return raw.value();
}

/**
 * A cheap fingerprint of the same normalised content: keys, value types and lengths, and a sample of
 * each string's characters. Equal records always have equal fingerprints; the full hash is computed only
 * when fingerprints collide, so that duplicate detection costs a few dozen characters per record.
 * Object members are combined by addition, which does not depend on key order (no sorting needed).
 */
export function recordFingerprint(record: unknown): number {
  fpValue(record, 0);
  return finishFingerprint(lanes[0], lanes[1]);
}

/** Two 32-bit lanes: the result of fpString/fpBytes/fpValue, without allocating. */
export const lanes = new Int32Array(2);

export enum FpTag {
  String = 1,
  Number = 2,
  Other = 3,
  Deep = 4,
  Key = 5,
}

export function finishFingerprint(h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** Folds a member (key lanes ka/kb, value lanes in `lanes`) into an object's lanes; order-independent. */
export function memberA(a: number, ka: number): number {
  return (a + Math.imul(ka ^ Math.imul(lanes[0], 0xcc9e2d51), 0x1b873593)) | 0;
}
export function memberB(b: number, kb: number): number {
  return (b + Math.imul(kb ^ Math.imul(lanes[1], 0x85ebca6b), 0xc2b2ae35)) | 0;
}
export const OBJECT_A = 0x5bd1e995;
export const OBJECT_B = 0x1b873593;

/** Sampled positions of a string of length n > 16: 4 at each end and 7 spaced. */
function samplePos(k: number, n: number): number {
  return k < 4 ? k : k < 8 ? n - 8 + k : (k - 7) * (n >> 3);
}

export function fpString(s: string, tag: number): void {
  const n = s.length;
  let a = Math.imul(0x9e3779b9 ^ tag, 2654435761) ^ n;
  let b = Math.imul(0x85ebca6b ^ tag, 1597334677) ^ n;
  if (n <= 16) {
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      a = Math.imul(a ^ c, 2654435761);
      b = Math.imul(b ^ c, 1597334677);
    }
  } else {
    for (let k = 0; k < 15; k++) {
      const c = s.charCodeAt(samplePos(k, n));
      a = Math.imul(a ^ c, 2654435761);
      b = Math.imul(b ^ c, 1597334677);
    }
  }
  lanes[0] = a;
  lanes[1] = b;
}

/**
 * fpString of a string whose UTF-8 bytes b[start, end) are all ASCII (so byte i is UTF-16 unit i): the
 * same lanes, straight from a line's bytes, without decoding it.
 */
export function fpAsciiBytes(b: Uint8Array, start: number, end: number, tag: number): void {
  const n = end - start;
  let a = Math.imul(0x9e3779b9 ^ tag, 2654435761) ^ n;
  let c2 = Math.imul(0x85ebca6b ^ tag, 1597334677) ^ n;
  if (n <= 16) {
    for (let i = start; i < end; i++) {
      const c = b[i];
      a = Math.imul(a ^ c, 2654435761);
      c2 = Math.imul(c2 ^ c, 1597334677);
    }
  } else {
    for (let k = 0; k < 15; k++) {
      const c = b[start + samplePos(k, n)];
      a = Math.imul(a ^ c, 2654435761);
      c2 = Math.imul(c2 ^ c, 1597334677);
    }
  }
  lanes[0] = a;
  lanes[1] = c2;
}

function fpValue(v: unknown, depth: number): void {
  if (typeof v === 'string') {
    fpString(v, FpTag.String);
    return;
  }
  if (v === null || typeof v !== 'object') {
    fpString(String(v), typeof v === 'number' ? FpTag.Number : FpTag.Other);
    return;
  }
  if (depth > 8) {
    fpString('deep', FpTag.Deep);
    return;
  }
  if (Array.isArray(v)) {
    let a = 0x27d4eb2f ^ v.length;
    let b = 0x165667b1 ^ v.length;
    const n = v.length;
    for (let i = 0; i < n; i++) {
      if (n > 32 && i === 16) i = n - 16;
      fpValue(v[i], depth + 1);
      a = Math.imul(a ^ lanes[0], 2654435761);
      b = Math.imul(b ^ lanes[1], 1597334677);
    }
    lanes[0] = a;
    lanes[1] = b;
    return;
  }
  let a = OBJECT_A;
  let b = OBJECT_B;
  for (const k in v) {
    fpString(k, FpTag.Key);
    const ka = lanes[0];
    const kb = lanes[1];
    fpValue((v as Record<string, unknown>)[k], depth + 1);
    a = memberA(a, ka);
    b = memberB(b, kb);
  }
  lanes[0] = a;
  lanes[1] = b;
}
