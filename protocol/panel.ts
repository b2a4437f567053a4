// Messages between the training panel / compare-runs webviews (webview/run, webview/compare) and the
// extension host that opens them. Both sides build and read messages only through these types.
import type { TrainerEvent } from './trainer';

/** What the panel shows as the run's state; derived from the events (done.status, error -> failed). */
export type RunStatus = 'waiting' | 'running' | 'completed' | 'stopped' | 'early-stopped' | 'failed';

export const RUN_STATUSES: readonly RunStatus[] = ['waiting', 'running', 'completed', 'stopped', 'early-stopped', 'failed'];

// ---------------------------------------------------------------------------------------------------
// Training panel

export type RunPanelHostMessage =
  /**
   * Trainer events in order. The first message after `ready` carries the backlog read from `events.jsonl`
   * with `reset: true` (the panel drops what it had); live batches follow without it.
   */
  | { type: 'events'; events: TrainerEvent[]; reset?: boolean }
  /**
   * The backlog as `events.jsonl`'s text, complete lines only: replaces what the panel had, like
   * `events` with `reset`. Cheaper than `events` for long runs: the host forwards the file without
   * parsing it, and a string crosses into the webview without a per-object copy. Lines that are not
   * trainer events are skipped.
   */
  | { type: 'backlog'; jsonl: string }
  /**
   * What the host knows that the events do not say, e.g. the trainer died without a `done` event: the
   * panel shows `status` (and `message` in its error box) unless a later `done` event says otherwise.
   */
  | { type: 'status'; status: RunStatus; message?: string }
  /**
   * Try It: what the finished model generated for the webview's `tryIt`; `prompt` is the text as formatted
   * with the run's template; `speed` the generator's line on prefill time and decode tokens/s.
   */
  | { type: 'tryItResult'; text: string; prompt: string; speed?: string }
  /** Try It failed (no output to load, the generator's error, a timeout). */
  | { type: 'tryItError'; message: string };

export type RunPanelWebviewMessage =
  /** The script has loaded and listens: send the backlog now (again after a reload). */
  | { type: 'ready' }
  /** The user pressed Stop. */
  | { type: 'stop' }
  | { type: 'openOutput' }
  | { type: 'openLog' }
  /** The user pressed Resume on a stopped or failed run: the host runs "Resume Run" on it (same panel). */
  | { type: 'resume' }
  /** "Export as Cluster Job…" / "Import Cluster Results…": the host runs the command of that name on this run. */
  | { type: 'exportCluster' }
  | { type: 'importCluster' }
  /**
   * Try It in a finished run's panel: the host formats `prompt` with the run's template, generates with
   * the run's output in a child process and answers `tryItResult` or `tryItError`.
   */
  | { type: 'tryIt'; prompt: string; maxNewTokens: number; temperature: number; topK?: number; topP?: number };

const RUN_PANEL_WEBVIEW_TYPES = ['ready', 'stop', 'openOutput', 'openLog', 'tryIt', 'resume', 'exportCluster', 'importCluster'] as const;

/** Try It's bounds: the host refuses anything outside them. */
export const TRY_IT_LIMITS = { maxPromptChars: 20_000, maxNewTokens: 1024, maxTemperature: 5 } as const;

/** Checks a message from the webview (which the host does not trust) before acting on it. */
export function isRunPanelWebviewMessage(value: unknown): value is RunPanelWebviewMessage {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !(RUN_PANEL_WEBVIEW_TYPES as readonly string[]).includes(type)) return false;
  if (type === 'tryIt') {
    const m = value as { prompt?: unknown; maxNewTokens?: unknown; temperature?: unknown; topK?: unknown; topP?: unknown };
    return (
      typeof m.prompt === 'string' &&
      m.prompt.length <= TRY_IT_LIMITS.maxPromptChars &&
      typeof m.maxNewTokens === 'number' &&
      Number.isInteger(m.maxNewTokens) &&
      m.maxNewTokens >= 1 &&
      m.maxNewTokens <= TRY_IT_LIMITS.maxNewTokens &&
      typeof m.temperature === 'number' &&
      Number.isFinite(m.temperature) &&
      m.temperature >= 0 &&
      m.temperature <= TRY_IT_LIMITS.maxTemperature &&
      (m.topK === undefined || (typeof m.topK === 'number' && Number.isSafeInteger(m.topK) && m.topK >= 0)) &&
      (m.topP === undefined || (typeof m.topP === 'number' && m.topP >= 0 && m.topP <= 1))
    );
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Compare runs

export interface CompareRun {
  /** Stable id (the run folder's name). */
  id: string;
  /** Shown in the legend and the table. */
  label: string;
  /** The run's whole `events.jsonl`. */
  events: TrainerEvent[];
}

export type CompareHostMessage = { type: 'runs'; runs: CompareRun[] };

export type CompareWebviewMessage = { type: 'ready' };

export function isCompareWebviewMessage(value: unknown): value is CompareWebviewMessage {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'ready';
}
