// The user's JSON Schema (`finetune.dataset.schema`, `validate --schema`) is the one part of validation
// whose cost the user's file controls: a pattern such as "^(a+)+$" backtracks exponentially, 20 s and
// more on a 41-character string, and JavaScript cannot interrupt a regular expression on its own thread.
// So records are checked in a worker thread (userSchema.worker.ts) with a time limit: the caller blocks
// in Atomics.wait for at most the limit and reads the answer synchronously (receiveMessageOnPort), so the
// synchronous line checks keep their shape. A record that runs out of time ends the worker; the schema is
// then treated as broken and not applied to further records until it changes, because a pattern that
// explodes on one record explodes on its neighbours, and a limit paid per record would hang the editor
// just the same (one diagnostic says so, at the record where it happened).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { userSchemaValidator } from './formats';

/** How long one record may take against the user's schema; real schemas take microseconds. */
export const DEFAULT_SCHEMA_TIME_LIMIT_MS = 1000;
/** Starting the worker and compiling the schema (not counted against a record). */
const STARTUP_LIMIT_MS = 30_000;

export interface SchemaError {
  instancePath: string;
  message?: string;
}

export type SchemaCheck = { ok: true } | { ok: false; errors: SchemaError[] } | { timedOut: true } | { skipped: true };

/** The bundled worker next to this file (dist/), or the TypeScript source when running under tsx. */
function workerPath(): string | undefined {
  for (const f of ['userSchema.worker.js', 'userSchema.worker.ts']) {
    const p = path.join(__dirname, f);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

class GuardedSchema {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private ready = false;
  private seq = 0;
  /** Timed out once: not applied any more. */
  broken = false;
  /** No worker file (an unusual build): checked on this thread, as before the guard existed. */
  private readonly inThread: boolean;

  constructor(private readonly schema: object) {
    const file = workerPath();
    this.inThread = file === undefined;
    if (!file) return;
    const { port1, port2 } = new MessageChannel();
    const workerData = { schema, port: port2, signal: this.flag.buffer };
    // Under tsx (tests, development) the worker is TypeScript: load it through tsx's require hook.
    this.worker = file.endsWith('.ts')
      ? new Worker(`const r = require('node:module').createRequire(${JSON.stringify(file)}); r('tsx/cjs'); r(${JSON.stringify(file)});`, {
          eval: true,
          workerData,
          transferList: [port2],
        })
      : new Worker(file, { workerData, transferList: [port2] });
    // Never keeps a process alive, and its failures surface as a failed check, not an unhandled event.
    this.worker.unref();
    this.worker.on('error', () => this.stop());
    port1.unref();
    this.port = port1;
  }

  /** Waits up to `ms` for the worker's next reply with this sequence number. */
  private await(seq: number, ms: number): { ok: boolean; errors?: SchemaError[] } | undefined {
    const deadline = Date.now() + ms;
    for (;;) {
      for (let m = receiveMessageOnPort(this.port!); m; m = receiveMessageOnPort(this.port!)) {
        const reply = m.message as { seq: number; ok: boolean; errors?: SchemaError[] };
        if (reply.seq === seq) return reply;
      }
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      Atomics.wait(this.flag, 0, 0, left);
      Atomics.store(this.flag, 0, 0);
    }
  }

  check(text: string, limitMs: number): SchemaCheck {
    if (this.broken) return { skipped: true };
    if (this.inThread) return checkInThread(this.schema, text);
    if (!this.worker) return { skipped: true };
    if (!this.ready) {
      if (!this.await(0, STARTUP_LIMIT_MS)) {
        this.stop();
        return { ok: false, errors: [{ instancePath: '', message: 'could not be checked (the schema worker did not start)' }] };
      }
      this.ready = true;
    }
    const seq = ++this.seq;
    Atomics.store(this.flag, 0, 0);
    this.port!.postMessage({ seq, text });
    const reply = this.await(seq, limitMs);
    if (!reply) {
      this.stop();
      return { timedOut: true };
    }
    return reply.ok ? { ok: true } : { ok: false, errors: reply.errors ?? [] };
  }

  /** Ends the worker (terminate interrupts even a regular expression in the middle of backtracking). */
  private stop(): void {
    this.broken = true;
    const w = this.worker;
    this.worker = undefined;
    this.port?.close();
    void w?.terminate();
  }
}

function checkInThread(schema: object, text: string): SchemaCheck {
  const validate = userSchemaValidator(schema);
  try {
    if (validate(JSON.parse(text))) return { ok: true };
    return { ok: false, errors: validate.errors ?? [] };
  } catch (err) {
    return { ok: false, errors: [{ instancePath: '', message: `could not be checked (${err instanceof Error ? err.message : String(err)})` }] };
  }
}

const guards = new WeakMap<object, GuardedSchema>();

/**
 * Checks one record line (its JSON text) against `schema` in the schema's worker, within `limitMs`.
 * `timedOut` once per schema object; after that the schema is `skipped`.
 */
export function checkUserSchema(schema: object, text: string, limitMs = DEFAULT_SCHEMA_TIME_LIMIT_MS): SchemaCheck {
  let guard = guards.get(schema);
  if (!guard) guards.set(schema, (guard = new GuardedSchema(schema)));
  return guard.check(text, limitMs);
}

/** The message of a `schema-timeout` diagnostic. */
export function schemaTimeoutMessage(limitMs: number): string {
  return (
    `schema: checking this record took longer than ${limitMs / 1000} s and was stopped, so the schema is not applied to the records after it ` +
    `until it changes; look for a pattern that can backtrack exponentially, such as "^(a+)+$" (nested quantifiers)`
  );
}
