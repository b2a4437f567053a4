// The safetensors reader/writer: dtypes, round trips, and a clear SafetensorsError for broken files.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeSafetensors, readSafetensors, readSafetensorsMetadata, SafetensorsError, writeSafetensors } from '../../trainer/formats/safetensors';

/** A safetensors file from a header object and raw data bytes. */
function file(header: Record<string, unknown>, data: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

test('F32 tensors and metadata survive a write and read', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
  const p = path.join(dir, 'a.safetensors');
  const tensors = new Map([
    ['w', { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-30, -7]) }],
    ['b', { shape: [3], data: Float32Array.from([0.25, 0.5, 0.75]) }],
    ['empty', { shape: [0, 4], data: new Float32Array(0) }],
  ]);
  writeSafetensors(p, tensors, { format: 'pt' });
  const bytes = fs.readFileSync(p);
  assert.equal((8 + Number(bytes.readBigUInt64LE(0))) % 8, 0, 'data starts 8-byte aligned');
  const back = readSafetensors(p);
  assert.deepEqual([...back.keys()], ['w', 'b', 'empty']);
  for (const [k, t] of tensors) {
    assert.equal(back.get(k)!.dtype, 'F32');
    assert.deepEqual(back.get(k)!.shape, t.shape);
    assert.deepEqual(back.get(k)!.data, t.data);
  }
  assert.deepEqual(readSafetensorsMetadata(p), { format: 'pt' });
});

test('F16 and BF16 (including subnormals, infinities and NaN) and integer dtypes decode to float32', () => {
  const f16 = Buffer.alloc(12);
  [0x3c00, 0xc000, 0x0001, 0x7c00, 0x7e00, 0x3555].forEach((h, i) => f16.writeUInt16LE(h, i * 2));
  const bf16 = Buffer.alloc(6);
  [0x3f80, 0xc0a0, 0x3eaa].forEach((h, i) => bf16.writeUInt16LE(h, i * 2));
  const i64 = Buffer.alloc(16);
  i64.writeBigInt64LE(-3n, 0);
  i64.writeBigInt64LE(5n, 8);
  const data = Buffer.concat([f16, bf16, i64, Buffer.from([1, 0])]);
  const t = readSafetensors(
    file(
      {
        h: { dtype: 'F16', shape: [6], data_offsets: [0, 12] },
        b: { dtype: 'BF16', shape: [3], data_offsets: [12, 18] },
        i: { dtype: 'I64', shape: [2], data_offsets: [18, 34] },
        m: { dtype: 'BOOL', shape: [2], data_offsets: [34, 36] },
      },
      data,
    ),
  );
  const h = Array.from(t.get('h')!.data);
  assert.deepEqual(h.slice(0, 4), [1, -2, 2 ** -24, Infinity]);
  assert.ok(Number.isNaN(h[4]));
  // F16 0x3555 and BF16 0x3EAA decode exactly to 0.333251953125 and 0.33203125.
  assert.equal(h[5], 0.333251953125);
  assert.deepEqual(Array.from(t.get('b')!.data).slice(0, 2), [1, -5]);
  assert.equal(t.get('b')!.data[2], 0.33203125);
  assert.deepEqual(Array.from(t.get('i')!.data), [-3, 5]);
  assert.deepEqual(Array.from(t.get('m')!.data), [1, 0]);
});

test('broken files throw SafetensorsError saying what is wrong', () => {
  const ok = encodeSafetensors(new Map([['w', { shape: [2], data: Float32Array.from([1, 2]) }]]));
  const cases: [Buffer, RegExp][] = [
    [Buffer.alloc(3), /too short for the 8-byte header length/],
    [ok.subarray(0, 20), /header length \d+ is larger than the rest of the file/],
    [Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":')]), /header is not valid JSON/],
    [
      file({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(4)),
      /'w': data_offsets end at 8 but the data section holds 4 bytes; the file is truncated/,
    ],
    [file({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)), /'w': holds 8 bytes but shape \[3\] in F32 needs 12/],
    [file({ w: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(8)), /'w': unsupported dtype "Q4"/],
    [file({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, Buffer.alloc(4)), /shape \[-1\] is not a list of non-negative integers/],
    [file({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, Buffer.alloc(8)), /end before they begin/],
    [
      file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, Buffer.alloc(8)),
      /tensors 'a' and 'b' overlap/,
    ],
    [file([1, 2] as unknown as Record<string, unknown>, Buffer.alloc(0)), /header is not a JSON object/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(
      () => readSafetensors(bytes),
      (err: Error) => err instanceof SafetensorsError && message.test(err.message),
      String(message),
    );
  }
  assert.throws(() => readSafetensors('/nonexistent/model.safetensors'), /\/nonexistent\/model\.safetensors: cannot read/);
  // The path is named in the message.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
  fs.writeFileSync(path.join(dir, 'm.safetensors'), ok.subarray(0, 20));
  assert.throws(() => readSafetensors(path.join(dir, 'm.safetensors')), /m\.safetensors: header length/);
});

test('the writer refuses data that does not fill its shape', () => {
  assert.throws(
    () => encodeSafetensors(new Map([['w', { shape: [2, 2], data: new Float32Array(3) }]])),
    /tensor 'w': shape \[2, 2\] holds 4 values but data has 3/,
  );
});
