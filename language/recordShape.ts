// What JSON.parse accepts without a word but changes: a key repeated in one object (JSON.parse keeps the
// last value, so every earlier one is silently dropped) and a string holding a lone UTF-16 surrogate
// (`"\ud800"`: valid JSON, not valid Unicode; encoding it to UTF-8 for the tokenizer turns it into U+FFFD).
// Both are warnings, found on jsonc-parser's tree of the line. A cheap test on the text and the parsed
// record (`mayHaveShapeWarnings`) keeps the tree unbuilt for the lines that cannot have either.
// Every diagnostic about a key points at the occurrence that wins, as `findLastNodeAtLocation` does.
import type { Node as JsonNode } from 'jsonc-parser/lib/esm/main.js';
import type { DatasetDiagnostic, QuickFix } from './types';

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** A `\u` escape of a surrogate (paired or not: the pairing is checked on the decoded string). */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

/** Object members in a parsed value, at every depth (iterative: records may be deep). */
function memberCount(value: unknown): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else {
      const keys = Object.keys(v);
      n += keys.length;
      for (const k of keys) stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return n;
}

/**
 * False when the line certainly has neither a repeated key nor a lone surrogate. Every key of the text
 * ends with `"` + `:`, and inside a string a `"` is always escaped, so the text has at least as many
 * such ends as it has keys; when that count equals the parsed record's members, no key was dropped.
 */
export function mayHaveShapeWarnings(text: string, record: unknown): boolean {
  if (SURROGATE_ESCAPE.test(text) || LONE_SURROGATE.test(text)) return true;
  // Colons with a quote before them (white space between allowed): each key ends so.
  let ends = 0;
  for (let i = text.indexOf(':'); i !== -1; i = text.indexOf(':', i + 1)) {
    let j = i - 1;
    while (j >= 0 && (text.charCodeAt(j) === 0x20 || text.charCodeAt(j) === 0x09 || text.charCodeAt(j) === 0x0d || text.charCodeAt(j) === 0x0a)) j--;
    if (text.charCodeAt(j) === 0x22) ends++;
  }
  return ends > memberCount(record);
}

function warning(code: 'duplicate-key' | 'lone-surrogate', s: number, e: number, message: string, fixes?: QuickFix[]): DatasetDiagnostic {
  return { line: 0, column: s, endLine: 0, endColumn: e, severity: 'warning', code, message, ...(fixes ? { fixes } : {}) };
}

const hex = (c: number) => c.toString(16).toUpperCase().padStart(4, '0');

function loneSurrogateMessage(value: string, isKey: boolean): string {
  const m = LONE_SURROGATE.exec(value)!;
  const what = isKey ? 'this key' : 'this string';
  return `${what} holds a lone surrogate \\u${hex(m[0].charCodeAt(0))} (half of a UTF-16 pair without its other half): it is not valid Unicode, and training turns it into U+FFFD (�)`;
}

/** Duplicate-key and lone-surrogate warnings of a line (line 0), from its tree; none when there is no tree. */
export function shapeWarnings(tree: JsonNode | null | undefined): DatasetDiagnostic[] {
  const out: DatasetDiagnostic[] = [];
  if (!tree) return out;
  const stack: JsonNode[] = [tree];
  while (stack.length) {
    const node = stack.pop()!;
    if (node.type === 'string' && typeof node.value === 'string' && LONE_SURROGATE.test(node.value)) {
      const isKey = node.parent?.type === 'property' && node.parent.children?.[0] === node;
      out.push(warning('lone-surrogate', node.offset, node.offset + node.length, loneSurrogateMessage(node.value, isKey)));
    }
    if (node.type === 'object' && node.children) out.push(...duplicateKeys(node));
    if (node.children) for (const c of node.children) stack.push(c);
  }
  return out.sort((x, y) => x.column - y.column);
}

/** One warning per repeated key of an object, on its last occurrence (the one JSON.parse keeps). */
function duplicateKeys(obj: JsonNode): DatasetDiagnostic[] {
  const byKey = new Map<string, JsonNode[]>();
  for (const prop of obj.children ?? []) {
    const key = prop.children?.[0];
    if (prop.type !== 'property' || !key || typeof key.value !== 'string') continue;
    const list = byKey.get(key.value);
    if (list) list.push(prop);
    else byKey.set(key.value, [prop]);
  }
  const out: DatasetDiagnostic[] = [];
  const props = obj.children ?? [];
  for (const [name, list] of byKey) {
    if (list.length < 2) continue;
    const last = list[list.length - 1];
    const key = last.children![0];
    const earlier = list.slice(0, -1);
    // An earlier occurrence is never the object's last member (the winner follows it): deleting it up to
    // the next member's start removes it with its comma, and the ranges of several never overlap.
    const edits = earlier.map((p) => {
      const next = props[props.indexOf(p) + 1];
      return { line: 0, column: p.offset, endLine: 0, endColumn: next.offset, newText: '' };
    });
    const columns = `column${earlier.length > 1 ? 's' : ''} ${earlier.map((p) => p.offset + 1).join(', ')}`;
    const times = list.length === 2 ? 'twice' : `${list.length} times`;
    out.push(
      warning(
        'duplicate-key',
        key.offset,
        key.offset + key.length,
        `key '${name}' appears ${times} in this object: JSON.parse keeps only this last value, the earlier one${earlier.length > 1 ? 's' : ''} (${columns}) ${earlier.length > 1 ? 'are' : 'is'} ignored`,
        [{ title: `Remove the earlier '${name}'${earlier.length > 1 ? ` (${earlier.length})` : ''}`, edits, preferred: true }],
      ),
    );
  }
  return out;
}

/**
 * jsonc-parser's findNodeAtLocation, but a repeated key resolves to its last occurrence: the value the
 * record actually has (JSON.parse keeps the last), so diagnostics about it point there.
 */
export function findLastNodeAtLocation(root: JsonNode | undefined, path: readonly (string | number)[]): JsonNode | undefined {
  let node = root;
  for (const segment of path) {
    if (!node) return undefined;
    if (typeof segment === 'string') {
      if (node.type !== 'object' || !node.children) return undefined;
      let found: JsonNode | undefined;
      for (const prop of node.children) {
        if (prop.children?.length === 2 && prop.children[0].value === segment) found = prop.children[1];
      }
      node = found;
    } else {
      if (node.type !== 'array' || !node.children || segment < 0 || segment >= node.children.length) return undefined;
      node = node.children[segment];
    }
  }
  return node;
}
