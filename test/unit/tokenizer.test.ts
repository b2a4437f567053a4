import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gpt2Tokenizer, GPT2_EOS_ID } from '../../language/tokenizer';

test('GPT-2 tokenizer gives the exact Hugging Face ids for "Hello world"', () => {
  assert.deepEqual(gpt2Tokenizer().encode('Hello world'), [15496, 995]);
});

test('GPT-2 tokenizer maps <|endoftext|> to id 50256 and round-trips text', () => {
  const tok = gpt2Tokenizer();
  assert.equal(tok.eosId, GPT2_EOS_ID);
  assert.deepEqual(tok.encode('Hi<|endoftext|>'), [17250, 50256]);
  const text = ' héllo\n\n  wörld 123 🤗';
  assert.equal(tok.decode(tok.encode(text)), text);
  assert.equal(tok.vocabSize, 50257);
});
