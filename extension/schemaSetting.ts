// Reading the user's JSON Schema named by `finetune.dataset.schema`. No `vscode` import: the caller
// passes the workspace folders, and errors come back as messages the extension shows as they are.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_CONFIG_BYTES, NotRegularFileError, readRegularFileSync } from '../language/regularFile';

/**
 * The file a schema setting names: absolute as given; relative to the first workspace folder that
 * holds it (or to the first folder when none does, so the error names a sensible path).
 * `~/` is the user's home folder.
 */
export function resolveSchemaPath(
  value: string,
  workspaceFolders: readonly string[],
  exists: (p: string) => boolean = fs.existsSync,
  home: string = process.env.HOME ?? '',
): string | undefined {
  const trimmed = value.trim();
  if (!trimmed) return undefined;
  if (trimmed === '~' || trimmed.startsWith('~/')) return path.join(home, trimmed.slice(1));
  if (path.isAbsolute(trimmed)) return path.normalize(trimmed);
  for (const folder of workspaceFolders) {
    const candidate = path.join(folder, trimmed);
    if (exists(candidate)) return candidate;
  }
  return workspaceFolders.length ? path.join(workspaceFolders[0], trimmed) : path.resolve(trimmed);
}

export type SchemaLoad = { schema: object } | { error: string };

/** Parses a schema file's text; a clear message for anything that is not a JSON object or boolean schema. */
export function parseSchemaText(text: string, file: string): SchemaLoad {
  let value: unknown;
  try {
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    return { error: `finetune.dataset.schema: ${file} is not valid JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: `finetune.dataset.schema: ${file} must contain a JSON Schema object` };
  }
  return { schema: value };
}

export function loadSchemaFile(file: string): SchemaLoad {
  let text: string;
  try {
    // On the extension host's thread: a FIFO named as the schema must be refused, not read (it would block).
    text = readRegularFileSync(file, { what: 'schema', maxBytes: MAX_CONFIG_BYTES }).toString('utf8');
  } catch (err) {
    if (err instanceof NotRegularFileError) return { error: `finetune.dataset.schema: ${err.message}` };
    const code = (err as NodeJS.ErrnoException).code;
    return { error: `finetune.dataset.schema: cannot read ${file}${code === 'ENOENT' ? ' (no such file)' : ` (${code ?? String(err)})`}` };
  }
  return parseSchemaText(text, file);
}
