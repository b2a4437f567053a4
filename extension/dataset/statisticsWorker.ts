// Runs computeStatistics in a worker thread (statistics.worker.ts, next to it), so that previewing a
// large dataset never freezes the extension host. No `vscode` import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DatasetStatistics, ValidationOptions } from '../../language/types';

export interface StatisticsJob {
  readonly result: Promise<DatasetStatistics>;
  /** Stops the worker; `result` then rejects with a StatisticsCancelled error. */
  cancel(): void;
}

export class StatisticsCancelled extends Error {
  constructor() {
    super('statistics cancelled');
  }
}

/** The bundled worker next to this file (dist/), or its TypeScript source under tsx; undefined if neither exists. */
export function statisticsWorkerPath(dir: string = __dirname): string | undefined {
  for (const f of ['statistics.worker.js', 'statistics.worker.ts']) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

export function computeStatisticsInWorker(text: string, options: ValidationOptions, file: string): StatisticsJob {
  const workerData = { text, options };
  // Under tsx (tests, development) the worker is TypeScript: load it through tsx's require hook.
  const worker = file.endsWith('.ts')
    ? new Worker(`const r = require('node:module').createRequire(${JSON.stringify(file)}); r('tsx/cjs'); r(${JSON.stringify(file)});`, {
        eval: true,
        workerData,
      })
    : new Worker(file, { workerData });
  let settled = false;
  let cancel: () => void = () => {};
  const result = new Promise<DatasetStatistics>((resolve, reject) => {
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.once('message', (m: { statistics?: DatasetStatistics; error?: string }) =>
      finish(() => (m.statistics ? resolve(m.statistics) : reject(new Error(m.error ?? 'statistics worker failed')))),
    );
    worker.once('error', (err) => finish(() => reject(err)));
    worker.once('exit', (code) => finish(() => reject(new Error(`statistics worker exited with code ${code}`))));
    cancel = () => finish(() => reject(new StatisticsCancelled()));
  });
  return { result, cancel: () => cancel() };
}
