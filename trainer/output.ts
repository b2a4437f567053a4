// What a run writes as its model: a full model (full, partial, or LoRA merged with --merge), the
// strategy's adapter folder (LoRA's PEFT folder, bottleneck adapters, prompt tuning), or a
// sequence-classification model (with LoRA's own folder beside it unless merged, so --resume continues
// the adapter exactly). Checkpoints write the same, never merged.
import * as fs from 'node:fs';
import { saveModelFolder } from './formats/modelFolder';
import { saveClassificationModel, type ClassificationHead, type LabelMap } from './heads/classification';
import type { BaseModel } from './loadModel';
import type { ModelConfig } from './models/registry';
import { saveAdapter, type TunedModel } from './strategies/tunedModel';

/**
 * Writes a full model that transformers' from_pretrained loads: config.json, model.safetensors (a
 * mergeable strategy's update merged in) and the tokenizer files of `tokenizerDir` (skipped when null).
 */
export function saveFullModel(model: TunedModel, config: ModelConfig, tokenizerDir: string | null, outDir: string): string[] {
  return saveModelFolder(config, model.hfStateDict({ merged: true }), tokenizerDir, outDir);
}

export interface OutputOptions {
  /** Fold a mergeable strategy (LoRA) into the weights and write a full model. */
  merge: boolean;
  /** Classification head and its labels: the output is a sequence-classification folder (LoRA merged). */
  head?: ClassificationHead;
  labels?: LabelMap;
}

/** Writes the run's model into `dir`; returns the file names, sorted. */
export function saveOutput(base: BaseModel, dir: string, { merge, head, labels }: OutputOptions): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const { model } = base;
  const hasFolder = model.impl.adapterFolder !== undefined;
  if (head && labels) {
    saveClassificationModel({ model, head, labels, padTokenId: base.tokenizer.eosId, tokenizerDir: base.tokenizerDir }, dir);
    if (hasFolder && !merge) saveAdapter(model, base.baseName, dir);
  } else if (hasFolder && !(merge && model.impl.mergeable)) saveAdapter(model, base.baseName, dir);
  else saveFullModel(model, base.config, base.tokenizerDir, dir);
  return fs.readdirSync(dir).sort();
}
