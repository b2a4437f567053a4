// The adapter folder, the one place its two files are read and written: adapter_config.json (the
// strategy's settings, PEFT's layout where PEFT has the method) and adapter_model.safetensors (its
// weights, with the `pt` metadata transformers requires). What the settings mean is the strategy's
// (trainer/strategies/<name>.ts, its AdapterFolderCodec); which strategy a folder holds is the
// registry's question (trainer/strategies/index.ts, readAdapter).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NamedTensor } from '../models/model';
import { ModelFileError, readConfigJson } from './modelFolder';
import { readSafetensors, writeSafetensors } from './safetensors';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

export interface AdapterFolderFiles {
  config: Record<string, unknown>;
  tensors: Map<string, NamedTensor>;
  configFile: string;
  weightsFile: string;
}

/** Whether `dir` holds an adapter_config.json (an adapter folder rather than a full model). */
export function isAdapterFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, ADAPTER_CONFIG_FILE));
}

/** Writes both files into `dir` (created if absent); returns their paths. */
export function writeAdapterFolder(dir: string, config: Record<string, unknown>, tensors: Map<string, NamedTensor>): string[] {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: 'pt' });
  return [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE].map((f) => path.join(dir, f));
}

/** adapter_config.json of `dir` as a JSON object; a missing, unreadable or non-object file is a ModelFileError. */
export function readAdapterConfig(dir: string): { config: Record<string, unknown>; configFile: string } {
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  if (!fs.existsSync(configFile)) throw new ModelFileError(`${dir} has no ${ADAPTER_CONFIG_FILE} (not an adapter folder)`);
  const config = readConfigJson(configFile);
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new ModelFileError(`${configFile}: not a JSON object`);
  return { config: config as Record<string, unknown>, configFile };
}

/** Both files of `dir`: the settings and every tensor of adapter_model.safetensors. */
export function readAdapterFolder(dir: string): AdapterFolderFiles {
  const { config, configFile } = readAdapterConfig(dir);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_FILE);
  if (!fs.existsSync(weightsFile)) {
    const bin = fs.existsSync(path.join(dir, 'adapter_model.bin')) ? ' (adapter_model.bin is not supported; save with safe_serialization=True)' : '';
    throw new ModelFileError(`${dir} has no ${ADAPTER_WEIGHTS_FILE}${bin}`);
  }
  const tensors = new Map<string, NamedTensor>();
  for (const [key, t] of readSafetensors(weightsFile)) tensors.set(key, { shape: t.shape, data: t.data });
  return { config, tensors, configFile, weightsFile };
}
