// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then
// the raw little-endian data, offsets relative to the end of the header. Everything is read into
// float32, since that is what the trainer computes in; files are written in F32.
import * as buffer from 'node:buffer';
import * as fs from 'node:fs';
import { readRegularFileSync } from '../../language/regularFile';

/** A file that is not valid safetensors: the message says what is wrong and where. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafetensorsTensor {
  /** The dtype stored in the file; `data` is always float32. */
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array;
}

export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array;
}

const BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

// A header larger than this is certainly corrupt (real ones are tens of KB): refuse before allocating.
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

let f16Table: Float32Array | undefined;

/** All 65,536 half-precision values, so a conversion is one lookup per element. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  f16Table = table;
  return table;
}

function decode(bytes: Buffer, dtype: SafetensorsDtype, count: number): Float32Array {
  // Copy into an aligned buffer: offsets inside the file need not be multiples of the element size.
  const aligned = new Uint8Array(bytes.length);
  aligned.set(bytes);
  const buf = aligned.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf, 0, count);
    case 'F64':
      return Float32Array.from(new Float64Array(buf, 0, count));
    case 'F16': {
      const table = halfTable();
      const src = new Uint16Array(buf, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[src[i]];
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const src = new Uint16Array(buf, 0, count);
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = src[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case 'I64':
      return Float32Array.from(new BigInt64Array(buf, 0, count), (v) => Number(v));
    case 'I32':
      return Float32Array.from(new Int32Array(buf, 0, count));
    case 'I16':
      return Float32Array.from(new Int16Array(buf, 0, count));
    case 'I8':
      return Float32Array.from(new Int8Array(buf, 0, count));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(new Uint8Array(buf, 0, count));
  }
}

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(BYTES, value);
}

export interface SafetensorsHeader {
  headerLength: number;
  entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[];
  metadata: Record<string, string>;
}

/**
 * The parsed header: tensor entries (validated) and `__metadata__`. `bytes` is the whole file, or only
 * its first 8 + header-length bytes when `fileLength` gives the file's size (readSafetensorsFileHeader).
 */
export function readSafetensorsHeader(bytes: Buffer, where = 'safetensors data', fileLength = bytes.length): SafetensorsHeader {
  if (fileLength < 8 || bytes.length < 8) throw new SafetensorsError(`${where}: file is ${fileLength} bytes, too short for the 8-byte header length`);
  const n = bytes.readBigUInt64LE(0);
  if (n === 0n) throw new SafetensorsError(`${where}: header length is 0`);
  if (n > BigInt(fileLength - 8)) {
    throw new SafetensorsError(
      `${where}: header length ${n} is larger than the rest of the file (${fileLength - 8} bytes); the file is truncated or not safetensors`,
    );
  }
  if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(`${where}: header length ${n} is implausibly large`);
  const headerLength = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  } catch (err) {
    throw new SafetensorsError(`${where}: header is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError(`${where}: header is not a JSON object`);
  if (bytes.length < 8 + headerLength) throw new SafetensorsError(`${where}: the header's ${headerLength} bytes were not all read`);
  const dataLength = fileLength - 8 - headerLength;
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info && typeof info === 'object' && !Array.isArray(info)) metadata = info as Record<string, string>;
      else throw new SafetensorsError(`${where}: __metadata__ is not an object`);
      continue;
    }
    const fail = (why: string): never => {
      throw new SafetensorsError(`${where}: tensor '${name}': ${why}`);
    };
    if (!info || typeof info !== 'object') fail('entry is not an object');
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDtype(dtype)) fail(`unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(BYTES).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
      fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      fail(`data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    }
    const [begin, end] = offsets as number[];
    if (end < begin) fail(`data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) fail(`data_offsets end at ${end} but the data section holds ${dataLength} bytes; the file is truncated`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const want = count * BYTES[dtype as SafetensorsDtype];
    if (end - begin !== want) fail(`holds ${end - begin} bytes but shape [${(shape as number[]).join(', ')}] in ${dtype} needs ${want}`);
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  // Overlapping tensors are forbidden by the format; they mean a corrupt header.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) throw new SafetensorsError(`${where}: tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
  }
  return { headerLength, entries, metadata };
}

/**
 * The header of a safetensors file, reading only its first 8 + header-length bytes: what a checkpoint
 * holds (names, dtypes, shapes) is known and checked before any tensor data is read or allocated.
 */
export function readSafetensorsFileHeader(file: string): SafetensorsHeader {
  let fd: number;
  try {
    // Non-blocking, as readRegularFileSync opens: a FIFO named like a weights file must not hang the open.
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw new SafetensorsError(`${file}: cannot read (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new SafetensorsError(`${file}: not a regular file`);
    const head = Buffer.alloc(8);
    fs.readSync(fd, head, 0, 8, 0);
    const n = stat.size >= 8 ? head.readBigUInt64LE(0) : 0n;
    // Bounded before allocating: readSafetensorsHeader then says what is wrong with it.
    const length = n > 0n && n <= BigInt(Math.min(MAX_HEADER_BYTES, stat.size - 8)) ? Number(n) : 0;
    const bytes = Buffer.alloc(8 + length);
    head.copy(bytes);
    if (length > 0) fs.readSync(fd, bytes, 8, length, 8);
    return readSafetensorsHeader(bytes, file, stat.size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every tensor of a safetensors file (a path or its bytes), converted to float32. */
export function readSafetensors(source: string | Buffer): Map<string, SafetensorsTensor> {
  const where = typeof source === 'string' ? source : 'safetensors data';
  let bytes: Buffer;
  if (typeof source === 'string') {
    try {
      // A FIFO or device named model.safetensors is refused instead of blocking the read.
      bytes = readRegularFileSync(source, { what: 'weights file', maxBytes: buffer.constants.MAX_LENGTH });
    } catch (err) {
      throw new SafetensorsError(`${where}: cannot read (${err instanceof Error ? err.message : String(err)})`);
    }
  } else {
    bytes = source;
  }
  const { headerLength, entries } = readSafetensorsHeader(bytes, where);
  const base = 8 + headerLength;
  const out = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    out.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(bytes.subarray(base + e.begin, base + e.end), e.dtype, count) });
  }
  return out;
}

/** The `__metadata__` of a safetensors file. */
export function readSafetensorsMetadata(source: string | Buffer): Record<string, string> {
  const bytes = typeof source === 'string' ? fs.readFileSync(source) : source;
  return readSafetensorsHeader(bytes, typeof source === 'string' ? source : 'safetensors data').metadata;
}

/** The bytes of a safetensors file holding `tensors` in F32 (in the map's order). */
export function encodeSafetensors(tensors: Map<string, TensorToWrite>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor '${name}': shape [${t.shape.join(', ')}] holds ${count} values but data has ${t.data.length}`);
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at);
    at += t.data.byteLength;
  }
  return out;
}

/** Writes `tensors` as an F32 safetensors file. */
export function writeSafetensors(file: string, tensors: Map<string, TensorToWrite>, metadata?: Record<string, string>): void {
  fs.writeFileSync(file, encodeSafetensors(tensors, metadata));
}
