// The questions the quick pick asks the trainer's code in a child process (dist/cli.js), since the
// extension host loads no TensorFlow.js: the survey of models (`finetune params --survey`: parameter
// counts, memory estimates and fits, trained tokens) and a throughput measurement (`finetune bench`).
import type { SurveyRequest, SurveyResult } from '../../protocol/params';
import { type CliProcessOptions, startCli } from './cliProcess';
import { parseBenchOutput } from './timeEstimate';

export type { CliProcessOptions };

export interface TrainerQueries {
  survey(request: SurveyRequest): Promise<SurveyResult>;
  /** `finetune bench` with these arguments: its tokens per second. */
  bench(args: string[], signal?: AbortSignal): Promise<number>;
}

/** Runs `finetune ARGS` in a child process: its stdout, or an error with the last lines of its stderr. */
export function runCli(opts: CliProcessOptions, args: string[], signal?: AbortSignal): Promise<string> {
  const run = startCli(opts, args);
  if (signal) {
    const onAbort = () => run.cancel();
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    run.result.then(
      () => signal.removeEventListener('abort', onAbort),
      () => signal.removeEventListener('abort', onAbort),
    );
  }
  return run.result;
}

/** The queries answered by `finetune` in a child process. */
export function cliTrainerQueries(opts: CliProcessOptions): TrainerQueries {
  return {
    async survey(request) {
      const out = await runCli({ timeoutMs: 120_000, ...opts }, ['params', `--survey=${JSON.stringify(request)}`]);
      return JSON.parse(out.trim().split('\n').pop() ?? '') as SurveyResult;
    },
    async bench(args, signal) {
      return parseBenchOutput(await runCli(opts, args, signal));
    },
  };
}
