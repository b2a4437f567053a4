// Reading a file the user named (a dataset, a config, a schema) without ever blocking on it: a FIFO, a
// device or a directory is refused with a message saying what it is, before a single byte is read. The
// file is opened non-blocking and checked on the open descriptor (fstat), so nothing can swap it for a
// FIFO between the check and the read; opening a FIFO that way returns at once instead of waiting for a
// writer. The trainer, the CLI and the extension share it.
import * as fs from 'node:fs';

/** A path that names something other than a regular file, or one too large for what it is read as. */
export class NotRegularFileError extends Error {
  readonly code = 'ENOTREG';
  constructor(message: string) {
    super(message);
    this.name = 'NotRegularFileError';
  }
}

// O_NONBLOCK does not exist on Windows, where opening a named pipe does not wait for a writer.
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/** What a non-regular file is, in words ("a FIFO (named pipe)", "a directory", …). */
export function describeFileKind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function refuse(file: string, st: fs.Stats, what: string): NotRegularFileError {
  const kind = describeFileKind(st);
  return new NotRegularFileError(`${what} ${file} is ${kind}, not a regular file`);
}

function tooLarge(file: string, size: number, maxBytes: number, what: string): NotRegularFileError {
  return new NotRegularFileError(`${what} ${file} is ${size} bytes, more than the ${maxBytes} such a file may have`);
}

export interface ReadOptions {
  /** How the message names the file ("dataset", "config", "schema"); default "file". */
  what?: string;
  /** Refuse files larger than this (before reading them). */
  maxBytes?: number;
}

/** Throws NotRegularFileError unless `file` is a regular file (stat only; nothing is opened). */
export async function assertRegularFile(file: string, what = 'file'): Promise<fs.Stats> {
  const st = await fs.promises.stat(file);
  if (!st.isFile()) throw refuse(file, st, what);
  return st;
}

/** Opens `file` for reading when it is a regular file; the caller closes the handle. */
export async function openRegularFile(file: string, options: ReadOptions = {}): Promise<{ handle: fs.promises.FileHandle; size: number }> {
  const what = options.what ?? 'file';
  const handle = await fs.promises.open(file, OPEN_FLAGS);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw refuse(file, st, what);
    if (options.maxBytes !== undefined && st.size > options.maxBytes) throw tooLarge(file, st.size, options.maxBytes, what);
    return { handle, size: st.size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** The bytes of a regular file, read asynchronously (signals and timers keep working while it reads). */
export async function readRegularFile(file: string, options: ReadOptions = {}): Promise<Buffer> {
  const { handle } = await openRegularFile(file, options);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * The bytes of a regular file, read synchronously: only for small files (a run.json, a schema) read by
 * synchronous APIs. A regular file cannot block a read the way a FIFO does, and `maxBytes` bounds how
 * long the read takes.
 */
export function readRegularFileSync(file: string, options: ReadOptions & { maxBytes: number }): Buffer {
  const what = options.what ?? 'file';
  const fd = fs.openSync(file, OPEN_FLAGS);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw refuse(file, st, what);
    if (st.size > options.maxBytes) throw tooLarge(file, st.size, options.maxBytes, what);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Config-like files (run.json, config.json, a JSON Schema) are a few KB; 64 MiB is far beyond any real one. */
export const MAX_CONFIG_BYTES = 64 * 2 ** 20;
