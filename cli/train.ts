// `finetune train`: runs the training engine in this process and prints its event stream (the same JSON
// lines the child process writes). Ctrl-C stops the run cleanly (output saved, done: stopped); a second
// Ctrl-C exits at once.
import { PRESET_TRAIN_DEFAULTS, TrainConfigError } from '../protocol/trainer';
import { trainFromArgs } from '../trainer/train';
import { UsageError } from './usage';

/** PRESET_TRAIN_DEFAULTS.tiny as the flags they stand for, so that the help cannot drift from them. */
function tinyDefaults(): string {
  const d = PRESET_TRAIN_DEFAULTS.tiny;
  return `--epochs ${d.epochs} --batch-size ${d.batchSize} --lr ${d.lr.full} (full) --warmup-steps ${d.warmupSteps} --max-length ${d.maxLength}`;
}

/** Every option of `train` (test/unit/cli-train-help.test.ts checks that none is missing). */
export const TRAIN_HELP =
  'usage: finetune train --data FILE --model M --strategy S --out DIR [--config run.json] [options]\n' +
  "  Prints the trainer's events as JSON lines and writes them to DIR/events.jsonl. Every option can also\n" +
  '  be set in run.json (camelCase: --max-steps is maxSteps); --config reads one and flags win over it.\n' +
  '  --model M            a Hugging Face folder, a repo id (local cache first) or a preset: tiny, gpt2, distilgpt2\n' +
  `                       tiny (random weights, for trying the flow) has its own defaults: ${tinyDefaults()}\n` +
  '  --strategy S         full | partial | lora | adapter | prompt\n' +
  'training:\n' +
  '  --epochs N --max-steps N (wins over --epochs; the data cycles) --batch-size B --grad-accum K\n' +
  '  --lr LR --weight-decay W --schedule constant|linear|cosine --warmup-steps N --grad-clip C\n' +
  '  --max-length T --seed S --no-shuffle --train-on-prompt --backend auto|tensorflow|webgpu|wasm|cpu\n' +
  'data:\n' +
  '  --eval-data FILE --eval-fraction F --eval-every N --skip-invalid\n' +
  'strategies:\n' +
  '  partial: --freeze-layers N --freeze-embeddings\n' +
  '  lora: --lora-r R --lora-alpha A --lora-dropout P --lora-targets c_attn,c_proj|all-linear --merge\n' +
  '  adapter: --adapter-dim D; prompt: --virtual-tokens N --prompt-init TEXT\n' +
  '  heads: --head lm|classification --num-labels N\n' +
  'multi-task (records with "task"):\n' +
  '  --task-weights a=1,b=0.5 --task-sampling proportional|uniform|temperature --sampling-temperature T\n' +
  'checkpoints and stopping:\n' +
  '  --checkpoint-every N --keep-checkpoints K --early-stopping-patience K --min-delta D\n' +
  '  --resume DIR         continue the run in DIR from its last checkpoint, with its own run.json\n' +
  'exit codes: 0 completed or stopped, 1 the run failed, 2 bad flags or run.json.\n';

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(TRAIN_HELP);
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
