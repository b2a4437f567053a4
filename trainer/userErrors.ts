// Which failures are the user's to fix (a bad flag, dataset, model file or path) and which are bugs. A
// user's error reaches the `error` event and the CLI as its message alone: a stack trace says nothing
// to them and hides the one line that does. A bug keeps its stack, which is what a report needs. Every
// place that turns an exception into an `error` event asks `errorEventFields`.
import { TrainConfigError } from '../protocol/options';
import { NotRegularFileError } from '../language/regularFile';
import { TokenizerFileError } from '../language/tokenizer';
import { BackendUnavailableError } from './compute/backend';
import { ModelConfigError } from './models/gpt2/config';
import { DatasetError } from './data';
import { HubError } from './hub';
import { WasmOutOfMemoryError } from './memoryGuard';
import { ModelFileError } from './formats/modelFolder';
import { RunFolderError } from './runOwnership';
import { SafetensorsError } from './formats/safetensors';
import { CheckpointError } from './formats/checkpoint';

/** Error classes whose message is written for the user and names what to change. */
const USER_ERROR_CLASSES: (abstract new (...args: never[]) => Error)[] = [
  TrainConfigError,
  DatasetError,
  ModelConfigError,
  RunFolderError,
  WasmOutOfMemoryError,
  HubError,
  NotRegularFileError,
  BackendUnavailableError,
  SafetensorsError,
  TokenizerFileError,
  ModelFileError,
  CheckpointError,
];

/**
 * File-system failures caused by what the user named or where they asked to write: Node's message
 * already says which call on which path ("EACCES: permission denied, open '/data/x.jsonl'").
 */
const USER_FS_CODES = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EEXIST',
  'ENOTDIR',
  'EISDIR',
  'ENOSPC',
  'EROFS',
  'ENOTEMPTY',
  'ELOOP',
  'ENAMETOOLONG',
  'EDQUOT',
  'EMFILE',
  'ENFILE',
  'EBUSY',
]);

/** Whether `err` is the user's to fix (its message is enough) rather than a bug (its stack is needed). */
export function isUserError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (USER_ERROR_CLASSES.some((c) => err instanceof c)) return true;
  const e = err as NodeJS.ErrnoException;
  return typeof e.code === 'string' && USER_FS_CODES.has(e.code) && typeof e.syscall === 'string' && typeof e.path === 'string';
}

/** The `message` and, for bugs only, the `stack` of an `error` event for `err`. */
export function errorEventFields(err: unknown, prefix = ''): { message: string; stack?: string } {
  const message = prefix + (err instanceof Error ? err.message : String(err));
  if (isUserError(err) || !(err instanceof Error) || !err.stack) return { message };
  return { message, stack: err.stack };
}
