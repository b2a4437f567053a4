// File-level checks, computed from per-line summaries: the file's format (majority of records),
// duplicates, label imbalance and tasks with few examples.
//
// Rules:
// - Format: each JSON object record votes for the format whose keys it has most of; the most voted
//   format wins (ties: the order alpaca, chat, completion, text, classification). No votes: undefined.
// - duplicate-record: two records with the same normalised content (see recordHash.ts); the later line is
//   reported and the message names the first.
// - label-imbalance (classification files): a label with fewer than 1/5 of the examples of the most
//   frequent label is reported once, on its first record. Labels are compared as strings.
// - few-task-examples: a `task` with fewer than minTaskExamples (default 5; 0 disables) records is
//   reported once, on its first record.
import type { DatasetFormat } from './types';
import { DATASET_FORMATS } from './types';

export const IMBALANCE_RATIO = 5;

export function majorityFormat(counts: Partial<Record<DatasetFormat, number>>): DatasetFormat | undefined {
  let best: DatasetFormat | undefined;
  let bestCount = 0;
  for (const f of DATASET_FORMATS) {
    const c = counts[f] ?? 0;
    if (c > bestCount) {
      best = f;
      bestCount = c;
    }
  }
  return best;
}

export interface FirstSeen {
  count: number;
  /** First line (0-based) holding the value. */
  line: number;
}

/** Labels whose count is under 1/IMBALANCE_RATIO of the most frequent label's. */
export function rareLabels(labels: Map<string, FirstSeen>): { label: string; seen: FirstSeen; top: string; topCount: number }[] {
  if (labels.size < 2) return [];
  let top = '';
  let topCount = 0;
  for (const [l, s] of labels) if (s.count > topCount) [top, topCount] = [l, s.count];
  const out: { label: string; seen: FirstSeen; top: string; topCount: number }[] = [];
  for (const [l, s] of labels) if (s.count * IMBALANCE_RATIO < topCount) out.push({ label: l, seen: s, top, topCount });
  return out;
}

export function rareTasks(tasks: Map<string, FirstSeen>, minTaskExamples: number): { task: string; seen: FirstSeen }[] {
  if (minTaskExamples <= 0) return [];
  const out: { task: string; seen: FirstSeen }[] = [];
  for (const [t, s] of tasks) if (s.count < minTaskExamples) out.push({ task: t, seen: s });
  return out;
}

export function labelImbalanceMessage(label: string, count: number, top: string, topCount: number): string {
  return `label '${label}' has ${count} example${count === 1 ? '' : 's'}, fewer than 1/${IMBALANCE_RATIO} of '${top}' (${topCount}): the model may learn to ignore it`;
}

export function fewTaskMessage(task: string, count: number, min: number): string {
  return `task '${task}' has only ${count} example${count === 1 ? '' : 's'} (fewer than ${min})`;
}

export function duplicateMessage(firstLine: number): string {
  return `duplicate of the record on line ${firstLine + 1}`;
}

export function countUp(map: Map<string, FirstSeen>, key: string, line: number): void {
  const s = map.get(key);
  if (s) s.count++;
  else map.set(key, { count: 1, line });
}
