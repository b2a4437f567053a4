// Worker thread for the preview's dataset statistics: they tokenize every record (seconds for a large
// file), which must not happen on the extension host's thread. Bundled to dist/statistics.worker.js;
// run from source under tsx.
import { parentPort, workerData } from 'node:worker_threads';
import { computeStatistics, splitLines } from '../../language';
import type { ValidationOptions } from '../../language/types';

const { text, options } = workerData as { text: string; options: ValidationOptions };
try {
  parentPort!.postMessage({ statistics: computeStatistics(splitLines(text), options) });
} catch (err) {
  parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) });
}
