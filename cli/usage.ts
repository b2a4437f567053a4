// The command line's usage line and usage error (exit 2), and the flag helpers of the commands whose flags
// are not run settings (validate, eval, generate); train, params and bench parse through trainer/runConfig.ts.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { strategySpecs } from '../protocol/options';

/** Bad flags or arguments: the CLI exits 2 with the message. */
export class UsageError extends Error {}

export function usageLine(): string {
  const strategies = strategySpecs()
    .map((s) => s.name)
    .join('|');
  return [
    'usage: finetune <command> [options]',
    '  validate FILE [--format auto|alpaca|chat|completion|text|classification] [--schema S.json] [--json]',
    `  params   --model M --strategy ${strategies} [--head classification --num-labels N] [...] [--json]`,
    '  train    --data FILE --model M --strategy S --out DIR [...]',
    '  eval     --model M [--adapter DIR] --data FILE [--json]',
    '  preview  --data FILE --model M [--limit N] [--chat-template chatml|FILE] [--json]',
    '  generate --model M [--adapter DIR] --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--template alpaca|none]',
    '  export   --run RUN_DIR --to trl --out JOB_DIR [--gpus N] [--nodes N] [--zero 2|3 | --fsdp]',
    '  import   --job JOB_DIR --run RUN_DIR',
    '  bench    [--family F] [--preset P] [--layers L --embd E | --hidden D --kv-heads K ...] --seq T --batch B --steps K --strategy S [--json]',
  ].join('\n');
}

/** node:util parseArgs, with its errors turned into UsageError (exit 2). */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** A number flag: a clear usage error for "abc" or out-of-range values. */
export function numberFlag(name: string, value: string | undefined, fallback: number, opts: { integer?: boolean; min?: number; max?: number } = {}): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n)))
    throw new UsageError(`--${name} must be ${opts.integer ? 'an integer' : 'a number'}, got '${value}'`);
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name} must be at least ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${name} must be at most ${opts.max}, got ${n}`);
  return n;
}
