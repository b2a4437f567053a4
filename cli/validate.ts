// `finetune validate FILE [--format F] [--schema S.json] [--json] [--max-tokens N] [--max-diagnostics N]`
// Exit 0: no errors; 1: errors; 2: usage or I/O problems. Lines and columns are printed 1-based.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseFlags, numberFlag, UsageError } from './usage';
import { validateFile, type FileValidation } from '../language/validateFile';
import { describeFileKind, MAX_CONFIG_BYTES, NotRegularFileError, readRegularFileSync } from '../language/regularFile';
import { DATASET_FORMATS, type DatasetFormat } from '../language/types';

const DEFAULT_MAX_DIAGNOSTICS = 1000;

export function toCliJson(r: FileValidation) {
  return {
    file: r.file,
    format: r.format ?? null,
    records: r.records,
    errors: r.errors,
    warnings: r.warnings,
    diagnostics: r.diagnostics.map((d) => ({
      line: d.line + 1,
      column: d.column + 1,
      endLine: d.endLine + 1,
      endColumn: d.endColumn + 1,
      severity: d.severity,
      code: d.code,
      message: d.message,
    })),
    truncated: r.truncated,
  };
}

/**
 * Below this size a worker costs more than it saves. The main thread validates ~400 MB/s; a worker takes
 * 50-100 ms to start (Node's modules and its bundle to compile) and runs cold code for its first chunks:
 * measured on 100 MB (2 cores, others busy), one worker added 0.2 s of CPU and doubled the wall time
 * (0.28 s alone). A file of 256 MB or more keeps the main thread busy long enough for a worker to pay.
 */
const WORKER_MIN_BYTES = 256 * 1024 * 1024;

/**
 * Worker threads besides the main thread (which validates too): one per core that is idle. On a machine
 * whose cores are busy with other work, a second thread only competes for them (measured: more CPU time
 * and no less wall time), so the load average counts against the cores.
 */
export function cliWorkers(size: number, cores: number, load: number): number {
  if (size < WORKER_MIN_BYTES) return 0;
  // Rounded, not floored: the 1-minute average lags, and a process that has just finished (the build, the
  // previous benchmark run) still counts in it for a while.
  return Math.max(0, Math.min(3, cores - 1, Math.round(cores - load)));
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    {
      format: { type: 'string' },
      schema: { type: 'string' },
      json: { type: 'boolean' },
      'max-tokens': { type: 'string' },
      'max-diagnostics': { type: 'string' },
      'min-task-examples': { type: 'string' },
    },
    true,
  );
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one FILE, got ${positionals.length}` : 'missing FILE');
  const file = positionals[0];
  const format = values.format ?? 'auto';
  if (format !== 'auto' && !(DATASET_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be auto or one of ${DATASET_FORMATS.join(', ')}, got '${format}'`);
  }
  const maxTokens = numberFlag('max-tokens', values['max-tokens'], 1024, { integer: true, min: 1 });
  const maxDiagnostics = numberFlag('max-diagnostics', values['max-diagnostics'], DEFAULT_MAX_DIAGNOSTICS, { integer: true, min: 0 });
  const minTaskExamples = numberFlag('min-task-examples', values['min-task-examples'], 5, { integer: true, min: 0 });

  let userSchema: object | undefined;
  if (values.schema !== undefined) {
    let text: string;
    try {
      text = readRegularFileSync(values.schema, { what: 'schema', maxBytes: MAX_CONFIG_BYTES }).toString('utf8');
    } catch (e) {
      if (e instanceof NotRegularFileError) throw new UsageError(e.message);
      throw new UsageError(`cannot read schema ${values.schema}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      userSchema = JSON.parse(text) as object;
    } catch (e) {
      throw new UsageError(`schema ${values.schema} is not valid JSON: ${(e as Error).message}`);
    }
    if (userSchema === null || typeof userSchema !== 'object' || Array.isArray(userSchema))
      throw new UsageError(`schema ${values.schema} must be a JSON object`);
  }

  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new UsageError(`${file} is ${describeFileKind(st)}, not a regular file`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }

  let result: FileValidation;
  try {
    // The main thread validates too (it would only wait): one worker fewer than cores, the cores all busy.
    result = await validateFile(file, {
      workers: cliWorkers(
        fs.statSync(file).size,
        typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
        os.loadavg()[0],
      ),
      shareCallingThread: true,
      format: format as DatasetFormat | 'auto',
      maxTokens,
      userSchema,
      minTaskExamples,
      maxDiagnostics,
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // I/O problems and a schema ajv cannot compile are usage/I-O failures (exit 2), not dataset errors.
    throw new UsageError(code ? `cannot read ${file}: ${code}` : (e as Error).message);
  }

  if (values.json) {
    process.stdout.write(JSON.stringify(toCliJson(result)) + '\n');
  } else {
    const out: string[] = [];
    for (const d of result.diagnostics) out.push(`${file}:${d.line + 1}:${d.column + 1}: ${d.severity} ${d.code}: ${d.message}`);
    const more = result.truncated ? ` (first ${result.diagnostics.length} shown; --max-diagnostics N shows more)` : '';
    out.push(
      `${file}: ${result.records} record${result.records === 1 ? '' : 's'}, format ${result.format ?? 'unknown'}, ` +
        `${result.errors} error${result.errors === 1 ? '' : 's'}, ${result.warnings} warning${result.warnings === 1 ? '' : 's'}${more}`,
    );
    process.stdout.write(out.join('\n') + '\n');
  }
  return result.errors > 0 ? 1 : 0;
}
