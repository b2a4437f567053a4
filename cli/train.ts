// `finetune train`: runs the training engine in this process and prints its event stream (the same JSON
// lines the child process writes). Ctrl-C stops the run cleanly (output saved, done: stopped); a second
// Ctrl-C exits at once.
import { flagOf, optionsHelp, PRESET_TRAIN_DEFAULTS, TrainConfigError } from '../protocol/options';
import { trainFromArgs } from '../trainer/train';
import { UsageError } from './usage';

/** A preset's own defaults (PRESET_TRAIN_DEFAULTS) as the flags they stand for, so that the help cannot drift from them. */
function presetDefaults(name: string): string {
  const d = PRESET_TRAIN_DEFAULTS[name];
  const flags = { epochs: d.epochs, batchSize: d.batchSize, lr: `${d.lr.full} (full)`, warmupSteps: d.warmupSteps, maxLength: d.maxLength };
  return Object.entries(flags)
    .map(([name, value]) => `${flagOf(name)} ${value}`)
    .join(' ');
}

/** `finetune train --help`: every option of the table that train takes, as the table declares it. */
export function trainHelp(): string {
  return (
    'usage: finetune train --data FILE --model M --strategy S --out DIR [--config run.json] [options]\n' +
    "  Prints the trainer's events as JSON lines and writes them to DIR/events.jsonl. Every option can also\n" +
    '  be set in run.json (camelCase: --max-steps is maxSteps); --config reads one and flags win over it.\n' +
    Object.keys(PRESET_TRAIN_DEFAULTS)
      .map((name) => `  --model ${name} has its own defaults: ${presetDefaults(name)}\n`)
      .join('') +
    optionsHelp('train') +
    'exit codes: 0 completed or stopped, 1 the run failed, 2 bad flags or run.json.\n'
  );
}

/** The help of the declared options (test/unit/cli-train-help.test.ts checks that none is missing). */
export const TRAIN_HELP = trainHelp();

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(trainHelp());
    return 0;
  }
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('finetune train: stopping after the current step (Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    const done = await trainFromArgs(args, process.stdout, controller.signal);
    if (done.status === 'failed') {
      process.stderr.write(`finetune train: ${done.message ?? 'the run failed'}\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    if (err instanceof TrainConfigError) throw new UsageError(err.message);
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}
