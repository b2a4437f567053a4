// One line of a JSONL file: parsed once (format-independent `analyzeLine`, cacheable by its text), then
// checked against the file's format (`checkLine`). Diagnostics here carry line 0; callers move them to
// their line with `atLine`. Positions come from the line text (jsonc-parser's tree), and are computed only
// for lines that have something to report: a clean record costs a JSON.parse and a compiled ajv check.
// The ESM build: esbuild (platform node) would otherwise pick the UMD build, whose dynamic requires it cannot bundle.
import { parseTree, type Node as JsonNode } from 'jsonc-parser/lib/esm/main.js';
import type { ErrorObject } from 'ajv';
import type { DatasetDiagnostic, DatasetFormat, DiagnosticCode, QuickFix, Severity, TextEdit, ValidationOptions } from './types';
import { findJsonSyntaxError, nestingDepth } from './jsonSyntax';
import { bestFormat, formatScore, formatValidator, KEY_ALIASES, MESSAGE_KEY_ALIASES, roleFor } from './formats';
import { checkUserSchema, DEFAULT_SCHEMA_TIME_LIMIT_MS, schemaTimeoutMessage, type SchemaError } from './userSchemaGuard';
import { recordHash, recordFingerprint } from './recordHash';
import { findLastNodeAtLocation, mayHaveShapeWarnings, shapeWarnings } from './recordShape';
import { formatRecord } from './promptFormat';
import { exceedsTokenLimit } from './tokenLength';

export const DEFAULT_MAX_TOKENS = 1024;
export const DEFAULT_MIN_TASK_EXAMPLES = 5;
/** Deeper lines are located by whole-line ranges: jsonc-parser's tree builder recurses. */
const MAX_TREE_DEPTH = 500;

export interface LineAnalysis {
  readonly text: string;
  readonly kind: 'blank' | 'error' | 'record';
  /** invalid-json / not-an-object (line 0). */
  readonly errors: DatasetDiagnostic[];
  readonly record?: Record<string, unknown>;
  readonly best?: DatasetFormat;
  readonly bestScore: number;
  readonly bestComplete: boolean;
  /** Cheap fingerprint of the normalised record (see recordHash.ts); `fullHash` when they collide. */
  readonly fingerprint?: number;
  hash?: number;
  readonly task?: string;
  /** The last check, against `checkedAs` (cleared when options change): one slot keeps lines small. */
  checkedAs?: DatasetFormat;
  check?: LineCheck;
  tree?: JsonNode | null;
}

export interface LineCheck {
  diagnostics: DatasetDiagnostic[];
  errors: number;
  warnings: number;
  /** classification: the label as a string, for records without errors. */
  label?: string;
  overLength: boolean;
}

const hasOwn = Object.prototype.hasOwnProperty;

function diag(code: DiagnosticCode, severity: Severity, column: number, endColumn: number, message: string, fixes?: QuickFix[]): DatasetDiagnostic {
  const d: DatasetDiagnostic = { line: 0, column, endLine: 0, endColumn, severity, code, message };
  if (fixes && fixes.length) d.fixes = fixes;
  return d;
}

function edit(column: number, endColumn: number, newText: string): TextEdit {
  return { line: 0, column, endLine: 0, endColumn, newText };
}

/** The same diagnostics on line `line` (fresh objects; the cached ones stay at line 0). */
export function atLine(diagnostics: readonly DatasetDiagnostic[], line: number): DatasetDiagnostic[] {
  if (diagnostics.length === 0) return [];
  return diagnostics.map((d) => ({
    ...d,
    line: d.line + line,
    endLine: d.endLine + line,
    ...(d.fixes ? { fixes: d.fixes.map((f) => ({ ...f, edits: f.edits.map((e) => ({ ...e, line: e.line + line, endLine: e.endLine + line })) })) } : {}),
  }));
}

function trimmedRange(text: string): [number, number] {
  let s = 0;
  let e = text.length;
  while (s < e && /\s/.test(text[s])) s++;
  while (e > s && /\s/.test(text[e - 1])) e--;
  return [s, e];
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  return `a ${typeof v}`;
}

