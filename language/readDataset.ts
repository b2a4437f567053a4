// The trainer's reader: every record of a JSONL file that has no error, formatted by the shared prompt
// formatter, plus the diagnostics (so that the trainer can refuse, or skip invalid records).
import * as fs from 'node:fs';
import type { DatasetDiagnostic, DatasetFormat, ValidationOptions } from './types';
import { DatasetDocument } from './datasetDocument';
import { decodeChunk } from './chunkValidator';
import { invalidUtf8Lines } from './validateFile';
import { formatRecord, type FormattedExample } from './promptFormat';

export interface DatasetExample {
  /** 0-based line. */
  line: number;
  record: unknown;
  task?: string;
  formatted: FormattedExample;
}

export interface DatasetRead {
  format: DatasetFormat | undefined;
  examples: DatasetExample[];
  diagnostics: DatasetDiagnostic[];
}

/** Reads and validates a whole file (synchronously: the trainer holds the examples in memory anyway). */
export function readDataset(file: string, options: ValidationOptions = {}): DatasetRead {
  const bytes = fs.readFileSync(file);
  const text = decodeChunk(bytes, true);
  const badUtf8 = text.includes('\uFFFD') ? invalidUtf8Lines(bytes) : new Map<number, DatasetDiagnostic>();
  const doc = new DatasetDocument(options);
  doc.setText(text);
  while (!doc.step(Infinity));
  const diagnostics = doc.diagnostics().filter((d) => !badUtf8.has(d.line));
  diagnostics.push(...badUtf8.values());
  diagnostics.sort((a, b) => a.line - b.line || a.column - b.column);
  const errorLines = new Set(diagnostics.filter((d) => d.severity === 'error').map((d) => d.line));
  const format = doc.checkFormat;
  const examples: DatasetExample[] = [];
  for (let line = 0; line < doc.lineCount; line++) {
    if (errorLines.has(line)) continue;
    const record = doc.recordAt(line);
    if (record === undefined) continue;
    const formatted = formatRecord(record, format, { template: options.template });
    examples.push({ line, record, ...(formatted.task !== undefined ? { task: formatted.task } : {}), formatted });
  }
  return { format: doc.format, examples, diagnostics };
}
