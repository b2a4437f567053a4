// Helpers shared by the language tests (not a test file itself).
import type { DatasetDiagnostic, TextEdit } from '../../language/types';

/** Applies edits (0-based line/column, end exclusive) to a text. */
export function applyEdits(text: string, edits: TextEdit[]): string {
  const lines = text.split('\n');
  const offset = (line: number, column: number) => {
    let o = 0;
    for (let i = 0; i < line; i++) o += lines[i].length + 1;
    return o + column;
  };
  const ranges = edits.map((e) => ({ s: offset(e.line, e.column), e: offset(e.endLine, e.endColumn), t: e.newText })).sort((a, b) => b.s - a.s);
  let out = text;
  for (const r of ranges) out = out.slice(0, r.s) + r.t + out.slice(r.e);
  return out;
}

/** [line, column, endColumn, code] of each diagnostic, for compact exact comparisons. */
export function brief(ds: DatasetDiagnostic[]): [number, number, number, string][] {
  return ds.map((d) => [d.line, d.column, d.endColumn, d.code]);
}

/** Applies edits that all lie on one line to that line's text alone. */
export function applyToLine(lineText: string, edits: TextEdit[]): string {
  return applyEdits(
    lineText,
    edits.map((e) => ({ ...e, line: 0, endLine: e.endLine - e.line })),
  );
}