const NONE: DatasetDiagnostic[] = Object.freeze([]) as unknown as DatasetDiagnostic[];
const BLANK: Omit<LineAnalysis, 'text'> = { kind: 'blank', errors: NONE, bestScore: 0, bestComplete: false };

/** Parse one line (without its line break). Never throws. */
export function analyzeLine(text: string): LineAnalysis {
  if (isBlank(text)) return { ...BLANK, text };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const e = findJsonSyntaxError(text);
    if (e) {
      return {
        text,
        kind: 'error',
        errors: [diag('invalid-json', 'error', e.offset, e.endOffset, `invalid JSON: ${e.message}`)],
        bestScore: 0,
        bestComplete: false,
      };
    }
    // Valid JSON that the engine could not build (nesting beyond its limits).
    const [s, e2] = trimmedRange(text);
    return {
      text,
      kind: 'error',
      errors: [
        diag(
          text[s] === '{' ? 'invalid-json' : 'not-an-object',
          'error',
          s,
          e2,
          'the value is nested too deeply to be a record; each line must be a flat JSON object',
        ),
      ],
      bestScore: 0,
      bestComplete: false,
    };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const [s, e] = trimmedRange(text);
    return {
      text,
      kind: 'error',
      errors: [diag('not-an-object', 'error', s, e, `each line must be a JSON object, found ${jsonType(value)}`)],
      bestScore: 0,
      bestComplete: false,
    };
  }
  const record = value as Record<string, unknown>;
  const best = bestFormat(record);
  return {
    text,
    kind: 'record',
    errors: NONE,
    record,
    best: best.format,
    bestScore: best.score,
    bestComplete: best.complete,
    fingerprint: recordFingerprint(record),
    task: typeof record.task === 'string' ? record.task : undefined,
  };
}

/** The full 53-bit hash of a record line's normalised content (computed once). */
export function fullHash(a: LineAnalysis): number {
  return (a.hash ??= recordHash(a.record, a.text));
}

/** jsonc-parser's tree of the line, or null when the line is too deep to build one safely. */
export function lineTree(a: LineAnalysis): JsonNode | null {
  if (a.tree === undefined) {
    a.tree = nestingDepth(a.text, MAX_TREE_DEPTH) > MAX_TREE_DEPTH ? null : (parseTree(a.text) ?? null);
  }
  return a.tree;
}

