// The exported job's data rows: the records the run trains and evaluates on (the trainer's own reading
// and split: trainer/data.ts loadDataset and splitEval), each as `finetune preview --json` shows it
// (cli/preview.ts previewRows, handed in as entries by line), so the cluster trains exactly what the user
// previewed. input_ids = the preview's ids; completion_mask[k] = 1 where labels[k] is not -100.
import type { TrainingExample } from '../data';

/** One entry of `preview --json` (cli/preview.ts PreviewEntry), by 1-based line. */
export interface PreviewIds {
  line: number;
  ids?: number[];
  labels?: number[];
  error?: string;
}

export interface LmRow {
  input_ids: number[];
  completion_mask: number[];
  /** Multi-task runs: the index of the record's task in `tasks` (train.py's JOB.tasks). */
  task_id?: number;
}

export interface ClassificationRow {
  input_ids: number[];
  label: number;
}

const IGNORED = -100;

/** The task names of the rows, in order of first appearance; `''` stands for records without a task. Empty when no record has one. */
export function taskList(examples: readonly TrainingExample[]): string[] {
  if (!examples.some((e) => e.task !== undefined)) return [];
  return [...new Set(examples.map((e) => e.task ?? ''))];
}

/**
 * The rows of `examples` (a split, in its order) from their preview entries. Each example must be its
 * entry's tokens without the last one, as the trainer shifts them: anything else is a disagreement between
 * the trainer and the preview, and the export stops rather than ship data the user did not see.
 */
export function lmRows(examples: readonly TrainingExample[], entries: ReadonlyMap<number, PreviewIds>, tasks: readonly string[]): LmRow[] {
  return examples.map((e) => {
    const entry = entries.get(e.line + 1);
    if (!entry?.ids || !entry.labels)
      throw new Error(`line ${e.line + 1}: the preview has no tokens for a record the run trains on${entry?.error ? ` (${entry.error})` : ''}`);
    const ids = entry.ids;
    const same = ids.length - 1 === e.inputIds.length && e.inputIds.every((id, k) => id === ids[k]);
    if (!same) throw new Error(`line ${e.line + 1}: the preview's tokens differ from the ones the run trains on`);
    const row: LmRow = { input_ids: [...ids], completion_mask: entry.labels.map((l) => (l === IGNORED ? 0 : 1)) };
    if (tasks.length) row.task_id = tasks.indexOf(e.task ?? '');
    return row;
  });
}

/** Classification rows: the prompt's tokens (as the run feeds them) and the label's id. */
export function classificationRows(examples: readonly TrainingExample[]): ClassificationRow[] {
  return examples.map((e) => {
    if (e.classLabel === undefined) throw new Error(`line ${e.line + 1}: the record has no label id`);
    return { input_ids: [...e.inputIds], label: e.classLabel };
  });
}

/** JSON lines, one row a line. */
export function jsonl(rows: readonly object[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
}
