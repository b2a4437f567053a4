// `finetune import --job JOB_DIR --run RUN_DIR`: an exported cluster job's results (its model and
// trainer_state.json's loss history) into the run folder: trainer/export/importResults.ts.
import { importClusterResults } from '../trainer/export/importResults';
import { ExportError } from '../trainer/export/trlJob';
import { parseFlags, UsageError } from './usage';

const HELP = `usage: finetune import --job JOB_DIR --run RUN_DIR [--json]
  --job JOB_DIR   the folder \`finetune export\` wrote, with the job's output/ copied back from the cluster
  --run RUN_DIR   the run folder: the model goes to RUN_DIR/cluster/output, the loss curve into events.jsonl
  --json          print {outputDir, files, steps, evals}`;

export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  const { values } = parseFlags(args, { job: { type: 'string' }, run: { type: 'string' }, json: { type: 'boolean' } });
  if (!values.job) throw new UsageError(`--job is required\n${HELP}`);
  if (!values.run) throw new UsageError(`--run is required\n${HELP}`);
  let result: ReturnType<typeof importClusterResults>;
  try {
    result = importClusterResults(values.job, values.run);
  } catch (err) {
    if (err instanceof ExportError) {
      process.stderr.write(`finetune import: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const { outputDir, files, steps, evals } = result;
  if (values.json) process.stdout.write(JSON.stringify({ outputDir, files, steps, evals }) + '\n');
  else process.stdout.write(`imported ${steps} training and ${evals} eval point(s) and the model (${files.join(', ')}) into ${outputDir}\n`);
  return 0;
}
