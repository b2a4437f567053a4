// A model's tokenizer and context length without its weights: what `finetune preview` (and anything else
// that shows records as a model sees them) needs. A preset keeps GPT-2's tokenizer; a folder or a cached
// Hugging Face repo uses its own tokenizer files (tokenizer.json, tokenizer_config.json,
// chat_template.jinja), or GPT-2's when it has none, as training does. No TensorFlow.js is loaded here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gpt2Tokenizer, tokenizerFromFolder, type TextTokenizer } from '../language/tokenizer';
import { MAX_CONFIG_BYTES, readRegularFileSync } from '../language/regularFile';
import { resolveModel } from './hub';
import { presetConfig } from './models/gpt2/config';

export interface ModelTokenizer {
  tokenizer: TextTokenizer;
  /** The model's context: the default maximum length of an example, as in training. */
  maxPositions: number;
}

/**
 * Files a preview needs from a Hugging Face repo: train's list (hub.ts) without the weights, so that a
 * preview renders with the template training will use (chat_template.jinja wins over
 * tokenizer_config.json's, tokenizerFromFolder). A cache Python filled without chat_template.jinja
 * asks the hub for it once, and is used as it is when the hub cannot be reached (hub.ts).
 */
const TOKENIZER_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'vocab.json', 'merges.txt'];

/** config.json's context length under the names the families use (Llama/Qwen, then GPT-2's). */
function contextOf(raw: unknown): number | undefined {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  for (const key of ['max_position_embeddings', 'n_positions', 'n_ctx']) {
    const v = r[key];
    if (Number.isInteger(v) && (v as number) > 0) return v as number;
  }
  return undefined;
}

/** `--model` (preset, folder or repo id) as its tokenizer and context length. */
export async function modelTokenizer(spec: string, onLog?: (message: string) => void): Promise<ModelTokenizer> {
  const resolved = await resolveModel(spec, { files: TOKENIZER_FILES, requiredFiles: ['config.json'] });
  if (resolved.kind === 'preset') return { tokenizer: gpt2Tokenizer(), maxPositions: presetConfig(resolved.name).nPositions };
  const configFile = path.join(resolved.dir, 'config.json');
  // Read here rather than through formats/modelFolder.ts, whose family registry loads TensorFlow.js.
  let raw: unknown;
  try {
    raw = fs.existsSync(configFile)
      ? JSON.parse(readRegularFileSync(configFile, { what: 'model file', maxBytes: MAX_CONFIG_BYTES }).toString('utf8'))
      : undefined;
  } catch (err) {
    throw new Error(`cannot read ${configFile}: ${(err as Error).message}`);
  }
  const maxPositions = contextOf(raw);
  if (maxPositions === undefined) throw new Error(`${configFile} does not say the model's context length (max_position_embeddings or n_positions)`);
  const hasTokenizer =
    fs.existsSync(path.join(resolved.dir, 'tokenizer.json')) ||
    (fs.existsSync(path.join(resolved.dir, 'vocab.json')) && fs.existsSync(path.join(resolved.dir, 'merges.txt')));
  if (hasTokenizer) return { tokenizer: tokenizerFromFolder(resolved.dir), maxPositions };
  onLog?.(`${resolved.dir} has no tokenizer files; using the GPT-2 tokenizer`);
  return { tokenizer: gpt2Tokenizer(), maxPositions };
}