function parsePointer(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

/** Locates values, keys and properties of a record line. */
class Locator {
  private readonly tree: JsonNode | null;
  private readonly whole: [number, number];

  constructor(private readonly a: LineAnalysis) {
    this.tree = lineTree(a);
    this.whole = trimmedRange(a.text);
  }

  node(path: (string | number)[]): JsonNode | undefined {
    // A repeated key resolves to its last occurrence: the value JSON.parse kept, which the checks saw.
    return this.tree ? findLastNodeAtLocation(this.tree, path) : undefined;
  }

  value(path: (string | number)[]): [number, number] {
    const n = this.node(path);
    return n ? [n.offset, n.offset + n.length] : this.whole;
  }

  key(path: (string | number)[]): [number, number] {
    const n = this.node(path);
    const prop = n?.parent;
    if (prop?.type === 'property' && prop.children?.[0]) return [prop.children[0].offset, prop.children[0].offset + prop.children[0].length];
    return this.value(path);
  }

  /** The edit that deletes a property with its comma, leaving valid JSON. */
  removeProperty(path: (string | number)[]): TextEdit | undefined {
    const prop = this.node(path)?.parent;
    const obj = prop?.parent;
    if (!prop || prop.type !== 'property' || !obj?.children) return undefined;
    const props = obj.children;
    const i = props.indexOf(prop);
    if (props.length === 1) {
      // Keep the braces; drop what lies between them.
      return edit(obj.offset + 1, obj.offset + obj.length - 1, '');
    }
    if (i < props.length - 1) return edit(prop.offset, props[i + 1].offset, '');
    const prev = props[i - 1];
    return edit(prev.offset + prev.length, prop.offset + prop.length, '');
  }

  renameKey(path: (string | number)[], newKey: string): TextEdit {
    const [s, e] = this.key(path);
    return edit(s, e, JSON.stringify(newKey));
  }
}

function pathLabel(path: (string | number)[]): string {
  if (path.length >= 2 && path[0] === 'messages' && typeof path[1] === 'number') {
    const rest = path.slice(2).join('.');
    return `messages[${path[1]}]${rest ? '.' + rest : ''}`;
  }
  return path.join('.') || 'the record';
}

function get(record: unknown, path: (string | number)[]): unknown {
  let v: unknown = record;
  for (const p of path) {
    // Own properties only: a path step named `constructor` must not reach Object.prototype.
    if (v === null || typeof v !== 'object' || !hasOwn.call(v, p)) return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function mapFormatErrors(a: LineAnalysis, format: DatasetFormat, errors: ErrorObject[], loc: Locator): DatasetDiagnostic[] {
  const out: DatasetDiagnostic[] = [];
  const record = a.record!;
  const typeErrorAt = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const hasEmptyConversation = errors.some((e) => e.keyword === 'minItems' && e.instancePath === '/messages');
  let roleFixesAssistant = false;
  for (const e of errors) {
    const path = parsePointer(e.instancePath);
    const isMessage = path.length === 2 && path[0] === 'messages';
    const value = get(record, path);
    switch (e.keyword) {
      case 'required': {
        const field = (e.params as { missingProperty: string }).missingProperty;
        const aliases = isMessage ? MESSAGE_KEY_ALIASES : KEY_ALIASES[format];
        const obj = (value ?? {}) as Record<string, unknown>;
        const fixes: QuickFix[] = [];
        for (const [alias, canonical] of aliases) {
          if (canonical === field && hasOwn.call(obj, alias)) {
            fixes.push({ title: `Rename '${alias}' to '${field}'`, edits: [loc.renameKey([...path, alias], field)], preferred: true });
            break;
          }
        }
        const [s, en] = loc.value(path);
        const code: DiagnosticCode = isMessage && field === 'content' ? 'missing-content' : 'missing-field';
        const where = isMessage ? `${pathLabel(path)} has no '${field}'` : `missing required field '${field}' (${format} format)`;
        out.push(diag(code, 'error', s, en, where, fixes));
        break;
      }
      case 'type': {
        if (path.length === 0) break; // handled as not-an-object before
        const expected = (e.params as { type: string | string[] }).type;
        const want = Array.isArray(expected) ? expected.join(' or ') : expected;
        const [s, en] = loc.value(path);
        const fixes: QuickFix[] = [];
        if (want.includes('string') && (typeof value === 'number' || typeof value === 'boolean')) {
          fixes.push({ title: 'Convert to a string', edits: [edit(s, en, JSON.stringify(String(value)))], preferred: true });
        }
        out.push(
          diag('wrong-type', 'error', s, en, `'${pathLabel(path)}' must be ${/^[aeiou]/.test(want) ? 'an' : 'a'} ${want}, found ${jsonType(value)}`, fixes),
        );
        break;
      }
      case 'pattern': {
        if (typeErrorAt.has(e.instancePath)) break;
        const [s, en] = loc.value(path);
        out.push(diag('empty-field', 'error', s, en, `'${pathLabel(path)}' is empty`));
        break;
      }
      case 'enum': {
        if (typeErrorAt.has(e.instancePath)) break;
        const role = String(value);
        const [s, en] = loc.value(path);
        const fixed = roleFor(role);
        if (fixed === 'assistant') roleFixesAssistant = true;
        const fixes: QuickFix[] = fixed ? [{ title: `Change role to '${fixed}'`, edits: [edit(s, en, JSON.stringify(fixed))], preferred: true }] : [];
        out.push(diag('unknown-role', 'error', s, en, `unknown role '${role}' in ${pathLabel(path.slice(0, 2))}: expected system, user or assistant`, fixes));
        break;
      }
      case 'minItems': {
        const [s, en] = loc.value(path);
        out.push(diag('empty-conversation', 'error', s, en, 'the conversation has no messages'));
        break;
      }
      case 'contains':
      case 'const':
      case 'if':
        break; // no-assistant-message is decided below, once
      case 'additionalProperties': {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        const keyPath = [...path, key];
        const [s, en] = loc.key(keyPath);
        const aliases = isMessage ? MESSAGE_KEY_ALIASES : path.length === 0 ? KEY_ALIASES[format] : undefined;
        const canonical = aliases?.get(key);
        const obj = (value ?? {}) as Record<string, unknown>;
        const fixes: QuickFix[] = [];
        if (canonical && !hasOwn.call(obj, canonical)) {
          fixes.push({ title: `Rename '${key}' to '${canonical}'`, edits: [loc.renameKey(keyPath, canonical)], preferred: true });
        }
        const remove = loc.removeProperty(keyPath);
        if (remove) fixes.push({ title: `Remove field '${key}'`, edits: [remove] });
        const hint = canonical && !hasOwn.call(obj, canonical) ? ` (did you mean '${canonical}'?)` : '';
        const where = path.length ? ` in ${pathLabel(path)}` : '';
        out.push(diag('unknown-field', 'warning', s, en, `unknown field '${key}'${where} is not used by the ${format} format${hint}`, fixes));
        break;
      }
      default: {
        const [s, en] = loc.value(path);
        out.push(diag('wrong-type', 'error', s, en, `'${pathLabel(path)}' ${e.message ?? 'is invalid'}`));
      }
    }
  }
  if (format === 'chat' && !hasEmptyConversation && !roleFixesAssistant && errors.some((e) => e.keyword === 'contains' && e.instancePath === '/messages')) {
    const [s, en] = loc.value(['messages']);
    out.push(diag('no-assistant-message', 'error', s, en, 'the conversation has no assistant message: there is nothing for the model to learn'));
  }
  return out;
}

function mapUserSchemaErrors(errors: SchemaError[], loc: Locator): DatasetDiagnostic[] {
  return errors.map((e) => {
    const path = parsePointer(e.instancePath);
    const [s, en] = loc.value(path);
    const where = path.length ? `'${path.join('.')}'` : 'the record';
    return diag('schema', 'error', s, en, `schema: ${where} ${e.message ?? 'is invalid'}`);
  });
}

export interface CheckOptions {
  maxTokens: number;
  userSchema?: object;
  schemaTimeLimitMs?: number;
  template?: string;
  /** The format was forced (option / --format), not detected. */
  forced: boolean;
}

export function checkOptions(options: ValidationOptions = {}): CheckOptions {
  return {
    maxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
    userSchema: options.userSchema,
    schemaTimeLimitMs: options.schemaTimeLimitMs,
    template: options.template,
    forced: options.format !== undefined && options.format !== 'auto',
  };
}

/**
 * A record of another format than the file's: it has all of its own format's required keys, and more of
 * that format's keys than of the file format's (so {text} in a classification file is "missing label",
 * while {prompt, completion} in an alpaca file is a format mismatch).
 */
export function isFormatMismatch(a: LineAnalysis, format: DatasetFormat): boolean {
  return a.best !== undefined && a.best !== format && a.bestComplete && a.bestScore > formatScore(a.record!, format);
}

/** The cached check of a line against `format`, if it was done. */
export function cachedCheck(a: LineAnalysis, format: DatasetFormat): LineCheck | undefined {
  return a.checkedAs === format ? a.check : undefined;
}

/** Forget cached checks (options changed). */
export function clearCheck(a: LineAnalysis): void {
  a.checkedAs = undefined;
  a.check = undefined;
}

/** Most lines are clean: they share these objects instead of allocating their own. */
const NO_DIAGNOSTICS: DatasetDiagnostic[] = Object.freeze([]) as unknown as DatasetDiagnostic[];
const CLEAN: LineCheck = Object.freeze({ diagnostics: NO_DIAGNOSTICS, errors: 0, warnings: 0, overLength: false });

/** Check a parsed line against a format (cached on the analysis). Never throws. */
export function checkLine(a: LineAnalysis, format: DatasetFormat, opts: CheckOptions): LineCheck {
  if (a.checkedAs === format && a.check) return a.check;
  let check: LineCheck;
  try {
    check = computeCheck(a, format, opts);
  } catch (err) {
    // A last line of defence: report, never crash the editor or the CLI.
    const [s, e] = trimmedRange(a.text);
    const d = diag('invalid-json', 'error', s, e, `the record could not be checked: ${err instanceof Error ? err.message : String(err)}`);
    check = { diagnostics: [d], errors: 1, warnings: 0, overLength: false };
  }
  a.checkedAs = format;
  a.check = check;
  return check;
}

function computeCheck(a: LineAnalysis, format: DatasetFormat, opts: CheckOptions): LineCheck {
  if (a.kind === 'blank') return CLEAN;
  if (a.kind === 'error') return { diagnostics: a.errors, errors: a.errors.length, warnings: 0, overLength: false };
  const record = a.record!;
  if (isFormatMismatch(a, format)) {
    const [s, e] = trimmedRange(a.text);
    const why = opts.forced ? 'the format was set to' : "the file's format (most of its records) is";
    return {
      diagnostics: [diag('format-mismatch', 'error', s, e, `this is a ${a.best} record, but ${why} ${format}`)],
      errors: 1,
      warnings: 0,
      overLength: false,
    };
  }
  const validate = formatValidator(format);
  let diagnostics: DatasetDiagnostic[] = [];
  let loc: Locator | undefined;
  if (!validate(record)) {
    loc = new Locator(a);
    diagnostics = mapFormatErrors(a, format, validate.errors ?? [], loc);
  }
  if (opts.userSchema) {
    // In a worker with a time limit: a runaway pattern in the user's schema cannot block this thread.
    const limit = opts.schemaTimeLimitMs ?? DEFAULT_SCHEMA_TIME_LIMIT_MS;
    const user = checkUserSchema(opts.userSchema, a.text, limit);
    if ('timedOut' in user) {
      const [s, e] = trimmedRange(a.text);
      diagnostics.push(diag('schema-timeout', 'error', s, e, schemaTimeoutMessage(limit)));
    } else if ('errors' in user) diagnostics.push(...mapUserSchemaErrors(user.errors, (loc ??= new Locator(a))));
  }
  // Format-independent warnings about the line's JSON: repeated keys, lone surrogates (recordShape.ts).
  if (mayHaveShapeWarnings(a.text, record)) diagnostics.push(...shapeWarnings(lineTree(a)));
  let errors = 0;
  for (const d of diagnostics) if (d.severity === 'error') errors++;
  let overLength = false;
  let label: string | undefined;
  if (errors === 0) {
    const f = formatRecord(record, format, { template: opts.template });
    if (exceedsTokenLimit(f.prompt, f.target, opts.maxTokens)) {
      overLength = true;
      const [s, e] = trimmedRange(a.text);
      diagnostics.push(
        diag(
          'too-long',
          'warning',
          s,
          e,
          `the formatted example (prompt + target + end-of-text) is longer than ${opts.maxTokens} GPT-2 tokens; training truncates it`,
        ),
      );
    }
    if (format === 'classification') label = f.label;
  }
  if (diagnostics.length === 0 && label === undefined) return CLEAN;
  diagnostics.sort((x, y) => x.column - y.column);
  return { diagnostics, errors, warnings: diagnostics.length - errors, label, overLength };
}

/** Range of a top-level key's value in the line (for file-level warnings on a record). */
export function topLevelValueRange(a: LineAnalysis, key: string): [number, number] {
  return new Locator(a).value([key]);
}

export function wholeRange(text: string): [number, number] {
  return trimmedRange(text);
}

export { diag as makeDiagnostic };
