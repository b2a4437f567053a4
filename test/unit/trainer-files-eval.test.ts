// `finetune eval` on the reference fixtures (both key layouts, F32/F16/BF16, and with a PEFT adapter)
// gives the PyTorch reference's loss within float32 reordering: the whole path from the HF folder (config,
// safetensors, tokenizer files) through the data pipeline to the token-weighted mean.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../../cli/eval';
import { loadModelFolder } from '../../trainer/formats/modelFolder';
import { captureStdout } from './captureStdout';
import { assertRelClose, gpt2Sums, reordered } from './tolerance';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'reference');
const DATA = path.join(FIXTURES, 'eval.jsonl');

async function evalJson(args: string[]): Promise<{ loss: number; tokens: number; examples: number }> {
  const { code, out } = await captureStdout(() => run([...args, '--data', DATA, '--backend', 'wasm', '--json']));
  assert.equal(code, 0, out);
  return JSON.parse(out.trim().split('\n').pop()!);
}

/** The fixture model's forward pass over the eval set's tokens, summed by PyTorch in another order. */
function parity(tokens: number): number {
  return reordered(gpt2Sums(loadModelFolder(path.join(FIXTURES, 'f32-plain')).config, tokens));
}

function expected(file: string): { loss: number; tokens: number; examples: number } {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

for (const name of ['f32-prefixed', 'f32-plain', 'f16-prefixed', 'f16-plain', 'bf16-plain']) {
  test(`finetune eval on ${name} equals the reference loss within float32 reordering`, async () => {
    const got = await evalJson(['--model', path.join(FIXTURES, name)]);
    const want = expected(path.join(FIXTURES, name, 'expected-eval.json'));
    assert.equal(got.tokens, want.tokens);
    assert.equal(got.examples, want.examples);
    assertRelClose(got.loss, want.loss, parity(want.tokens), `${name}: eval loss vs PyTorch`);
  });
}

test('finetune eval with a PEFT adapter equals the reference with the adapter merged', async () => {
  const got = await evalJson(['--model', path.join(FIXTURES, 'f32-plain'), '--adapter', path.join(FIXTURES, 'lora-adapter')]);
  const want = expected(path.join(FIXTURES, 'lora-adapter', 'expected-eval.json'));
  assertRelClose(got.loss, want.loss, parity(want.tokens), 'eval loss with the adapter vs PyTorch');
});
