// Worker thread of validateFile: validates chunks of whole lines and sends back their summaries.
// Bundled to dist/validate.worker.js; run from source under tsx.
import { parentPort, workerData } from 'node:worker_threads';
import { validateChunk, type ChunkOptions } from './chunkValidator';

const options = workerData as ChunkOptions;

// Started: from now on the calling thread may hand this worker chunks (see WorkerPool.pick).
parentPort!.postMessage({ ready: true });

parentPort!.on('message', (m: { id: number; buffer: ArrayBuffer; offset: number; length: number; first: boolean }) => {
  try {
    const summary = validateChunk(new Uint8Array(m.buffer, m.offset, m.length), m.first, options);
    const transfer = [summary.fingerprints.buffer as ArrayBuffer];
    for (const g of Object.values(summary.groups)) if (g) transfer.push(g.lines.buffer as ArrayBuffer);
    parentPort!.postMessage({ id: m.id, summary }, transfer);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
