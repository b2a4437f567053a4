// A model folder's weights as transformers saves them: one `model.safetensors`, or shards listed by
// `model.safetensors.index.json` (`weight_map`: tensor name -> shard file). Reading is in two steps so
// that nothing is allocated before the checks: `listCheckpoint` reads only the headers (every shard's
// names, dtypes and shapes, each shard present), the caller checks them against its config, and only
// then `readCheckpoint` reads the data, widened to float32.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_CONFIG_BYTES, readRegularFileSync } from '../../language/regularFile';
import { readSafetensors, readSafetensorsFileHeader, type SafetensorsDtype, type SafetensorsTensor } from './safetensors';

/** A checkpoint that cannot be read as the config says it should be: the message names the file or the key. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';

export interface CheckpointEntry {
  /** The shard (or the single file) holding the tensor. */
  file: string;
  dtype: SafetensorsDtype;
  shape: number[];
}

export interface CheckpointListing {
  dir: string;
  /** The files the tensors are in, in the order they are read. */
  files: string[];
  /** Every tensor by checkpoint name, from the headers alone. */
  entries: Map<string, CheckpointEntry>;
}

/** Whether `dir` has a checkpoint in either layout. */
export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(path.join(dir, WEIGHTS_FILE)) || fs.existsSync(path.join(dir, WEIGHTS_INDEX_FILE));
}

function readIndex(file: string): Map<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(readRegularFileSync(file, { what: 'checkpoint index', maxBytes: MAX_CONFIG_BYTES }).toString('utf8'));
  } catch (err) {
    throw new CheckpointError(`${file}: cannot be read as JSON (${(err as Error).message})`);
  }
  const map = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>).weight_map : undefined;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new CheckpointError(`${file}: no weight_map object (tensor name -> shard file)`);
  const out = new Map<string, string>();
  for (const [key, shard] of Object.entries(map as Record<string, unknown>)) {
    // Shard names come from a downloaded file: a path out of the folder is refused, not followed.
    if (typeof shard !== 'string' || shard === '' || shard !== path.basename(shard) || shard === '.' || shard === '..') {
      throw new CheckpointError(`${file}: weight_map['${key}'] is ${JSON.stringify(shard)}, not a file name in the model folder`);
    }
    out.set(key, shard);
  }
  return out;
}

/**
 * Every tensor of `dir`'s checkpoint from the safetensors headers only: model.safetensors, else the
 * shards of model.safetensors.index.json, each of which must be present and hold the tensors the index
 * assigns to it.
 */
export function listCheckpoint(dir: string): CheckpointListing {
  const single = path.join(dir, WEIGHTS_FILE);
  const indexFile = path.join(dir, WEIGHTS_INDEX_FILE);
  const entries = new Map<string, CheckpointEntry>();
  const addFile = (file: string, only?: Set<string>) => {
    for (const e of readSafetensorsFileHeader(path.join(dir, file)).entries) {
      if (only && !only.has(e.name)) continue;
      if (entries.has(e.name)) throw new CheckpointError(`${dir}: tensor '${e.name}' is in both ${entries.get(e.name)!.file} and ${file}`);
      entries.set(e.name, { file, dtype: e.dtype, shape: e.shape });
    }
  };
  if (fs.existsSync(single)) {
    addFile(WEIGHTS_FILE);
    return { dir, files: [WEIGHTS_FILE], entries };
  }
  if (!fs.existsSync(indexFile)) throw new CheckpointError(`${dir} has no ${WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE}`);
  const weightMap = readIndex(indexFile);
  const byShard = new Map<string, Set<string>>();
  for (const [key, shard] of weightMap) {
    if (!byShard.has(shard)) byShard.set(shard, new Set());
    byShard.get(shard)!.add(key);
  }
  const missing = [...byShard.keys()].filter((shard) => !fs.existsSync(path.join(dir, shard)));
  if (missing.length > 0) {
    throw new CheckpointError(`${indexFile} lists shard(s) missing from ${dir}: ${missing.join(', ')} (download every shard the index names)`);
  }
  for (const [shard, keys] of byShard) {
    addFile(shard, keys);
    for (const key of keys) if (!entries.has(key)) throw new CheckpointError(`${indexFile}: '${key}' is assigned to ${shard}, which does not hold it`);
  }
  return { dir, files: [...byShard.keys()], entries };
}

/** The tensors `keep` accepts, read file by file and widened to float32 (call after checking the listing). */
export function readCheckpoint(listing: CheckpointListing, keep: (key: string) => boolean = () => true): Map<string, SafetensorsTensor> {
  const out = new Map<string, SafetensorsTensor>();
  for (const file of listing.files) {
    for (const [key, t] of readSafetensors(path.join(listing.dir, file))) {
      const entry = listing.entries.get(key);
      if (entry?.file === file && keep(key)) out.set(key, t);
    }
  }
  return out;
}
