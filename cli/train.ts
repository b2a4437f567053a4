// `finetune train`: runs the training engine in this process and prints its event stream (the same JSON
// lines the child process writes). Ctrl-C stops the run cleanly (output saved, done: stopped); a second
// Ctrl-C exits at once.
import { TrainConfigError } from '../protocol/trainer';
import { trainFromArgs } from '../trainer/train';
import { UsageError } from './usage';

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(
      'usage: finetune train --data FILE --model M --strategy full|partial|lora|adapter|prompt --out DIR [--config run.json] [options]\n' +
        '  adapter: --adapter-dim M; prompt: --virtual-tokens N [--prompt-init TEXT]; --head classification [--num-labels N]\n' +
        '  multi-task: --task-weights a=1,b=0.5 --task-sampling proportional|uniform|temperature [--sampling-temperature T]\n' +
        '  checkpoints: --checkpoint-every N --keep-checkpoints K --early-stopping-patience K --min-delta D; --resume DIR\n' +
        '  see DESIGN.md for the options; events are printed as JSON lines and written to DIR/events.jsonl\n',
    );
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
