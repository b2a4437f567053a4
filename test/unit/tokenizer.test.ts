import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { byteLevelBpeTokenizerJson, gpt2Tokenizer, GPT2_EOS_ID, tokenizerFromFolder, TokenizerFileError } from '../../language/tokenizer';

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

test('decoding no tokens gives the empty text (a generation that ends at once), not an error', () => {
  assert.equal(gpt2Tokenizer().decode([]), '');
});

test('a garbage tokenizer file is refused with an error that names the file and says what is wrong', () => {
  const cases: [string, string, RegExp][] = [
    ['tokenizer.json', 'garbage', /not valid JSON/],
    ['tokenizer.json', '[1, 2]', /must hold a JSON object/],
    ['tokenizer.json', '{}', /has no "model" object/],
    ['tokenizer.json', '{"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}}', /"model\.vocab" must map tokens to non-negative integer ids/],
    ['tokenizer.json', '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}', /is not a valid tokenizer file: .+/],
    ['tokenizer_config.json', '{"eos_token": 5}', /"eos_token" must be a string/],
  ];
  for (const [name, body, why] of cases) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-tok-'));
    try {
      if (name !== 'tokenizer.json') fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(byteLevelBpeTokenizerJson({ a: 0, b: 1 }, [])));
      fs.writeFileSync(path.join(dir, name), body);
      assert.throws(
        () => tokenizerFromFolder(dir),
        (err: Error) => {
          assert.ok(err instanceof TokenizerFileError, `${body}: ${err.name}`);
          assert.ok(err.message.startsWith(`${path.join(dir, name)} is not a valid tokenizer file: `), err.message);
          assert.match(err.message, why);
          return true;
        },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('a tokenizer whose end-of-text token is named like an Object.prototype member gets a number id', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-tok-'));
  try {
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(byteLevelBpeTokenizerJson({ a: 0, b: 1 }, [], 'constructor')));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: 'constructor' }));
    const tok = tokenizerFromFolder(dir);
    assert.equal(tok.eosToken, 'constructor');
    assert.equal(tok.eosId, GPT2_EOS_ID, 'not in the vocabulary: the GPT-2 default, not Object');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
