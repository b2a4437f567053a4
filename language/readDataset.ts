// The trainer's reader: every record of a JSONL file that has no error, formatted by the shared prompt
// formatter, plus the diagnostics (so that the trainer can refuse, or skip invalid records).
import type { DatasetDiagnostic, DatasetFormat, ValidationOptions } from './types';
import { DatasetDocument } from './datasetDocument';
import { decodeChunk } from './chunkValidator';
import { invalidUtf8Lines } from './validateFile';
import { formatRecord, type FormattedExample } from './promptFormat';
import { readRegularFile } from './regularFile';

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

/**
 * Reads and validates a whole file (the trainer holds the examples in memory anyway). The read is
 * asynchronous and refuses anything but a regular file, so a FIFO cannot hang the trainer and Ctrl-C
 * works while a large file is read.
 */
export async function readDataset(file: string, options: ValidationOptions = {}): Promise<DatasetRead> {
  return readDatasetBytes(await readRegularFile(file, { what: 'dataset' }), options);
}

/** readDataset on bytes already read. */
export function readDatasetBytes(bytes: Buffer, options: ValidationOptions = {}): DatasetRead {
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
