// Worker thread of userSchemaGuard.ts: checks records against the user's JSON Schema, so that a
// catastrophic pattern (`"^(a+)+$"` backtracks for hours on 40 characters) runs here, where it can be
// stopped, and never on the thread that asked (the extension host, the CLI). Bundled to
// dist/userSchema.worker.js; run from source under tsx.
import { workerData, type MessagePort } from 'node:worker_threads';
import { userSchemaValidator } from './formats';

const { schema, port, signal } = workerData as { schema: object; port: MessagePort; signal: SharedArrayBuffer };
const flag = new Int32Array(signal);

/** Posts the reply, then wakes the caller blocked in Atomics.wait (it reads the reply synchronously). */
function reply(message: unknown): void {
  port.postMessage(message);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}

const validate = userSchemaValidator(schema);
port.on('message', (m: { seq: number; text: string }) => {
  try {
    const ok = validate(JSON.parse(m.text)) as boolean;
    reply({ seq: m.seq, ok, errors: ok ? undefined : (validate.errors ?? []).map((e) => ({ instancePath: e.instancePath, message: e.message })) });
  } catch (err) {
    reply({ seq: m.seq, ok: false, errors: [{ instancePath: '', message: `could not be checked (${err instanceof Error ? err.message : String(err)})` }] });
  }
});
// Ready: the schema compiled.
reply({ seq: 0, ok: true });
