// The trainer child process (dist/trainer.js): `node dist/trainer.js --data … --model … --out …` or
// `--config run.json`. Events go to stdout as JSON lines and to the run folder's events.jsonl. The
// extension stops it with the IPC message {type:'stop'} (or SIGTERM/SIGINT): the current step finishes,
// the output is saved, and `done` reports status `stopped`. Exit code: 0 unless the run failed.
import { TrainConfigError } from '../protocol/options';
import { isControlMessage } from '../protocol/trainer';
import { EventWriter, lineWriter } from './runFolder';
import { trainFromArgs } from './train';
import { errorEventFields } from './userErrors';

/** Errors outside a run (bad settings, a crash) still reach the parent as an `error` event; a user's without a stack. */
function emitFatal(err: unknown, prefix = ''): void {
  const writer = new EventWriter();
  writer.onEvent(lineWriter(process.stdout));
  writer.emit({ type: 'error', ...errorEventFields(err, prefix) });
}

async function main(): Promise<number> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.on('message', (message) => {
    if (isControlMessage(message) && message.type === 'stop') stop();
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The trainer runs in its own process group, so a host that dies without stopping it (crash, SIGKILL)
  // would leave it training: a lost IPC channel stops and saves like a `stop` message.
  process.on('disconnect', stop);
  try {
    const done = await trainFromArgs(process.argv.slice(2), process.stdout, controller.signal);
    return done.status === 'failed' ? 1 : 0;
  } catch (err) {
    emitFatal(err);
    return err instanceof TrainConfigError ? 2 : 1;
  }
}

process.on('uncaughtException', (err) => {
  emitFatal(err, 'trainer crashed: ');
  process.exit(1);
});

main().then((code) => {
  process.exitCode = code;
  // An open IPC channel would keep the process alive after the run.
  if (process.connected) process.disconnect();
});
