// Wording of the "Validate Dataset" results: the notification and the summary line in Problems.
// No `vscode` import.

export function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
}

export interface FileValidationCounts {
  format: string;
  records: number;
  errors: number;
  warnings: number;
  /** True when more problems exist than were kept. */
  truncated: boolean;
}

/** "6 errors, 2 warnings in 10 records (alpaca)" */
export function countsText(r: FileValidationCounts): string {
  return `${plural(r.errors, 'error')}, ${plural(r.warnings, 'warning')} in ${plural(r.records, 'record')} (${r.format})`;
}

/** The notification shown when validation of a file finishes. */
export function finishedMessage(fileName: string, r: FileValidationCounts, shown: number): string {
  const more = r.truncated || shown < r.errors + r.warnings ? ` Problems lists the first ${plural(shown, 'problem')}.` : '';
  return `Validate Dataset: ${fileName}: ${countsText(r)}.${more}`;
}

/** The information diagnostic on line 1 that sums the file up in Problems. */
export function summaryDiagnosticMessage(r: FileValidationCounts, shown: number): string {
  const more = r.truncated || shown < r.errors + r.warnings ? `; only the first ${plural(shown, 'problem')} are listed` : '';
  return `Validate Dataset: ${countsText(r)}${more}`;
}
