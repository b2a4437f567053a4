// Which dataset diagnostics go to the Problems panel, and how a diagnostic VS Code hands back (in a
// code-action request, as a copy) is matched to the quick fixes computed for it. No `vscode` import.
import type { DatasetDiagnostic, QuickFix } from '../../language/types';

/** Identity of a diagnostic as VS Code round-trips it: range, code and message. */
export function diagnosticKey(d: { line: number; column: number; endLine: number; endColumn: number; code: string; message: string }): string {
  return `${d.line}:${d.column}:${d.endLine}:${d.endColumn}:${d.code}:${d.message}`;
}

const severities = ['error', 'warning', 'info'] as const;

function byPosition(a: DatasetDiagnostic, b: DatasetDiagnostic): number {
  return a.line - b.line || a.column - b.column;
}

/**
 * At most `max` diagnostics, errors before warnings before infos, then in document order; the result
 * is in document order. A file with 100,000 broken lines would otherwise cost the extension host and
 * the Problems panel far more than anyone can read (VS Code itself keeps only the first 1,000 a file).
 * Linear when the input is already in document order, which is how the validator reports.
 */
export function selectProblems(diagnostics: readonly DatasetDiagnostic[], max: number): DatasetDiagnostic[] {
  let ordered = true;
  for (let i = 1; i < diagnostics.length && ordered; i++) ordered = byPosition(diagnostics[i - 1], diagnostics[i]) <= 0;
  const sorted = ordered ? [...diagnostics] : [...diagnostics].sort(byPosition);
  if (sorted.length <= max) return sorted;
  const picked: DatasetDiagnostic[] = [];
  for (const severity of severities) {
    for (const d of sorted) {
      if (picked.length >= max) break;
      if (d.severity === severity) picked.push(d);
    }
  }
  return picked.sort(byPosition);
}

/** Quick fixes by diagnostic key, for the diagnostics that have any. */
export function fixesByKey(diagnostics: readonly DatasetDiagnostic[]): Map<string, QuickFix[]> {
  const map = new Map<string, QuickFix[]>();
  for (const d of diagnostics) {
    if (d.fixes?.length) map.set(diagnosticKey(d), d.fixes);
  }
  return map;
}
